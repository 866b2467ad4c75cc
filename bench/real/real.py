"""Real-photo benchmark: the workflow against a pixel random forest on the source study's Utah plots.

    make bench-real GIT_DIR=/path/to/JESS.git          # every fold, both variants (README: time)
    python bench/real/real.py --git-dir DIR --folds Stop1 --set train.steps=50   # a quick look

The data: the five development photos of the source study's public repository
(``stefanherdy/JESS``, ``input_data/raw_usa`` and ``mask_usa``), read from a bare git
dir and written under ``--work`` (never committed: the repository has no licence).
The two "Spring 2012" photos are kept for an independent check and never read here.
Mask value 0 (unlabelled) becomes the ignore value 255; the seven taxa 1..7 become
class ids 0..6.

Cross-validation: leave one *plot* out (Stop 1, 2, 4, 5; Stop 5 has two photos, which
never sit on both sides of a fold). In the fold of plot P, P's photos are the test
photos; the first photo of the next plot (in the order above, wrapping round) is the
validation photo (it early-tells nothing, but sets the cover adjustment's error rates
and the interval calibration, as a user's validation photos do); the rest train.

Each fold is one real ``snakemake`` run of the workflow on a generated sheet and a config
that gives only what a user must (sheet, classes, ignore value, seeds) plus ``--set``
overrides: every other setting is the schema's default, the one a real project gets.
The same run holds the drifted-camera variant: every development photo is re-rendered
through the drift benchmark's simulated cameras B, C and D (white balance, exposure,
gamma, blur, JPEG, scale, noise: ``crustwatch.demo.DEFAULT_CAMERAS``), each camera on a
date of its own; the held-out plot's renders are test photos with masks, the others are
unlabelled (they only give the camera its colour statistics, as a new camera's photos of
every plot would). So one training serves both variants.

The random forest (ilastik-style pixel classifier, scikit-learn) sees the same photos as the
workflow's ingested rasters, at their full width whatever ``normalize.target_mm_per_px`` gives the
model (so its numbers do not change with the plan's resolution): Gaussian smoothing of RGB and CIELAB, and on
lightness the gradient magnitude, Laplacian of Gaussian, structure-tensor and Hessian eigenvalues,
at scales 0.7, 1.6, 3.5, 5 and 10 px; features standardized per camera (pooled over the camera's
photos); trained on the fold's train and validation photos (it has no use for a validation photo).

Writes into ``--out`` (default ``bench/results/real``): ``summary.tsv`` (``variant method metric
value``, pooled over folds; ``soft_cover_abs_error_pp``: the workflow's soft cover, unadjusted, whichever
``cover.estimate`` the run used), ``folds.tsv`` (the same per fold), ``per_class.tsv`` (IoU and cover
error per class), ``photos.tsv`` (every test photo x class), ``plan.json`` (the settings) and
``real.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crustwatch import demo, files, io, metrics  # noqa: E402
from crustwatch import normalize as norm  # noqa: E402
from crustwatch import paths, provenance  # noqa: E402
from crustwatch.paths import photo as photo_paths  # noqa: E402

import forest  # noqa: E402

#: the development set (issue "Real biocrust photos decide"): file stem -> (plot, date)
DEV = {
    "Stop 1 - Fall 2011": ("Stop1", "2011-10-15"),
    "Stop 2 repaired (a)": ("Stop2", "2011-10-15"),
    "Stop 4 - Fall 2011": ("Stop4", "2011-10-15"),
    "Stop 5 - Fall 2011": ("Stop5", "2011-10-15"),
    "Stop 5 (2)": ("Stop5", "2011-10-15"),
}
PLOTS = ["Stop1", "Stop2", "Stop4", "Stop5"]
CLASSES = [
    {"id": 0, "name": "Toninia", "color": "#d7301f"},
    {"id": 1, "name": "Psora", "color": "#2b83ba"},
    {"id": 2, "name": "Fulgensia", "color": "#fdae61"},
    {"id": 3, "name": "Placidium", "color": "#c51b7d"},
    {"id": 4, "name": "Syntrichia_moss", "color": "#1a9641"},
    {"id": 5, "name": "Collema_cyanolichen", "color": "#41b6c4"},
    {"id": 6, "name": "cyanobacterial_crust", "color": "#8c6d31"},
]
IGNORE = 255
SITE = "utah"
#: the original photos' camera, and the drifted cameras with their dates
CAMERA_A = "camA"
#: the ground resolution the sheet gives camera A's photos (the true one is not published)
CAMERA_A_MM_PER_PX = 1.0
#: the plan of the CPU runs (``--plan``; ``curve.py``'s default resolution follows it)
CPU_PLAN = Path(__file__).resolve().parent / "plans" / "cpu.yaml"
DRIFT_DATES = {"cam-B": "2012-10-15", "cam-C": "2013-10-15", "cam-D": "2014-10-15"}
METRICS = ["overall_accuracy", "miou", "cover_abs_error_pp", "map_cover_abs_error_pp", "soft_cover_abs_error_pp",
           "cover_interval_coverage", "cover_interval_width_pp", "train_minutes"]


def image_id(stem: str, camera: str = CAMERA_A) -> str:
    key = stem.replace(" - ", "_").replace(" ", "_").replace("(", "").replace(")", "")
    return key if camera == CAMERA_A else f"{key}_{camera.replace('-', '')}"


# ------------------------------------------------------------------ data


def extract(git_dir: Path, data: Path) -> None:
    """The development photos (uint8 RGB PNG) and remapped masks under ``data`` (idempotent)."""
    for sub in ("photos", "masks"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for stem in DEV:
        photo, mask = data / "photos" / f"{image_id(stem)}.png", data / "masks" / f"{image_id(stem)}.png"
        if photo.exists() and mask.exists():
            continue
        for kind, dst in (("raw_usa", photo), ("mask_usa", mask)):
            blob = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:input_data/{kind}/{stem}.png"],
                                  capture_output=True, check=True).stdout
            tmp = dst.with_suffix(".orig.png")
            tmp.write_bytes(blob)
            arr = io.read_photo(tmp)[0] if kind == "raw_usa" else io.read_raster(tmp)[0][0]
            tmp.unlink()
            if kind == "mask_usa":  # 0 unlabelled -> ignore; taxa 1..7 -> class ids 0..6
                arr = np.where(arr == 0, IGNORE, arr.astype(np.int16) - 1).astype(np.uint8)
            io.write_image_file(dst, arr)


def render(photo: np.ndarray, mask: np.ndarray, cam: demo.Camera, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A real photo (camera A's) as camera ``cam`` would have taken it: exposure and white balance in
    linear light, shot noise, gamma, optics blur, then the camera's pixel size (relative to A's)."""
    rng = np.random.default_rng(seed)
    v = (photo.astype(np.float64) / 255.0) ** 2.2
    v = v * cam.exposure * np.array(cam.wb)[:, None, None]
    v = v + rng.normal(0, cam.noise, size=v.shape) * np.sqrt(np.clip(v, 0, None) + 0.01)
    v = np.clip(v, 0, 1) ** (1 / cam.gamma)
    if cam.blur_px > 0:
        v = demo._gaussian_blur(v, cam.blur_px)
    u8 = np.clip(np.round(v * 255), 0, 255).astype(np.uint8)
    shape = norm.scaled_shape(u8.shape[1], u8.shape[2], 1.0 / cam.mm_per_px)
    return norm.resample_photo(u8, shape), norm.resample_mask(mask, shape)


def render_all(data: Path) -> None:
    """Every development photo through cameras B, C and D (``data/drifted``, idempotent)."""
    out = data / "drifted"
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for cam in demo.DEFAULT_CAMERAS[1:]:
        for k, stem in enumerate(DEV):
            iid = image_id(stem, cam.name)
            photo_path, mask_path = out / f"{iid}.{cam.fmt}", out / "masks" / f"{iid}.png"
            if photo_path.exists() and mask_path.exists():
                continue
            photo = io.read_photo(data / "photos" / f"{image_id(stem)}.png")[0]
            mask = io.read_raster(data / "masks" / f"{image_id(stem)}.png")[0][0]
            img, m = render(photo, mask, cam, seed=1000 * k + ord(cam.name[-1]))
            io.write_image_file(photo_path, img, quality=cam.jpeg_quality)
            io.write_image_file(mask_path, m)


def true_cover(mask: np.ndarray) -> np.ndarray:
    valid = mask != IGNORE
    return 100.0 * np.bincount(mask[valid].astype(np.int64), minlength=len(CLASSES))[: len(CLASSES)] / valid.sum()


# ------------------------------------------------------------------ folds


def fold_sheet(test_plot: str, data: Path, drifted: bool) -> pd.DataFrame:
    """The image sheet of one fold (paths relative to the fold's folder, which holds the sheet)."""
    order = PLOTS[PLOTS.index(test_plot) + 1:] + PLOTS[: PLOTS.index(test_plot)]
    val_stem = next(s for s in DEV if DEV[s][0] == order[0])
    rows = []
    for stem, (plot, date) in DEV.items():
        split = "test" if plot == test_plot else "val" if stem == val_stem else "train"
        iid = image_id(stem)
        rows.append({"image_id": iid, "site": SITE, "plot": plot, "date": date, "camera": CAMERA_A,
                     "image": str(data / "photos" / f"{iid}.png"), "mask": str(data / "masks" / f"{iid}.png"),
                     "split": split, "mm_per_px": CAMERA_A_MM_PER_PX})
        if not drifted:
            continue
        for cam in demo.DEFAULT_CAMERAS[1:]:
            did = image_id(stem, cam.name)
            held = plot == test_plot
            rows.append({"image_id": did, "site": SITE, "plot": plot, "date": DRIFT_DATES[cam.name],
                         "camera": cam.name, "image": str(data / "drifted" / f"{did}.{cam.fmt}"),
                         "mask": str(data / "drifted" / "masks" / f"{did}.png") if held else "",
                         "split": "test" if held else "", "mm_per_px": cam.mm_per_px})
    return pd.DataFrame(rows)


def set_key(cfg: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    d = cfg
    for p in parents:
        d = d.setdefault(p, {})
    d[last] = value


def fold_config(seeds: list[int], overrides: list[str], plan: dict | None = None) -> dict:
    """What a user must give (sheet, classes, ignore value, seeds) plus the plan file's settings
    (``dotted.key: value``) and then the ``--set`` overrides; everything else is the schema's default."""
    cfg = {"images": "images.tsv", "classes": CLASSES, "ignore_index": IGNORE, "seeds": seeds}
    for key, value in (plan or {}).items():
        set_key(cfg, key, value)
    for item in overrides:
        key, _, value = item.partition("=")
        set_key(cfg, key, yaml.safe_load(value))
    return cfg


def run_workflow(fold_dir: Path, cores: int) -> float:
    """One real snakemake run of the fold; returns its wall time (s)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(bin_dir / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(fold_dir),
           "--configfile", str(fold_dir / "config.yaml"), "--cores", str(cores), "--rerun-incomplete",
           paths.METRICS]
    t0 = time.time()
    with open(fold_dir / "snakemake.log", "a") as logf:
        res = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
    if res.returncode != 0:
        raise SystemExit(f"snakemake failed in {fold_dir} (exit {res.returncode}); see {fold_dir / 'snakemake.log'}")
    return time.time() - t0


def train_minutes(fold_dir: Path) -> float:
    """Training time of the seeds of the model version that predicted the fold (sum of the train rules'
    benchmark files), minutes."""
    version = pd.read_csv(fold_dir / paths.COVER_BY_IMAGE, sep="\t", usecols=["model_version"])["model_version"].iloc[0]
    files = sorted(fold_dir.glob(paths.fill(paths.TRAIN_BENCHMARK, model="*", version=version, seed="*")))
    return sum(float(pd.read_csv(f, sep="\t")["s"].iloc[0]) for f in files) / 60.0


def crustwatch_results(fold_dir: Path, sheet: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Per test photo: the ensemble's confusion matrix, and cover rows (adjusted, map, interval)."""
    n = len(CLASSES)
    test = sheet[sheet["split"] == "test"]
    cov = pd.read_csv(fold_dir / paths.COVER_BY_IMAGE, sep="\t", dtype={"image_id": str})
    cov = cov[cov["image_id"].isin(test["image_id"])]
    cms = {}
    for iid in test["image_id"]:
        c = pd.read_csv(fold_dir / photo_paths(iid)["confusion"], sep="\t")
        c = c[c["model"] == "ensemble"]
        cm = np.zeros((n, n), dtype=np.int64)
        np.add.at(cm, (c["true"].to_numpy(), c["pred"].to_numpy()), c["pixels"].to_numpy())
        cms[iid] = cm
    rows = cov[["image_id", "class", "cover_pct", "map_cover_pct", "true_cover_pct", "ci_low", "ci_high",
                "interval"]].copy()
    if "eval_cover_pct" in cov:  # compared with the truth on its own (labelled) pixels, interval moved with it
        shift = (cov["eval_cover_pct"] - cov["cover_pct"]).to_numpy()
        rows["cover_pct"], rows["map_cover_pct"] = cov["eval_cover_pct"], cov["eval_map_cover_pct"]
        rows["ci_low"], rows["ci_high"] = rows["ci_low"] + shift, rows["ci_high"] + shift
    if "eval_soft_cover_pct" in cov:  # the soft cover, unadjusted, whichever estimate the run used
        rows["soft_cover_pct"] = cov["eval_soft_cover_pct"]
    return cms, rows


def forest_results(fold_dir: Path, sheet: pd.DataFrame, seed: int, log) -> tuple[dict, pd.DataFrame, float]:
    """The random forest on the workflow's ingested photos of the fold (full width, not resampled).

    Its results are kept in ``forest.json`` in the fold's folder, named by the sha256 of every ingested
    photo and mask it reads, its settings, seed and split: a rerun whose forest inputs did not change (a
    prediction setting of the workflow, say) reads them back instead of fitting the same forest again."""
    n = len(CLASSES)
    ingested = {iid: fold_dir / photo_paths(iid)["ingest_photo"] for iid in sheet["image_id"]}
    masks = {iid: fold_dir / photo_paths(iid)["mask"] for iid in sheet["image_id"] if (fold_dir / photo_paths(iid)["mask"]).exists()}
    cams = dict(zip(sheet["image_id"], sheet["camera"]))
    train = sheet[sheet["split"].isin(["train", "val"])]["image_id"].tolist()
    test = sheet[sheet["split"] == "test"]["image_id"].tolist()
    key = provenance.digest({"settings": forest.SETTINGS, "seed": seed, "train": train, "test": test, "cameras": cams,
                             "photos": {i: files.sha256_file(p) for i, p in ingested.items()},
                             "masks": {i: files.sha256_file(p) for i, p in masks.items()}})
    cache = fold_dir / "forest.json"
    if cache.exists():
        kept = json.loads(cache.read_text())
        if kept.get("key") == key:
            log(f"random forest: inputs unchanged, results read from {cache}")
            return ({i: np.asarray(c, dtype=np.int64) for i, c in kept["cms"].items()}, pd.DataFrame(kept["rows"]),
                    kept["minutes"])
    t0 = time.time()
    clf, stats = forest.fit(ingested, masks, cams, train, IGNORE, seed=seed, log=log)
    minutes = (time.time() - t0) / 60
    cms, rows = {}, []
    for iid in test:
        pred = forest.predict(clf, ingested[iid], stats[cams[iid]])
        mask = io.read_raster(masks[iid])[0][0]
        cms[iid] = metrics.confusion(pred, mask, n, IGNORE)
        valid = mask != IGNORE
        frac = 100.0 * np.bincount(pred[valid].astype(np.int64), minlength=n)[:n] / valid.sum()
        truth = true_cover(mask)
        for c in CLASSES:
            k = c["id"]
            rows.append({"image_id": iid, "class": c["name"], "cover_pct": frac[k], "map_cover_pct": frac[k],
                         "true_cover_pct": truth[k], "ci_low": np.nan, "ci_high": np.nan, "interval": ""})
    files.write_json(cache, {"key": key, "minutes": minutes, "cms": {i: c.tolist() for i, c in cms.items()},
                       "rows": json.loads(pd.DataFrame(rows).to_json(orient="records"))})
    return cms, pd.DataFrame(rows), minutes


# ------------------------------------------------------------------ scores


def score(cms: dict, rows: pd.DataFrame) -> dict:
    """The summary metrics of a set of test photos (confusion pooled, cover pairs averaged)."""
    n = len(CLASSES)
    cm = np.sum(list(cms.values()), axis=0) if cms else np.zeros((n, n), dtype=np.int64)
    s = metrics.scores(cm)
    out = {"overall_accuracy": s["overall_accuracy"], "miou": s["miou"],
           "cover_abs_error_pp": float((rows["cover_pct"] - rows["true_cover_pct"]).abs().mean()),
           "map_cover_abs_error_pp": float((rows["map_cover_pct"] - rows["true_cover_pct"]).abs().mean())}
    if "soft_cover_pct" in rows and rows["soft_cover_pct"].notna().any():
        out["soft_cover_abs_error_pp"] = float((rows["soft_cover_pct"] - rows["true_cover_pct"]).abs().mean())
    if rows["ci_low"].notna().any():
        inside = (rows["true_cover_pct"] >= rows["ci_low"]) & (rows["true_cover_pct"] <= rows["ci_high"])
        out["cover_interval_coverage"] = float(inside.mean())
        out["cover_interval_width_pp"] = float((rows["ci_high"] - rows["ci_low"]).mean())
    out["iou"] = {c["name"]: s["iou"][c["id"]] for c in CLASSES}
    return out


def variant_of(iid: str) -> str:
    return "drifted" if any(iid.endswith("_" + c.replace("-", "")) for c in DRIFT_DATES) else "same_camera"


def pick(df: pd.DataFrame, **eq) -> pd.DataFrame:
    """The rows of ``df`` whose columns equal the given values."""
    sel = np.ones(len(df), dtype=bool)
    for k, v in eq.items():
        sel &= (df[k] == v).to_numpy()
    return df[sel]


def figure(summary: pd.DataFrame, per_class: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    colours = {"crustwatch": "#1b7837", "random_forest": "#999999"}
    variants = [v for v in ("same_camera", "drifted") if v in set(summary["variant"])]
    width = 0.38
    for ax, mets, title in ((axes[0], ["overall_accuracy", "miou"], "accuracy (pooled test pixels)"),
                            (axes[1], ["cover_abs_error_pp", "map_cover_abs_error_pp"], "cover error, pp (photo x class)")):
        labels = [f"{m}\n{v}" for m in mets for v in variants]
        x = np.arange(len(labels))
        for k, method in enumerate(["crustwatch", "random_forest"]):
            vals = [pick(summary, variant=v, method=method, metric=m)["value"].mean() for m in mets for v in variants]
            ax.bar(x + (k - 0.5) * width, vals, width, label=method, color=colours[method])
        ax.set_xticks(x, [lbl.replace("_abs_error_pp", "").replace("overall_", "") for lbl in labels], fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=8)
    pc = per_class[(per_class["metric"] == "iou") & (per_class["variant"] == "same_camera")]
    names = [c["name"] for c in CLASSES]
    x = np.arange(len(names))
    for k, method in enumerate(["crustwatch", "random_forest"]):
        vals = [pick(pc, method=method, **{"class": n})["value"].mean() for n in names]
        axes[2].bar(x + (k - 0.5) * width, vals, width, color=colours[method])
    axes[2].set_xticks(x, [n.split("_")[0] for n in names], rotation=45, fontsize=7)
    axes[2].set_title("IoU per class, same camera", fontsize=9)
    fig.suptitle("Real Utah plot photos (JESS development set), leave one plot out", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--git-dir", help="bare git dir of stefanherdy/JESS (the search tool's fetch); without it the "
                    "photos must already be under --work/data (bench/gpu/run.sh)")
    ap.add_argument("--prepare-only", action="store_true", help="write the photos, masks and renders, then stop")
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "real"), help="data and fold projects")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "real"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--folds", default=",".join(PLOTS), help="test plots, comma-separated")
    ap.add_argument("--plan", metavar="YAML", help="config overrides as a file of `dotted.key: value` lines "
                    "(bench/real/plans/; the --set overrides come after it)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. train.steps=400 (repeatable)")
    ap.add_argument("--no-drift", action="store_true", help="same-camera variant only")
    ap.add_argument("--no-forest", action="store_true", help="skip the random forest")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    work, out = Path(args.work).resolve(), Path(args.out)
    data = work / "data"
    if args.git_dir:
        extract(Path(args.git_dir), data)
    elif not all((data / "photos" / f"{image_id(s)}.png").exists() for s in DEV):
        raise SystemExit(f"no --git-dir, and the development photos are not under {data / 'photos'}")
    drifted = not args.no_drift
    if drifted:
        render_all(data)
    if args.prepare_only:
        log(f"photos, masks and renders under {data}")
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg = fold_config(seeds, args.set, yaml.safe_load(Path(args.plan).read_text()) if args.plan else None)
    folds = args.folds.split(",")
    cw_rows, rf_rows, fold_rows, class_rows = [], [], [], []
    cw_cms, rf_cms = {}, {}
    for f in folds:
        fold_dir = work / "folds" / f
        fold_dir.mkdir(parents=True, exist_ok=True)
        sheet = fold_sheet(f, data, drifted)
        sheet.to_csv(fold_dir / "images.tsv", sep="\t", index=False)
        (fold_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        log(f"fold {f}: snakemake ({len(sheet)} photos, test {', '.join(sheet[sheet.split == 'test'].image_id)})")
        wall = run_workflow(fold_dir, args.cores)
        tmin = train_minutes(fold_dir)
        log(f"fold {f}: workflow {wall / 60:.1f} min, training {tmin:.1f} min")
        cms, rows = crustwatch_results(fold_dir, sheet)
        rows["fold"], rows["method"] = f, "crustwatch"
        cw_cms |= cms
        cw_rows.append(rows)
        results = [("crustwatch", cms, rows, tmin)]
        if not args.no_forest:
            rcms, rrows, rmin = forest_results(fold_dir, sheet, seeds[0], log)
            rrows["fold"], rrows["method"] = f, "random_forest"
            rf_cms |= rcms
            rf_rows.append(rrows)
            results.append(("random_forest", rcms, rrows, rmin))
            log(f"fold {f}: random forest {rmin:.1f} min")
        for method, cms_, rows_, minutes in results:
            for variant in ("same_camera", "drifted"):
                ids = [i for i in cms_ if variant_of(i) == variant]
                if not ids:
                    continue
                s = score({i: cms_[i] for i in ids}, rows_[rows_["image_id"].isin(ids)])
                s["train_minutes"] = minutes
                fold_rows += [(f, variant, method, m, s[m]) for m in METRICS if m in s]
                log(f"fold {f} {variant} {method}: " + ", ".join(f"{m} {s[m]:.3f}" for m in METRICS if m in s))
    out.mkdir(parents=True, exist_ok=True)
    folds_df = pd.DataFrame(fold_rows, columns=["fold", "variant", "method", "metric", "value"])
    summary = []
    photos = pd.concat(cw_rows + rf_rows, ignore_index=True)
    photos["variant"] = photos["image_id"].map(variant_of)
    for method, cms_all in (("crustwatch", cw_cms), ("random_forest", rf_cms)):
        for variant in ("same_camera", "drifted"):
            ids = [i for i in cms_all if variant_of(i) == variant]
            if not ids:
                continue
            sel = photos[(photos["method"] == method) & (photos["variant"] == variant)]
            s = score({i: cms_all[i] for i in ids}, sel)
            s["train_minutes"] = pick(folds_df, variant=variant, method=method, metric="train_minutes")["value"].mean()
            summary += [(variant, method, m, s[m]) for m in METRICS if m in s]
            for name, v in s["iou"].items():
                err = (sel[sel["class"] == name]["cover_pct"] - sel[sel["class"] == name]["true_cover_pct"]).abs().mean()
                class_rows += [(variant, method, name, "iou", v), (variant, method, name, "cover_abs_error_pp", err)]
    summary_df = pd.DataFrame(summary, columns=["variant", "method", "metric", "value"])
    per_class = pd.DataFrame(class_rows, columns=["variant", "method", "class", "metric", "value"])
    files.write_tsv(summary_df, out / "summary.tsv")
    files.write_tsv(folds_df, out / "folds.tsv")
    files.write_tsv(per_class, out / "per_class.tsv")
    files.write_tsv(photos, out / "photos.tsv")
    files.write_json(out / "plan.json", {"config": cfg, "folds": folds, "drifted": drifted,
                                      "forest": forest.SETTINGS, "python": sys.version.split()[0]})
    figure(summary_df, per_class, out / "real.png")
    files.write_json(out / "run.json", provenance.bench_run(ROOT, sys.argv))
    print(summary_df.pivot_table(index=["variant", "metric"], columns="method", values="value").round(4).to_string())


if __name__ == "__main__":
    main()
