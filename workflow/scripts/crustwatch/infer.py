"""Sliding-window ensemble prediction, nnU-Net style.

Tiles of the training patch size overlap by ``1 - step_fraction``; each tile's
softmax is weighted by a Gaussian (sigma = patch / 8) that trusts tile centres
more than borders, accumulated in float32 and divided by the summed weights.
Photos smaller than a patch are padded. Probabilities, never labels, are averaged
over seeds. With class weights (:func:`prior_weights`, the logit adjustment of
``predict.prior_correction``) each class's probability is multiplied by its weight
before the argmax, for the ensemble and for every seed alike.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch


#: test-time augmentation: no flip, left-right, up-down, both (dims of an NCHW batch)
FLIPS = ((), (3,), (2,), (2, 3))


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (fast): a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (recent Xeon and EPYC). Elsewhere bf16 would be emulated and slow."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def prior_weights(class_pixels: dict[int, int] | list[int], n_classes: int, tau: float) -> np.ndarray | None:
    """Class weights of the logit adjustment: the training class frequency to the power ``-tau``.

    The argmax of ``p_k x w_k`` with ``w_k = pi_k ** -tau`` is the argmax of ``log p_k - tau log pi_k``:
    ``tau = 1`` turns the softmax's posterior into the decision that is best for the mean of the
    per-class recalls (Menon et al. 2021, long-tail learning via logit adjustment), ``0`` is the plain
    argmax (None is returned). The frequencies ``pi_k`` are Laplace-smoothed, ``(n_k + 1) / (N + C)``,
    so a class with no training pixel gets a large but finite weight, and the weights are scaled to
    a largest of 1.

    Args:
        class_pixels: labelled training pixels per output channel (a dict channel -> count, or a list).
        n_classes: output channels.
        tau: the exponent (``predict.prior_correction``), >= 0.
    """
    if tau < 0:
        raise ValueError(f"prior correction tau must be >= 0, got {tau}")
    if tau == 0:
        return None
    w = class_frequencies(class_pixels, n_classes) ** -float(tau)
    return (w / w.max()).astype(np.float32)


def class_frequencies(class_pixels: dict[int, int] | list[int], n_classes: int) -> np.ndarray:
    """Laplace-smoothed class frequencies ``(n_k + 1) / (N + C)`` (float64, one per output channel)
    from labelled pixels per channel (a dict channel -> count, or a list): the class prior of both
    logit adjustments (:func:`prior_weights`, :func:`crustwatch.train.logit_offsets`)."""
    counts = np.zeros(n_classes, dtype=np.float64)
    items = class_pixels.items() if isinstance(class_pixels, dict) else enumerate(class_pixels)
    for c, n in items:
        if not 0 <= int(c) < n_classes:
            raise ValueError(f"class pixels name channel {c}, but the model has {n_classes} channels")
        counts[int(c)] += float(n)
    return (counts + 1) / (counts.sum() + n_classes)


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


class ArrayRows:
    """Row bands of an in-memory (bands, H, W) photo, the interface of :class:`crustwatch.io.RasterRows`."""

    def __init__(self, img: np.ndarray):
        self.img = img
        self.count, self.height, self.width = img.shape

    def read(self, y0: int, y1: int) -> np.ndarray:
        return self.img[:, y0:y1]


def _padded(rows, patch: int):
    """``rows`` as a reader of a photo at least one patch high and wide (reflect padding)."""
    h, w = rows.height, rows.width
    if h >= patch and w >= patch:
        return rows
    img = np.asarray(rows.read(0, h), dtype=np.float32)
    ph, pw = max(h, patch), max(w, patch)
    return ArrayRows(np.pad(img, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect" if min(h, w) > 1 else "edge"))


@torch.inference_mode()
def probability_bands(
    models: list[torch.nn.Module],
    rows,
    n_classes: int,
    patch: int,
    step_fraction: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress=None,
    tta: bool = False,
    bf16: bool = False,
):
    """Per-model softmax probabilities of a photo, a band of finished rows at a time.

    Tiles are processed one row of tiles at a time; once a row of tiles is done, the
    rows above the next row's top are final and are yielded, so memory holds the
    probabilities of one patch's height, never of the whole photo. Every
    pixel sums its tiles in the same order as a whole-photo pass would.

    Args:
        models: models in eval mode (one per seed).
        rows: reader of the normalized photo (:class:`ArrayRows` or
            :class:`crustwatch.io.RasterRows`): ``height``, ``width``, ``read(y0, y1)``
            giving float32 (bands, y1 - y0, W).
        n_classes, patch, step_fraction, batch_size, device, progress, tta: as in
            :func:`sliding_window_probs`.
        bf16: run the models under bfloat16 autocast (GPUs: about twice the speed; the
            probabilities are accumulated in float32 all the same).

    Yields:
        ``(y0, y1, probs)``: probs float32 (n_models, n_classes, y1 - y0, W) for photo
        rows ``y0:y1``, cropped to the photo's own width; bands tile the photo's height.
    """
    views = FLIPS if tta else ((),)
    device = torch.device(device)
    cuda = device.type == "cuda"
    amp = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    h, w = rows.height, rows.width
    rows = _padded(rows, patch)
    ph, pw = rows.height, rows.width
    step = max(1, int(round(patch * step_fraction)))
    ys, xs = tile_starts(ph, patch, step), tile_starts(pw, patch, step)
    weight = gaussian_weight(patch)
    wt = torch.from_numpy(weight).to(device)
    # rolling accumulator for photo rows base .. base + patch (each tile row starts at base)
    depth = patch
    acc = np.zeros((len(models), n_classes, depth, pw), dtype=np.float32)
    norm = np.zeros((depth, pw), dtype=np.float32)
    base = 0
    for i, y in enumerate(ys):
        band = torch.from_numpy(np.ascontiguousarray(rows.read(y, y + patch), dtype=np.float32))
        r = y - base
        chunks = [xs[b : b + batch_size] for b in range(0, len(xs), batch_size)]
        # on a GPU the row's batches go out from pinned memory at once, copies overlapping the compute
        batches = [torch.stack([band[:, :, x : x + patch] for x in c]) for c in chunks]
        if cuda:
            batches = [t.pin_memory().to(device, non_blocking=True) for t in batches]
        for chunk, batch in zip(chunks, batches):
            batch = batch.to(device).contiguous(memory_format=torch.channels_last)
            for m, model in enumerate(models):
                # with TTA: flip, predict, flip back; the mean of the four probability maps
                with amp():
                    logits = [model(_flip(batch, d)) for d in views]
                prob = sum(_flip(torch.softmax(z.float(), dim=1), d) for z, d in zip(logits, views)) / len(views)
                prob = (prob * wt).cpu().numpy()
                for k, x in enumerate(chunk):
                    acc[m, :, r : r + patch, x : x + patch] += prob[k]
            for x in chunk:
                norm[r : r + patch, x : x + patch] += weight
            if progress is not None:
                progress(len(chunk))
        done = ys[i + 1] if i + 1 < len(ys) else ph  # rows above the next tile row are final
        k = done - base
        if k > 0:
            top = min(done, h)
            if top > base:
                yield base, top, acc[:, :, : top - base, :w] / norm[None, None, : top - base, :w]
            acc[:, :, : depth - k] = acc[:, :, k:]
            acc[:, :, depth - k :] = 0
            norm[: depth - k] = norm[k:]
            norm[depth - k :] = 0
            base = done


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
    """Per-model softmax probabilities of a whole photo held in memory.

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
    _, h, w = img.shape
    out = np.zeros((len(models), n_classes, h, w), dtype=np.float32)
    for y0, y1, p in probability_bands(models, ArrayRows(img), n_classes, patch, step_fraction, batch_size,
                                       device, progress, tta):
        out[:, :, y0:y1] = p
    return out


def predict_maps(
    models: list[torch.nn.Module],
    rows,
    n_classes: int,
    patch: int,
    step_fraction: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress=None,
    tta: bool = False,
    with_uncertainty: bool = True,
    with_probabilities: bool = False,
    bf16: bool = False,
    class_weights: np.ndarray | None = None,
    regions: np.ndarray | None = None,
    n_regions: int = 0,
    soft_weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Ensemble class map, per-model class maps, uncertainty and probabilities of a photo, in bounded memory.

    The same numbers as :func:`ensemble` and :func:`uncertainty` of
    :func:`sliding_window_probs`, computed band by band from
    :func:`probability_bands`: peak memory is the outputs (1 + n_models bytes per
    pixel, 8 more with uncertainty, n_classes more with probabilities) plus a
    one-patch band of probabilities. ``class_weights`` (:func:`prior_weights`) weight
    the classes' probabilities before the argmax of the ensemble and of each seed; the
    uncertainty and the probabilities written are the models' own. With ``regions`` (uint8 (H, W):
    a region id per pixel, ids ``>= n_regions`` uncounted) the probabilities are also summed per
    region (:func:`region_probability_sums`, ``soft_weights`` undoing a logit-adjusted loss).

    Returns:
        ``classes`` uint8 (H, W); ``seeds`` uint8 (n_models, H, W); with uncertainty
        ``uncertainty`` float32 (2, H, W); with probabilities ``probabilities`` uint8
        (n_classes, H, W), the ensemble's mean probability times 255, rounded; with regions
        ``region_sums`` float64 (n_regions, 1 + n_models, n_classes).
    """
    h, w = rows.height, rows.width
    if regions is not None and regions.shape != (h, w):
        raise ValueError(f"regions are {regions.shape[0]}x{regions.shape[1]} px but the photo is {h}x{w}")
    out = {"classes": np.zeros((h, w), dtype=np.uint8), "seeds": np.zeros((len(models), h, w), dtype=np.uint8)}
    if with_uncertainty:
        out["uncertainty"] = np.zeros((2, h, w), dtype=np.float32)
    if with_probabilities:
        out["probabilities"] = np.zeros((n_classes, h, w), dtype=np.uint8)
    if regions is not None:
        out["region_sums"] = np.zeros((n_regions, 1 + len(models), n_classes), dtype=np.float64)
    for y0, y1, p in probability_bands(models, rows, n_classes, patch, step_fraction, batch_size, device,
                                       progress, tta, bf16):
        out["classes"][y0:y1], out["seeds"][:, y0:y1], mean = ensemble(p, class_weights)
        if with_uncertainty:
            out["uncertainty"][:, y0:y1] = uncertainty(p)
        if with_probabilities:
            out["probabilities"][:, y0:y1] = np.rint(mean * 255)
        if regions is not None:
            out["region_sums"] += region_probability_sums(p, regions[y0:y1], n_regions, soft_weights)
    return out


def region_probability_sums(probs: np.ndarray, regions: np.ndarray, n_regions: int,
                            weights: np.ndarray | None = None) -> np.ndarray:
    """Probabilities summed over the pixels of each region: the soft cover's counts.

    Args:
        probs: per-model probabilities (S, C, H, W).
        regions: uint8 (H, W), a region id per pixel; pixels with an id ``>= n_regions`` are not counted.
        n_regions: the number of regions.
        weights: (C,) or None. Each pixel's probabilities are multiplied by them and renormalized to
            sum to 1 before summing: the training class frequencies to the power tau undo a
            logit-adjusted loss's shift towards rare classes (:func:`undo_logit_adjustment`).

    Returns:
        float64 (n_regions, 1 + S, C): row 0 the ensemble (the mean over seeds, then weighted), rows
        1..S each seed. Each pixel adds 1 in all to its region's row of every model, so a region's
        row sums to its pixel count.
    """
    s, c = probs.shape[:2]
    models = np.concatenate([probs.mean(axis=0, keepdims=True), probs]).reshape(1 + s, c, -1)
    if weights is not None:
        models = models * np.asarray(weights, dtype=np.float32)[None, :, None]
        models = models / np.maximum(models.sum(axis=1, keepdims=True), np.float32(1e-12))
    idx = regions.reshape(-1).astype(np.int64)
    counted = idx < n_regions
    idx = idx[counted]
    out = np.zeros((n_regions, 1 + s, c), dtype=np.float64)
    for m in range(1 + s):
        for k in range(c):
            out[:, m, k] = np.bincount(idx, weights=models[m, k][counted], minlength=n_regions)[:n_regions]
    return out


def undo_logit_adjustment(class_pixels: dict[int, int] | list[int], n_classes: int, tau: float) -> np.ndarray | None:
    """Weights that turn a logit-adjusted model's softmax back into class posteriors.

    Trained on ``logits + tau log pi`` (``train.logit_adjust``), a model's own softmax is about
    ``p(k | x) / pi_k ** tau``, renormalized: it leans towards rare classes, which helps their maps
    but inflates their summed probability. Multiplying by ``pi_k ** tau`` (Laplace-smoothed training
    frequencies, :func:`class_frequencies`) and renormalizing undoes it. None at tau 0."""
    if tau < 0:
        raise ValueError(f"logit adjustment tau must be >= 0, got {tau}")
    if tau == 0:
        return None
    return (class_frequencies(class_pixels, n_classes) ** float(tau)).astype(np.float32)


def ensemble(probs: np.ndarray, class_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From per-model probabilities (S, C, H, W): (ensemble class map, per-model class maps, mean probs).

    With ``class_weights`` (C,) the maps are the argmax of the weighted probabilities (the mean
    probabilities returned are not weighted)."""
    mean = probs.mean(axis=0)
    if class_weights is None:
        return mean.argmax(0).astype(np.uint8), probs.argmax(1).astype(np.uint8), mean
    w = np.asarray(class_weights, dtype=np.float32)
    return ((mean * w[:, None, None]).argmax(0).astype(np.uint8),
            (probs * w[None, :, None, None]).argmax(1).astype(np.uint8), mean)


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
