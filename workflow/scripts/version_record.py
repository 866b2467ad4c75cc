"""Rule version_record: a model version's record (its id and what it trains from)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import versions  # noqa: E402

run(
    snakemake,
    lambda: versions.write_record(
        snakemake.wildcards.version, snakemake.params.definition, snakemake.output[0]
    ),
)
