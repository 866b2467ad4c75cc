"""Rule predict: sliding-window ensemble prediction of one photo."""

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
    lambda: pipeline.predict_image(
        i.photo,
        i.norm_record,
        i.ingest_record,
        i.ensemble,
        list(i.weights),
        list(i.cards),
        snakemake.params.predict,
        snakemake.threads,
        snakemake.output.classes,
        snakemake.output.seeds,
        adabn=i.get("adabn"),
    ),
)
