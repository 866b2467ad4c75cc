"""Rule seed_sensitivity: every metric per seed, per-photo cover spread across seeds, a figure."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import evaluate  # noqa: E402
from crustwatch.smk import run  # noqa: E402

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(
    snakemake,
    lambda: evaluate.seed_sensitivity(
        i.metrics, i.by_image_seed, i.splits, p.classes, p.level, o.table, o.spread, o.plot
    ),
)
