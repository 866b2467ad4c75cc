"""Rule plot_cover: cover over time per site and class."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pandas as pd

from crustwatch.plots import cover_over_time  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: cover_over_time(
        pd.read_csv(snakemake.input[0], sep="\t", dtype={"date": str}),
        snakemake.params.classes,
        snakemake.output[0],
    ),
)
