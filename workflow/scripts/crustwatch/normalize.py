"""Normalization against domain drift: scale to a target mm/px, colour per camera.

The photometric correction's parameters belong to the camera, not to the scene:
they are pooled over the camera's calibration photos (by default those of the first
date it was used; :func:`calibration_ids`), leaving out the photo being corrected,
so a photo's own content never sets the correction applied to it, and a real
change of cover in that photo, or at a later date, cannot be normalised away
(DESIGN §4).

Every method is a per-channel lookup table on 0..255, derived from per-photo
256-bin channel histograms (which makes pooling exact and cheap) or from a
reference target in the frame:

- ``none``: fixed affine map of 0..255 to about -2..2.
- ``per_image``: per channel (v - mean) / sd of the photo's *own* pixels. Kept as
  the known-biased baseline: when cover changes, the correction changes with it.
- ``camera_moments``: per channel (v - mean) / sd of the camera's pooled pixels.
- ``camera_gamma``: per channel (log v - mean) / sd of the log values of the
  camera's pooled pixels. A camera records about ``(gain * radiance) ** (1 / gamma)``,
  so white balance, exposure *and* gamma are an offset and a scale in log
  intensity, and this undoes all three with two numbers per channel.
- ``camera_quantile``: per channel, the camera's pooled CDF mapped to a standard
  normal (histogram matching); undoes any monotonic per-channel camera change
  (gain, offset, gamma, white balance) when the camera's photos cover similar ground.
- ``reference``: per channel gain that brings a neutral reference target in the
  photo (the sheet's ``reference`` box: a grey card, the white plot frame) to a
  fixed grey, then the ``none`` map. Reads only the target, never the scene.

Mapping every camera to one standard (zero mean and unit sd, or normal
quantiles) is the same as mapping it to the training photos' distribution and
then applying one fixed transform that the model learns through; it keeps a
photo's correction independent of which photos are labelled for training.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Literal

import numpy as np
from PIL import Image

Method = Literal["none", "per_image", "camera_moments", "camera_gamma", "camera_quantile", "reference"]
METHODS: tuple[str, ...] = ("none", "per_image", "camera_moments", "camera_gamma", "camera_quantile", "reference")
#: methods whose parameters are pooled over a camera's photos
CAMERA_METHODS = ("camera_moments", "camera_gamma", "camera_quantile")
#: offset (in 0..255 units) before the logarithm of ``camera_gamma``: keeps black pixels finite
LOG_OFFSET = 1.0
Z_CLIP = 3.5
#: the value (0..255) a neutral reference target is brought to by ``reference``
REFERENCE_LEVEL = 190.0


def scale_factor(mm_per_px: float | None, target_mm_per_px: float | None) -> float:
    """Factor by which a photo's width and height are multiplied (1.0 when unknown)."""
    if mm_per_px is None or target_mm_per_px is None:
        return 1.0
    if not np.isfinite(mm_per_px) or not target_mm_per_px:
        return 1.0
    return float(mm_per_px) / float(target_mm_per_px)


def scaled_shape(height: int, width: int, factor: float) -> tuple[int, int]:
    return max(1, int(round(height * factor))), max(1, int(round(width * factor)))


def resample_photo(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a (3, H, W) uint8 photo: area averaging when shrinking, bilinear when enlarging."""
    h, w = shape
    if (h, w) == img.shape[1:]:
        return img
    shrinking = h * w < img.shape[1] * img.shape[2]
    pil = Image.fromarray(np.moveaxis(img, 0, -1))
    out = pil.resize((w, h), Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.moveaxis(np.asarray(out), -1, 0))


def resample_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a (H, W) class mask with nearest neighbour (class ids are never mixed)."""
    h, w = shape
    if (h, w) == mask.shape:
        return mask
    return np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))


def resample_float(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a (bands, H, W) float array bilinearly (for continuous maps such as uncertainty)."""
    h, w = shape
    if (h, w) == arr.shape[1:]:
        return arr.astype(np.float32, copy=False)
    return np.stack([np.asarray(Image.fromarray(b.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))
                     for b in arr]).astype(np.float32)


def histogram(img: np.ndarray) -> np.ndarray:
    """Per-channel 256-bin histogram of a (3, H, W) uint8 photo, shape (3, 256), int64."""
    return np.stack([np.bincount(img[c].ravel(), minlength=256) for c in range(img.shape[0])]).astype(
        np.int64
    )


def pooled_histogram(
    hists: dict[str, np.ndarray], image_id: str
) -> tuple[np.ndarray, int, bool]:
    """Leave-one-out pool of a camera's histograms for ``image_id``.

    ``hists`` are the histograms of the camera's calibration photos (see
    :func:`calibration_ids`). A photo outside them gets the pool of all of them.

    Returns:
        (histogram, number of photos pooled, self_included). ``self_included`` is
        True only when the camera has no other photo: then the photo's own
        histogram is used and the record says so.
    """
    if not hists:
        raise ValueError(f"no calibration photo to pool for photo '{image_id}'")
    others = [h for k, h in hists.items() if k != image_id]
    if others:
        return np.sum(others, axis=0), len(others), False
    return np.asarray(hists[image_id]), 1, True


#: how a camera's calibration photos are chosen
CAMERA_POOLS = ("first_date", "all")
#: normalization settings a model's photos and the photos it predicts must share
NORM_KEYS = ("method", "target_mm_per_px", "camera_pool")


def calibration_ids(photos: dict[str, tuple[str, str]], pool: str = "first_date") -> dict[str, list[str]]:
    """Per camera, the photos whose pooled statistics set its colour correction.

    Args:
        photos: image_id -> (camera, date as YYYY-MM-DD).
        pool: ``first_date``: the photos of the first date the camera was used
            (its calibration date). Photos of later dates are corrected with those
            parameters and never change them, so a later change of cover under
            the same camera is not read, and adding a monitoring date leaves every
            earlier photo's correction as it was. ``all``: every photo of the
            camera (leave-one-out), across dates.

    Returns:
        camera -> image_ids in the order given.
    """
    if pool not in CAMERA_POOLS:
        raise ValueError(f"unknown normalize.camera_pool '{pool}'; choose one of {CAMERA_POOLS}")
    first: dict[str, str] = {}
    for cam, date in photos.values():
        first[cam] = min(first.get(cam, date), date)
    out: dict[str, list[str]] = {}
    for iid, (cam, date) in photos.items():
        if pool == "all" or date == first[cam]:
            out.setdefault(cam, []).append(iid)
    return out


def reference_target(img: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, float]:
    """Mean per channel of a (3, H, W) uint8 photo inside ``box`` (x0, y0, x1, y1), and the
    fraction of its pixels saturated in some channel. Raises ValueError for an empty box."""
    x0, y0, x1, y1 = box
    px = img[:, y0:y1, x0:x1].reshape(img.shape[0], -1).astype(np.float64)
    if px.shape[1] == 0:
        raise ValueError(f"reference box {box} holds no pixel of the photo")
    return px.mean(axis=1), float((px >= 254).any(axis=0).mean())


def _moments_lut(hist: np.ndarray, log: bool = False) -> np.ndarray:
    v = np.arange(256, dtype=np.float64)
    if log:
        v = np.log((v + LOG_OFFSET) / (255.0 + LOG_OFFSET))
    lut = []
    for h in np.asarray(hist, dtype=np.float64):
        n = h.sum()
        mean = (h * v).sum() / n
        sd = np.sqrt(max((h * (v - mean) ** 2).sum() / n, 1e-6))
        lut.append((v - mean) / sd)
    return np.clip(np.array(lut), -Z_CLIP * 2, Z_CLIP * 2).astype(np.float32)


def lookup_table(method: Method, hist: np.ndarray | None = None, own: np.ndarray | None = None,
                 reference_rgb: list[float] | None = None) -> np.ndarray:
    """Per-channel lookup table (3, 256) float32 mapping uint8 values to model input.

    Args:
        method: one of :data:`METHODS`.
        hist: the camera's pooled (3, 256) histogram (``camera_*`` methods).
        own: the photo's own (3, 256) histogram (``per_image``).
        reference_rgb: mean value (0..255) per channel of the photo's reference target (``reference``).
    """
    v = np.arange(256, dtype=np.float64)
    match method:
        case "none":
            return np.tile(((v / 255.0) - 0.5) / 0.25, (3, 1)).astype(np.float32)
        case "per_image":
            assert own is not None
            return _moments_lut(own)
        case "reference":
            if reference_rgb is None or min(reference_rgb) <= 0:
                raise ValueError(f"reference target mean {reference_rgb} must be positive in every channel")
            gain = REFERENCE_LEVEL / np.asarray(reference_rgb, dtype=np.float64)
            return (((v[None] * gain[:, None]) / 255.0 - 0.5) / 0.25).astype(np.float32)
        case "camera_moments":
            assert hist is not None
            return _moments_lut(hist)
        case "camera_gamma":
            assert hist is not None
            return _moments_lut(hist, log=True)
        case "camera_quantile":
            assert hist is not None
            nd = NormalDist()
            lut = []
            for h in hist.astype(np.float64):
                n = h.sum()
                below = np.concatenate([[0.0], np.cumsum(h)[:-1]])
                # mid-rank CDF; values never seen get the CDF of their position
                cdf = (below + h / 2.0) / n
                eps = 0.5 / n
                cdf = np.clip(cdf, eps, 1 - eps)
                z = np.array([nd.inv_cdf(float(c)) for c in cdf])
                lut.append(z)
            return np.clip(np.array(lut), -Z_CLIP, Z_CLIP).astype(np.float32)
        case _:
            raise ValueError(f"unknown normalize.method '{method}'; choose one of {METHODS}")


def apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Apply a (3, 256) lookup table to a (3, H, W) uint8 photo -> float32 (3, H, W)."""
    return np.stack([lut[c][img[c]] for c in range(img.shape[0])]).astype(np.float32)
