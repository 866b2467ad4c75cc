"""Sliding-window ensemble prediction, nnU-Net style.

Tiles of the training patch size overlap by ``1 - step_fraction``; each tile's
softmax is weighted by a Gaussian (sigma = patch / 8) that trusts tile centres
more than borders, accumulated in float32 and divided by the summed weights.
Photos smaller than a patch are padded. Probabilities, never labels, are averaged
over seeds.
"""

from __future__ import annotations

import numpy as np
import torch


#: test-time augmentation: no flip, left-right, up-down, both (dims of an NCHW batch)
FLIPS = ((), (3,), (2,), (2, 3))


def _flip(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return t.flip(dims) if dims else t


def gaussian_weight(patch: int, sigma_scale: float = 1 / 8) -> np.ndarray:
    """(patch, patch) float32 Gaussian importance map, strictly positive."""
    c = (np.arange(patch) - (patch - 1) / 2) / (patch * sigma_scale)
    g = np.exp(-0.5 * c**2)
    w = np.outer(g, g)
    w /= w.max()
    return np.maximum(w, 1e-3).astype(np.float32)


def tile_starts(size: int, patch: int, step: int) -> list[int]:
    """Start offsets that cover ``size`` with tiles of ``patch``, the last flush with the end."""
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, max(1, step)))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def tile_coords(height: int, width: int, patch: int, step_fraction: float = 0.5) -> list[tuple[int, int]]:
    """Top-left corners of the tiles covering a photo (padded to at least one patch)."""
    step = max(1, int(round(patch * step_fraction)))
    return [
        (y, x)
        for y in tile_starts(max(height, patch), patch, step)
        for x in tile_starts(max(width, patch), patch, step)
    ]


@torch.inference_mode()
def sliding_window_probs(
    models: list[torch.nn.Module],
    img: np.ndarray,
    n_classes: int,
    patch: int,
    step_fraction: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress=None,
    tta: bool = False,
) -> np.ndarray:
    """Per-model softmax probabilities of a whole photo.

    Args:
        models: models in eval mode (one per seed).
        img: normalized photo, float32 (bands, H, W).
        n_classes: number of classes.
        patch: tile size in pixels (the training patch).
        step_fraction: tile step as a fraction of the patch (default 0.5).
        batch_size: tiles per forward pass.
        device: torch device.
        progress: optional callable called with the number of tiles done per batch.
        tta: test-time augmentation: each tile also predicted flipped left-right,
            up-down and both, probabilities averaged (4x the compute).

    Returns:
        float32 array (n_models, n_classes, H, W).
    """
    views = FLIPS if tta else ((),)
    _, h, w = img.shape
    ph, pw = max(h, patch), max(w, patch)
    if (ph, pw) != (h, w):
        img = np.pad(img, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect" if min(h, w) > 1 else "edge")
    weight = gaussian_weight(patch)
    coords = tile_coords(h, w, patch, step_fraction)
    acc = np.zeros((len(models), n_classes, ph, pw), dtype=np.float32)
    norm = np.zeros((ph, pw), dtype=np.float32)
    for y, x in coords:
        norm[y : y + patch, x : x + patch] += weight
    tensor = torch.from_numpy(np.ascontiguousarray(img))
    wt = torch.from_numpy(weight).to(device)
    for b in range(0, len(coords), batch_size):
        chunk = coords[b : b + batch_size]
        batch = torch.stack([tensor[:, y : y + patch, x : x + patch] for y, x in chunk]).to(device)
        batch = batch.contiguous(memory_format=torch.channels_last)
        for m, model in enumerate(models):
            # with TTA: flip, predict, flip back; the mean of the four probability maps
            prob = sum(_flip(torch.softmax(model(_flip(batch, d)).float(), dim=1), d) for d in views) / len(views)
            prob = prob * wt
            prob = prob.cpu().numpy()
            for k, (y, x) in enumerate(chunk):
                acc[m, :, y : y + patch, x : x + patch] += prob[k]
        if progress is not None:
            progress(len(chunk))
    acc /= norm[None, None]
    return acc[:, :, :h, :w]


def ensemble(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From per-model probabilities (S, C, H, W): (ensemble class map, per-model class maps, mean probs)."""
    mean = probs.mean(axis=0)
    return mean.argmax(0).astype(np.uint8), probs.argmax(1).astype(np.uint8), mean


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """Per-pixel uncertainty of a seed ensemble from per-model probabilities (S, C, H, W).

    Returns float32 (2, H, W), in nats:
        0. predictive entropy H[mean_s p_s]: total uncertainty (0 .. ln C);
        1. mutual information H[mean_s p_s] - mean_s H[p_s]: the part due to the seeds
           disagreeing (0 with one seed or when all seeds agree).
    """
    eps = np.float32(1e-12)
    mean = probs.mean(axis=0)
    total = -(mean * np.log(mean + eps)).sum(axis=0)
    each = -(probs * np.log(probs + eps)).sum(axis=1).mean(axis=0)
    return np.stack([total, np.maximum(total - each, 0)]).astype(np.float32)


@torch.no_grad()
def adapt_batchnorm(
    model: torch.nn.Module,
    images: list[np.ndarray],
    patch: int,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    max_tiles: int = 2000,
) -> torch.nn.Module:
    """AdaBN: a copy of ``model`` whose batch-norm statistics are re-estimated on ``images``.

    ``images`` are one camera's normalized photos (unlabelled). Every batch-norm
    layer's running mean and variance are replaced by their plain average over
    the photos' non-overlapping tiles (at most ``max_tiles``, taken in order, so
    the result is deterministic); the learned weights are untouched.
    """
    import copy

    adapted = copy.deepcopy(model).to(device)
    bns = [m for m in adapted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or not images:
        return adapted.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
    tiles = []
    for img in images:
        _, h, w = img.shape
        if min(h, w) < patch:
            img = np.pad(img, ((0, 0), (0, max(0, patch - h)), (0, max(0, patch - w))), mode="edge")
            _, h, w = img.shape
        tiles += [img[:, y : y + patch, x : x + patch] for y in range(0, h - patch + 1, patch)
                  for x in range(0, w - patch + 1, patch)]
    tiles = tiles[:max_tiles]
    adapted.train()
    for b in range(0, len(tiles), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(np.stack(tiles[b : b + batch_size]), dtype=np.float32))
        adapted(x.to(device).contiguous(memory_format=torch.channels_last))
    return adapted.eval()
