"""Deterministic training of one segmentation model per seed."""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import Augment, PatchSampler


@dataclass
class TrainConfig:
    """Training settings (the ``train:`` section of the config).

    Attributes:
        patch_size: square training crop in pixels; also the prediction tile (default 128).
        batch_size: patches per step (default 16).
        steps: optimizer steps (default 300).
        lr: peak AdamW learning rate, after a 5% warm-up, cosine decay to 0 (default 0.003).
        weight_decay: AdamW weight decay (default 1e-4).
        dice_weight: weight of the Dice term added to cross-entropy (default 1.0).
        cpu_threads: torch threads on CPU; numerics depend on it, so it is fixed (default 2).
        augment: augmentation settings.
        log_every: steps between loss lines in the log (default 25).
    """

    patch_size: int = 128
    batch_size: int = 16
    steps: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-4
    dice_weight: float = 1.0
    cpu_threads: int = 2
    augment: Augment = field(default_factory=Augment)
    log_every: int = 25

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        aug = Augment(**d.pop("augment", {}) or {})
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(augment=aug, **known)


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def configure_determinism(seed: int, threads: int, device: torch.device) -> dict:
    """Seed every generator and switch on deterministic algorithms; return the flags set.

    ``CUBLAS_WORKSPACE_CONFIG`` must be set before CUDA starts; this is done here
    and by the rule script before importing torch.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    warn_only = device.type == "cuda"
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return {
        "torch_threads": torch.get_num_threads(),
        "use_deterministic_algorithms": True,
        "deterministic_warn_only": warn_only,
        "cudnn_benchmark": False,
        "cudnn_deterministic": True,
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def make_loss(n_classes: int, ignore_index: int, dice_weight: float):
    """Cross-entropy plus ``dice_weight`` x multiclass Dice, both ignoring ``ignore_index``."""
    from segmentation_models_pytorch.losses import DiceLoss

    ce = torch.nn.CrossEntropyLoss(ignore_index=ignore_index)
    dice = DiceLoss(mode="multiclass", ignore_index=ignore_index, from_logits=True)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        value = ce(logits, target)
        if dice_weight:
            value = value + dice_weight * dice(logits, target)
        return value

    return loss


def train_model(
    model: torch.nn.Module,
    sampler: PatchSampler,
    cfg: TrainConfig,
    n_classes: int,
    ignore_index: int,
    device: torch.device,
    progress: bool = True,
    log=print,
) -> dict:
    """Train ``model`` in place for ``cfg.steps`` steps; return a small history."""
    from tqdm import tqdm

    # channels_last: about 20% faster convolutions on CPU (oneDNN), same results for a given seed
    model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, int(0.05 * cfg.steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, cfg.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    loss_fn = make_loss(n_classes, ignore_index, cfg.dice_weight)
    losses = []
    t0 = time.time()
    bar = tqdm(range(cfg.steps), desc="train", disable=not progress, mininterval=2.0, ascii=True)
    for step in bar:
        x, y = sampler.batch(cfg.batch_size)
        x, y = x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            recent = float(np.mean(losses[-cfg.log_every :]))
            bar.set_postfix(loss=f"{recent:.4f}")
            log(f"step {step + 1}/{cfg.steps} loss {recent:.4f}")
    model.eval()
    return {"loss_first": losses[0] if losses else None, "loss_last": float(np.mean(losses[-10:])) if losses else None,
            "seconds": round(time.time() - t0, 2), "steps": cfg.steps}
