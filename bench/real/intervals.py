"""Can any calibration give the issue's cover intervals (95% intervals holding the truth in >= 85% of photo x
class pairs, mean width <= 10 pp) with the maps CrustWatch makes now on the real photos? No training: it reads
the per-photo covers of a finished ``real.py`` run.

    python bench/real/intervals.py          # reads bench/results/real/photos.tsv, writes intervals.tsv there

The workflow can calibrate its intervals only on labelled photos it did not train on; with the benchmark's one
validation photo per fold it has 7 (photo, class) pairs, too few for a 95% interval, so it says
``uncalibrated``. This script asks what the best case of more calibration photos would give: each fold's test
pairs get the interval ``cover +- q`` with ``q`` the split-conformal quantile (rank ``ceil((n + 1) 0.95)`` of
``n``) of the absolute cover errors on the **other folds' test photos**, pooled over classes (``pooled``) or of
the same class only (``per_class``). That is what cross-fitted calibration on a project's own labelled photos
could at most reach, since these errors are of models that never saw the photos. ``scaled_*`` divide each error by
a scale first and give the interval ``cover +- q * scale`` (normalized conformal prediction): ``binomial``
``sqrt(max(cover, 0.5) (100 - cover)) / 10``, an error that grows with a class's cover as a proportion's does, and
``seed_spread`` the workflow interval's half-width plus 1 pp. ``workflow`` repeats the workflow's own intervals.
``width_for_85pct``: twice the 85th percentile of the absolute errors, the narrowest symmetric interval of one
width that holds 85% of the pairs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def conformal_q(errors: np.ndarray, level: float = 0.95) -> float:
    """The ``ceil((n + 1) level)``-th smallest of ``n`` absolute errors (the largest when ``n`` is too small)."""
    e = np.sort(np.asarray(errors, float))
    return float(e[min(math.ceil((len(e) + 1) * level), len(e)) - 1])


#: error scales of the normalized intervals, from a row's reported cover (and the workflow's interval)
SCALES = {
    "binomial": lambda t: np.sqrt(np.maximum(t["cover_pct"], 0.5) * (100.0 - t["cover_pct"])) / 10.0,
    "seed_spread": lambda t: (t["ci_high"] - t["ci_low"]) / 2.0 + 1.0,
}


def cross_fold(x: pd.DataFrame, per_class: bool, level: float = 0.95, scale=None) -> tuple[float, float]:
    """Coverage and mean width of intervals calibrated on the other folds' pairs (``scale``: a function of the
    rows giving each pair's error scale; None: one width for all)."""
    x = x.assign(scale=1.0 if scale is None else scale(x))
    hits, widths = [], []
    for fold, test in x.groupby("fold"):
        other = x[x["fold"] != fold]
        for _, r in test.iterrows():
            cal = other[other["class"] == r["class"]] if per_class else other
            q = conformal_q(cal["abs_error"] / cal["scale"], level) * r["scale"]
            lo, hi = max(0.0, r["cover_pct"] - q), min(100.0, r["cover_pct"] + q)
            hits.append(lo <= r["true_cover_pct"] <= hi)
            widths.append(hi - lo)
    return float(np.mean(hits)), float(np.mean(widths))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=str(ROOT / "bench" / "results" / "real" / "photos.tsv"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "real" / "intervals.tsv"))
    args = ap.parse_args(argv)
    d = pd.read_csv(args.photos, sep="\t")
    d = d[d["true_cover_pct"].notna()].assign(abs_error=lambda t: (t["cover_pct"] - t["true_cover_pct"]).abs())
    rows = []
    for (method, variant), x in d.groupby(["method", "variant"], sort=False):
        base = {"method": method, "variant": variant, "pairs": len(x), "folds": x["fold"].nunique(),
                "mean_abs_error_pp": float(x["abs_error"].mean()),
                "width_for_85pct": float(2 * np.quantile(x["abs_error"], 0.85))}
        has_seeds = bool(x["ci_low"].notna().all())  # the forest has no seed intervals
        if has_seeds:
            hit = (x["ci_low"] <= x["true_cover_pct"]) & (x["true_cover_pct"] <= x["ci_high"])
            rows.append({**base, "interval": "workflow", "coverage": float(hit.mean()),
                         "mean_width_pp": float((x["ci_high"] - x["ci_low"]).mean())})
        for name, per_class in (("pooled", False), ("per_class", True)):
            cov, width = cross_fold(x, per_class)
            rows.append({**base, "interval": f"cross_fold_{name}", "coverage": cov, "mean_width_pp": width})
        for name, scale in SCALES.items():
            if name == "seed_spread" and not has_seeds:
                continue
            cov, width = cross_fold(x, False, scale=scale)
            rows.append({**base, "interval": f"cross_fold_scaled_{name}", "coverage": cov, "mean_width_pp": width})
    out = pd.DataFrame(rows)
    out["meets_target"] = (out["coverage"] >= 0.85) & (out["mean_width_pp"] <= 10)
    write_table(out, args.out)
    return 0


def write_table(table: pd.DataFrame, path: str) -> None:
    """Write ``table`` as TSV (4 decimals) and print it (3 decimals)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, float_format="%.4f")
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
