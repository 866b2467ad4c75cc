"""Rule evaluate: metrics per seed and for the ensemble, on val and test photos."""

from crustwatch import pipeline
from crustwatch.smk import run

i, o = snakemake.input, snakemake.output
run(
    snakemake,
    lambda: pipeline.evaluate(
        list(i.confusion),
        list(i.covers),
        i.splits,
        snakemake.params.classes,
        o.metrics,
        o.summary,
        o.plot,
    ),
)
