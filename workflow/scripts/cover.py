"""Rule cover: per-photo cover (ensemble and seeds) and confusion matrices of one shard."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import cover  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: cover.cover_shard(
        snakemake.wildcards.shard,
        snakemake.params.photos,
        snakemake.params.classes,
        snakemake.params.ignore_index,
        snakemake.output[0],
    ),
)
