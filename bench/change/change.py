"""Change benchmark: are CrustWatch's changes between dates real? Measured where every true change is known.

    make bench-change                 # about 15 minutes on 2 CPU cores
    python bench/change/change.py --work /tmp/cw-change --cores 2

The project is the bundled demo (2 sites x 4 permanent plots, dates 2019-2022, a new camera at every date, the
demo's own config) plus a fifth date, 2023-05-16, shot with a fifth camera on ground that did not change since
2022 (``DemoSpec.extra["hold"]``): a camera change with no true change at all. The real workflow
(``snakemake``) runs on it; every photo has a mask, so every true change is known (``true_change_pp`` in the
change tables). Reported, for the default settings:

- ``plot_interval_coverage``: the fraction of plot x class x date-pair changes whose interval holds the true
  change (target >= 0.90 at the nominal 0.95), over all pairs, and over pairs of test dates only
  (``plot_interval_coverage_test_dates``; the first date's photos trained the model);
- ``site_false_positive_rate``: among site x class x pair cells whose true change is under 1 pp, the fraction
  called significant (q <= 0.05; target <= 0.05);
- ``site_power_5pp``: among cells whose true change is 5 pp or more, the fraction found (significant, right sign);
- the same on the camera-only pair 2022 -> 2023 (``camera_only_*``), and whether the tables flag it.

Writes ``bench/results/change/summary.tsv`` (``benchmark metric value target``), ``cells.tsv`` (every site cell
with its truth), ``plots.tsv`` (every plot change with its truth) and ``change.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from crustwatch import demo, files, paths, provenance  # noqa: E402

HOLD_DATE = "2023-05-16"
CAM_E = demo.Camera("cam-E", 1.1, wb=(0.92, 1.0, 1.12), exposure=1.1, gamma=2.1, blur_px=0.5, fmt="jpg",
                    jpeg_quality=80)
SPEC = demo.DemoSpec(dates=demo.DEFAULT_DATES + (HOLD_DATE,), cameras=demo.DEFAULT_CAMERAS + (CAM_E,),
                     extra={"hold": {"date_index": 4, "as": 3}})
SMALL, LARGE = 1.0, 5.0  # pp: "no true change" below SMALL, a change to find at LARGE or more


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(work: Path) -> Path:
    """The project: photos, masks, sheet and the demo's config pointing at that sheet."""
    demo.generate(work / "data", SPEC, work / "images.tsv")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["images"] = "images.tsv"
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return work


def run(work: Path, cores: int, targets: tuple[str, ...] = (paths.CHANGE_BY_SITE, paths.CHANGE_TREND)) -> float:
    """The real workflow on the project in ``work`` (its own config) up to ``targets``; the seconds it took."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(bin_dir / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", str(cores), "--rerun-incomplete", *targets]
    t0 = time.time()
    with open(work / "snakemake.log", "a") as f:
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode:
        raise SystemExit(f"snakemake failed (exit {res.returncode}); see {work / 'snakemake.log'}")
    return time.time() - t0


def measure(work: Path, fdr: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    text = {"site": str, "plot": str, "date_from": str, "date_to": str}
    plots = pd.read_csv(work / paths.CHANGE_BY_PLOT, sep="\t", dtype=text)
    cells = pd.read_csv(work / paths.CHANGE_BY_SITE, sep="\t", dtype=text)
    plots = plots[plots["change_pp"].notna()].copy()
    plots["covered"] = (plots["ci_low"] <= plots["true_change_pp"]) & (plots["true_change_pp"] <= plots["ci_high"])
    cells["found"] = (cells["q_value"] <= fdr) & (np.sign(cells["change_pp"]) == np.sign(cells["true_change_pp"]))
    first = SPEC.dates[0]
    rows = []
    for name, sel_p, sel_c in (
        ("demo", plots["date_to"] != HOLD_DATE, cells["date_to"] != HOLD_DATE),
        ("camera_only", (plots["date_from"] == SPEC.dates[3]) & (plots["date_to"] == HOLD_DATE),
         (cells["date_from"] == SPEC.dates[3]) & (cells["date_to"] == HOLD_DATE)),
    ):
        p, c = plots[sel_p], cells[sel_c]
        small, large = c[c["true_change_pp"].abs() < SMALL], c[c["true_change_pp"].abs() >= LARGE]
        prefix = "" if name == "demo" else "camera_only_"
        rows += [
            (name, f"{prefix}plot_interval_coverage", p["covered"].mean(), ">= 0.90"),
            (name, f"{prefix}plot_interval_coverage_test_dates", p.loc[p["date_from"] != first, "covered"].mean(),
             ">= 0.90"),
            (name, f"{prefix}plot_interval_width_pp", (p["ci_high"] - p["ci_low"]).mean(), ""),
            (name, f"{prefix}plot_change_abs_error_pp", (p["change_pp"] - p["true_change_pp"]).abs().mean(), ""),
            (name, f"{prefix}site_cells_true_under_1pp", len(small), ""),
            (name, f"{prefix}site_false_positive_rate", (small["q_value"] <= fdr).mean() if len(small) else np.nan,
             "<= 0.05"),
            (name, f"{prefix}site_cells_true_5pp_or_more", len(large), ""),
            (name, f"{prefix}site_power_5pp", large["found"].mean() if len(large) else np.nan, ""),
            (name, f"{prefix}site_mdc_pp_median", c["mdc_pp"].median(), ""),
            (name, f"{prefix}pairs_flagged_camera_changed", c["camera_changed"].mean(), "1 (every pair)"),
        ]
    summary = pd.DataFrame(rows, columns=["benchmark", "metric", "value", "target"])
    return summary, cells, plots


def figure(cells: pd.DataFrame, plots: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, df, what in ((axes[0], plots, "plot"), (axes[1], cells, "site")):
        hold = (df["date_from"] == SPEC.dates[3]) & (df["date_to"] == HOLD_DATE)
        rest = df["date_to"] != HOLD_DATE
        for sel, col, lab in ((rest, "#2a6fb0", "pairs of 2019-2022 (a new camera each date)"),
                              (hold, "#d08000", "camera only (2022 -> 2023, ground unchanged)")):
            d = df[sel]
            ax.errorbar(d["true_change_pp"], d["change_pp"], yerr=[d["change_pp"] - d["ci_low"],
                        d["ci_high"] - d["change_pp"]], fmt="o", markersize=2.5, elinewidth=0.5, alpha=0.7,
                        color=col, label=lab)
        if what == "site":
            sig = df[df["q_value"] <= 0.05]
            ax.scatter(sig["true_change_pp"], sig["change_pp"], s=40, facecolors="none", edgecolors="k",
                       linewidths=0.8, label="q <= 0.05")
        lim = float(np.nanmax(np.abs(df[["true_change_pp", "change_pp"]].to_numpy()))) * 1.1
        ax.plot([-lim, lim], [-lim, lim], color="0.5", linewidth=0.8)
        ax.axhline(0, color="0.8", linewidth=0.6)
        ax.axvline(0, color="0.8", linewidth=0.6)
        ax.set_xlabel("true change (pp)")
        ax.set_ylabel("estimated change (pp) with its interval")
        ax.set_title(f"per {what} x class x date pair", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.suptitle("Change benchmark: the demo plus a camera change on unchanged ground", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/crustwatch-bench-change"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "change")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"project: {len(SPEC.sites)} sites x {SPEC.plots_per_site} plots x {len(SPEC.dates)} dates in {args.work}")
    build(args.work)
    log("snakemake (ingest, normalize, train 3 seeds, predict, cover, change) ...")
    secs = run(args.work, args.cores)
    log(f"workflow done in {secs / 60:.1f} min")
    summary, cells, plots = measure(args.work)
    summary = pd.concat([summary, pd.DataFrame([("demo", "workflow_minutes", secs / 60, "")],
                                               columns=summary.columns)], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "summary.tsv", sep="\t", index=False, float_format="%.4g")
    keep = ["site", "class", "date_from", "date_to", "n_plots", "change_pp", "ci_low", "ci_high", "p_value",
            "q_value", "mdc_pp", "camera_changed", "true_change_pp", "found"]
    cells[keep].to_csv(args.out / "cells.tsv", sep="\t", index=False, float_format="%.4g")
    plots[["site", "plot", "class", "date_from", "date_to", "change_pp", "ci_low", "ci_high", "camera_changed",
           "true_change_pp", "covered"]].to_csv(args.out / "plots.tsv", sep="\t", index=False, float_format="%.4g")
    figure(cells, plots, args.out / "change.png")
    files.write_json(args.out / "run.json", provenance.bench_run(ROOT, sys.argv, secs))
    print(summary.to_string(index=False))
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
