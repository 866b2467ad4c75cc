"""Rule plot_cover: cover over time per site and class."""

import pandas as pd

from crustwatch.plots import cover_over_time
from crustwatch.smk import run

run(
    snakemake,
    lambda: cover_over_time(
        pd.read_csv(snakemake.input[0], sep="\t", dtype={"date": str}),
        snakemake.params.classes,
        snakemake.output[0],
    ),
)
