"""Rule ingest_photo: one canonical GeoTIFF and a record per photo."""

from crustwatch import pipeline
from crustwatch.smk import run

run(
    snakemake,
    lambda: pipeline.ingest_photo(
        snakemake.input.photo,
        snakemake.wildcards.image_id,
        snakemake.params.meta["mm_per_px"],
        snakemake.params.target_mm_per_px,
        snakemake.output.photo,
        snakemake.output.record,
    ),
)
