"""Confusion matrices and the metrics derived from them."""

from __future__ import annotations

import numpy as np


def n_classes(classes: list[dict]) -> int:
    """Size of the class axis for a class map ``[{id, name}, ...]``: the largest id plus one."""
    return max(int(c["id"]) for c in classes) + 1


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
