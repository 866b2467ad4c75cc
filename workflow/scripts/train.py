"""Rule train: one model per seed (weights as safetensors plus a model card)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# must be set before CUDA starts, for deterministic cuBLAS
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

from crustwatch.steps import train  # noqa: E402
from crustwatch.settings import train_runtime  # noqa: E402
from crustwatch.smk import run  # noqa: E402

p = snakemake.params
job = train.TrainJob(
    seed=int(snakemake.wildcards.seed),
    files=train.TrainingFiles(
        train_ids=list(p.train_ids),
        val_ids=list(p.val_ids),
        train_photos=list(p.photos),
        train_masks=list(p.masks),
        val_photos=list(p.val_photos),
        val_masks=list(p.val_masks),
        photo_records=list(p.photo_records),
        mask_records=list(p.mask_records),
        norm_records=list(p.norm_records),
        raw_photos=list(p.raw_photos),
    ),
    classes=p.classes,
    ignore_index=p.ignore_index,
    model_cfg=p.model,
    train_cfg=p.train,
    split_seed=p.split_seed,
    pretrained_encoder=snakemake.input.get("encoder"),
    pretrained_card=snakemake.input.get("encoder_card"),
    version=snakemake.wildcards.version,
    sources=dict(p.sources),
)
o = snakemake.output
# runtime settings are read from the config, not params: they never change the weights, so never retrain
run(
    snakemake,
    lambda: train.train_seed(
        job, o.weights, o.card, o.run, runtime_cfg=train_runtime(snakemake.config["train"])
    ),
)
