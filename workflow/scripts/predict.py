"""Rule predict: sliding-window ensemble prediction of every photo of one shard."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import predict  # noqa: E402
from crustwatch.smk import run  # noqa: E402

i = snakemake.input
run(
    snakemake,
    lambda: predict.predict_shard(
        snakemake.wildcards.shard,
        snakemake.params.photos,
        i.ensemble,
        list(i.weights),
        list(i.cards),
        {**snakemake.params.predict, "colors": snakemake.params.colors},
        snakemake.threads,
        snakemake.output[0],
    ),
)
