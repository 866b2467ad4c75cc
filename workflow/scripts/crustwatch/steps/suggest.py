"""Step ``suggest``: which unlabelled photos, and which regions in them, to label next (see
:mod:`crustwatch.suggest`): ``photos.tsv``, ``regions.tsv`` and a preview per suggested photo."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import files, io, suggest
from ..cover import area_mask
from ..sheet import parse_box

log = logging.getLogger("crustwatch")

PHOTO_COLUMNS = ["rank", "image_id", "site", "plot", "date", "camera", "score", "information", "rarity", "novelty",
                 "new", "region_px", "why"]
REGION_COLUMNS = ["image_id", "rank", "x0", "y0", "x1", "y1", "score", "photo_rank"]


def suggest_labels(candidates: list[dict], labelled: list[dict], train_mask_records: list[str], classes: list[dict],
                   patch_size: int, region_px: int | None, regions_per_photo: int, max_previews: int,
                   out: dict[str, str]) -> None:
    """Rank ``candidates`` (``image_id site plot date camera prediction uncertainty photo record``, ``area``
    optional) and write ``out["photos"]``, ``out["regions"]`` and ``out["previews"]`` (a folder).

    ``labelled``: ``site date camera`` of the photos whose masks train or validate the models;
    ``train_mask_records``: the ingest records of the training masks (their pixel counts per class).
    A region is ``region_px`` photo pixels square, by default the training patch in photo pixels.
    """
    from ..report import suggestion_preview

    class_ids = sorted(int(c["id"]) for c in classes)
    names = {int(c["id"]): c["name"] for c in classes}
    pixels: dict[int, int] = {}
    for r in train_mask_records:
        for k, v in files.read_json(r)["pixels"].items():
            pixels[int(k)] = pixels.get(int(k), 0) + int(v)
    shares = suggest.class_shares(pixels, class_ids)
    seen = pd.DataFrame(labelled, columns=["site", "date", "camera"]).astype(str)
    rows, boxes = [], {}
    by_id = {c["image_id"]: c for c in candidates}
    for c in candidates:  # one photo's maps in memory at a time
        iid = c["image_id"]
        mi, valid = _disagreement(c)
        classmap = io.read_raster(c["prediction"])[0][0]
        s = suggest.photo_scores(mi, classmap, valid, class_ids, shares)
        nov, new = suggest.novelty(c, seen)
        scale = float(files.read_json(c["record"]).get("scale_factor") or 1.0)
        box = int(region_px or max(8, round(patch_size / scale)))
        boxes[iid] = suggest.regions(suggest.rarity_weighted(mi, classmap, class_ids, shares), valid, box,
                                     regions_per_photo)
        top = [names[class_ids[k]] for k in np.argsort(-s["fractions"])[:2] if s["fractions"][k] > 0]
        rows.append({"image_id": iid, **{k: c[k] for k in ("site", "plot", "date", "camera")},
                     "information": s["information"], "rarity": s["rarity"], "novelty": nov,
                     "new": ", ".join(new), "region_px": box,
                     "why": f"seeds disagree (mean mutual information {s['information']:.3f} nats); mostly "
                            f"{' and '.join(top) or 'nothing'} (rarity {s['rarity']:.2f})"
                            + (f"; new {', '.join(new)}" if new else "")})
    ranked = suggest.rank(pd.DataFrame(rows, columns=PHOTO_COLUMNS[1:6] + ["information", "rarity", "novelty", "new",
                                                                          "region_px", "why"]))
    files.write_tsv(ranked[PHOTO_COLUMNS], out["photos"])
    regs = [{"image_id": r.image_id, "rank": k, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3], "score": b[4],
             "photo_rank": r.rank} for r in ranked.itertuples() for k, b in enumerate(boxes[r.image_id], 1)]
    files.write_tsv(pd.DataFrame(regs, columns=REGION_COLUMNS), out["regions"])
    with files.atomic_folder(out["previews"]) as tmp:
        for r in ranked.head(max_previews).itertuples():
            mi, valid = _disagreement(by_id[r.image_id])
            suggestion_preview(by_id[r.image_id]["photo"], mi, valid, boxes[r.image_id],
                               tmp / f"{r.rank:03d}_{r.image_id}.png",
                               f"#{r.rank} {r.image_id}: score {r.score:.3f}. Why: {r.why}")
    log.info("%d unlabelled photos ranked; %d previews", len(ranked), min(len(ranked), max_previews))
    for r in ranked.head(5).itertuples():
        log.info("  #%d %s: %s", r.rank, r.image_id, r.why)


def _disagreement(c: dict):
    """A candidate's mutual information between seeds (band 2 of its uncertainty raster) and its plot area."""
    mi = io.read_raster(c["uncertainty"])[0][1]
    return mi, area_mask(mi.shape, parse_box(c["area"]) if c.get("area") else None)
