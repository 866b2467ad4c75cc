"""Rule split: persist the by-plot split decided when the workflow was parsed."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pandas as pd

from crustwatch.steps import split  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: split.write_splits(pd.DataFrame(snakemake.params.splits), snakemake.output[0]),
)
