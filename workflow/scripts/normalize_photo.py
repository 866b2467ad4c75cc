"""Rule normalize_photo: scale and colour-correct one photo with its camera's parameters."""

from crustwatch import pipeline
from crustwatch.smk import run

run(
    snakemake,
    lambda: pipeline.normalize_photo(
        snakemake.input.photo,
        snakemake.input.record,
        snakemake.input.camera,
        snakemake.params.method,
        snakemake.output.photo,
        snakemake.output.record,
    ),
)
