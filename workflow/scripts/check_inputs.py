"""Rule check_inputs: open every photo and mask of the sheet before any training."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import pipeline  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: pipeline.check_inputs(
        snakemake.params.rows,
        snakemake.params.class_ids,
        snakemake.params.ignore_index,
        snakemake.output[0],
        snakemake.params.max_megapixels,
    ),
)
