"""Rule ingest_mask: one canonical, checked mask GeoTIFF and a record per mask."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import pipeline  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: pipeline.ingest_mask(
        snakemake.input.mask,
        snakemake.wildcards.image_id,
        snakemake.input.record,
        snakemake.params.class_ids,
        snakemake.params.ignore_index,
        snakemake.output.mask,
        snakemake.output.record,
    ),
)
