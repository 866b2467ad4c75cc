"""Rule cover_image: per-image cover and, when labelled, confusion matrices."""

from crustwatch import pipeline
from crustwatch.smk import run

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
