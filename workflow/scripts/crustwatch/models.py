"""Segmentation models: a name -> model factory over segmentation-models-pytorch, safetensors I/O."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import CrustWatchError
from .files import atomic_path, sha256_file


#: segmentation-models-pytorch's Unet decoder widths (for 5 stages; fewer stages take the first ones)
SMP_DECODER_CHANNELS = (256, 128, 64, 32, 16)


def create_model(
    arch: str = "Unet",
    encoder: str = "resnet18",
    n_classes: int = 2,
    encoder_depth: int = 5,
    decoder_channels: list[int] | None = None,
    encoder_weights: str | None = None,
    in_channels: int = 3,
) -> torch.nn.Module:
    """Build a segmentation model.

    Args:
        arch: smp architecture name, for example ``Unet`` (default), ``UnetPlusPlus``, ``FPN``,
            ``DeepLabV3Plus``.
        encoder: smp encoder name (default ``resnet18``); ``tu-<name>`` for timm encoders.
        n_classes: number of output classes.
        encoder_depth: encoder stages used, 3 to 5 (default 5). Fewer stages: faster, smaller context.
        decoder_channels: Unet decoder widths, one per stage (default: smp's, the first
            ``encoder_depth`` of 256, 128, 64, 32, 16).
        encoder_weights: ``None`` (random init, default); the path of a local weights file
            (``.safetensors``, or a ``.pt``/``.pth`` state dict) for the encoder; or the name of
            pretrained weights that segmentation-models-pytorch knows for ``encoder`` (``imagenet``
            for the ResNets), which smp itself downloads on first use on a machine with internet
            and caches (``TORCH_HOME``). A value with a ``/`` or a weights suffix is a path.
        in_channels: input bands (default 3).
    """
    import segmentation_models_pytorch as smp

    local = bool(encoder_weights) and is_weights_path(encoder_weights)
    kwargs: dict[str, Any] = dict(
        encoder_name=encoder,
        encoder_weights=None if local else encoder_weights,
        encoder_depth=encoder_depth,
        in_channels=in_channels,
        classes=n_classes,
    )
    if arch.lower() in ("unet", "unetplusplus"):
        if decoder_channels is None:  # smp's own widths, one per stage used
            decoder_channels = SMP_DECODER_CHANNELS[:encoder_depth]
        if len(decoder_channels) != encoder_depth:
            raise CrustWatchError(
                f"model.decoder_channels has {len(decoder_channels)} entries ({list(decoder_channels)}) but "
                f"model.encoder_depth is {encoder_depth}: give one width per encoder stage, for example "
                f"{[8 * 2 ** k for k in reversed(range(encoder_depth))]}, or null for smp's widths"
            )
        kwargs["decoder_channels"] = list(decoder_channels)
    if local and not Path(encoder_weights).is_file():
        raise CrustWatchError(
            f"model.encoder_weights '{encoder_weights}' is not a file: give the path of a weights file on this "
            "machine, the name of smp's pretrained weights (imagenet), or null"
        )
    try:
        model = smp.create_model(arch, **kwargs)
    except (KeyError, ValueError) as e:
        hint = (f" (model.encoder_weights '{encoder_weights}' is not a file here either)"
                if encoder_weights and not local else "")
        raise CrustWatchError(f"cannot build model arch='{arch}' encoder='{encoder}': {e}{hint}") from None
    except OSError as e:  # smp's download: no internet on this machine (a compute node, say)
        raise CrustWatchError(
            f"model.encoder_weights '{encoder_weights}': segmentation-models-pytorch could not download the "
            f"pretrained weights ({e}). Run once where there is internet (smp caches them under TORCH_HOME), or "
            "copy a weights file here and give its path"
        ) from None
    if local:
        p = Path(encoder_weights)
        state = load_file(str(p)) if p.suffix == ".safetensors" else torch.load(p, map_location="cpu", weights_only=True)
        # smp's encoders return nothing from load_state_dict: compare the keys here
        if not set(state) & set(model.encoder.state_dict()):
            raise CrustWatchError(f"encoder weights '{p}' match none of encoder '{encoder}''s parameters")
        model.encoder.load_state_dict(state, strict=False)
    return model


def is_weights_path(value: str) -> bool:
    """``model.encoder_weights`` names a local file (else: smp's pretrained weights of that name)."""
    return "/" in value or os.sep in value or Path(value).suffix in (".safetensors", ".pt", ".pth", ".bin")


def save_weights(model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """Save a model's state as safetensors atomically; returns the file's sha256.

    Metadata is stored under one key as sorted JSON: safetensors writes several
    metadata keys in an arbitrary order, which would make identical weights hash
    differently.
    """
    return save_state({k: v for k, v in model.state_dict().items()}, path, metadata)


def save_state(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """Save tensors as safetensors atomically, metadata as one sorted JSON value; returns the sha256."""
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {"crustwatch": json.dumps({k: str(v) for k, v in (metadata or {}).items()}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return sha256_file(path)


def load_weights(model: torch.nn.Module, path: str | Path, expected_sha256: str | None = None) -> torch.nn.Module:
    """Load safetensors weights into ``model``; refuse a file whose sha256 differs from the card's."""
    if expected_sha256 is not None:
        got = sha256_file(path)
        if got != expected_sha256:
            raise CrustWatchError(
                f"weights file '{path}' has sha256 {got[:12]}... but its model card records "
                f"{expected_sha256[:12]}...; the file was changed or replaced. Retrain it (bit for bit the "
                f"recorded model): snakemake --cores N --forcerun {path}"
            )
    model.load_state_dict(load_file(str(path)))
    return model
