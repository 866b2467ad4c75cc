"""Rule adabn: one camera's batch-norm statistics for every seed (predict.adabn)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import predict  # noqa: E402
from crustwatch.smk import run  # noqa: E402

i, o = snakemake.input, snakemake.output
run(
    snakemake,
    lambda: predict.adapt_camera(
        snakemake.wildcards.camera,
        list(snakemake.params.photos),
        i.ensemble,
        list(i.weights),
        list(i.cards),
        snakemake.params.predict,
        snakemake.threads,
        o.weights,
        o.record,
    ),
)
