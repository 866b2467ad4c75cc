"""Tables and figures made for the Snakemake report (``snakemake --report``).

Categories: Cover (per site, per plot), Change (per site), Label next, Maps (per photo), Quality (per class,
per split, per seed), Drift (per camera) and Provenance (the models' cards).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from . import files
from . import normalize as norm
from .plots import _darker, _luminance, class_colors
from .provenance import training_run


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int = 110) -> None:
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    _plt().close(fig)


# ---------------------------------------------------------------- Cover


def cover_by_plot_figure(by_plot_date: pd.DataFrame, site: str, classes: list[dict], path: str | Path) -> None:
    """One site: a panel per class, a line per permanent plot (cover % against date), its interval as a band."""
    import matplotlib.dates as mdates

    plt = _plt()
    df = by_plot_date[by_plot_date["site"].astype(str) == str(site)].copy()
    df["date"] = pd.to_datetime(df["date"])
    plots = sorted(df["plot"].astype(str).unique())
    names = [c["name"] for c in classes]
    colors = class_colors(classes)
    ncol = min(4, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow + 0.6), sharex=True, squeeze=False)
    styles = ["-o", "--s", ":^", "-.D", "-v", "--P", ":X", "-.*"]
    for k, name in enumerate(names):
        ax = axes[k // ncol][k % ncol]
        col = colors[name]
        line_col = _darker(col) if _luminance(col) > 0.75 else col
        for j, p in enumerate(plots):
            d = df[(df["class"] == name) & (df["plot"].astype(str) == p)].sort_values("date")
            ax.fill_between(d["date"], d["ci_low"], d["ci_high"], color=col, alpha=0.12, linewidth=0)
            ax.plot(d["date"], d["cover_pct"], styles[j % len(styles)], color=line_col, markersize=3.5,
                    linewidth=1, label=f"plot {p}")
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_ylabel("cover (%)", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=4))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.tick_params(labelsize=7)
    for k in range(len(names)):
        if k + ncol >= len(names):  # the lowest panel of its column
            axes[k // ncol][k % ncol].set_xlabel("monitoring date", fontsize=8)
            axes[k // ncol][k % ncol].tick_params(labelbottom=True)
    for k in range(len(names), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle=styles[j % len(styles)][:-1], marker=styles[j % len(styles)][-1],
                      color="0.25", markersize=4, linewidth=1) for j in range(len(plots))]
    labels = [f"plot {p}" for p in plots]
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False,
               title="permanent plot", title_fontsize=8)
    fig.suptitle(f"Site {site}: cover per permanent plot over time (bands: cover intervals)", fontsize=10,
                 x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    _save(fig, path)


# ---------------------------------------------------------------- Change


def _pair_label(a: str, b: str) -> str:
    return f"{a}\n-> {b}"


def change_figure(by_site: pd.DataFrame, by_plot: pd.DataFrame, site: str, classes: list[dict],
                  path: str | Path) -> None:
    """One site's changes: a class x date-pair grid of the mean change over plots (colour, its interval and q
    in the cell; bold: significant; dashed frame: a camera changed), and below it each plot's change per pair
    with its interval, one panel per class."""
    plt = _plt()
    s = by_site[by_site["site"].astype(str) == str(site)]
    bp = by_plot[by_plot["site"].astype(str) == str(site)]
    names = [c["name"] for c in classes if c["name"] in set(s["class"])]
    pairs = list(dict.fromkeys(zip(s["date_from"], s["date_to"])))
    ncol = min(4, max(1, len(names)))
    nrow = -(-len(names) // ncol)
    fig = plt.figure(figsize=(max(7.0, 1.45 * len(pairs) + 2.5, 3.2 * ncol), 0.55 * len(names) + 1.6 + 2.4 * nrow))
    grid = fig.add_gridspec(1 + nrow, ncol, height_ratios=[0.55 * len(names) + 1.0] + [2.2] * nrow)
    ax = fig.add_subplot(grid[0, :])
    val = np.full((len(names), len(pairs)), np.nan)
    cell = {(r["class"], r["date_from"], r["date_to"]): r for r in s.to_dict("records")}
    for i, name in enumerate(names):
        for j, (a, b) in enumerate(pairs):
            r = cell.get((name, a, b))
            if r is not None and r["n_plots"] > 0:
                val[i, j] = r["change_pp"]
    lim = max(1.0, float(np.nanmax(np.abs(val))) if np.isfinite(val).any() else 1.0)
    ax.imshow(np.ma.masked_invalid(val), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i, name in enumerate(names):
        for j, (a, b) in enumerate(pairs):
            r = cell.get((name, a, b))
            if r is None or r["n_plots"] == 0:
                ax.text(j, i, "no plot\non both", ha="center", va="center", fontsize=6, color="0.4")
                continue
            q = "no test" if pd.isna(r["q_value"]) else f"q={r['q_value']:.2g}"
            ax.text(j, i, f"{r['change_pp']:+.1f}\n({r['ci_low']:+.1f}, {r['ci_high']:+.1f})\n{q}", ha="center",
                    va="center", fontsize=6.5, fontweight="bold" if r["significant"] else "normal")
            if r["camera_changed"]:
                ax.add_patch(plt.Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, linestyle="--",
                                           edgecolor="#d08000", linewidth=1.2))
    ax.set_xticks(range(len(pairs)), [_pair_label(a, b) for a, b in pairs], fontsize=7)
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
    ax.set_title(f"Site {site}: mean change over plots, pp (interval; q: false discovery rate; bold: q <= fdr; "
                 "dashed: camera changed)", fontsize=8.5, loc="left")
    colors = class_colors(classes)
    for k, name in enumerate(names):
        pax = fig.add_subplot(grid[1 + k // ncol, k % ncol])
        col = colors[name]
        col = _darker(col) if _luminance(col) > 0.75 else col
        for j, (a, b) in enumerate(pairs):
            d = bp[(bp["class"] == name) & (bp["date_from"] == a) & (bp["date_to"] == b) & bp["change_pp"].notna()]
            x = j + np.linspace(-0.25, 0.25, max(len(d), 1))[: len(d)]
            pax.errorbar(x, d["change_pp"], yerr=[d["change_pp"] - d["ci_low"], d["ci_high"] - d["change_pp"]],
                         fmt="o", markersize=2.5, color=col, elinewidth=0.7, capsize=0)
            r = cell.get((name, a, b))
            if r is not None and r["n_plots"] > 0:
                pax.hlines(r["change_pp"], j - 0.35, j + 0.35, color="0.2", linewidth=1.4)
        pax.axhline(0, color="0.5", linewidth=0.6)
        pax.set_xticks(range(len(pairs)), [str(j + 1) for j in range(len(pairs))], fontsize=7)
        pax.set_title(name.replace("_", " "), fontsize=8.5)
        pax.tick_params(labelsize=7)
        pax.grid(alpha=0.3)
        if k % ncol == 0:
            pax.set_ylabel("change per plot (pp)", fontsize=7.5)
    fig.text(0.01, 0.005, "Lower panels: each plot's change for date pair 1, 2, ... (the columns above), with its "
             "interval; the bar is the site mean.", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    _save(fig, path)


# ---------------------------------------------------------------- Label next


def suggestion_preview(photo: str | Path, mi: np.ndarray, valid: np.ndarray, boxes: list, path: str | Path,
                       title: str, max_side: int = 480) -> None:
    """A suggested photo: the photo with its regions to label outlined and numbered, and where the seeds
    disagree (mutual information) with the same boxes."""
    from .plots import _thumbnail_index, photo_thumbnail

    plt = _plt()
    h, w = mi.shape
    rgb, (th, tw), f = photo_thumbnail(photo, (h, w), max_side)
    small = np.where(valid, mi, np.nan)[np.ix_(_thumbnail_index(h, th), _thumbnail_index(w, tw))]
    fig, axes = plt.subplots(1, 2, figsize=(6.6, 3.3 * th / tw + 0.8))
    axes[0].imshow(rgb, cmap="gray" if rgb.ndim == 2 else None)
    im = axes[1].imshow(small, cmap="magma", vmin=0)
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02, label="seed disagreement (nats)")
    for ax in axes:
        for k, (x0, y0, x1, y1, _) in enumerate(boxes, 1):
            ax.add_patch(plt.Rectangle((x0 / f - 0.5, y0 / f - 0.5), (x1 - x0) / f, (y1 - y0) / f, fill=False,
                                       edgecolor="#00e5ff", linewidth=1.6))
            ax.text(x0 / f + 2, y0 / f + 2, str(k), color="#00e5ff", fontsize=9, fontweight="bold", va="top")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title("photo: label the numbered boxes", fontsize=8.5)
    axes[1].set_title("where the seeds disagree", fontsize=8.5)
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(title, 95)), fontsize=8, x=0.01, ha="left")
    fig.tight_layout()
    _save(fig, path)


# ---------------------------------------------------------------- Maps


def gather_previews(previews: dict[str, str], out_dir: str | Path) -> None:
    """Copy each photo's preview PNG to ``out_dir/<image_id>.png`` (the report's Maps gallery)."""
    with files.atomic_folder(out_dir) as tmp:
        for iid, src in sorted(previews.items()):
            shutil.copyfile(src, tmp / f"{iid}.png")


# ---------------------------------------------------------------- Quality


def per_class_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The ensemble's per-class scores side by side: ``class`` then ``<metric>_<split>`` columns."""
    keep = ["iou", "f1", "cover_abs_error_pp", "cover_bias_pp", "cover_interval_coverage", "cover_interval_width_pp"]
    m = metrics[(metrics["model"] == "ensemble") & metrics["metric"].isin(keep)]
    wide = m.pivot_table(index="class", columns=["metric", "split"], values="value", sort=False)
    wide.columns = [f"{metric}_{split}" for metric, split in wide.columns]
    order = [f"{k}_{s}" for s in ("test", "val") for k in keep if f"{k}_{s}" in wide.columns]
    classes = [c for c in dict.fromkeys(m["class"]) if c != "all"] + (["all"] if "all" in set(m["class"]) else [])
    return wide.reindex(classes)[order].round(4).reset_index()


# ---------------------------------------------------------------- Drift


def _stats(hist: np.ndarray, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and sd of a (3, 256) histogram, of the values ``values`` (3, 256) when given."""
    v = np.arange(256, dtype=np.float64)[None].repeat(3, 0) if values is None else np.asarray(values, np.float64)
    n = hist.sum(1, keepdims=True).clip(min=1)
    mean = (hist * v).sum(1) / n[:, 0]
    sd = np.sqrt((hist * (v - mean[:, None]) ** 2).sum(1) / n[:, 0])
    return mean, sd


def camera_corrections(camera_jsons: list[str], method: str) -> list[dict]:
    """Each camera's statistics file read once: its name, calibration date and photo count, the pooled
    (3, 256) histogram of its calibration photos and, for per-camera methods, its correction table."""
    out = []
    for f in camera_jsons:
        cam = files.read_json(f)
        hists = [np.asarray(v, dtype=np.int64) for v in cam["histograms"].values()]
        pooled = sum(hists) if hists else np.zeros((3, 256), np.int64)
        out.append({"camera": cam["camera"], "calibration_date": cam.get("calibration_date"),
                    "calibration_photos": len(hists), "pooled": pooled,
                    "lut": norm.lookup_table(method, pooled) if method in norm.CAMERA_METHODS or method == "none"
                    else None})
    return out


def camera_table(cameras: list[dict], method: str, photos_per_camera: dict[str, int]) -> pd.DataFrame:
    """Per camera (from :func:`camera_corrections`): calibration photos and date, raw pixel statistics,
    and the same after correction."""
    rows = []
    for cam in cameras:
        pooled, lut = cam["pooled"], cam["lut"]
        raw_mean, raw_sd = _stats(pooled)
        row = {"camera": cam["camera"], "calibration_date": cam["calibration_date"] or "all dates",
               "calibration_photos": cam["calibration_photos"], "photos": photos_per_camera.get(cam["camera"], 0),
               "method": method}
        for c, ch in enumerate("rgb"):
            row[f"raw_mean_{ch}"] = round(float(raw_mean[c]), 2)
            row[f"raw_sd_{ch}"] = round(float(raw_sd[c]), 2)
        if lut is not None:
            n_mean, n_sd = _stats(pooled, lut)
            for c, ch in enumerate("rgb"):
                row[f"normalized_mean_{ch}"] = round(float(n_mean[c]), 3)
                row[f"normalized_sd_{ch}"] = round(float(n_sd[c]), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def cameras_figure(cams: list[dict], method: str, path: str | Path) -> None:
    """Left: each camera's raw brightness per channel (mean +- sd of its calibration photos' pixels);
    right: the correction curve per channel (pixel value -> model input) for each camera
    (``cams`` from :func:`camera_corrections`)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1.4, 1, 1, 1]})
    names = [c["camera"] for c in cams]
    x = np.arange(len(cams))
    channel_colors = {"red": "#c0392b", "green": "#27ae60", "blue": "#2e6fd8"}
    cmap = plt.get_cmap("viridis", max(2, len(cams)))
    for k, cam in enumerate(cams):
        mean, sd = _stats(cam["pooled"])
        for c, (ch, col) in enumerate(channel_colors.items()):
            axes[0].errorbar(k + (c - 1) * 0.22, mean[c], yerr=sd[c], fmt="o", color=col, capsize=3,
                             label=ch if k == 0 else None)
        if cam["lut"] is not None:
            for c in range(3):
                axes[c + 1].plot(np.arange(256), cam["lut"][c], color=cmap(k), linewidth=1.4, label=cam["camera"])
    axes[0].set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("pixel value (0-255), mean +- sd", fontsize=8)
    axes[0].set_title("raw photos per camera", fontsize=9)
    axes[0].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0, -0.25), ncol=3)
    axes[0].grid(alpha=0.3)
    for c, ch in enumerate(channel_colors):
        ax = axes[c + 1]
        ax.set_title(f"correction, {ch} channel", fontsize=9)
        ax.set_xlabel("pixel value as photographed (0-255)", fontsize=8)
        ax.set_ylabel("model input (camera-normalized units)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    if len(cams):
        axes[3].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="camera",
                       title_fontsize=7)
    fig.suptitle(f"Camera drift and its correction ({method}); statistics from each camera's calibration photos",
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    _save(fig, path)


# ---------------------------------------------------------------- Provenance


def provenance_table(ensemble_json: str, cards: list[str]) -> pd.DataFrame:
    """One row per ensemble member: seed, hashes of weights, card and ensemble card, the data it was
    trained on, training steps and time, device, code commit and library versions."""
    ens_sha = files.sha256_file(ensemble_json)
    rows = []
    for c in cards:
        card = files.read_json(c)
        data = card.get("data", {})
        shas = sorted(v for rec in data.values() for k, v in rec.items() if k.endswith("sha256"))
        data_sha = hashlib.sha256("\n".join(shas).encode()).hexdigest()
        ver = card.get("versions", {})
        run = training_run(c)
        code = run.get("code") or card.get("code", {})  # cards before release 0.x held the run's facts
        tr = card.get("training", {})
        dev = run.get("device") or card.get("device", {})
        rows.append({
            "seed": card["seed"],
            "weights_sha256": card["weights_sha256"],
            "card_sha256": files.sha256_file(c),
            "ensemble_card_sha256": ens_sha,
            "train_photos": len(card.get("train_images", [])),
            "val_photos": len(card.get("val_images", [])),
            "training_data_sha256": data_sha,
            "steps": tr.get("steps"),
            "steps_set_by": (card.get("plan") or {}).get("decided_by", "train.steps"),
            "training_seconds": run.get("seconds", tr.get("seconds")),
            "val_miou": round(card.get("validation", {}).get("miou", float("nan")), 4),
            "device": dev.get("device"),
            "processor": dev.get("gpu") or dev.get("cpu"),
            "git_commit": (code.get("git_commit") or "")[:12] + (" (dirty)" if code.get("git_dirty") else ""),
            "crustwatch": ver.get("crustwatch"),
            "torch": ver.get("torch"),
            "segmentation_models_pytorch": ver.get("segmentation-models-pytorch"),
            "snakemake": ver.get("snakemake"),
            "normalization": card.get("normalization", {}).get("method"),
            "card": c,
        })
    return pd.DataFrame(rows).sort_values("seed").reset_index(drop=True)
