"""Rule camera_stats: pool the histograms of one camera's photos."""

from crustwatch import pipeline
from crustwatch.smk import run

run(
    snakemake,
    lambda: pipeline.camera_stats(
        snakemake.wildcards.camera, list(snakemake.input), snakemake.output[0]
    ),
)
