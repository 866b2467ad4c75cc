"""Deterministic training of one segmentation model per seed."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Augment, PatchSampler, batch_loader
from .files import atomic_path
from .plan import StepsPlan
from .settings import TRAIN_RUNTIME_KEYS  # noqa: F401  (re-exported: the keys that never change weights)

log = logging.getLogger("crustwatch")


@dataclass
class TrainConfig:
    """Training settings (the ``train:`` section of the config). The fields have no defaults of their
    own: :meth:`from_dict` fills in the config schema's (``workflow/schemas/config.schema.yaml``, the
    one place defaults live; ``docs/config.md`` lists them).

    Attributes:
        patch_size: square training crop in pixels; also the prediction tile.
        batch_size: patches per step.
        steps: optimizer steps, or ``"auto"``: planned from the training masks' labelled pixels
            and classes (:func:`crustwatch.plan.plan_steps`, settings in ``plan``) before training.
        class_balance: fraction of patches centred on a pixel of a uniformly drawn class
            (:class:`crustwatch.data.PatchSampler`; 0: off).
        logit_adjust: tau of the logit-adjusted cross-entropy (:func:`make_loss`; 0: plain).
        plan: settings of ``steps: "auto"`` (:class:`crustwatch.plan.StepsPlan`).
        lr: peak AdamW learning rate, after a 5% warm-up, cosine decay to 0.
        weight_decay: AdamW weight decay.
        dice_weight: weight of the Dice term added to cross-entropy.
        cpu_threads: torch threads on CPU; numerics depend on it, so it is fixed.
        augment: augmentation settings (:class:`crustwatch.data.Augment`).
        log_every: steps between loss lines in the log.
        checkpoint_every: steps between checkpoints a killed job resumes from (0: none).
        workers: loader processes making batches (0: the training process itself).
        precision: ``fp32`` or ``bf16``: forward and loss under bfloat16 autocast (weights and
            optimizer stay float32); about twice as fast on GPUs with bf16 tensor cores, slower
            on most CPUs.

    ``log_every``, ``checkpoint_every`` and ``workers`` do not change the weights
    (:data:`TRAIN_RUNTIME_KEYS`); everything else does.
    """

    patch_size: int
    batch_size: int
    steps: int | str
    class_balance: float
    logit_adjust: float
    plan: StepsPlan
    lr: float
    weight_decay: float
    dice_weight: float
    cpu_threads: int
    augment: Augment
    log_every: int
    checkpoint_every: int
    workers: int
    precision: str

    @classmethod
    def from_dict(cls, d: dict | None = None, **settings) -> "TrainConfig":
        """From ``train:`` settings, as a dict and/or keywords (any subset: the schema fills in the rest;
        ``augment`` and ``plan`` may be given as their classes); unknown keys are left out."""
        from dataclasses import asdict, is_dataclass

        from .project import section

        d = {**(d or {}), **settings}
        d = {k: asdict(v) if is_dataclass(v) else v for k, v in d.items()}
        d = section("train", given=d)
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k not in ("augment", "plan")}
        return cls(augment=Augment(**d["augment"]), plan=StepsPlan(**d["plan"]), **known)


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cuda`` without an index likewise picks a GPU.

    With several visible GPUs, each job claims a free one (:mod:`crustwatch.devices`),
    so jobs that share a machine each run on their own device.
    """
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        from .devices import claim_gpu

        n = torch.cuda.device_count()
        k, _ = claim_gpu(n) if n > 1 else (0, True)
        device = torch.device("cuda", k)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def configure_determinism(seed: int, threads: int, device: torch.device) -> dict:
    """Seed every generator and switch on deterministic algorithms; return the flags set.

    On CPU, deterministic algorithms are enforced (an op without one raises).
    On CUDA, an op without a deterministic kernel only warns; :func:`train_model`
    records such warnings in the model card. ``CUBLAS_WORKSPACE_CONFIG`` must be
    set before CUDA starts: this is done here and by the rule script before torch
    is imported.
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
    return determinism_flags()


def determinism_flags() -> dict:
    """Every setting that decides whether training is bit-reproducible, as now set."""
    return {
        "torch_threads": torch.get_num_threads(),
        "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "batch_rng": "numpy PCG64 seeded with (seed, step) for each batch",
    }


def _one_hot(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    # a comparison, not a scatter: deterministic on every device
    classes = torch.arange(n_classes, device=target.device).view(1, n_classes, 1, 1)
    return (target.unsqueeze(1) == classes).to(torch.float32)


def make_loss(n_classes: int, ignore_index: int, dice_weight: float, logit_offsets: torch.Tensor | None = None):
    """Cross-entropy plus ``dice_weight`` x multiclass soft Dice, both ignoring ``ignore_index``.

    With ``logit_offsets`` (C,) the cross-entropy is taken of ``logits + logit_offsets``: the
    logit-adjusted loss of Menon et al. 2021 with offsets ``tau x log(class frequency)``
    (:func:`logit_offsets`), whose plain argmax at prediction is the decision best for the mean
    per-class recall at tau = 1; the Dice term sees the plain logits.

    Both are written with element-wise products and sums only: torch's NLLLoss
    has no deterministic CUDA kernel. Dice is averaged over the classes present
    in the batch's labels (as segmentation-models-pytorch's DiceLoss).
    """

    offsets = None if logit_offsets is None else torch.as_tensor(logit_offsets, dtype=torch.float32).view(1, -1, 1, 1)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = (target != ignore_index).unsqueeze(1).to(logits.dtype)
        onehot = _one_hot(torch.where(target == ignore_index, 0, target), n_classes) * valid
        n_valid = valid.sum().clamp_min(1.0)
        shifted = logits if offsets is None else logits + offsets.to(logits.device, logits.dtype)
        value = -(torch.log_softmax(shifted, 1) * onehot).sum() / n_valid
        if dice_weight:
            prob = torch.softmax(logits, 1) * valid
            dims = (0, 2, 3)
            inter = (prob * onehot).sum(dims)
            card = (prob + onehot).sum(dims)
            dice = (2 * inter) / card.clamp_min(1e-7)
            present = (onehot.sum(dims) > 0).to(logits.dtype)
            value = value + dice_weight * ((1 - dice) * present).mean()
        return value

    return loss


def logit_offsets(class_pixels: dict[int, int], n_classes: int, tau: float) -> torch.Tensor | None:
    """``tau x log(class frequency)`` per channel (:func:`crustwatch.infer.class_frequencies`, as the
    prediction-time adjustment), or None at tau 0."""
    from .infer import class_frequencies

    if tau == 0:
        return None
    return torch.from_numpy(tau * np.log(class_frequencies(class_pixels, n_classes))).to(torch.float32)


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    meta: dict) -> None:
    """Model, optimizer and RNG states after ``step`` steps, as one safetensors file (atomic)."""
    from safetensors.torch import save_file

    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"optim/{pid}/{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    np_state = np.random.get_state()
    info = {
        **meta,
        "step": step,
        "param_groups": sd["param_groups"],
        "python_random": random.getstate(),
        "numpy_random": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"crustwatch_checkpoint": json.dumps(info, sort_keys=True)})


def load_checkpoint(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    fingerprint: str) -> dict | None:
    """Restore a checkpoint made with the same ``fingerprint``; None when there is none to use."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["crustwatch_checkpoint"])
            if info.get("fingerprint") != fingerprint:
                log.warning("checkpoint %s was made with other inputs or settings; training from step 0", path)
                return None
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # a damaged checkpoint is not worth failing for: train from scratch
        log.warning("checkpoint %s cannot be read (%s); training from step 0", path, e)
        return None
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("optim/"):
            _, pid, name = k.split("/", 2)
            state.setdefault(int(pid), {})[name] = v
    # moves the moments to the parameters' device (and keeps `step` where torch wants it)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    pr = info["python_random"]
    random.setstate((pr[0], tuple(pr[1]), pr[2]))
    nr = info["numpy_random"]
    np.random.set_state((nr[0], np.array(nr[1], dtype=np.uint32), *nr[2:]))
    return info


# ---------------------------------------------------------------- training loop


def train_model(
    model: torch.nn.Module,
    sampler: PatchSampler,
    cfg: TrainConfig,
    n_classes: int,
    ignore_index: int,
    device: torch.device,
    progress: bool = True,
    log=print,
    checkpoint: str | Path | None = None,
    fingerprint: str = "",
    extra_loss=None,
    loss_fn=None,
    label: str | None = None,
) -> dict:
    """Train ``model`` in place for ``cfg.steps`` steps; return a small history.

    ``extra_loss(model, logits, step)``, when given, returns a term added to each step's loss (a
    benchmark's domain term, say); the workflow trains without one. ``loss_fn(logits, target)``
    replaces the segmentation loss (:func:`make_loss`): self-supervised pretraining
    (:mod:`crustwatch.pretrain`) trains through this loop with its own. ``label`` names the
    progress bar (default ``train seed N``).

    With ``checkpoint``, the state is saved there every ``cfg.checkpoint_every``
    steps and, when a checkpoint with the same ``fingerprint`` exists, training
    resumes from it; the result is bit-identical to an uninterrupted run. The
    checkpoint is removed when training ends.
    """
    from .progress import progress as progress_bar

    if not isinstance(cfg.steps, int) or isinstance(cfg.steps, bool) or cfg.steps < 1:
        raise ValueError(f"train_model needs a number of steps, not {cfg.steps!r} (plan 'auto' first: crustwatch.plan)")
    # channels_last: about 20% faster convolutions on CPU (oneDNN), same results for a given seed
    model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, int(0.05 * cfg.steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, cfg.steps - warm)))

    if loss_fn is None:
        offsets = logit_offsets(sampler.class_pixels(), n_classes, cfg.logit_adjust) if cfg.logit_adjust else None
        loss_fn = make_loss(n_classes, ignore_index, cfg.dice_weight, offsets)
    if cfg.precision not in ("fp32", "bf16"):
        raise ValueError(f"train.precision must be fp32 or bf16, not {cfg.precision!r}")
    amp = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.precision == "bf16"
           else contextlib.nullcontext)
    losses: list[float] = []
    start, seconds_before, resumed_from = 0, 0.0, None
    if checkpoint is not None:
        info = load_checkpoint(checkpoint, model, opt, fingerprint)
        if info is not None:
            start = resumed_from = info["step"]
            losses = list(info["losses"])
            seconds_before = info["seconds"]
            log(f"resumed from checkpoint {checkpoint} at step {start}/{cfg.steps}")
    nondeterministic: set[str] = set()
    shown: set[str] = set()
    t0 = time.time()
    loader = batch_loader(sampler, cfg.batch_size, cfg.steps, start, cfg.workers, pin_memory=device.type == "cuda")
    bar = progress_bar(cfg.steps, label or f"train seed {sampler.seed}", initial=start, enabled=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step, (x, y) in enumerate(loader, start):
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_at(step)
            with amp():
                logits = model(x)
                loss = loss_fn(logits.float(), y)
                if extra_loss is not None:
                    loss = loss + extra_loss(model, logits, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                recent = float(np.mean(losses[-cfg.log_every :]))
                bar.set_postfix(loss=f"{recent:.4f}")
                log(f"step {done}/{cfg.steps} loss {recent:.4f}")
            if checkpoint is not None and cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
                save_checkpoint(checkpoint, done, model, opt, {
                    "fingerprint": fingerprint, "losses": losses,
                    "seconds": seconds_before + time.time() - t0})
            nondeterministic.update(_nondeterminism_alerts(caught, shown))
            caught.clear()
    bar.close()
    for w in nondeterministic:
        log(f"warning: no deterministic CUDA kernel for: {w}")
    model.eval()
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return {
        "loss_first": losses[0] if losses else None,
        "loss_last": float(np.mean(losses[-10:])) if losses else None,
        "seconds": round(seconds_before + time.time() - t0, 2),
        "steps": cfg.steps,
        "resumed_from_step": resumed_from,
        "nondeterministic_ops": sorted(nondeterministic),
    }


def _nondeterminism_alerts(caught, shown: set[str]) -> list[str]:
    """Alerts of ops without a deterministic kernel; other warnings are passed on once each."""
    out = []
    for w in caught:
        msg = str(w.message)
        if "deterministic" in msg:
            out.append(msg.split(". ")[0][:200])
        elif msg not in shown:
            shown.add(msg)
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return out
