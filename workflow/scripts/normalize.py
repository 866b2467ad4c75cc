"""Rule normalize: scale and colour-correct every photo of one shard with its camera's parameters."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import normalize  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: normalize.normalize_shard(
        snakemake.wildcards.shard,
        snakemake.params.photos,
        snakemake.params.method,
        snakemake.output[0],
    ),
)
