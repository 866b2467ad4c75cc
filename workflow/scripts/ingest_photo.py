"""Rule ingest_photo: one canonical GeoTIFF and a record per photo."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import pipeline  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: pipeline.ingest_photo(
        snakemake.input.photo,
        snakemake.wildcards.image_id,
        snakemake.params.meta["mm_per_px"],
        snakemake.params.target_mm_per_px,
        snakemake.output.photo,
        snakemake.output.record,
        reference=snakemake.params.meta["reference"],
    ),
)
