"""Rule evaluate_points: point accuracy and point-count cover of the photos labelled by points."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import evaluate  # noqa: E402

p = snakemake.params
run(
    snakemake,
    lambda: evaluate.evaluate_points(
        snakemake.input.points, snakemake.input.splits, list(p.photos), p.classes, p.level, snakemake.output[0]
    ),
)
