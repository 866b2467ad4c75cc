"""Checkpoint decide_version: the acceptance rule's decision on a candidate model version."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import versions  # noqa: E402

i, p, w = snakemake.input, snakemake.params, snakemake.wildcards


def files(who):
    if f"{who}_ensemble" not in i.keys():
        return None
    return {k: i[f"{who}_{k}"] for k in ("ensemble", "weights", "cards")}


run(
    snakemake,
    lambda: versions.decide(
        w.version,
        w.incumbent,
        files("candidate"),
        files("incumbent"),
        list(p.val_ids),
        list(p.val_photos),
        list(p.val_records),
        list(p.val_masks),
        p.classes,
        dict(p.rule),
        snakemake.output[0],
        # device and batch never change the scores
        device_cfg={k: snakemake.config["predict"][k] for k in ("device", "batch_size")},
        threads=snakemake.threads,
    ),
)
