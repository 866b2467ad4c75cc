"""Step ``cover``: per-photo cover and confusion, and the cover tables per photo, plot x date and site x date."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import files, io, shards
from ..errors import CrustWatchError
from ..sheet import parse_box

log = logging.getLogger("crustwatch")


def cover_image(
    image_id: str, classes_tif: str, seeds_tif: str, mask_tif: str | None, classes: list[dict], ignore_index: int,
    out_cover: str, out_confusion: str, area: str | None = None, soft_tsv: str | None = None,
    out_soft_confusion: str | None = None,
) -> None:
    """Per-image cover (ensemble and each seed) over the plot ``area`` (the sheet's box, or the whole
    photo) and, when labelled, confusion matrices (over the mask's labelled pixels in the area).
    With ``soft_tsv`` (the predict step's probability sums) the soft cover too, and its confusion
    counterpart in ``out_soft_confusion``."""
    from .. import metrics
    from ..cover import add_soft_cover, image_cover, soft_confusion

    ens, meta = io.read_raster(classes_tif)
    stack, smeta = io.read_raster(seeds_tif)
    seeds = [int(s) for s in smeta["tags"]["seeds"].split(",")]
    truth = io.read_raster(mask_tif)[0][0] if mask_tif else None
    box = parse_box(area) if area else None
    df = image_cover(image_id, ens[0], dict(zip(seeds, stack)), classes, truth, ignore_index, box)
    soft = None
    if soft_tsv:
        from pathlib import Path

        if not Path(soft_tsv).is_file():
            raise CrustWatchError(f"photo '{image_id}': '{soft_tsv}' (the probability sums of the soft cover) is "
                                  "missing; its prediction is older than the soft cover: snakemake --cores N "
                                  "--forcerun predict")
        soft = pd.read_csv(soft_tsv, sep="\t")
        df = add_soft_cover(df, soft)
    if truth is not None and box is not None:  # the confusion, too, over the area only
        from ..cover import area_mask

        truth = np.where(area_mask(truth.shape, box), truth, ignore_index).astype(truth.dtype)
    # every row names the card of the model that made it: the ensemble's, or the seed's own
    tags = meta["tags"]
    member = dict(kv.split("=", 1) for kv in tags.get("member_cards", "").split(",") if kv)
    df["card_sha256"] = [tags.get("ensemble_card_sha256", "") if m == "ensemble" else member.get(m[4:], "")
                         for m in df["model"]]
    df["model_version"] = tags.get("model_version", "")  # the model version of the ensemble and its seeds
    files.write_tsv(df, out_cover)
    n = metrics.n_classes(classes)
    rows = []
    if truth is not None:
        for model, cmap in [("ensemble", ens[0])] + [(f"seed{s}", m) for s, m in zip(seeds, stack)]:
            cm = metrics.confusion(cmap, truth, n, ignore_index)
            for t, p in zip(*np.nonzero(cm)):
                rows.append({"image_id": image_id, "model": model, "true": int(t), "pred": int(p), "pixels": int(cm[t, p])})
    files.write_tsv(pd.DataFrame(rows, columns=["image_id", "model", "true", "pred", "pixels"]), out_confusion)
    if soft is not None and out_soft_confusion:
        files.write_tsv(soft_confusion(soft, int(df["eval_px"].iloc[0]) if truth is not None else 0),
                        out_soft_confusion)


def cover_shard(shard: str, items: list[dict], classes: list[dict], ignore_index: int, out_manifest: str) -> None:
    """Cover (and, for labelled photos, the confusion matrix) of every photo of a shard;
    ``items``: image_id, has_mask."""
    masked = {it["image_id"]: it["has_mask"] for it in items}
    area = {it["image_id"]: it.get("area") for it in items}
    shards.run_shard(shard, list(masked), ["cover", "confusion", "soft_confusion"],
                     lambda iid, p: cover_image(iid, p["prediction"], p["seeds"], p["mask"] if masked[iid] else None,
                                                classes, ignore_index, p["cover"], p["confusion"], area[iid],
                                                soft_tsv=p["soft"], out_soft_confusion=p["soft_confusion"]),
                     out_manifest)


def aggregate_cover(cover_tsvs: list[str], splits_tsv: str, level: float, out: dict[str, str],
                    interval: str = "calibrated", floor_pp: float = 0.01, adjust: str = "confusion",
                    val_confusion_tsvs: list[str] | None = None, classes: list[dict] | None = None,
                    adjust_min_photos: int = 2, calibration_min_pairs: int | None = None,
                    estimate: str = "map") -> None:
    """Write ``by_image``, ``by_plot_date``, ``by_site_date`` and ``by_image_seed`` tables,
    ``calibration`` (JSON: how the intervals were made, from which validation photos),
    ``adjustment`` (JSON: the validation error rates that adjusted the cover, per model) and,
    when given, ``methods`` (TSV: which cover estimate and which interval were used, and why).

    The adjustment is used only with ``adjust_min_photos`` labelled validation photos and when
    it lowers their cover error (each adjusted with the others' rates); calibrated intervals only
    with ``calibration_min_pairs`` validation pairs (default: the fewest with a finite-sample
    guarantee). Otherwise cover is the maps' own fraction and the interval is labelled
    uncalibrated; the log and ``methods`` say why.

    ``estimate``: what cover is counted from, ``map`` (the class maps' pixel fractions) or ``soft``
    (the summed probabilities, :func:`crustwatch.cover.add_soft_cover`; ``val_confusion_tsvs`` are
    then the soft confusions).

    ``adjust``: ``confusion`` (cover adjusted by the validation photos' error rates,
    from ``val_confusion_tsvs``; ``classes`` is the config's class map) or ``none`` (cover = the map's pixel fraction); see
    :mod:`crustwatch.cover`. Every table keeps the map's own fraction as ``map_cover_pct``.

    Every row carries ``ensemble_card_sha256``, the ensemble card of the models
    that made it (``crustwatch audit`` follows it), and ``model_version``, their version
    (:mod:`crustwatch.versions`); seed rows carry their own card.
    ``interval``: ``calibrated`` (seed spread scaled by the validation error) or
    ``seed`` (seed spread alone); see :mod:`crustwatch.cover`.
    """
    from ..adjust import ADJUST_METHODS, COVER_ESTIMATES, adjust_cover, select_estimate
    from ..cover import aggregate, apply_calibration, calibrate

    per_image = pd.concat([pd.read_csv(f, sep="\t") for f in cover_tsvs], ignore_index=True)
    meta = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)[["image_id", "site", "plot", "date", "camera", "split"]]
    if adjust not in ADJUST_METHODS:
        raise CrustWatchError(f"unknown cover.adjust '{adjust}'; choose one of {ADJUST_METHODS}")
    if estimate not in COVER_ESTIMATES:
        raise CrustWatchError(f"unknown cover.estimate '{estimate}'; choose one of {COVER_ESTIMATES}")
    try:
        per_image = select_estimate(per_image, estimate)
    except ValueError as e:
        raise CrustWatchError(f"cover.estimate: soft: {e}; snakemake --cores N --forcerun predict") from None
    if adjust == "confusion":
        conf = [pd.read_csv(f, sep="\t") for f in (val_confusion_tsvs or [])]
        conf = pd.concat(conf, ignore_index=True) if conf else pd.DataFrame(columns=["image_id", "model", "true", "pred", "pixels"])
        val_ids = meta.loc[meta["split"] == "val", "image_id"].tolist()
        from ..metrics import n_classes

        n = n_classes(classes) if classes else int(per_image["class_id"].max()) + 1
        per_image, adjustment = adjust_cover(per_image, conf, val_ids, n,
                                             camera_of=dict(zip(meta["image_id"], meta["camera"])),
                                             min_photos=adjust_min_photos, estimate=estimate)
        if adjustment["method"] == "confusion":
            log.info("cover adjusted by the error rates of %d validation photos%s", len(adjustment["photos"]),
                     "" if adjustment["leave_one_out"] else " (one photo: its own cover is adjusted in-sample)")
        else:
            log.warning("cover not adjusted: %s; cover is %s", adjustment["reason"],
                        "the soft cover unadjusted" if estimate == "soft" else "the class map's pixel fraction")
    else:
        adjustment = {"method": "none", "estimate": estimate}
    files.write_json(out["adjustment"], adjustment)
    if "model_version" not in per_image:  # cover of predictions made before model versions
        per_image = per_image.assign(model_version="")
    per_image["model_version"] = per_image["model_version"].fillna("").astype(str)
    cards = per_image[per_image["model"] == "ensemble"].drop_duplicates("image_id")
    cards = cards[["image_id", "card_sha256", "model_version"]].rename(columns={"card_sha256": "ensemble_card_sha256"})
    cards = cards.merge(meta, on="image_id")

    def with_cards(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        """The ensemble cards and model versions that made each row (several, ';'-joined, for a mixed group)."""
        made_by = cards.groupby(keys, sort=False)[["ensemble_card_sha256", "model_version"]].agg(
            lambda v: ";".join(sorted(set(v) - {""})))
        return df.merge(made_by.reset_index(), on=keys, how="left")

    calibration = None
    by_image = aggregate(per_image, meta, ["image_id"], level)  # seed intervals; calibrated below
    if interval == "calibrated":
        calibration = calibrate(by_image.merge(meta, on="image_id"), level, floor_pp, calibration_min_pairs)
        if calibration["method"] == "calibrated":
            log.info("interval: %d validation (photo, class) pairs from %d photos give q = %.3f seed sds%s",
                     calibration["n_pairs"], len(calibration["photos"]), calibration["q"],
                     "" if calibration["finite_sample_guarantee"] else
                     f" (too few pairs for a {level:.0%} guarantee: the largest score is used)")
        else:
            log.warning("interval: %s; cover intervals show the seed spread only and are labelled uncalibrated",
                        calibration["reason"])
    files.write_json(out["calibration"], {"interval": interval, **(calibration or {"method": "seed_t", "level": level})})
    if out.get("methods"):
        files.write_tsv(pd.DataFrame(cover_methods(adjust, adjustment, interval, calibration, level, estimate),
                                  columns=["estimate", "asked", "used", "why"]), out["methods"])
    by_image = apply_calibration(by_image, calibration)
    by_image = with_cards(by_image.merge(meta, on="image_id", how="left"), ["image_id"])
    first = ["image_id", "site", "plot", "date", "camera", "split", "class", "cover_pct", "ci_low", "ci_high"]
    by_image = by_image[first + [c for c in by_image.columns if c not in first]]
    by_image = by_image.sort_values(["site", "plot", "date", "image_id"], kind="stable")
    files.write_tsv(by_image, out["by_image"])
    for name, keys in (("by_plot_date", ["site", "plot", "date"]), ("by_site_date", ["site", "date"])):
        files.write_tsv(with_cards(aggregate(per_image, meta, keys, level, calibration), keys), out[name])
    seeds = per_image[[c for c in ("image_id", "model", "class", "class_px", "valid_px", "cover_pct", "map_cover_pct",
                                   "soft_cover_pct", "true_cover_pct", "eval_px", "eval_cover_pct", "eval_map_cover_pct",
                                   "eval_soft_cover_pct", "card_sha256", "model_version")
                       if c in per_image]]
    files.write_tsv(seeds, out["by_image_seed"])


def cover_methods(adjust: str, adjustment: dict, interval: str, calibration: dict | None, level: float,
                  estimate: str = "map") -> list[tuple]:
    """Rows ``estimate asked used why`` for what cover is counted from, its adjustment and its interval
    (the report's table)."""
    lvl = f"{level:.0%}"
    counted = ("the ensemble's class probabilities summed over the plot (soft cover)" if estimate == "soft"
               else "the class maps' pixel fractions")
    base = "the soft cover unadjusted" if estimate == "soft" else "the maps' own fractions"
    if adjustment["method"] == "confusion":
        chk = adjustment.get("validation_check", {})
        why = (f"error rates of {len(adjustment['photos'])} validation photos; on them (leave one out) adjusted "
               f"cover erred {chk.get('adjusted_error_pp', float('nan')):.2f} pp, {base} "
               f"{chk.get('unadjusted_error_pp', chk.get('map_error_pp', float('nan'))):.2f} pp")
    elif adjust == "none":
        why = "cover.adjust: none"
    else:
        why = adjustment["reason"] + f"; cover is {base}"
    rows = [("counted", estimate, estimate, f"cover.estimate: {estimate}: {counted}"),
            ("cover", adjust, adjustment["method"], why)]
    if calibration is None:
        rows.append(("interval", interval, "seed_t", f"cover.interval: seed: the spread between seeds, a {lvl} "
                                                     "t interval of model instability, not an error bound"))
    elif calibration["method"] == "calibrated":
        rows.append(("interval", interval, "calibrated",
                     f"{calibration['n_pairs']} validation (photo, class) pairs from {len(calibration['photos'])} "
                     f"photos set q = {calibration['q']:.2f} seed sds"))
    else:
        rows.append(("interval", interval, "seed_t_uncalibrated",
                     calibration["reason"] + "; the interval is the seed spread only, not an error bound"))
    return rows
