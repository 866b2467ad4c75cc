"""Rule split: persist the by-plot split decided when the workflow was parsed."""

import pandas as pd

from crustwatch import pipeline
from crustwatch.smk import run

run(
    snakemake,
    lambda: pipeline.write_splits(pd.DataFrame(snakemake.params.splits), snakemake.output[0]),
)
