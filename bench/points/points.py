"""Points against masks: how much cover accuracy do point labels cost? (issue "Labels grow over the years")

    make bench-points                 # about 30 minutes on 2 CPU cores
    python bench/points/points.py --points 100,50 --cores 2

Ecologists score cover by point-intercept, and CoralNet trains on points. This benchmark takes the bundled demo
(its own config: 3 seeds, 200 steps) and trains it three ways on the same photos: from the full masks of the
training photos, and from N points per training photo instead (``--points``, default 100 and 50), each a
CoralNet CSV row placed uniformly at random over the photo's labelled pixels (seeded) and labelled with the
mask's class there, becoming a disk of ``points.radius_px`` (the schema's default, 2 px) in training. The
validation and test photos keep their full masks, so every variant is scored on the same truth by the real
workflow's own evaluation (``results/eval/metrics.tsv``, the ensemble on the test photos).

Writes ``bench/results/points/summary.tsv`` (``labels metric value``: per variant, the test photos' overall
accuracy, mIoU, cover error ``cover_abs_error_pp`` (adjusted, the workflow's ``cover_pct``) and
``map_cover_abs_error_pp`` (the maps' own fractions), the labelled training pixels and the workflow's minutes),
``points.png`` and ``run.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(ROOT / "bench" / "change"))

from crustwatch import demo, files, io, paths, provenance  # noqa: E402
from crustwatch.points import write_points  # noqa: E402

from change import run  # noqa: E402  (the real workflow on a benchmark project)

METRICS = ["overall_accuracy", "miou", "cover_abs_error_pp", "map_cover_abs_error_pp"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(work: Path, n_points: int | None, seed: int = 0) -> int:
    """The demo project in ``work``; with ``n_points``, every training photo's mask replaced by that many points
    (one CoralNet CSV for all of them). Returns the labelled training pixels the workflow will train on."""
    sheet = demo.generate(work / "data", demo.DemoSpec(), work / "images.tsv")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["images"] = "images.tsv"
    classes = {int(c["id"]): c["name"] for c in cfg["classes"]}
    ignore = int(cfg["ignore_index"])
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    train = sheet.index[sheet["split"] == "train"]
    if n_points is None:
        return int(sum((io.read_mask(work / sheet.loc[k, "mask"]) != ignore).sum() for k in train))
    rng = np.random.default_rng(seed)
    rows = []
    for k in train:
        mask = io.read_mask(work / sheet.loc[k, "mask"])
        ys, xs = np.nonzero(mask != ignore)
        pick = rng.choice(ys.size, n_points, replace=False)
        rows += [{"Name": Path(sheet.loc[k, "image"]).name, "Row": int(ys[j]), "Column": int(xs[j]),
                  "Label": classes[int(mask[ys[j], xs[j]])]} for j in pick]
    write_points(work / "data" / "points.csv", rows)
    sheet["points"] = ""
    sheet.loc[train, "points"] = "data/points.csv"
    sheet.loc[train, "mask"] = ""
    sheet.to_csv(work / "images.tsv", sep="\t", index=False)
    radius = 2  # points.radius_px, the schema's default
    return len(rows) * int(np.sum(np.add.outer(np.arange(-radius, radius + 1) ** 2,
                                               np.arange(-radius, radius + 1) ** 2) <= radius ** 2))


def scores(work: Path) -> dict[str, float]:
    m = pd.read_csv(work / paths.METRICS, sep="\t")
    m = m[(m["model"] == "ensemble") & (m["split"] == "test") & (m["class"] == "all")].set_index("metric")["value"]
    return {k: float(m[k]) for k in METRICS}


def figure(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wide = summary.pivot(index="labels", columns="metric", values="value")
    order = sorted(wide.index, key=lambda v: (v != "masks", -wide.loc[v, "train_labelled_px"]))
    wide = wide.loc[order]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for ax, (cols, title) in zip(axes, ((["overall_accuracy", "miou"], "test photos"),
                                        (["cover_abs_error_pp", "map_cover_abs_error_pp"], "cover error (pp)"),
                                        (["train_labelled_px"], "labelled training pixels"))):
        wide[cols].plot.bar(ax=ax, rot=0, legend=len(cols) > 1)
        ax.set_title(title)
        ax.set_xlabel("")
        ax.grid(alpha=0.3, axis="y")
        if len(cols) > 1:
            ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, -0.42), ncol=2, frameon=False)
        else:
            ax.set_yscale("log")
    fig.suptitle("Demo trained from full masks or from N points per training photo (same photos, 3 seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default="100,50", help="points per training photo, comma-separated")
    ap.add_argument("--work", type=Path, default=Path("/tmp/crustwatch-bench-points"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "points")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--plot-only", action="store_true", help="only draw the figure of --out's summary.tsv")
    args = ap.parse_args(argv)
    if args.plot_only:
        figure(pd.read_csv(args.out / "summary.tsv", sep="\t"), args.out / "points.png")
        return
    variants = [("masks", None)] + [(f"points{n}", int(n)) for n in args.points.split(",")]
    rows, t_all = [], time.time()
    for label, n in variants:
        work = args.work / label
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        px = build(work, n)
        log(f"{label}: {px} labelled training pixels; snakemake (train 3 seeds, predict, cover, evaluate) ...")
        secs = run(work, args.cores, (paths.METRICS,))
        s = scores(work)
        log(f"{label}: {secs / 60:.1f} min; " + ", ".join(f"{k} {v:.4f}" for k, v in s.items()))
        rows += [(label, k, v) for k, v in {**s, "train_labelled_px": px, "workflow_minutes": secs / 60}.items()]
        if not args.keep:
            shutil.rmtree(work)
    summary = pd.DataFrame(rows, columns=["labels", "metric", "value"])
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "summary.tsv", sep="\t", index=False, float_format="%.4g")
    figure(summary, args.out / "points.png")
    files.write_json(args.out / "run.json", provenance.bench_run(ROOT, sys.argv, time.time() - t_all))
    print(summary.pivot(index="labels", columns="metric", values="value").to_string())


if __name__ == "__main__":
    main()
