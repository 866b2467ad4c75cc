"""What the posteriors themselves say about cover, without training: reads the per-pixel posteriors that
``curve.py --dump-probs DIR`` wrote for every fold's test and validation photos (one model per fold, the
logit adjustment's shift undone, as the workflow's soft cover) and asks two questions.

    python bench/real/posteriors.py --probs DIR --out bench/results/real/variants/posteriors_<label>.tsv

1. **Can the probabilities give the cover interval?** The *plausible range* of a class on a photo: from the
   share of pixels where the class is nearly certain (posterior >= 1 - alpha) to the share where it is
   plausible at all (posterior >= alpha), widened to hold the soft cover; the cover if every doubtful pixel
   went to, or away from, the class. No validation photo is needed, and it is wide exactly where the model
   hesitates between two classes. Beside it, normalized conformal intervals calibrated on the other folds'
   test photos (as ``intervals.py``) with an error scale from the posteriors: ``ambiguity`` (the mean of
   ``min(q, 1 - q)`` over the photo's pixels, + 0.1 pp) and ``posterior_sd`` (``sqrt(mean q (1 - q))``,
   + 0.1 pp), against one width for all (``constant``).
2. **Which decision makes the maps' cover closest?** A map is the argmax of ``q * prior ** -t`` (``prior`` the
   fold's training class shares): ``t`` = the training tau (0.2) is the model's own map, 0 the argmax of the
   tau-undone posteriors, larger ``t`` favours rare classes more.

Writes one row per analysis, setting and split (``coverage`` and ``mean_width_pp`` of the intervals,
``soft_cover_abs_error_pp`` of the mean posterior, or ``map_cover_abs_error_pp``, ``overall_accuracy`` and ``miou``
of a decision), pooled over the split's photos x classes (photos, not folds: Stop 5 has two test photos), on the
labelled pixels.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from crustwatch import metrics  # noqa: E402
from intervals import conformal_q, write_table  # noqa: E402


def plausible_range(q: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class (axis 0 of ``q``, classes x pixels), percent of pixels with posterior >= 1 - alpha (low) and
    >= alpha (high), widened to hold the mean posterior (the soft cover)."""
    soft = q.mean(1) * 100
    low = (q >= 1 - alpha).mean(1) * 100
    high = (q >= alpha).mean(1) * 100
    return np.minimum(low, soft), np.maximum(high, soft)


def decision_map(q: np.ndarray, prior: np.ndarray, t: float) -> np.ndarray:
    """Class per pixel: argmax of ``log q - t log prior``."""
    return (np.log(np.clip(q, 1e-8, None)) - t * np.log(prior)[:, None]).argmax(0)


def load(probs: Path) -> list[dict]:
    out = []
    for f in sorted(probs.glob("*.npz")):
        fold, split, image_id = f.stem.split("_", 2)
        z = np.load(f)
        out.append({"fold": fold, "split": split, "image_id": image_id, "q": z["q"].astype(np.float64),
                    "y": z["y"].astype(np.int64), "prior": z["train_prior"]})
    if not out:
        raise SystemExit(f"no <fold>_<split>_<image_id>.npz under {probs}: run curve.py --dump-probs {probs}")
    return out


def pair_table(photos: list[dict], alphas: list[float]) -> pd.DataFrame:
    """One row per photo x class: true and soft cover, the error scales and the plausible ranges."""
    rows = []
    for p in photos:
        q, y = p["q"], p["y"]
        k = q.shape[0]
        true = np.bincount(y, minlength=k)[:k] / len(y) * 100
        ranges = {a: plausible_range(q, a) for a in alphas}
        for c in range(k):
            r = {"fold": p["fold"], "split": p["split"], "image_id": p["image_id"], "class": c, "true": true[c],
                 "soft": q[c].mean() * 100, "ambiguity": np.minimum(q[c], 1 - q[c]).mean() * 100 + 0.1,
                 "posterior_sd": math.sqrt((q[c] * (1 - q[c])).mean()) * 100 + 0.1}
            for a, (lo, hi) in ranges.items():
                r[f"low_{a}"], r[f"high_{a}"] = lo[c], hi[c]
            rows.append(r)
    return pd.DataFrame(rows)


def cross_fold(x: pd.DataFrame, scale: str | None, level: float) -> tuple[float, float]:
    """Coverage and mean width of ``soft +- q * scale``, ``q`` from the other folds' pairs."""
    s = x[scale] if scale else pd.Series(1.0, index=x.index)
    err = (x["soft"] - x["true"]).abs()
    hits, widths = [], []
    for fold in x["fold"].unique():
        me, other = x["fold"] == fold, x["fold"] != fold
        half = conformal_q(err[other] / s[other], level) * s[me]
        lo, hi = (x.loc[me, "soft"] - half).clip(0, 100), (x.loc[me, "soft"] + half).clip(0, 100)
        hits.extend((lo <= x.loc[me, "true"]) & (x.loc[me, "true"] <= hi))
        widths.extend(hi - lo)
    return float(np.mean(hits)), float(np.mean(widths))


def decisions(photos: list[dict], ts: list[float]) -> list[dict]:
    """Map cover error, overall accuracy and mIoU of the decision ``t`` (:func:`decision_map`) per split."""
    k = photos[0]["q"].shape[0]
    rows = []
    for split in sorted({p["split"] for p in photos}):
        for t in ts:
            cm, errs = np.zeros((k, k), dtype=np.int64), []
            for p in (p for p in photos if p["split"] == split):
                c = metrics.confusion(decision_map(p["q"], p["prior"], t), p["y"], k)
                cm += c
                errs.extend(np.abs(c.sum(0) - c.sum(1)) / c.sum() * 100)
            s = metrics.scores(cm)
            rows.append({"analysis": "decision", "setting": f"t={t:g}", "split": split,
                         "map_cover_abs_error_pp": float(np.mean(errs)), "overall_accuracy": s["overall_accuracy"],
                         "miou": s["miou"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probs", required=True, help="the directory curve.py --dump-probs wrote")
    ap.add_argument("--out", required=True, help="TSV to write")
    ap.add_argument("--level", type=float, default=0.95, help="nominal level of the conformal intervals")
    args = ap.parse_args(argv)
    photos = load(Path(args.probs))
    alphas = [0.05, 0.1, 0.2, 0.3]
    pairs = pair_table(photos, alphas)
    rows = []
    for split, x in pairs.groupby("split"):
        for a in alphas:
            hit = (x[f"low_{a}"] <= x["true"] + 1e-9) & (x["true"] <= x[f"high_{a}"] + 1e-9)
            rows.append({"analysis": "plausible_range", "setting": f"alpha={a:g}", "split": split,
                         "coverage": float(hit.mean()), "mean_width_pp": float((x[f"high_{a}"] - x[f"low_{a}"]).mean())})
        for scale in (None, "ambiguity", "posterior_sd"):
            cov, width = cross_fold(x, scale, args.level)
            rows.append({"analysis": "cross_fold", "setting": scale or "constant", "split": split, "coverage": cov,
                         "mean_width_pp": width})
        rows.append({"analysis": "soft_cover", "setting": "", "split": split,
                     "soft_cover_abs_error_pp": float((x["soft"] - x["true"]).abs().mean())})
    rows += decisions(photos, [0, 0.1, 0.2, 0.3, 0.5])
    write_table(pd.DataFrame(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
