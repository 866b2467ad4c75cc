"""Rule predict: sliding-window ensemble prediction of one photo."""

from crustwatch import pipeline
from crustwatch.smk import run

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
    ),
)
