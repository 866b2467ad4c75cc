"""Rule aggregate_cover: cover tables per image, plot x date and site x date."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import cover  # noqa: E402
from crustwatch.smk import run  # noqa: E402

o = snakemake.output
run(
    snakemake,
    lambda: cover.aggregate_cover(
        list(snakemake.params.covers),
        snakemake.input.splits,
        snakemake.params.level,
        {k: o[k] for k in ("by_image", "by_plot_date", "by_site_date", "by_image_seed", "calibration", "adjustment",
                           "methods")},
        snakemake.params.interval,
        snakemake.params.floor_pp,
        snakemake.params.adjust,
        list(snakemake.params.val_confusion),
        snakemake.params.classes,
        snakemake.params.adjust_min_photos,
        snakemake.params.calibration_min_pairs,
        snakemake.params.estimate,
    ),
)
