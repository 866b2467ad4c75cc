"""Rule ensemble_card: the ensemble's card, listing its members' cards by hash."""

from crustwatch import pipeline
from crustwatch.smk import run

run(snakemake, lambda: pipeline.ensemble_card(list(snakemake.input.cards), snakemake.output[0]))
