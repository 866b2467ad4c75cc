"""Rule provenance: the ensemble's model cards summarised, one row per seed."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import files  # noqa: E402
from crustwatch.report import provenance_table  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(snakemake, lambda: files.write_tsv(provenance_table(snakemake.input.ensemble, list(snakemake.input.cards)),
                                    snakemake.output[0]))
