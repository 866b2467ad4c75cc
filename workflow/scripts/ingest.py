"""Rule ingest: read, check and write every photo and mask of one shard (site x date)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import ingest  # noqa: E402
from crustwatch.smk import run  # noqa: E402

p = snakemake.params
run(
    snakemake,
    lambda: ingest.ingest_shard(
        snakemake.wildcards.shard,
        p.photos,
        p.target_mm_per_px,
        p.class_ids,
        p.ignore_index,
        snakemake.output[0],
    ),
)
