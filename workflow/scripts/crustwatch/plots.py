"""Figures people read instead of tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .files import atomic_path

FALLBACK = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]


def class_colors(classes: list[dict]) -> dict[str, str]:
    """Class name -> colour: the config's ``color`` when given, else a fixed palette."""
    return {c["name"]: c.get("color") or FALLBACK[i % len(FALLBACK)] for i, c in enumerate(classes)}


def _luminance(hex_color: str) -> float:
    r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _darker(hex_color: str, f: float = 0.55) -> str:
    r, g, b = (int(int(hex_color[i : i + 2], 16) * f) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def cover_over_time(by_site_date: pd.DataFrame, classes: list[dict], path: str | Path, title: str = "") -> None:
    """Small multiples: one row per site, one column per class; cover (%) against date.

    The solid line is the ensemble's cover (mean of per-image covers), the band its
    cover interval, and the dashed grey line the cover in the masks where every photo
    of that site and date is labelled.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    df = by_site_date.copy()
    df["date"] = pd.to_datetime(df["date"])
    sites = list(dict.fromkeys(df["site"]))
    names = [c["name"] for c in classes]
    colors = class_colors(classes)
    fig, axes = plt.subplots(
        len(sites), len(names), figsize=(2.3 * len(names) + 1, 2.2 * len(sites) + 1), sharex=True, squeeze=False
    )
    for i, site in enumerate(sites):
        for j, name in enumerate(names):
            ax = axes[i][j]
            d = df[(df["site"] == site) & (df["class"] == name)].sort_values("date")
            col = colors[name]
            line_col = _darker(col) if _luminance(col) > 0.75 else col
            ax.fill_between(d["date"], d["ci_low"], d["ci_high"], color=col, alpha=0.25, linewidth=0)
            ax.plot(d["date"], d["cover_pct"], "-o", color=line_col, markerfacecolor=col, markersize=3.5, markeredgecolor="black", markeredgewidth=0.4, label="predicted")
            if "true_cover_pct" in d and d["true_cover_pct"].notna().any():
                ax.plot(d["date"], d["true_cover_pct"], "--", color="0.35", linewidth=1, label="mask (truth)")
            if i == 0:
                ax.set_title(name.replace("_", " "), fontsize=9, color="black")
            if j == 0:
                ax.set_ylabel(f"{site}\ncover (%)", fontsize=9)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=4))
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
            ax.tick_params(labelsize=7)
    for j in range(len(names)):
        axes[-1][j].set_xlabel("monitoring date", fontsize=8)
    for j, name in enumerate(names):
        d = df[df["class"] == name]
        top = np.nanmax(np.concatenate([d["ci_high"].to_numpy(float), d.get("true_cover_pct", d["ci_high"]).to_numpy(float), [1.0]]))
        for i in range(len(sites)):
            axes[i][j].set_ylim(0, top * 1.08)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, frameon=False, ncol=2)
    fig.suptitle(title or "Cover over time per site and class (band: cover interval)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def confusion_heatmap(cm: np.ndarray, names: list[str], path: str | Path, title: str) -> None:
    """Row-normalised confusion matrix (truth rows, prediction columns), percent per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(1, keepdims=True)
    pct = np.divide(100.0 * cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(names), 0.8 + 0.6 * len(names)))
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    for a in range(len(names)):
        for b in range(len(names)):
            ax.text(b, a, f"{pct[a, b]:.0f}", ha="center", va="center", fontsize=7, color="white" if pct[a, b] > 60 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (mask)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="% of true-class pixels")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def photo_thumbnail(photo: str | Path, shape: tuple[int, int], max_side: int = 480):
    """The photo read decimated (GDAL average over blocks, never whole) to at most ``max_side`` pixels:
    ``(rgb (th, tw, 3) or grey (th, tw), (th, tw), f)`` with ``f`` the photo pixels per thumbnail pixel."""
    import rasterio
    from rasterio.enums import Resampling

    h, w = shape
    f = max(h, w) / max_side if max(h, w) > max_side else 1.0
    th, tw = max(1, int(round(h / f))), max(1, int(round(w / f)))
    with rasterio.open(photo) as ds:
        bands = [1, 2, 3] if ds.count >= 3 else [1]
        rgb = np.moveaxis(ds.read(bands, out_shape=(len(bands), th, tw), resampling=Resampling.average), 0, -1)
    return (rgb[..., 0] if rgb.shape[-1] == 1 else rgb), (th, tw), f


def _thumbnail_index(size: int, n: int) -> np.ndarray:
    """``n`` evenly spread indices into ``size`` (centres of ``n`` equal cells)."""
    return np.minimum(((np.arange(n) + 0.5) * size / n).astype(np.int64), size - 1)


def prediction_preview(photo: str | Path, classmap: np.ndarray, uncertainty: np.ndarray | None,
                       classes: list[dict], path: str | Path, title: str = "", max_side: int = 480) -> None:
    """A small PNG to look at one photo's result: photo | classes | uncertainty.

    The photo is read decimated (GDAL average over blocks, never whole), the maps are
    subsampled to the same thumbnail size; classes use the config's colours with a
    legend below, uncertainty is the predictive entropy in nats (0 .. ln C).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    h, w = classmap.shape
    rgb, (th, tw), _ = photo_thumbnail(photo, (h, w), max_side)
    iy, ix = _thumbnail_index(h, th), _thumbnail_index(w, tw)
    small = classmap[np.ix_(iy, ix)]
    colors = class_colors(classes)
    ids = [int(c["id"]) for c in classes]
    lut = ListedColormap([colors[c["name"]] for c in classes])
    cnorm = BoundaryNorm(np.arange(len(ids) + 1) - 0.5, len(ids))
    index = np.zeros(256, dtype=np.int64)
    index[ids] = np.arange(len(ids))
    panels = 3 if uncertainty is not None else 2
    aspect = th / tw
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.2 * aspect + 1.3), squeeze=False)
    ax = axes[0]
    ax[0].imshow(rgb, cmap="gray" if rgb.ndim == 2 else None)
    ax[0].set_title("photo", fontsize=9)
    ax[1].imshow(index[small], cmap=lut, norm=cnorm, interpolation="nearest")
    ax[1].set_title("classes (ensemble)", fontsize=9)
    if uncertainty is not None:
        ent = uncertainty[0][np.ix_(iy, ix)]
        im = ax[2].imshow(ent, cmap="magma", vmin=0, vmax=float(np.log(len(ids))))
        ax[2].set_title("uncertainty (entropy)", fontsize=9)
        cb = fig.colorbar(im, ax=ax[2], fraction=0.046, pad=0.02)
        cb.set_label("nats (0: sure)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    present = set(np.unique(small).tolist())
    handles = [Patch(facecolor=colors[c["name"]], edgecolor="0.3", label=c["name"].replace("_", " "))
               for c in classes if int(c["id"]) in present]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5) or 1, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
