"""Step ``evaluate``: metrics per model, split and class, and the seed sensitivity tables."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import files

log = logging.getLogger("crustwatch")


def evaluate(confusion_tsvs: list[str], by_image_seed_tsv: str, splits_tsv: str, classes: list[dict],
             out_metrics: str, out_plot: str | None = None, by_image_tsv: str | None = None,
             out_plot_val: str | None = None, out_per_class: str | None = None) -> None:
    """Metrics per model (ensemble and each seed), split and class.

    ``metrics.tsv`` columns: ``model split class metric value``. Metrics:
    ``overall_accuracy`` and ``miou`` (class ``all``), ``iou`` and ``f1`` per class,
    ``cover_abs_error_pp`` (mean over photos of |predicted - true cover|) per class
    and ``all`` (mean over classes), ``cover_bias_pp`` (mean signed error) per class, of
    the cover in ``by_image_seed_tsv`` (adjusted, unless ``cover.adjust: none``), and the
    same of the class maps' own pixel fractions as ``map_cover_abs_error_pp`` and
    ``map_cover_bias_pp``.
    From ``by_image_tsv`` (ensemble only): ``cover_interval_coverage``, the fraction
    of (photo, class) pairs whose true cover lies inside ``ci_low..ci_high``, and
    ``cover_interval_width_pp``, the mean of ``ci_high - ci_low``, per class and ``all``.
    Validation photos calibrate the intervals, so their coverage is in-sample; the
    test photos' is the honest figure.
    """
    from .. import metrics
    from ..plots import confusion_heatmap

    splits = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False).set_index("image_id")["split"]
    n = metrics.n_classes(classes)
    names = {int(c["id"]): c["name"] for c in classes}
    conf = pd.concat([pd.read_csv(f, sep="\t") for f in confusion_tsvs], ignore_index=True) if confusion_tsvs else pd.DataFrame()
    cov = pd.read_csv(by_image_seed_tsv, sep="\t", dtype={"image_id": str})
    rows = []
    cms = {}
    if not conf.empty:
        conf["split"] = conf["image_id"].map(splits)
        cov["split"] = cov["image_id"].map(splits)
        for (model, split), g in conf.groupby(["model", "split"]):
            if split not in ("val", "test"):
                continue
            cm = np.zeros((n, n), dtype=np.int64)
            np.add.at(cm, (g["true"].to_numpy(), g["pred"].to_numpy()), g["pixels"].to_numpy())
            cms[(model, split)] = cm
            s = metrics.scores(cm)
            rows.append((model, split, "all", "overall_accuracy", s["overall_accuracy"]))
            rows.append((model, split, "all", "miou", s["miou"]))
            for k, name in names.items():
                rows.append((model, split, name, "iou", s["iou"][k]))
                rows.append((model, split, name, "f1", s["f1"][k]))
            c = cov[(cov["model"] == model) & (cov["split"] == split) & cov["true_cover_pct"].notna()]
            for prefix, col in (("", "cover_pct"), ("map_", "map_cover_pct")):
                # against the truth's own pixels: the estimate over the mask's labelled pixels
                err = c[f"eval_{col}" if f"eval_{col}" in c else col] - c["true_cover_pct"]
                per_class = err.abs().groupby(c["class"]).mean()
                bias = err.groupby(c["class"]).mean()
                for name in names.values():
                    rows.append((model, split, name, f"{prefix}cover_abs_error_pp", per_class.get(name, np.nan)))
                    rows.append((model, split, name, f"{prefix}cover_bias_pp", bias.get(name, np.nan)))
                rows.append((model, split, "all", f"{prefix}cover_abs_error_pp",
                             float(err.abs().mean()) if len(err) else np.nan))
    if by_image_tsv:
        rows += interval_coverage(pd.read_csv(by_image_tsv, sep="\t", keep_default_na=False, na_values=[""]),
                                  list(names.values()))
    df = pd.DataFrame(rows, columns=["model", "split", "class", "metric", "value"])
    order = {"ensemble": -1}
    df["_o"] = df["model"].map(lambda m: order.get(m, int(m[4:]) if m.startswith("seed") else 10**6))
    df = df.sort_values(["split", "_o"], kind="stable").drop(columns="_o")
    files.write_tsv(df, out_metrics)
    labels = [names.get(k, str(k)) for k in range(n)]
    for split, path in (("test", out_plot), ("val", out_plot_val)):
        if path:
            cm = cms.get(("ensemble", split), np.zeros((n, n), dtype=np.int64))
            n_photos = conf[conf["split"] == split]["image_id"].nunique() if not conf.empty else 0
            title = {"test": "test photos", "val": "validation photos"}[split]
            confusion_heatmap(cm, labels, path, f"Ensemble confusion, {title} ({n_photos})"
                              + ("" if cm.sum() else ": none labelled"))
    if out_per_class:
        from ..report import per_class_table

        files.write_tsv(per_class_table(df), out_per_class)


def interval_coverage(by_image: pd.DataFrame, class_names: list[str]) -> list[tuple]:
    """``cover_interval_coverage`` and ``cover_interval_width_pp`` rows per split (val, test) and class."""
    rows = []
    t = by_image[by_image["true_cover_pct"].notna() & by_image["split"].isin(["val", "test"])]
    for split, g in t.groupby("split", sort=True):
        # the interval moved to the estimate over the truth's own pixels (equal on a fully labelled area)
        shift = (g["eval_cover_pct"] - g["cover_pct"]).fillna(0) if "eval_cover_pct" in g else 0.0
        inside = (g["true_cover_pct"] >= g["ci_low"] + shift) & (g["true_cover_pct"] <= g["ci_high"] + shift)
        width = g["ci_high"] - g["ci_low"]
        for name in class_names:
            sel = g["class"] == name
            rows.append(("ensemble", split, name, "cover_interval_coverage", float(inside[sel].mean()) if sel.any() else np.nan))
            rows.append(("ensemble", split, name, "cover_interval_width_pp", float(width[sel].mean()) if sel.any() else np.nan))
        rows.append(("ensemble", split, "all", "cover_interval_coverage", float(inside.mean())))
        rows.append(("ensemble", split, "all", "cover_interval_width_pp", float(width.mean())))
    return rows


def seed_sensitivity(metrics_tsv: str, by_image_seed_tsv: str, splits_tsv: str, classes: list[dict], level: float,
                     out_table: str, out_spread: str, out_plot: str) -> None:
    """``seeds.tsv`` (every metric per seed, with mean, sd, min, max, interval, ensemble),
    ``seed_cover_spread.tsv`` (per photo and class) and their figure."""
    from ..seeds import cover_spread, metric_table, seeds_figure

    table = metric_table(pd.read_csv(metrics_tsv, sep="\t"), level)
    splits = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)
    spread = cover_spread(pd.read_csv(by_image_seed_tsv, sep="\t"), splits)
    files.write_tsv(table, out_table)
    files.write_tsv(spread, out_spread)
    seeds_figure(table, spread, classes, out_plot)


def evaluate_points(points_csv: str, splits_tsv: str, photos: list[dict], classes: list[dict], level: float,
                    out_tsv: str) -> None:
    """The point evaluation (:func:`crustwatch.points.point_scores`) of every photo labelled by points, from
    the export of the ensemble's labels at them (``photos``: ``name`` and ``image_id`` of each)."""
    from ..points import SCORE_COLUMNS, point_scores

    rows = pd.read_csv(points_csv, dtype=str, keep_default_na=False).to_dict("records")
    splits = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)
    names = [c["name"] for c in sorted(classes, key=lambda c: int(c["id"]))]
    scores = point_scores(rows, {p["name"]: p["image_id"] for p in photos}, dict(zip(splits["image_id"],
                          splits["split"])), names, level)
    df = pd.DataFrame(scores, columns=SCORE_COLUMNS)
    files.write_tsv(df, out_tsv)
    if len(df):
        photo = df.drop_duplicates("image_id")
        log.info("points of %d photos: point accuracy %.3f; the ensemble's point cover inside the point count's "
                 "%.0f%% interval in %.1f%% of photo x class pairs", len(photo), photo["point_accuracy"].mean(),
                 100 * level, 100 * df["inside"].mean())
