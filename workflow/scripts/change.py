"""Rule change: cover change per plot and site between dates, and trends (crustwatch.steps.change)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps.change import change_tables  # noqa: E402

o = snakemake.output
run(
    snakemake,
    lambda: change_tables(
        snakemake.input.by_plot_date,
        snakemake.input.by_image,
        {"by_plot": o.by_plot, "by_site": o.by_site, "trend": o.trend},
        snakemake.params.level,
        snakemake.params.fdr,
        [tuple(p) for p in snakemake.params.pairs],
    ),
)
