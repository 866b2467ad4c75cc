"""Rule normalize_photo: scale and colour-correct one photo with its camera's parameters."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import pipeline  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: pipeline.normalize_photo(
        snakemake.input.photo,
        snakemake.input.record,
        snakemake.input.camera,
        snakemake.params.method,
        snakemake.output.photo,
        snakemake.output.record,
    ),
)
