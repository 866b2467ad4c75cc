"""Rule ingest_mask: one canonical, checked mask GeoTIFF and a record per mask."""

from crustwatch import pipeline
from crustwatch.smk import run

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
