"""Rule governance: the log of every model-version decision, and the table of every version."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import versions  # noqa: E402

o = snakemake.output
run(
    snakemake,
    lambda: versions.governance(
        snakemake.params.models_dir, dict(snakemake.params.status), o.log, o.versions
    ),
)
