"""Rule cover_image: per-image cover and, when labelled, confusion matrices."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import pipeline  # noqa: E402
from crustwatch.smk import run  # noqa: E402

i = snakemake.input
run(
    snakemake,
    lambda: pipeline.cover_image(
        snakemake.wildcards.image_id,
        i.classes,
        i.seeds,
        i.get("mask"),
        snakemake.params.classes,
        snakemake.params.ignore_index,
        snakemake.output.cover,
        snakemake.output.confusion,
    ),
)
