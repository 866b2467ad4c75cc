"""Which ``predict.prior_correction`` (logit adjustment) the real photos support: a sweep over the
finished folds of ``real.py``, without training.

    python bench/real/real.py --git-dir DIR --plan bench/real/plans/cpu.yaml --set predict.probabilities=true
    python bench/real/prior.py                       # reads bench/data/real/folds/*, writes bench/results/real/prior/

Each fold's workflow wrote the ensemble's mean class probabilities of every photo
(``predict.probabilities: true``, one byte per class and pixel). For each exponent tau the class map is
the argmax of ``p_k x w_k`` with the weights of :func:`crustwatch.infer.prior_weights` (the training
photos' class pixels, from the first member's model card), and it is scored against the mask on the
fold's **validation** photo (what a default may be chosen on) and on its **test** photos (what the
benchmark reports). ``tau = 0`` from the stored bytes is the workflow's own map up to rounding ties; the
row ``workflow`` repeats the workflow's scores from its confusion tables for comparison.

Output (``--out``): ``sweep.tsv`` (fold, role, variant, tau, metric, value), ``pooled.tsv`` (role, variant,
tau: OA, mIoU, map cover error, per-class IoU pooled over folds), ``prior.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crustwatch import files, infer, io, metrics, paths, provenance  # noqa: E402
from crustwatch.paths import photo as photo_paths  # noqa: E402
from crustwatch.steps.predict import training_class_pixels  # noqa: E402

import real  # noqa: E402


def fold_photos(fold_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The fold's sheet rows with a mask and a role (val, test), and the training class pixels."""
    sheet = pd.read_csv(fold_dir / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    version = pd.read_csv(fold_dir / paths.COVER_BY_IMAGE, sep="\t", usecols=["model_version"])["model_version"].iloc[0]
    cards = sorted(fold_dir.glob(paths.fill(paths.MODEL_CARD, model="*", version=version, seed="*")))
    if not cards:
        raise SystemExit(f"no model cards of version {version} under {fold_dir}")
    pixels = training_class_pixels(files.read_json(cards[0]), str(cards[0]))
    rows = sheet[sheet["split"].isin(["val", "test"])].copy()
    return rows, pixels


def sweep_fold(fold_dir: Path, taus: list[float]) -> list[tuple]:
    n = len(real.CLASSES)
    rows, pixels = fold_photos(fold_dir)
    out = []
    for _, r in rows.iterrows():
        iid = r["image_id"]
        pp = photo_paths(iid)
        probs_path = fold_dir / pp["probabilities"]
        if not probs_path.exists():
            raise SystemExit(f"{probs_path} is missing: run real.py with --set predict.probabilities=true")
        probs = io.read_raster(probs_path)[0].astype(np.float32) / 255.0
        mask = io.read_raster(fold_dir / pp["mask"])[0][0]
        valid = mask != real.IGNORE
        truth = real.true_cover(mask)
        variant = real.variant_of(iid)
        for tau in taus:
            w = infer.prior_weights(pixels, n, tau)
            pred = (probs if w is None else probs * w[:, None, None]).argmax(0)
            cm = metrics.confusion(pred, mask, n, real.IGNORE)
            frac = 100.0 * np.bincount(pred[valid].astype(np.int64), minlength=n)[:n] / valid.sum()
            out.append((fold_dir.name, r["split"], variant, iid, tau, cm, np.abs(frac - truth)))
        if r["split"] == "test":  # the workflow's own map, from its confusion table
            c = pd.read_csv(fold_dir / pp["confusion"], sep="\t")
            c = c[c["model"] == "ensemble"]
            cm = np.zeros((n, n), dtype=np.int64)
            np.add.at(cm, (c["true"].to_numpy(), c["pred"].to_numpy()), c["pixels"].to_numpy())
            out.append((fold_dir.name, "test", variant, iid, "workflow", cm, None))
    return out


def pooled(results: list[tuple], by: list[str]) -> pd.DataFrame:
    """Scores pooled over the photos of each group: confusion summed, cover errors averaged."""
    df = pd.DataFrame(results, columns=["fold", "role", "variant", "image_id", "tau", "cm", "cover_err"])
    df["tau"] = df["tau"].astype(str)
    rows = []
    for key, g in df.groupby(by, sort=False):
        s = metrics.scores(np.sum(list(g["cm"]), axis=0))
        errs = [e for e in g["cover_err"] if e is not None]
        rec = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        rec |= {"overall_accuracy": s["overall_accuracy"], "miou": s["miou"],
                "map_cover_abs_error_pp": float(np.mean(errs)) if errs else np.nan}
        rec |= {f"iou_{c['name']}": s["iou"][c["id"]] for c in real.CLASSES}
        rows.append(rec)
    return pd.DataFrame(rows)


def figure(pool: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    num = pool[pool["tau"] != "workflow"].copy()
    num["t"] = num["tau"].astype(float)
    for ax, m, label in zip(axes, ["overall_accuracy", "miou", "map_cover_abs_error_pp"],
                            ["overall accuracy", "mIoU", "map cover error (pp)"]):
        for (role, variant), g in num.groupby(["role", "variant"]):
            ax.plot(g["t"], g[m], marker="o", ls="-" if role == "test" else "--", label=f"{role}, {variant}")
        ax.set_xlabel("predict.prior_correction (tau)")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Logit adjustment on the real-photo folds (one training; validation photos choose, test photos report)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "real"), help="real.py's --work")
    ap.add_argument("--folds", default=",".join(real.PLOTS))
    ap.add_argument("--taus", default="0,0.25,0.5,0.75,1,1.25,1.5")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "real" / "prior"))
    args = ap.parse_args(argv)
    taus = [float(t) for t in args.taus.split(",")]
    results = []
    for f in args.folds.split(","):
        results += sweep_fold(Path(args.work) / "folds" / f, taus)
        print(f"fold {f}: swept {len(taus)} values", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_fold = pooled(results, ["fold", "role", "variant", "tau"])
    pool = pooled(results, ["role", "variant", "tau"])
    files.write_tsv(per_fold.melt(id_vars=["fold", "role", "variant", "tau"], var_name="metric"), out / "sweep.tsv")
    files.write_tsv(pool, out / "pooled.tsv")
    figure(pool, out / "prior.png")
    files.write_json(out / "run.json", provenance.bench_run(ROOT, sys.argv))
    show = ["role", "variant", "tau", "overall_accuracy", "miou", "map_cover_abs_error_pp"]
    print(pool[show].round(4).to_string(index=False))


if __name__ == "__main__":
    main()
