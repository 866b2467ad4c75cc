"""Cover: defined per image, aggregated as means of per-image covers, with intervals.

Which pixels count (one rule for every photo, labelled or not): the photo's plot area, the
sheet's ``area`` box (``x0,y0,x1,y1`` in photo pixels: the plot inside a frame, say) or, without
one, the whole photo (``valid_px``). A mask's unlabelled pixels inside the area are plot all the
same: they count with the class the map gives them, exactly as on an unlabelled photo. The mask
is the truth on its labelled pixels only: ``true_cover_pct`` is over them, and every comparison
with the truth (the adjustment's check, the interval calibration, the evaluation's cover error
and interval coverage, the benchmarks) uses the estimate over the same pixels,
``eval_cover_pct`` and ``eval_map_cover_pct`` (``eval_px`` pixels). On a fully labelled area
they equal ``cover_pct`` and ``map_cover_pct``.

A class map's cover of a class = its pixels / the area's pixels: ``map_cover_pct``. ``cover_pct`` is that fraction adjusted
for the model's error rates measured on the validation photos (below), or the
same number with ``cover.adjust: none``. Aggregates (plot x date, site x date)
are means of per-image covers; summed pixel counts are written beside them so
pooled map cover can be recomputed.

Intervals (column ``interval``):

``calibrated95`` (the default, ``cover.interval: calibrated``): seed spread
scaled by the error measured on labelled validation photos, a normalized split
conformal interval. ``sd`` is the standard deviation over seeds of the same
cover, each seed computed from its own class map. On every validation
(photo, class) pair the score ``|cover - true cover| / (sd + floor)`` is taken;
``q`` is its ``ceil((n + 1) * level)``-th smallest of ``n`` (the largest when
``n`` is too small for that), and every cover gets ``cover +- q * (sd + floor)``.
Seeds disagree more where the model is unsure (a new camera, a rare class), so
the interval widens there; the validation photos set how many seed spreads the
real error is. ``floor`` (0.01 pp) only keeps a class on which all seeds agree
exactly from getting a zero-width interval; with one seed the interval is the
validation error's quantile everywhere.

Adjusted cover (``cover.adjust: confusion``, the default): the class maps' fractions corrected for
the models' error rates on the labelled validation photos, :mod:`crustwatch.adjust`.

Both corrections are used only where the validation photos support them. The
adjustment needs ``cover.adjust_min_photos`` (2) labelled validation photos and must
lower their cover error, each photo adjusted with the others' rates; else cover is
the map's fraction. The calibrated interval needs the validation (photo, class) pairs
of its finite-sample guarantee (``cover.calibration_min_pairs``; 19 at 0.95); else it
is the seed interval below, labelled ``seed_t95_uncalibrated``. On real photos with
one validation photo the adjustment tripled the cover error (16.0 against 5.6 pp).

``seed_t95`` (``cover.interval: seed``, and the fallback, labelled ``_uncalibrated``,
when the validation photos are too few): the ensemble's cover plus/minus ``t(level, S-1) * sd / sqrt(S)``,
with ``S`` the number of seeds. It expresses model instability (how much the
estimate moves with the training seed), not error against ground truth.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .metrics import n_classes
from .stats import t_quantile

INTERVAL_METHOD = "seed_t"


def calibration_min_pairs(level: float) -> int:
    """The fewest validation (photo, class) pairs for which the conformal rank ``ceil((n + 1) level)``
    is at most ``n``, so that the calibrated interval has its finite-sample guarantee (19 at 0.95)."""
    n = 1
    while math.ceil((n + 1) * level - 1e-9) > n:
        n += 1
    return n


def class_pixels(classmap: np.ndarray, valid: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixel count of each class among valid pixels."""
    return np.bincount(classmap[valid].astype(np.int64), minlength=n_classes)[:n_classes]


def cover_pct(px: np.ndarray, valid_px: int) -> np.ndarray:
    """Percent cover from class pixel counts; NaN when there is no valid pixel."""
    if valid_px == 0:
        return np.full(len(px), np.nan)
    return 100.0 * np.asarray(px, dtype=np.float64) / valid_px


def area_mask(shape: tuple[int, int], area: tuple[int, int, int, int] | None) -> np.ndarray:
    """The pixels that count: inside ``area`` (x0, y0, x1, y1; clipped to the photo), or all."""
    counted = np.zeros(shape, dtype=bool)
    if area is None:
        counted[:] = True
    else:
        x0, y0, x1, y1 = area
        counted[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
    return counted


def image_cover(
    image_id: str,
    ensemble_map: np.ndarray,
    seed_maps: dict[int, np.ndarray],
    classes: list[dict],
    truth: np.ndarray | None = None,
    ignore_index: int = 255,
    area: tuple[int, int, int, int] | None = None,
) -> pd.DataFrame:
    """Cover of one photo for the ensemble and for each seed, with the truth when a mask is given.

    Cover counts the pixels of ``area`` (the whole photo without one), labelled or not; the truth
    and the ``eval_*`` estimate are over the mask's labelled pixels in the area (module docstring).

    Returns:
        Long table: ``image_id model class_id class class_px valid_px cover_pct true_px true_cover_pct
        eval_px eval_class_px eval_cover_pct`` (the last five empty without a mask).
    """
    n = n_classes(classes)
    counted = area_mask(ensemble_map.shape, area)
    vpx = int(counted.sum())
    labelled = counted & (truth != ignore_index) if truth is not None else None
    epx = int(labelled.sum()) if labelled is not None else 0
    true_px = class_pixels(truth, labelled, n) if truth is not None else None
    tpct = cover_pct(true_px, epx) if true_px is not None else None
    rows = []
    for model, cmap in [("ensemble", ensemble_map)] + [(f"seed{s}", m) for s, m in sorted(seed_maps.items())]:
        px = class_pixels(cmap, counted, n)
        pct = cover_pct(px, vpx)
        e_px = class_pixels(cmap, labelled, n) if labelled is not None else None
        e_pct = cover_pct(e_px, epx) if e_px is not None else None
        for c in classes:
            k = int(c["id"])
            rows.append(
                {
                    "image_id": image_id,
                    "model": model,
                    "class_id": k,
                    "class": c["name"],
                    "class_px": int(px[k]),
                    "valid_px": vpx,
                    "cover_pct": float(pct[k]),
                    "true_px": int(true_px[k]) if true_px is not None else pd.NA,
                    "true_cover_pct": float(tpct[k]) if tpct is not None else np.nan,
                    "eval_px": epx if labelled is not None else pd.NA,
                    "eval_class_px": int(e_px[k]) if e_px is not None else pd.NA,
                    "eval_cover_pct": float(e_pct[k]) if e_pct is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


def add_soft_cover(per_model: pd.DataFrame, soft: pd.DataFrame) -> pd.DataFrame:
    """``per_model`` (rows of :func:`image_cover`) with the soft cover beside the map's: ``soft_px``,
    ``soft_cover_pct`` over the plot area and, on a labelled photo, ``eval_soft_px``,
    ``eval_soft_cover_pct`` over its labelled pixels.

    ``soft`` holds the photo's probability sums (``model true pred prob_px``, the predict step's
    ``_soft.tsv``; ``true`` -1 for the area's unlabelled pixels). A class's soft cover is its summed
    probability over the pixels (``cover.estimate: soft``); the sums are
    in the model's pixels, so the ``_px`` columns are that fraction of ``valid_px`` / ``eval_px``."""
    out = per_model.copy()
    for col in ("soft_px", "soft_cover_pct", "eval_soft_px", "eval_soft_cover_pct"):
        out[col] = np.nan
    for model, g in soft.groupby("model", sort=False):
        rows = (out["model"] == model).to_numpy()
        if not rows.any():
            continue
        for prefix, sel, total_col in (("", g, "valid_px"), ("eval_", g[g["true"] >= 0], "eval_px")):
            total = float(sel["prob_px"].sum())
            if not total > 0:
                continue
            frac = sel.groupby("pred")["prob_px"].sum() / total
            ids = out.loc[rows, "class_id"].astype(int)
            f = ids.map(frac).fillna(0.0).to_numpy(dtype=np.float64)
            px = pd.to_numeric(out.loc[rows, total_col], errors="coerce").to_numpy(dtype=np.float64)
            out.loc[rows, f"{prefix}soft_px"] = f * px
            out.loc[rows, f"{prefix}soft_cover_pct"] = 100.0 * f
    return out


def soft_confusion(soft: pd.DataFrame, eval_px: int) -> pd.DataFrame:
    """The soft counterpart of a confusion matrix, ``image_id model true pred pixels``: the probability
    of each class summed over each true class's pixels, scaled to the photo's ``eval_px`` labelled
    pixels (the sums are in the model's pixels). It sets the soft cover's error rates
    (:func:`crustwatch.adjust.adjust_cover`) as the confusion matrix sets the map's."""
    lab = soft[soft["true"] >= 0]
    cols = ["image_id", "model", "true", "pred", "pixels"]
    if lab.empty or not eval_px:
        return pd.DataFrame(columns=cols)
    scale = lab.groupby("model")["prob_px"].transform("sum")
    return lab.assign(pixels=lab["prob_px"] * eval_px / scale)[cols].reset_index(drop=True)


def seed_interval(center: np.ndarray, seed_values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval around ``center`` from the spread of per-seed values (seeds on axis 1).

    Returns:
        (low, high, sd), clipped to 0..100. With a single seed the interval is the point.
    """
    seed_values = np.asarray(seed_values, dtype=np.float64)
    s = seed_values.shape[1]
    if s < 2:
        z = np.zeros(len(center))
        return np.asarray(center, float), np.asarray(center, float), z
    sd = seed_values.std(axis=1, ddof=1)
    half = t_quantile(0.5 + level / 2, s - 1) * sd / math.sqrt(s)
    return np.clip(center - half, 0, 100), np.clip(center + half, 0, 100), sd


def calibrate(by_image: pd.DataFrame, level: float = 0.95, floor_pp: float = 0.01, min_pairs: int | None = None) -> dict:
    """Scale of the calibrated interval from the validation photos (see the module's docstring).

    Args:
        by_image: ensemble cover per photo and class with ``seed_sd``, ``true_cover_pct``
            and ``split`` (the per-image table of :func:`aggregate`, merged with the splits).
        level: nominal coverage.
        floor_pp: added to every seed sd.
        min_pairs: validation pairs needed to calibrate (default :func:`calibration_min_pairs`,
            the fewest with a finite-sample guarantee: 19 at 0.95). With fewer the interval
            stays the seed spread and says it is uncalibrated.

    Returns:
        A record: ``method`` (``calibrated`` or, without enough labelled validation pairs,
        ``seed_t`` with the ``reason``), ``level``, ``floor_pp``, ``q``, ``n_pairs``, ``rank`` (the order
        statistic used), ``finite_sample_guarantee`` (false when ``n_pairs`` is too
        small for ``level`` and the largest score was used) and the photos used.
    """
    cal = by_image[(by_image["split"] == "val") & by_image["true_cover_pct"].notna()]
    rec = {"level": level, "floor_pp": floor_pp, "n_pairs": int(len(cal)),
           "photos": sorted(cal["image_id"].unique().tolist())}
    if cal.empty:
        return {"method": "seed_t", **rec, "q": None, "rank": None, "finite_sample_guarantee": False,
                "reason": "no validation photo has a mask"}
    need = calibration_min_pairs(level) if min_pairs is None else min_pairs
    if len(cal) < need:
        return {"method": "seed_t", **rec, "q": None, "rank": None, "finite_sample_guarantee": False,
                "reason": f"{len(cal)} validation (photo, class) pairs; a calibrated {level:.0%} interval needs "
                          f"at least {need} (cover.calibration_min_pairs)"}
    est = cal["eval_cover_pct"] if "eval_cover_pct" in cal else cal["cover_pct"]  # the truth's own pixels
    scores = np.sort(((est - cal["true_cover_pct"]).abs() / (cal["seed_sd"] + floor_pp)).to_numpy())
    n = len(scores)
    rank = math.ceil((n + 1) * level)
    return {"method": "calibrated", **rec, "q": float(scores[min(rank, n) - 1]), "rank": min(rank, n),
            "finite_sample_guarantee": rank <= n}


def aggregate(
    per_image: pd.DataFrame,
    meta: pd.DataFrame,
    keys: list[str],
    level: float = 0.95,
    calibration: dict | None = None,
) -> pd.DataFrame:
    """Aggregate per-image cover to ``keys`` (e.g. ``[]`` per image, ``site plot date``).

    Args:
        per_image: long table from :func:`image_cover`, all images.
        meta: one row per image: ``image_id site plot date camera split``.
        keys: grouping columns from ``meta``; ``["image_id"]`` gives the per-image table.
        level: interval level (default 0.95).
        calibration: from :func:`calibrate`; ``None`` or method ``seed_t`` gives seed intervals.
    """
    df = per_image.merge(meta, on="image_id", how="left")
    if "map_cover_pct" not in df:
        df["map_cover_pct"] = df["cover_pct"]
    df["eval_cover_pct"] = pd.to_numeric(df.get("eval_cover_pct", np.nan), errors="coerce")
    df["eval_map_cover_pct"] = pd.to_numeric(df.get("eval_map_cover_pct", df["eval_cover_pct"]), errors="coerce")
    labelled_mean = lambda s: s.mean() if s.notna().all() else np.nan  # noqa: E731
    soft_cols = [c for c in ("soft_cover_pct", "eval_soft_cover_pct") if c in df]  # beside the chosen estimate
    for c in soft_cols:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    soft_aggs = {c: (c, labelled_mean) for c in soft_cols}
    gkeys = keys + ["class_id", "class"]
    agg = (
        df.groupby(gkeys + ["model"], sort=False, dropna=False)
        .agg(
            cover_pct=("cover_pct", "mean"),
            map_cover_pct=("map_cover_pct", "mean"),
            valid_px=("valid_px", "sum"),
            class_px=("class_px", "sum"),
            n_images=("image_id", "nunique"),
            true_cover_pct=("true_cover_pct", labelled_mean),
            eval_cover_pct=("eval_cover_pct", labelled_mean),
            eval_map_cover_pct=("eval_map_cover_pct", labelled_mean),
            **soft_aggs,
        )
        .reset_index()
    )
    ens = agg[agg["model"] == "ensemble"].drop(columns="model").reset_index(drop=True)
    seeds = agg[agg["model"] != "ensemble"]
    wide = seeds.pivot_table(index=gkeys, columns="model", values="cover_pct", dropna=False)
    wide = wide.reindex(pd.MultiIndex.from_frame(ens[gkeys]))
    n_seeds = wide.shape[1]
    low, high, sd = seed_interval(ens["cover_pct"].to_numpy(), wide.to_numpy() if n_seeds else np.zeros((len(ens), 0)), level)
    ens["ci_low"] = low
    ens["ci_high"] = high
    ens["seed_sd"] = sd
    ens["n_seeds"] = n_seeds
    ens["interval"] = f"{INTERVAL_METHOD}{int(round(level * 100))}"
    cols = keys + ["class", "cover_pct", "ci_low", "ci_high", "seed_sd", "n_seeds", "n_images", "valid_px", "class_px",
                   "map_cover_pct", "true_cover_pct", "eval_cover_pct", "eval_map_cover_pct", *soft_cols, "interval",
                   "class_id"]
    out = ens[cols]
    out = out.sort_values(keys + ["class_id"], kind="stable").drop(columns="class_id").reset_index(drop=True)
    return apply_calibration(out, calibration)


def apply_calibration(table: pd.DataFrame, calibration: dict | None) -> pd.DataFrame:
    """A cover table with its seed intervals replaced by calibrated ones, ``cover +- q * (seed_sd + floor)``
    clipped to 0..100 (see the module's docstring); the table itself for ``None``; for method ``seed_t``
    (calibration asked for, not supported) the seed intervals, labelled ``seed_t95_uncalibrated``."""
    if calibration is None:
        return table
    if calibration["method"] != "calibrated":  # calibration was asked for but the validation photos cannot support it
        return table.assign(interval=table["interval"] + "_uncalibrated")
    out = table.copy()
    center = out["cover_pct"].to_numpy()
    half = calibration["q"] * (out["seed_sd"].to_numpy() + calibration["floor_pp"])
    out["ci_low"] = np.clip(center - half, 0, 100)
    out["ci_high"] = np.clip(center + half, 0, 100)
    out["interval"] = f"calibrated{int(round(calibration['level'] * 100))}"
    return out
