"""Confusion matrices and the metrics derived from them."""

from __future__ import annotations

import numpy as np


def n_classes(classes: list[dict]) -> int:
    """Size of the class axis of tables indexed by class id (cover, confusion): the largest id plus
    one. The model has one channel per class instead (:func:`class_ids`)."""
    return max(int(c["id"]) for c in classes) + 1


#: the ignore value of training targets, whatever the project's ``ignore_index``: class channels
#: are 0..K-1, so 255 never collides with one (ids run to 254, so K <= 255)
TARGET_IGNORE = 255


def class_ids(classes: list[dict]) -> list[int]:
    """The configured class ids in channel order: the model's output channel k is the k-th smallest id."""
    return sorted(int(c["id"]) for c in classes)


def channel_lut(classes: list[dict]) -> np.ndarray:
    """(256,) uint8 lookup from mask value to training target: a class id to its channel, anything
    else (the ignore value) to :data:`TARGET_IGNORE`. The identity for ids 0..K-1 and ignore 255."""
    lut = np.full(256, TARGET_IGNORE, dtype=np.uint8)
    for k, c in enumerate(class_ids(classes)):
        lut[c] = k
    return lut


def id_lut(classes: list[dict]) -> np.ndarray:
    """(K,) uint8 lookup from output channel to class id (a predicted map holds class ids)."""
    return np.asarray(class_ids(classes), dtype=np.uint8)


def confusion(pred: np.ndarray, true: np.ndarray, n_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Confusion matrix (true x predicted) over pixels whose truth is not ``ignore_index``."""
    valid = (true != ignore_index) & (true < n_classes)
    t = true[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    p = np.clip(p, 0, n_classes - 1)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def scores(cm: np.ndarray) -> dict:
    """Overall accuracy, per-class IoU and F1, and mIoU over classes present in truth or prediction."""
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    total = cm.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {
        "overall_accuracy": float(tp.sum() / total) if total else float("nan"),
        "iou": iou,
        "f1": f1,
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
    }
