"""Rule plot_cover_by_plot: one site's cover per permanent plot over time."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pandas as pd  # noqa: E402

from crustwatch.report import cover_by_plot_figure  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: cover_by_plot_figure(
        pd.read_csv(snakemake.input[0], sep="\t", dtype={"date": str, "plot": str, "site": str}),
        snakemake.params.site,
        snakemake.params.classes,
        snakemake.output[0],
    ),
)
