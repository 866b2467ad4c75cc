"""Rule camera_stats: collect the histograms of one camera's calibration photos."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import normalize  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(
    snakemake,
    lambda: normalize.camera_stats(
        snakemake.wildcards.camera,
        list(snakemake.params.records),
        snakemake.output[0],
        snakemake.params.pool,
        snakemake.params.calibration_date,
    ),
)
