"""Rule aggregate_cover: cover tables per image, plot x date and site x date."""

from crustwatch import pipeline
from crustwatch.smk import run

o = snakemake.output
run(
    snakemake,
    lambda: pipeline.aggregate_cover(
        list(snakemake.input.covers),
        snakemake.input.splits,
        snakemake.params.level,
        {k: o[k] for k in ("by_image", "by_plot_date", "by_site_date", "by_image_seed")},
    ),
)
