"""Confusion-adjusted cover (``cover.adjust: confusion``), the corrections :mod:`crustwatch.cover` applies.

Adjusted cover (``cover.adjust: confusion``, the default): a class map misreads
some pixels in a regular way (dark moss as cyanobacteria, the edges of small
lichens as soil), and a pixel count inherits those errors as bias, the larger
the more the composition differs from the validation photos. With ``M[i, j]``
the fraction of true class ``j`` pixels that the model labels ``i`` on the
labelled validation photos, a photo's map fractions ``m`` are ``M @ p`` of its
true fractions ``p``; the adjusted cover is the ``p`` on the probability
simplex closest to that (least squares; "adjusted classify and count" in the
quantification literature). It uses only the model's error rates, never a
prior on cover: when the cover really changes the adjusted estimate follows it.
Each seed is adjusted with its own ``M``; a validation photo with the ``M`` of
the other validation photos (leave-one-out), so the calibration of the
intervals below sees honest errors. A camera with validation photos of its own
gets its own error rates (for the classes they hold enough pixels of), so
labelling a photo or two of a new camera corrects that camera's own misreadings. Classes with fewer than
``MIN_CLASS_PX`` true pixels in the validation photos keep the map's count.

With one labelled validation photo there is nothing to check the adjustment against, so it needs
``cover.adjust_min_photos`` of them (the schema's default: 2): each is then adjusted with the others'
error rates, which shows whether adjusting helps at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: how cover is estimated from a class map (``cover.adjust``)
ADJUST_METHODS = ("confusion", "none")
#: true pixels of a class in the validation photos below which its error rates are not estimated
MIN_CLASS_PX = 100


def misclassification(cm: np.ndarray, min_class_px: int = MIN_CLASS_PX) -> tuple[np.ndarray, list[int]]:
    """``M[i, j]`` = fraction of true class ``j`` pixels labelled ``i``, from a (true x predicted)
    confusion matrix. Columns of classes with fewer than ``min_class_px`` true pixels are the
    identity (their label is taken as it is); their ids are returned too."""
    cm = np.asarray(cm, dtype=np.float64)
    true_px = cm.sum(axis=1)
    m = np.eye(len(cm))
    kept = []
    for j in range(len(cm)):
        if true_px[j] >= min_class_px:
            m[:, j] = cm[j] / true_px[j]
        else:
            kept.append(j)
    return m, kept


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares, ``min |a x - b|`` over ``x >= 0`` (Lawson and Hanson's active set)."""
    m, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    tol = 10 * np.finfo(float).eps * np.abs(a).sum(axis=0).max() * max(m, n)
    w = a.T @ (b - a @ x)
    for _ in range(3 * n + 10):
        if passive.all() or w[~passive].max() <= tol:
            break
        passive[int(np.argmax(np.where(passive, -np.inf, w)))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > tol).all():
                break
            neg = passive & (z <= tol)
            alpha = float(np.min(x[neg] / (x[neg] - z[neg])))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        x = z
        w = a.T @ (b - a @ x)
    return x


def simplex_lsq(m: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The probability vector ``p`` (``p >= 0``, ``sum p = 1``) minimising ``|m @ p - q|``.

    Exact: the least-squares solution on the plane ``sum p = 1`` when it has no negative
    share (the usual case: ``m`` is close to the identity), else non-negative least
    squares with the sum as a heavily weighted extra equation, renormalised.
    """
    m = np.asarray(m, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    n = m.shape[1]
    kkt = np.block([[2 * m.T @ m, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    p = np.linalg.lstsq(kkt, np.concatenate([2 * m.T @ q, [1.0]]), rcond=None)[0][:n]
    if (p >= 0).all():
        return p
    weight = 1e4
    p = nnls(np.vstack([m, weight * np.ones((1, n))]), np.concatenate([q, [weight]]))
    return p / p.sum()


def error_rates(cms: dict[str, np.ndarray], camera_of: dict[str, str], image_id: str | None, camera: str,
                min_class_px: int = MIN_CLASS_PX) -> tuple[np.ndarray, list[int]]:
    """The error-rate matrix ``M`` that adjusts one photo's cover.

    Args:
        cms: calibration (validation) photo -> its (true x predicted) confusion matrix.
        camera_of: photo -> camera.
        image_id: the photo; left out of ``cms`` when other photos remain.
        camera: the photo's camera. Classes with ``min_class_px`` true pixels in this
            camera's calibration photos get the camera's own rates, the others the
            rates pooled over all of them (see :func:`misclassification`).

    Returns:
        (``M``, ids of the classes whose rates are pooled).
    """
    others = {i: cm for i, cm in cms.items() if i != image_id} or cms
    pooled, _ = misclassification(np.sum(list(others.values()), axis=0), min_class_px)
    mine = [cm for i, cm in others.items() if camera_of.get(i) == camera]
    true_px = np.sum(mine, axis=0).sum(axis=1) if mine else np.zeros(len(pooled))
    pooled_ids = [j for j in range(len(pooled)) if true_px[j] < min_class_px]
    own_ids = [j for j in range(len(pooled)) if j not in pooled_ids]
    if own_ids:
        pooled[:, own_ids] = misclassification(np.sum(mine, axis=0), min_class_px)[0][:, own_ids]
    return pooled, pooled_ids


def adjust_cover(per_image: pd.DataFrame, confusion: pd.DataFrame, val_ids: list[str], n: int, *, min_photos: int,
                 min_class_px: int = MIN_CLASS_PX, camera_of: dict[str, str] | None = None,
                 require_gain: bool = True, estimate: str = "map") -> tuple[pd.DataFrame, dict]:
    """Confusion-adjusted cover (see the module's docstring).

    Args:
        per_image: long table of :func:`image_cover` rows (all photos, ensemble and seeds).
        confusion: ``image_id model true pred pixels`` rows of the labelled photos.
        val_ids: validation photos whose confusion sets the error rates.
        n: size of the class axis.
        min_class_px: true pixels a class needs for its error rates to be estimated.
        camera_of: image_id -> camera. A photo whose camera has validation photos gets
            that camera's error rates for every class with ``min_class_px`` true pixels
            in them, the rates pooled over all validation photos for the other classes.
        min_photos: labelled validation photos needed to adjust at all (``cover.adjust_min_photos``).
        require_gain: adjust only when, on the validation photos (each adjusted with the
            others' rates), the ensemble's adjusted cover errs less than the maps' own
            fractions (mean absolute error over photo x class); else keep the maps' fractions.
            A correction that cannot be shown to help is not applied.
        estimate: the cover that is adjusted: ``map`` (``cover_pct`` from the pixel counts ``class_px``,
            ``confusion`` the maps' confusion matrices) or ``soft`` (``soft_cover_pct`` from the
            probability sums ``soft_px``, ``confusion`` their soft counterpart,
            :func:`crustwatch.cover.soft_confusion`). The maps' own fractions stay ``map_cover_pct``.

    Returns:
        (``per_image`` with ``cover_pct`` adjusted and the map's own fraction kept as
        ``map_cover_pct``, a record: per model the pooled matrix ``M``, the photos and
        pixels it came from, the classes left unadjusted, and per camera with
        validation photos its own ``M``, and ``validation_check``: both errors on the
        validation photos). Without enough labelled validation photos, or when adjusting
        does not help on them, the table is returned with ``cover_pct`` the unadjusted estimate
        (``map_cover_pct`` for ``map``) and the record's ``method`` is ``none`` with the ``reason``.
    """
    out = select_estimate(per_image, estimate)
    has_eval = "eval_cover_pct" in out
    unadjusted = out["cover_pct"].copy()
    eval_unadjusted = out["eval_cover_pct"].copy() if has_eval else None
    px_col, eval_px_col = ("soft_px", "eval_soft_px") if estimate == "soft" else ("class_px", "eval_class_px")
    conf = confusion[confusion["image_id"].isin(val_ids)]
    photos = sorted(conf["image_id"].unique().tolist())
    rec: dict = {"method": "confusion", "estimate": estimate, "photos": photos, "min_class_px": min_class_px,
                 "models": {}}
    if not photos:
        return out, {**rec, "method": "none", "reason": "no validation photo has a mask"}
    if len(photos) < min_photos:
        return out, {**rec, "method": "none", "reason": (
            f"{len(photos)} labelled validation photo(s); the adjustment needs at least {min_photos} "
            "(cover.adjust_min_photos), so that each is checked with the others' error rates")}
    camera_of = camera_of or {}
    cms: dict[str, dict[str, np.ndarray]] = {}  # model -> validation photo -> confusion
    for (model, iid), g in conf.groupby(["model", "image_id"]):
        cm = np.zeros((n, n), dtype=np.float64)  # soft counts are fractional
        np.add.at(cm, (g["true"].to_numpy(), g["pred"].to_numpy()), g["pixels"].to_numpy())
        cms.setdefault(model, {})[iid] = cm
    for model in out["model"].unique():
        if model not in cms:
            raise ValueError(f"no validation confusion for model '{model}'")
        total = np.sum(list(cms[model].values()), axis=0)
        m, kept = misclassification(total, min_class_px)
        rec["models"][model] = {"M": np.round(m, 8).tolist(), "true_px": total.sum(axis=1).tolist(),
                                "unadjusted_class_ids": kept, "cameras": {}}
        for c in sorted({camera_of[i] for i in cms[model] if i in camera_of}):
            mc, kc = error_rates(cms[model], camera_of, None, c, min_class_px)
            mine = [i for i in cms[model] if camera_of.get(i) == c]
            rec["models"][model]["cameras"][c] = {
                "M": np.round(mc, 8).tolist(), "true_px": np.sum([cms[model][i] for i in mine], axis=0).sum(axis=1).tolist(),
                "photos": sorted(mine), "pooled_class_ids": kc}
    rec["leave_one_out"] = len(photos) > 1
    # one row of map fractions per (photo, model); rates are shared by a camera's unlabelled photos
    group = out.groupby(["image_id", "model"], sort=False).ngroup().to_numpy()
    class_id = out["class_id"].to_numpy()
    ids = np.unique(class_id)
    first = np.flatnonzero(~out.duplicated(["image_id", "model"]).to_numpy())
    cache: dict[tuple[str, str], np.ndarray] = {}

    def adjust(px_col: str, total_col: str, col: str) -> None:
        """``col`` <- the adjusted fractions of ``px_col / total_col`` (rows with a total)."""
        total = pd.to_numeric(out[total_col], errors="coerce").fillna(0).to_numpy(dtype=np.float64)
        frac = np.zeros((group.max() + 1, n))
        with np.errstate(invalid="ignore", divide="ignore"):
            frac[group, class_id] = pd.to_numeric(out[px_col], errors="coerce").to_numpy(dtype=np.float64) / total
        adjusted = frac.copy()
        for g, iid, model, valid in zip(group[first], out["image_id"].to_numpy()[first],
                                        out["model"].to_numpy()[first], total[first]):
            if not valid > 0:
                continue
            cam = camera_of.get(iid, "")
            key = (model, iid if iid in cms[model] else "\0" + cam)
            if key not in cache:
                cache[key] = error_rates(cms[model], camera_of, iid, cam, min_class_px)[0]
            # over the configured classes only: an id that is no class (the ignore value below the
            # class ids, a gap in the ids) never receives cover
            adjusted[g] = 0.0
            adjusted[g, ids] = simplex_lsq(cache[key][np.ix_(ids, ids)], frac[g, ids])
        out[col] = np.where(total > 0, 100.0 * adjusted[group, class_id], out[col])

    adjust(px_col, "valid_px", "cover_pct")
    if has_eval:
        adjust(eval_px_col, "eval_px", "eval_cover_pct")
    est, raw, maps = (("eval_cover_pct", eval_unadjusted, "eval_map_cover_pct") if has_eval
                      else ("cover_pct", unadjusted, "map_cover_pct"))
    is_check = ((out["model"] == "ensemble") & out["image_id"].isin(photos) & out["true_cover_pct"].notna()).to_numpy()
    check, truth = out[is_check], out.loc[is_check, "true_cover_pct"]
    adj_err = float((check[est] - truth).abs().mean())
    raw_err = float((raw[is_check] - truth).abs().mean())
    map_err = float((check[maps] - truth).abs().mean())
    rec["validation_check"] = {"adjusted_error_pp": adj_err, "unadjusted_error_pp": raw_err, "map_error_pp": map_err,
                               "pairs": int(len(check))}
    if require_gain and not adj_err <= raw_err:
        out["cover_pct"] = unadjusted
        if has_eval:
            out["eval_cover_pct"] = eval_unadjusted
        what = "the soft cover unadjusted" if estimate == "soft" else "the maps' own fractions"
        return out, {**rec, "method": "none", "reason": (
            f"on the {len(photos)} validation photos (each adjusted with the others' error rates) the adjusted "
            f"cover erred {adj_err:.2f} pp against {what} {raw_err:.2f} pp")}
    return out, rec


#: what cover is estimated from (``cover.estimate``)
COVER_ESTIMATES = ("map", "soft")


def select_estimate(per_image: pd.DataFrame, estimate: str) -> pd.DataFrame:
    """``per_image`` (rows of :func:`crustwatch.cover.image_cover`) with the maps' own fractions kept as
    ``map_cover_pct`` (and ``eval_map_cover_pct``) and ``cover_pct`` (``eval_cover_pct``) the ``estimate``:
    ``map``, the maps' fractions, or ``soft``, the summed probabilities (:func:`crustwatch.cover.add_soft_cover`).
    A table that already has ``map_cover_pct`` has been through here and is returned as it is."""
    if estimate not in COVER_ESTIMATES:
        raise ValueError(f"unknown cover estimate '{estimate}'; choose one of {COVER_ESTIMATES}")
    if "map_cover_pct" in per_image:
        return per_image.copy()
    out = per_image.assign(map_cover_pct=per_image["cover_pct"])
    has_eval = "eval_cover_pct" in out
    if has_eval:
        out["eval_map_cover_pct"] = out["eval_cover_pct"]
    if estimate == "soft":
        soft = pd.to_numeric(out.get("soft_cover_pct", pd.Series(np.nan, index=out.index)), errors="coerce")
        missing = soft.isna() & (pd.to_numeric(out["valid_px"], errors="coerce") > 0)
        if missing.any():
            raise ValueError(f"no soft cover for photo(s) {sorted(set(out.loc[missing, 'image_id']))[:5]}: their "
                             "predictions are older than cover.estimate: soft")
        out["cover_pct"] = soft
        if has_eval:
            out["eval_cover_pct"] = pd.to_numeric(out["eval_soft_cover_pct"], errors="coerce")
    return out
