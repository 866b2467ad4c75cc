"""Rule plot_change: one site's changes between dates (class x date pair, and per plot)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pandas as pd  # noqa: E402

from crustwatch.report import change_figure  # noqa: E402
from crustwatch.smk import run  # noqa: E402

text = {"site": str, "plot": str, "date_from": str, "date_to": str}
run(
    snakemake,
    lambda: change_figure(
        pd.read_csv(snakemake.input.by_site, sep="\t", dtype=text),
        pd.read_csv(snakemake.input.by_plot, sep="\t", dtype=text),
        snakemake.params.site,
        snakemake.params.classes,
        snakemake.output[0],
    ),
)
