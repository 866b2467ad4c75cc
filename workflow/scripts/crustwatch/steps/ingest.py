"""Step ``ingest``: check the sheet's photos and masks, and write their canonical rasters and records."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files, io, shards
from .. import normalize as norm
from ..errors import InputError, InputErrors
from ..sheet import parse_box

log = logging.getLogger("crustwatch")


#: plausible ground sampling distances of plot photos, mm per pixel (a phone 20 cm above the
#: ground to a drone at 30 m); values outside are almost always a unit slip (m or cm for mm)
MM_PER_PX_RANGE = (0.01, 100.0)


#: the smallest side, in pixels, a photo may have after resampling to target_mm_per_px
MIN_RESAMPLED_SIDE = 32


def check_inputs(rows: list[dict], class_ids: list[int], ignore_index: int, out_tsv: str | None,
                 max_megapixels: float | None = None, target_mm_per_px: float | None = None,
                 points: dict | None = None) -> list[dict]:
    """Open every photo and mask of the sheet and check them before any training.

    Photos are checked from their headers (readable raster, bands, size within
    ``max_megapixels``) and PNGs also by their chunk checksums (a cut-off upload);
    masks are read whole (size equal to the photo's, values known). A photo whose
    pixels turn out broken later (a truncated JPEG) stops its ingest job with the
    same kind of message.

    Args:
        rows: sheet rows with ``line image_id image_path mask_path``.
        class_ids: ids allowed in masks, besides ``ignore_index``.
        ignore_index: the mask value that is never trained on nor counted.
        out_tsv: table written when all rows pass: one line per photo with its size (None: not written).
        max_megapixels: the largest photo accepted (``ingest.max_megapixels``), as read and as
            resampled to ``target_mm_per_px`` (rows with ``mm_per_px``).
        target_mm_per_px: the ground scale photos are resampled to (``normalize.target_mm_per_px``).
        points: for rows whose ``label_kind`` is ``points``: ``classes`` (name -> id), ``labels``
            (``points.labels``) and ``radius_px``; every point must name a class and lie in its photo.

    Returns:
        The table's rows.

    Raises:
        InputErrors: every problem found, each naming the sheet line, the file and the problem.
    """
    errors: list[InputError] = []
    out = []
    for r in rows:
        line, iid = int(r["line"]), r["image_id"]
        try:
            bands, h, w = io.raster_shape(r["image_path"], "photo", line, iid)
            if bands not in (1, 2, 3, 4):
                raise InputError(f"photo has {bands} bands; expected 1 (grey), 2 (grey + alpha), 3 (RGB) or "
                                 "4 (RGBA)", r["image_path"], line, iid)
            if max_megapixels and w * h > max_megapixels * 1e6:
                raise InputError(
                    f"photo is {w}x{h} = {w * h / 1e6:.1f} megapixels, over ingest.max_megapixels = "
                    f"{max_megapixels:g}; raise the limit in the config if the photo is right",
                    r["image_path"], line, iid)
            io.check_png(r["image_path"], "photo", line, iid)
            _check_scale(r, h, w, max_megapixels, target_mm_per_px)
            mh = mw = None
            if r.get("label_kind") == "points":
                from ..points import read_points

                read_points(r["mask_path"], Path(r["image_path"]).name, points["classes"], points["labels"],
                            shape=(h, w), line=line, image_id=iid)
            elif r.get("mask_path"):
                m = io.read_mask(r["mask_path"], line, iid)
                mh, mw = m.shape
                if (mh, mw) != (h, w):
                    hint = ""
                    if (mh, mw) == (w, h) and io.raster_orientation(r["image_path"]) in (5, 6, 7, 8):
                        hint = (" (the photo's EXIF orientation turns it upright, as viewers show it; draw the "
                                "mask on the photo as shown, or give the mask the same EXIF orientation)")
                    raise InputError(
                        f"mask is {mw}x{mh} pixels but its photo '{r['image_path']}' is {w}x{h}; "
                        "a mask must have the photo's width and height" + hint,
                        r["mask_path"],
                        line,
                        iid,
                    )
                io.check_mask_values(m, class_ids, ignore_index, r["mask_path"], line, iid)
            for col in ("reference", "area"):
                if r.get(col):
                    x0, y0, x1, y1 = parse_box(r[col])
                    if x1 > w or y1 > h:
                        raise InputError(f"{col} box {r[col]} reaches outside the {w}x{h} photo",
                                         r["image_path"], line, iid)
            out.append({"image_id": iid, "line": line, "width": w, "height": h, "bands": bands, "mask": bool(r.get("mask_path"))})
        except InputError as e:
            errors.append(e)
    if errors:
        raise InputErrors(errors, "the photos and masks of the image sheet")
    if out_tsv:
        files.write_tsv(pd.DataFrame(out), out_tsv)
    log.info("checked %d photos", len(out))
    return out


def write_check_table(checked: list[dict], image_ids: list[str], out_tsv: str) -> None:
    """Merge the rows checked now into the table of earlier checks (``results/checks/inputs.tsv``),
    keeping the sheet's current photos only, in sheet order."""
    old = pd.read_csv(out_tsv, sep="\t", dtype={"image_id": str}) if Path(out_tsv).is_file() else pd.DataFrame()
    new = pd.DataFrame(checked)
    table = pd.concat([old[~old["image_id"].isin(new["image_id"])] if len(old) else old, new], ignore_index=True)
    order = {i: k for k, i in enumerate(image_ids)}
    table = table[table["image_id"].isin(order)].sort_values("image_id", key=lambda c: c.map(order))
    files.write_tsv(table, out_tsv)


def _check_scale(r: dict, h: int, w: int, max_megapixels: float | None, target: float | None) -> None:
    """A row's ``mm_per_px`` within plausible units, and the photo's size after resampling to ``target``
    neither below :data:`MIN_RESAMPLED_SIDE` nor over ``max_megapixels``."""
    gsd = r.get("mm_per_px")
    line, iid = int(r["line"]), r["image_id"]
    geo = io.georeferenced_mm_per_px(r["image_path"])
    if gsd in (None, "") or gsd != gsd:
        if geo is not None:
            log.warning("sheet line %d (%s): mm_per_px is blank, but the photo's georeference says %.4g mm per "
                        "pixel; give it in the sheet to resample the photo to normalize.target_mm_per_px", line,
                        iid, geo)
        return
    gsd = float(gsd)
    if geo is not None and abs(geo - gsd) > 0.1 * gsd:
        raise InputError(
            f"mm_per_px {gsd:g} disagrees with the photo's georeference, {geo:.4g} mm per pixel; correct the "
            "sheet (or the GeoTIFF's georeference)", r["image_path"], line, iid)
    lo, hi = MM_PER_PX_RANGE
    if not lo <= gsd <= hi:
        raise InputError(
            f"mm_per_px {gsd:g} is outside the plausible {lo:g}..{hi:g} mm per pixel of plot photos "
            f"(a {w} px wide photo would span {w * gsd / 1000:.3g} m); is it in metres or cm? Give millimetres "
            "per pixel", r["image_path"], line, iid)
    if not target:
        return
    f = norm.scale_factor(gsd, target)
    nh, nw = norm.scaled_shape(h, w, f)
    if min(nh, nw) < MIN_RESAMPLED_SIDE:
        raise InputError(
            f"resampled from mm_per_px {gsd:g} to normalize.target_mm_per_px {target:g}, the {w}x{h} photo "
            f"would be {nw}x{nh} pixels, too small to classify (under {MIN_RESAMPLED_SIDE}); check both values",
            r["image_path"], line, iid)
    if max_megapixels and nw * nh > max_megapixels * 1e6:
        raise InputError(
            f"resampled from mm_per_px {gsd:g} to normalize.target_mm_per_px {target:g}, the {w}x{h} photo "
            f"would be {nw}x{nh} = {nw * nh / 1e6:.1f} megapixels, over ingest.max_megapixels = "
            f"{max_megapixels:g}; check both values, or raise the limit", r["image_path"], line, iid)


def ingest_photo(src: str, image_id: str, mm_per_px: float | None, target_mm_per_px: float | None, out_photo: str,
                 out_record: str, reference: str | None = None) -> None:
    """Read a photo with rasterio, write its canonical uint8 RGB GeoTIFF and a record.

    The record holds the source's sha256, size, geo-reference, the scale factor
    to the target ground resolution, the 256-bin channel histograms of the
    photo at that scale (the raw material of the per-camera colour statistics)
    and, when the sheet gives a ``reference`` box, the target's mean per channel.
    """
    img, geo = io.read_photo(src, image_id=image_id)
    ref = None
    if reference:
        box = parse_box(reference)
        try:
            mean, saturated = norm.reference_target(img, box)
        except ValueError:
            raise InputError(f"reference box {reference} is outside the photo", src, image_id=image_id) from None
        ref = {"box": list(box), "mean_rgb": mean.round(4).tolist(), "saturated_fraction": saturated}
        if ref["saturated_fraction"] > 0.05 or min(ref["mean_rgb"]) < 5:
            log.warning("reference target of %s is %s: over- or under-exposed targets correct badly",
                        image_id, ref)
    factor = norm.scale_factor(mm_per_px, target_mm_per_px)
    shape = norm.scaled_shape(img.shape[1], img.shape[2], factor)
    scaled = norm.resample_photo(img, shape)
    record = {
        "image_id": image_id,
        "source": str(src),
        "sha256": files.sha256_file(src),
        "height": int(img.shape[1]),
        "width": int(img.shape[2]),
        "geo": geo,
        "mm_per_px": None if mm_per_px is None or not np.isfinite(mm_per_px) else float(mm_per_px),
        "target_mm_per_px": target_mm_per_px,
        "scale_factor": factor,
        "scaled_height": shape[0],
        "scaled_width": shape[1],
        "histogram": norm.histogram(scaled).tolist(),
        "reference": ref,
    }
    io.write_raster(out_photo, img, geo)
    files.write_json(out_record, record)
    log.info("ingested %s: %dx%d px, scale x%.3f", src, img.shape[2], img.shape[1], factor)


def ingest_mask(src: str, image_id: str, photo_record: str, class_ids: list[int], ignore_index: int, out_mask: str, out_record: str) -> None:
    """Read, check and write a mask as a canonical uint8 GeoTIFF, with a record."""
    rec = files.read_json(photo_record)
    m = io.read_mask(src, image_id=image_id)
    if m.shape != (rec["height"], rec["width"]):
        raise InputError(
            f"mask is {m.shape[1]}x{m.shape[0]} pixels but the photo is {rec['width']}x{rec['height']}",
            src,
            image_id=image_id,
        )
    io.check_mask_values(m, class_ids, ignore_index, src, image_id=image_id)
    io.write_raster(out_mask, m, rec["geo"])
    counts = np.bincount(m.ravel(), minlength=256)
    files.write_json(
        out_record,
        {
            "image_id": image_id,
            "source": str(src),
            "sha256": files.sha256_file(src),
            "pixels": {str(k): int(v) for k, v in enumerate(counts) if v},
        },
    )


def ingest_points(src: str, image_id: str, photo_record: str, settings: dict, ignore_index: int, out_mask: str,
                  out_record: str) -> None:
    """A photo's points (``crustwatch.points``) as its sparse mask, a canonical uint8 GeoTIFF, with a record."""
    from ..points import rasterize, read_points

    rec = files.read_json(photo_record)
    shape = (rec["height"], rec["width"])
    pts = read_points(src, Path(rec["source"]).name, settings["classes"], settings["labels"], shape=shape,
                      image_id=image_id)
    m = rasterize(pts, shape, int(settings["radius_px"]), ignore_index)
    io.write_raster(out_mask, m, rec["geo"])
    counts = np.bincount(m.ravel(), minlength=256)
    per_class = np.bincount([c for _, _, c in pts], minlength=256)
    files.write_json(out_record, {
        "image_id": image_id,
        "source": str(src),
        "sha256": files.sha256_file(src),
        "pixels": {str(k): int(v) for k, v in enumerate(counts) if v},
        "points": {"n": len(pts), "radius_px": int(settings["radius_px"]),
                   "per_class": {str(k): int(v) for k, v in enumerate(per_class) if v}},
    })
    log.info("%s: %d points as disks of radius %d px", image_id, len(pts), int(settings["radius_px"]))


def ingest_shard(shard: str, items: list[dict], target_mm_per_px: float | None, class_ids: list[int],
                 ignore_index: int, out_manifest: str) -> None:
    """Ingest every photo (and mask) of a shard; ``items``: image_id, photo, mask, mm_per_px, reference,
    and ``points`` (the point settings, for a row whose label is a points file)."""
    def step(iid, paths):
        it = by_id[iid]
        ingest_photo(it["photo"], iid, it["mm_per_px"], target_mm_per_px, paths["ingest_photo"],
                     paths["ingest_record"], reference=it["reference"])
        if it.get("points"):
            ingest_points(it["mask"], iid, paths["ingest_record"], it["points"], ignore_index, paths["mask"],
                          paths["mask_record"])
        elif it["mask"]:
            ingest_mask(it["mask"], iid, paths["ingest_record"], class_ids, ignore_index, paths["mask"],
                        paths["mask_record"])

    by_id = {it["image_id"]: it for it in items}
    shards.run_shard(shard, list(by_id), ["ingest_photo", "ingest_record", "mask", "mask_record"], step,
                     out_manifest)
