"""Rule report_maps: the photos' preview PNGs gathered for the report's Maps category."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.report import gather_previews  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(snakemake, lambda: gather_previews(dict(snakemake.params.previews), snakemake.output[0]))
