"""Rule ensemble_card: the ensemble's card, listing its members' cards by hash."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.steps import train  # noqa: E402
from crustwatch.smk import run  # noqa: E402

run(snakemake, lambda: train.ensemble_card(list(snakemake.input.cards), snakemake.output[0]))
