"""Step ``normalize``: per-camera colour statistics, and each photo scaled and colour-corrected."""

from __future__ import annotations

import logging

import numpy as np

from .. import files, io, shards
from .. import normalize as norm
from ..errors import CrustWatchError

log = logging.getLogger("crustwatch")


def camera_stats(camera: str, records: list[str], out_json: str, pool: str = "first_date",
                 calibration_date: str | None = None) -> None:
    """Collect the scaled-photo histograms of one camera's calibration photos.

    ``records`` are the ingest records of the photos chosen by
    :func:`crustwatch.normalize.calibration_ids` (``pool``); ``calibration_date``
    is their date under ``first_date``.
    """
    if pool not in norm.CAMERA_POOLS:
        raise CrustWatchError(f"unknown normalize.camera_pool '{pool}'; choose one of {norm.CAMERA_POOLS}")
    hists = {}
    for r in records:
        rec = files.read_json(r)
        hists[rec["image_id"]] = rec["histogram"]
    if not hists:
        raise CrustWatchError(f"camera '{camera}' has no calibration photo")
    total = np.sum([np.asarray(h) for h in hists.values()], axis=0)
    files.write_json(out_json, {"camera": camera, "pool": pool, "calibration_date": calibration_date,
                             "n_photos": len(hists), "histograms": hists, "total": total.tolist()})


def normalize_photo(
    photo: str, record: str, camera_json: str, method: str, out_photo: str, out_record: str
) -> None:
    """Scale a photo to the target ground resolution and apply its camera's colour correction.

    The correction's parameters are pooled from the camera's calibration photos,
    leaving this photo out (see :mod:`crustwatch.normalize`); the record stores the
    lookup table and how it was made.
    """
    rec = files.read_json(record)
    cam = files.read_json(camera_json)
    iid = rec["image_id"]
    img, meta = io.read_raster(photo)
    scaled = norm.resample_photo(img, (rec["scaled_height"], rec["scaled_width"]))
    hists = {k: np.asarray(v) for k, v in cam["histograms"].items()}
    pool = cam.get("pool", "all")
    if iid not in hists and pool == "all":
        raise CrustWatchError(f"camera statistics '{camera_json}' lack photo '{iid}'; remake them and what "
                              f"follows: snakemake --cores N --forcerun {camera_json}")
    pooled, n, self_included = norm.pooled_histogram(hists, iid)
    if method not in norm.CAMERA_METHODS:
        n, self_included = 0, False
    elif self_included:
        log.warning(
            "camera '%s' has only photo '%s' on its calibration date: its colour correction had to use "
            "the photo itself; give each camera several photos on its first date", cam["camera"], iid
        )
    ref = rec.get("reference")
    if method == "reference" and not ref:
        raise CrustWatchError(f"photo '{iid}' has no reference box in the sheet, needed by normalize.method reference")
    lut = norm.lookup_table(method, pooled, own=np.asarray(rec["histogram"]), reference_rgb=ref["mean_rgb"] if ref else None)
    out = norm.apply_lut(scaled, lut)
    io.write_raster(out_photo, out, None, tags={"normalize_method": method, "camera": cam["camera"]})
    files.write_json(
        out_record,
        {
            "image_id": iid,
            "camera": cam["camera"],
            "method": method,
            "target_mm_per_px": rec["target_mm_per_px"],
            "scale_factor": rec["scale_factor"],
            "height": rec["scaled_height"],
            "width": rec["scaled_width"],
            "photos_pooled": n,
            "self_included": self_included,
            "camera_pool": pool if method in norm.CAMERA_METHODS else None,
            "calibration_date": cam.get("calibration_date") if method in norm.CAMERA_METHODS else None,
            "calibration_photo": iid in hists if method in norm.CAMERA_METHODS else None,
            "reference": ref if method == "reference" else None,
            "lut": np.round(lut, 5).tolist(),
        },
    )


def normalize_shard(shard: str, items: list[dict], method: str, out_manifest: str) -> None:
    """Normalize every photo of a shard; ``items``: image_id, camera_json (its camera's statistics)."""
    cams = {it["image_id"]: it["camera_json"] for it in items}
    shards.run_shard(shard, list(cams), ["norm_photo", "norm_record"],
                     lambda iid, p: normalize_photo(p["ingest_photo"], p["ingest_record"], cams[iid], method,
                                                    p["norm_photo"], p["norm_record"]), out_manifest)
