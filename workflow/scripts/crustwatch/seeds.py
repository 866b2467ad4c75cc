"""Seed sensitivity: how much each metric and each photo's cover depend on the training seed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .stats import t_quantile


BOUNDED_01 = {"overall_accuracy", "miou", "iou", "f1", "cover_interval_coverage"}


def _seed_order(models) -> list[str]:
    return sorted({m for m in models if m.startswith("seed")}, key=lambda m: int(m[4:]))


def metric_table(metrics: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Every metric per seed, with mean, sd, min, max, a prediction interval and the ensemble.

    ``pi_low``/``pi_high``: the interval a model trained with one more seed would fall
    in with probability ``level`` (Student t, ``mean +- t * sd * sqrt(1 + 1/n)``);
    ``ensemble_minus_seed_mean``: what averaging the seeds gained over a typical seed
    (for error metrics, negative is better).
    """
    seeds = _seed_order(metrics["model"])
    keys = ["split", "class", "metric"]
    wide = metrics.set_index(keys + ["model"])["value"].unstack("model")
    wide = wide.reindex(pd.MultiIndex.from_frame(metrics[keys].drop_duplicates()))  # the table's own order
    vals = wide[seeds].to_numpy(dtype=float) if seeds else np.zeros((len(wide), 0))
    n = np.sum(np.isfinite(vals), axis=1)
    with warnings.catch_warnings():  # rows without seed values (a metric only the ensemble has) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(vals, axis=1) if seeds else np.full(len(wide), np.nan)
        sd = np.nanstd(vals, axis=1, ddof=1) if len(seeds) > 1 else np.full(len(wide), np.nan)
        vmin = np.nanmin(vals, axis=1) if seeds else np.nan
        vmax = np.nanmax(vals, axis=1) if seeds else np.nan
    t = np.array([t_quantile(0.5 + level / 2, int(k) - 1) if k > 1 else np.nan for k in n])
    half = t * sd * np.sqrt(1 + 1 / np.maximum(n, 1))
    out = wide.index.to_frame(index=False)
    out["n_seeds"] = n
    out["ensemble"] = wide["ensemble"].to_numpy(dtype=float) if "ensemble" in wide else np.nan
    out["seed_mean"] = mean
    out["seed_sd"] = sd
    out["seed_min"] = vmin
    out["seed_max"] = vmax
    # clipped to what the metric can take: scores 0..1, absolute errors >= 0
    lo = out["metric"].map(lambda m: 0.0 if m in BOUNDED_01 or m.endswith("abs_error_pp") else -np.inf)
    hi = out["metric"].map(lambda m: 1.0 if m in BOUNDED_01 else np.inf)
    out["pi_low"] = np.maximum(mean - half, lo.to_numpy())
    out["pi_high"] = np.minimum(mean + half, hi.to_numpy())
    out["pi_level"] = level
    out["ensemble_minus_seed_mean"] = out["ensemble"] - out["seed_mean"]
    for s in seeds:
        out[s] = wide[s].to_numpy(dtype=float)
    return out


def cover_spread(by_image_seed: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Per photo and class: the ensemble's cover and the spread of the single seeds' covers (pp)."""
    df = by_image_seed
    seeds = df[df["model"] != "ensemble"]
    g = seeds.groupby(["image_id", "class"], sort=False)["cover_pct"]
    out = pd.DataFrame({
        "seed_mean": g.mean(), "seed_sd": g.std(ddof=1), "seed_min": g.min(), "seed_max": g.max(), "n_seeds": g.size(),
    }).reset_index()
    out["seed_range"] = out["seed_max"] - out["seed_min"]
    ens = df[df["model"] == "ensemble"].set_index(["image_id", "class"])["cover_pct"].rename("ensemble_cover_pct")
    out = out.merge(ens.reset_index(), on=["image_id", "class"], how="left")
    meta = splits[["image_id", "site", "plot", "date", "camera", "split"]]
    out = meta.merge(out, on="image_id", how="right")
    first = ["image_id", "site", "plot", "date", "camera", "split", "class", "ensemble_cover_pct"]
    return out[first + [c for c in out.columns if c not in first]]


def seeds_figure(table: pd.DataFrame, spread: pd.DataFrame, classes: list[dict], path) -> None:
    """Left: overall accuracy and mIoU per seed and for the ensemble. Middle: cover error.
    Right: per-photo seed-to-seed sd of cover, per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .files import atomic_path
    from .plots import class_colors

    split = "test" if (table["split"] == "test").any() else "val"
    t = table[(table["split"] == split) & (table["class"] == "all")].set_index("metric")
    seeds = [c for c in table.columns if c.startswith("seed") and c[4:].isdigit()]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.1, 0.8, 2]})
    for ax, metrics, ylabel in ((axes[0], ["overall_accuracy", "miou"], "score (0-1)"),
                                (axes[1], ["cover_abs_error_pp"], "mean absolute cover error (pp)")):
        for x, m in enumerate(metrics):
            if m not in t.index:
                continue
            r = t.loc[m]
            vals = [r[s] for s in seeds]
            jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else [0]
            ax.scatter(x + np.asarray(jitter), vals, color="0.45", s=22, zorder=3,
                       label="single seed" if x == 0 else None)
            if np.isfinite(r["pi_low"]):
                ax.plot([x, x], [r["pi_low"], r["pi_high"]], color="0.7", linewidth=6, alpha=0.6, zorder=1,
                        label=f"{int(r['pi_level'] * 100)}% interval of one seed" if x == 0 else None)
            ax.scatter([x + 0.28], [r["ensemble"]], marker="*", s=140, color="#c0392b", zorder=4,
                       label="ensemble" if x == 0 else None)
        ax.set_xticks(range(len(metrics)), [m.replace("_", " ").replace("pp", "").strip() for m in metrics])
        ax.set_xlim(-0.6, len(metrics) - 0.4)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(f"Scores per seed ({split} photos)")
    axes[1].set_title("Cover error per seed")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.9, -0.12), ncol=3, frameon=False, fontsize=8)
    colors = class_colors(classes)
    names = [c["name"] for c in classes]
    data = [spread.loc[spread["class"] == n, "seed_sd"].dropna().to_numpy() for n in names]
    bp = axes[2].boxplot(data, patch_artist=True, showfliers=True)
    for patch, n in zip(bp["boxes"], names):
        patch.set_facecolor(colors[n])
        patch.set_edgecolor("black")
    for med in bp["medians"]:
        med.set_color("black")
    axes[2].set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
    axes[2].set_ylabel("sd of cover across seeds (pp)")
    axes[2].set_title(f"Spread of each photo's cover across seeds ({spread['image_id'].nunique()} photos)",
                      fontsize=10)
    axes[2].grid(axis="y", alpha=0.3)
    fig.suptitle(f"Seed sensitivity: {len(seeds)} seeds", fontsize=12)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
