"""Rule evaluate: metrics per seed and for the ensemble, on val and test photos."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import evaluate  # noqa: E402
from crustwatch.smk import run  # noqa: E402

i, o = snakemake.input, snakemake.output
run(
    snakemake,
    lambda: evaluate.evaluate(
        list(snakemake.params.confusion),
        i.by_image_seed,
        i.splits,
        snakemake.params.classes,
        o.metrics,
        o.plot,
        i.by_image,
        o.plot_val,
        o.per_class,
    ),
)
