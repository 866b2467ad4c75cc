"""Rule check_inputs: open every photo and mask of the sheet before any training."""

from crustwatch import pipeline
from crustwatch.smk import run

run(
    snakemake,
    lambda: pipeline.check_inputs(
        snakemake.params.rows,
        snakemake.params.class_ids,
        snakemake.params.ignore_index,
        snakemake.output[0],
    ),
)
