"""Rule pretrain: one self-supervised encoder per seed (safetensors plus a card)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# must be set before CUDA starts, for deterministic cuBLAS
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

from crustwatch.settings import train_runtime  # noqa: E402
from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import pretrain  # noqa: E402

p = snakemake.params
job = pretrain.PretrainJob(
    seed=int(snakemake.wildcards.seed),
    image_ids=list(p.image_ids),
    photos=list(p.photos),
    model_cfg=p.model,
    pretrain_cfg=p.pretrain,
    train_cfg=p.train,
)
o = snakemake.output
run(
    snakemake,
    lambda: pretrain.pretrain_seed(
        job, o.encoder, o.card, o.run, runtime_cfg=train_runtime(snakemake.config["train"])
    ),
)
