"""One function per workflow step. Rule scripts call these; tests call them directly.

Every function reads files, writes files (atomically) and returns nothing of
importance, so each Snakemake rule is a thin adapter and each step can also be
run by hand for debugging.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, shards
from . import normalize as norm
from .errors import CrustWatchError, InputError, InputErrors
from .sheet import parse_box

log = logging.getLogger("crustwatch")


def setup_logging(path: str | None = None) -> None:
    """Send log lines (and warnings) to ``path`` or stderr."""
    handler = logging.FileHandler(path, mode="w") if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


# ---------------------------------------------------------------- checks and ingest


#: plausible ground sampling distances of plot photos, mm per pixel (a phone 20 cm above the
#: ground to a drone at 30 m); values outside are almost always a unit slip (m or cm for mm)
MM_PER_PX_RANGE = (0.01, 100.0)
#: the smallest side, in pixels, a photo may have after resampling to target_mm_per_px
MIN_RESAMPLED_SIDE = 32


def check_inputs(rows: list[dict], class_ids: list[int], ignore_index: int, out_tsv: str | None,
                 max_megapixels: float | None = None, target_mm_per_px: float | None = None) -> list[dict]:
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
            if r.get("mask_path"):
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
        io.write_tsv(pd.DataFrame(out), out_tsv)
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
    io.write_tsv(table, out_tsv)


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
        "sha256": io.sha256_file(src),
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
    io.write_json(out_record, record)
    log.info("ingested %s: %dx%d px, scale x%.3f", src, img.shape[2], img.shape[1], factor)


def ingest_mask(src: str, image_id: str, photo_record: str, class_ids: list[int], ignore_index: int, out_mask: str, out_record: str) -> None:
    """Read, check and write a mask as a canonical uint8 GeoTIFF, with a record."""
    rec = io.read_json(photo_record)
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
    io.write_json(
        out_record,
        {
            "image_id": image_id,
            "source": str(src),
            "sha256": io.sha256_file(src),
            "pixels": {str(k): int(v) for k, v in enumerate(counts) if v},
        },
    )


# ---------------------------------------------------------------- normalize


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
        rec = io.read_json(r)
        hists[rec["image_id"]] = rec["histogram"]
    if not hists:
        raise CrustWatchError(f"camera '{camera}' has no calibration photo")
    total = np.sum([np.asarray(h) for h in hists.values()], axis=0)
    io.write_json(out_json, {"camera": camera, "pool": pool, "calibration_date": calibration_date,
                             "n_photos": len(hists), "histograms": hists, "total": total.tolist()})


def normalize_photo(
    photo: str, record: str, camera_json: str, method: str, out_photo: str, out_record: str
) -> None:
    """Scale a photo to the target ground resolution and apply its camera's colour correction.

    The correction's parameters are pooled from the camera's calibration photos,
    leaving this photo out (see :mod:`crustwatch.normalize`); the record stores the
    lookup table and how it was made.
    """
    rec = io.read_json(record)
    cam = io.read_json(camera_json)
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
    io.write_json(
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


# ---------------------------------------------------------------- split


def write_splits(splits: pd.DataFrame, out_tsv: str) -> None:
    io.write_tsv(splits, out_tsv)


# ---------------------------------------------------------------- training


def _load_training_pairs(photos: list[str], masks: list[str], classes: list[dict]):
    """Normalized photos and their masks as training targets (class channels, ignore 255)."""
    from .metrics import channel_lut

    lut = channel_lut(classes)
    imgs, ms = [], []
    for p, m in zip(photos, masks):
        img, _ = io.read_raster(p)
        mask, _ = io.read_raster(m)
        ms.append(lut[norm.resample_mask(mask[0], img.shape[1:])])
        imgs.append(img.astype(np.float32))
    return imgs, ms


def train_seed(
    seed: int,
    train_ids: list[str],
    val_ids: list[str],
    train_photos: list[str],
    train_masks: list[str],
    val_photos: list[str],
    val_masks: list[str],
    photo_records: list[str],
    mask_records: list[str],
    norm_records: list[str],
    classes: list[dict],
    ignore_index: int,
    model_cfg: dict,
    train_cfg: dict,
    split_seed: int | None,
    out_weights: str,
    out_card: str,
    runtime_cfg: dict | None = None,
    progress: bool = True,
    raw_photos: list[str] | None = None,
    out_run: str | None = None,
) -> None:
    """Train one model with one seed and write its weights (safetensors), its model card and the
    record of the training run (``out_run``, default ``training_run.json`` beside the card).

    The card holds what shapes the weights and follows from them (seed, settings, the plan, the
    training and validation data by sha256, library versions, determinism flags, the device type,
    losses and validation scores, the weights' sha256): a bit-identical rebuild writes the same
    card, so every output that cites its sha256 still audits. The run record holds the facts of
    this run only (duration, resumed step, host, processor, code commit, loader and log settings).

    ``raw_photos`` (the ingested photos of ``train_ids``) are read only with
    ``augment.drift``: camera drift is then simulated on the photo as the camera
    saw it, before its normalization.

    ``train_cfg`` holds the settings that shape the weights (recorded in the card);
    ``runtime_cfg`` those that do not (log interval, checkpoint interval, loader
    workers). A checkpoint beside the weights lets a killed job resume; it is
    used only when it was made from the same inputs and settings.
    """
    import torch

    from . import infer, metrics, models, provenance
    from .data import PatchSampler
    from .plan import plan_steps
    from .train import TrainConfig, configure_determinism, pick_device, train_model

    cfg = TrainConfig.from_dict({**train_cfg, **(runtime_cfg or {})})
    device = pick_device(train_cfg.get("device", "auto"))
    flags = configure_determinism(seed, cfg.cpu_threads, device)
    # one output channel per configured class, whatever the ids and the ignore value
    n_classes = len(classes)
    model = models.create_model(
        model_cfg["arch"], model_cfg["encoder"], n_classes, model_cfg["encoder_depth"],
        model_cfg.get("decoder_channels"), model_cfg.get("encoder_weights"),
    )
    nrecs, norm_paths = {}, {}
    for path in norm_records:
        r = io.read_json(path)
        nrecs[r["image_id"]], norm_paths[r["image_id"]] = r, path
    data = _training_data_record(train_ids, val_ids, train_photos, train_masks, val_photos, val_masks,
                                 photo_records, mask_records, norm_paths)
    shaping = {
        "seed": seed, "model": model_cfg, "train": train_cfg, "classes": classes, "ignore_index": ignore_index,
        "inputs": {i: (d["normalized_photo_sha256"], d["ingested_mask_sha256"]) for i, d in data.items()},
        "device": device.type, "threads": cfg.cpu_threads,
    }
    imgs, masks = _load_training_pairs(train_photos, train_masks, classes)
    target_ignore = metrics.TARGET_IGNORE  # the targets' ignore value (the project's is in the card)
    raw = luts = None
    if cfg.augment.drift:
        if not raw_photos or len(raw_photos) != len(train_ids):
            raise CrustWatchError("train.augment.drift needs the ingested photos of the training rows")
        raw, luts = [], []
        for i, path, img in zip(train_ids, raw_photos, imgs):
            r = nrecs[i]
            photo, _ = io.read_raster(path)
            raw.append(norm.resample_photo(photo, img.shape[1:]))
            luts.append(np.asarray(r["lut"], dtype=np.float32))
    sampler = PatchSampler(imgs, masks, cfg.patch_size, target_ignore, seed, cfg.augment, raw=raw, luts=luts,
                           class_balance=cfg.class_balance)
    plan = None
    if cfg.steps == "auto":
        plan = plan_steps(sampler.class_pixels(), cfg.patch_size, cfg.batch_size, cfg.class_balance, cfg.plan)
        cfg = dataclasses.replace(cfg, steps=plan["steps"])
        log.info("seed %d: train.steps auto -> %d steps, set by %s (%d classes, %d labelled pixels: "
                 "%d steps by classes, %d by pixels, bounds %d..%d)", seed, plan["steps"], plan["decided_by"],
                 plan["classes_present"], plan["labelled_pixels"], plan["by_classes"], plan["by_pixels"],
                 plan["min_steps"], plan["max_steps"])
    _check_train_memory(cfg, model_cfg, n_classes, imgs, device)
    log.info("seed %d: %d training photos, device %s, %d steps, %d torch threads", seed, len(imgs), device,
             cfg.steps, flags["torch_threads"])
    checkpoint = Path(out_weights).with_name("checkpoint.safetensors")
    history = train_model(model, sampler, cfg, n_classes, target_ignore, device, progress=progress, log=log.info,
                          checkpoint=checkpoint, fingerprint=provenance.digest(shaping))

    # validation: the same sliding window as prediction
    val_metrics = {}
    if val_photos:
        vimgs, vmasks = _load_training_pairs(val_photos, val_masks, classes)
        cm = np.zeros((n_classes, n_classes), dtype=np.int64)
        with torch.inference_mode():
            for img, m in zip(vimgs, vmasks):
                # the library's default step, so prediction settings never change a trained model's card
                p = infer.sliding_window_probs([model], img, n_classes, cfg.patch_size, batch_size=cfg.batch_size,
                                               device=device)[0]
                cm += metrics.confusion(p.argmax(0), m, n_classes, target_ignore)
        s = metrics.scores(cm)
        val_metrics = {
            "overall_accuracy": s["overall_accuracy"],
            "miou": s["miou"],
            "iou": {c["name"]: _nan_none(s["iou"][metrics.class_ids(classes).index(int(c["id"]))])
                    for c in classes},
            "pixels": int(cm.sum()),
        }
        log.info("seed %d validation: OA %.3f mIoU %.3f", seed, s["overall_accuracy"], s["miou"])
    model.cpu()
    sha = models.save_weights(model, out_weights, {"seed": seed, "format": "crustwatch-1"})
    ew = model_cfg.get("encoder_weights")
    nondet = history.pop("nondeterministic_ops")
    card = {
        "card_version": 2,
        "seed": seed,
        "split_seed": split_seed,
        "model": {**model_cfg, "encoder_weights_sha256": io.sha256_file(ew) if ew and models.is_weights_path(ew) else None},
        "n_classes": n_classes,
        "classes": classes,
        "ignore_index": ignore_index,
        "train": dict(train_cfg),
        # train.steps auto: the steps trained and how the data decided them
        "plan": plan or {"steps": cfg.steps, "decided_by": "train.steps"},
        "train_images": list(train_ids),
        "val_images": list(val_ids),
        "data": data,
        "normalization": {
            "method": next(iter(nrecs.values()))["method"] if nrecs else None,
            "target_mm_per_px": next(iter(nrecs.values()))["target_mm_per_px"] if nrecs else None,
            "camera_pool": next(iter(nrecs.values())).get("camera_pool") if nrecs else None,
            "per_photo": {i: {"camera": r["camera"], "photos_pooled": r["photos_pooled"],
                              "self_included": r["self_included"], "scale_factor": r["scale_factor"],
                              "calibration_date": r.get("calibration_date"),
                              "lut_sha256": provenance.digest(r["lut"]),
                              "lut_range": [[r["lut"][c][0], r["lut"][c][-1]] for c in range(len(r["lut"]))]}
                          for i, r in nrecs.items()},
        },
        "versions": provenance.versions(),
        # the device type shapes the numbers; which processor, and the code commit, go to the run record
        "device": {"device": device.type},
        "determinism": {**flags, "nondeterministic_ops": nondet,
                        "bit_reproducible": not nondet and (device.type == "cpu" or flags["cudnn_deterministic"])},
        "training": {k: history[k] for k in ("steps", "loss_first", "loss_last")},
        "validation": val_metrics,
        "weights": str(out_weights),
        "weights_sha256": sha,
    }
    io.write_json(out_card, card)
    io.write_json(out_run or str(Path(out_card).with_name("training_run.json")), {
        "seed": seed,
        "weights_sha256": sha,
        "card_sha256": io.sha256_file(out_card),
        "seconds": history["seconds"],
        "resumed_from_step": history["resumed_from_step"],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "device": provenance.device_info(device),
        "code": provenance.code_version(Path(__file__).resolve().parents[3]),
        "runtime": {k: getattr(cfg, k) for k in ("log_every", "checkpoint_every", "workers")},
    })


def _available_gib() -> float | None:
    """Memory this process may still use, GiB: the cgroup limit (a SLURM job, a container) or
    the machine's available memory, whichever is less; None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) / 2**20)
    except OSError:
        pass
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            v = Path(f).read_text().strip()
            if v.isdigit() and int(v) < 2**60:
                used = Path(f).with_name("memory.current" if f.endswith(".max") else "memory.usage_in_bytes")
                cur = int(used.read_text().strip()) if used.exists() else 0
                found.append((int(v) - cur) / 2**30)
        except OSError:
            pass
    return min(found) if found else None


def _check_train_memory(cfg, model_cfg: dict, n_classes: int, imgs: list, device) -> None:
    """Refuse, with the numbers, a training step that cannot fit in this machine's memory (CPU)."""
    from .project import train_memory_gib

    if device.type != "cpu":
        return
    need = train_memory_gib(cfg.patch_size, cfg.batch_size, model_cfg["encoder_depth"],
                            model_cfg.get("decoder_channels"), n_classes)
    need += sum(i.nbytes for i in imgs) * 2 / 2**30  # the photos and their raw copies for the drift simulation
    have = _available_gib()
    if have is not None and need > have:
        raise CrustWatchError(
            f"training needs about {need:.1f} GiB (train.patch_size {cfg.patch_size}, train.batch_size "
            f"{cfg.batch_size}, {len(imgs)} photos in memory) but {have:.1f} GiB are available here; lower the "
            "patch or batch size, or run on a machine (or cluster job: resources mem_mb) with more memory")


def _training_data_record(train_ids, val_ids, train_photos, train_masks, val_photos, val_masks,
                          photo_records, mask_records, norm_paths: dict[str, str]) -> dict:
    """Per training/validation photo: its source files and the derived files training read, with sha256."""
    precs = {r["image_id"]: r for r in map(io.read_json, photo_records)}
    mrecs = {r["image_id"]: r for r in map(io.read_json, mask_records)}
    out = {}
    for split, ids, photos, masks in (("train", train_ids, train_photos, train_masks),
                                      ("val", val_ids, val_photos, val_masks)):
        for i, ph, m in zip(ids, photos, masks):
            out[i] = {
                "split": split,
                "photo": precs[i]["source"],
                "photo_sha256": precs[i]["sha256"],
                "mask": mrecs[i]["source"],
                "mask_sha256": mrecs[i]["sha256"],
                "normalized_photo": str(ph),
                "normalized_photo_sha256": io.sha256_file(ph),
                "normalization_record": norm_paths.get(i),
                "ingested_mask": str(m),
                "ingested_mask_sha256": io.sha256_file(m),
            }
    return out


def _nan_none(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b)."""
    h = color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


#: normalization settings a model's photos and the photos it predicts must share
NORM_KEYS = ("method", "target_mm_per_px", "camera_pool")


def ensemble_card(cards: list[str], out_json: str) -> None:
    """The ensemble's card: its members' cards by sha256, and what they must share.

    Members must agree on everything but the seed (model, classes, training data
    and settings, normalization); a mixed ensemble is refused.
    """
    members, shared = [], None
    for c in cards:
        card = io.read_json(c)
        members.append({
            "seed": card["seed"], "card": str(c), "card_sha256": io.sha256_file(c),
            "weights": card.get("weights"), "weights_sha256": card["weights_sha256"],
            "validation": card.get("validation", {}),
        })
        same = {k: card[k] for k in ("model", "classes", "ignore_index", "train", "split_seed")}
        same["data"] = {i: (d["normalized_photo_sha256"], d["ingested_mask_sha256"]) for i, d in card.get("data", {}).items()}
        same["normalization"] = {k: card["normalization"].get(k) for k in NORM_KEYS}
        if shared is None:
            shared, first = same, card
        elif same != shared:
            diff = sorted(k for k in same if same[k] != shared[k])
            raise CrustWatchError(
                f"model cards '{cards[0]}' and '{c}' differ in {', '.join(diff)}; the members of an ensemble must "
                "differ only in their seed. Rebuild the stale models (snakemake reruns them when settings change)"
            )
    io.write_json(
        out_json,
        {
            "card_version": 2,
            "members": members,
            "seeds": [m["seed"] for m in members],
            "model": first["model"],
            "classes": first["classes"],
            "ignore_index": first["ignore_index"],
            "split_seed": first["split_seed"],
            "train": first["train"],
            "train_images": first["train_images"],
            "val_images": first["val_images"],
            "normalization": {k: first["normalization"].get(k) for k in NORM_KEYS},
            "patch_size": first["train"]["patch_size"],
        },
    )


# ---------------------------------------------------------------- prediction


def _load_members(ens: dict, weights: list[str], cards: list[str], device):
    """The ensemble's models with checked weights, and their seeds."""
    import torch

    from . import models

    n_classes = len(ens["classes"])  # one channel per class (metrics.class_ids)
    m = ens["model"]
    nets, seeds = [], []
    for w, c in zip(weights, cards):
        card = io.read_json(c)
        net = models.create_model(m["arch"], m["encoder"], n_classes, m["encoder_depth"], m.get("decoder_channels"), None)
        models.load_weights(net, w, expected_sha256=card["weights_sha256"])
        nets.append(net.to(device, memory_format=torch.channels_last).eval())
        seeds.append(card["seed"])
    return nets, seeds


def adapt_camera(camera: str, photos: list[str], ensemble_json: str, weights: list[str], cards: list[str],
                 predict_cfg: dict, threads: int, out_weights: str, out_record: str) -> None:
    """AdaBN for one camera: every seed's batch-norm statistics re-estimated on the camera's photos.

    Writes only the batch-norm buffers (``seed<N>.<name>``, safetensors) and a record;
    prediction loads them over the trained weights when ``predict.adabn`` is on.
    """
    import torch
    from safetensors.torch import save_file

    from . import infer
    from .train import pick_device

    torch.set_num_threads(max(1, threads))
    ens = io.read_json(ensemble_json)
    device = pick_device(predict_cfg.get("device", "auto"))
    nets, seeds = _load_members(ens, weights, cards, device)
    imgs = [io.read_raster(p)[0].astype(np.float32) for p in photos]
    max_tiles = int(predict_cfg.get("adabn_max_tiles", 2000))
    tensors = {}
    for net, seed in zip(nets, seeds):
        adapted = infer.adapt_batchnorm(net, imgs, ens["patch_size"], device=device, max_tiles=max_tiles)
        for name, buf in adapted.named_buffers():
            if "running_" in name or "num_batches_tracked" in name:
                tensors[f"seed{seed}.{name}"] = buf.detach().cpu().contiguous()
    with io.atomic_path(out_weights) as tmp:
        save_file(tensors, str(tmp), metadata={"crustwatch": json.dumps({"camera": camera, "seeds": seeds})})
    io.write_json(out_record, {
        "camera": camera, "seeds": seeds, "photos": [str(p) for p in photos], "max_tiles": max_tiles,
        "ensemble_card_sha256": io.sha256_file(ensemble_json), "sha256": io.sha256_file(out_weights),
    })
    log.info("AdaBN statistics of camera %s from %d photos for seeds %s", camera, len(photos), seeds)


def load_ensemble(ensemble_json: str, weights: list[str], cards: list[str], predict_cfg: dict) -> dict:
    """The ensemble ready to predict: its card, the device, the members (weights checked
    against their cards) and the provenance tags every prediction carries.
    Loaded once per job, however many photos it predicts."""
    from .train import pick_device

    ens = io.read_json(ensemble_json)
    device = pick_device(predict_cfg.get("device", "auto"))
    nets, seeds = _load_members(ens, weights, cards, device)
    from .infer import native_bf16

    precision = predict_cfg.get("precision", "auto")
    return {
        "ens": ens, "device": device, "nets": nets, "seeds": seeds,
        # bfloat16 autocast where the hardware computes it natively (about twice the speed)
        "bf16": precision == "bf16" or (precision == "auto" and native_bf16(device)),
        "tags": {
            "ensemble_card": ensemble_json,
            "ensemble_card_sha256": io.sha256_file(ensemble_json),
            "member_cards": ",".join(f"{s}={io.sha256_file(c)}" for s, c in zip(seeds, cards)),
        },
    }


def predict_image(
    photo: str,
    norm_record: str,
    ingest_record: str,
    ensemble_json: str,
    weights: list[str],
    cards: list[str],
    predict_cfg: dict,
    threads: int,
    out_classes: str,
    out_seeds: str,
    progress: bool = True,
    adabn: str | None = None,
    out_uncertainty: str | None = None,
    loaded: dict | None = None,
    out_probs: str | None = None,
    out_preview: str | None = None,
    preview_photo: str | None = None,
) -> None:
    """Ensemble prediction of one photo, written in the photo's own geometry.

    With ``adabn`` (the camera's file from :func:`adapt_camera`), each seed's
    batch-norm statistics are replaced by those re-estimated on the camera's photos.

    Writes the ensemble class map (uint8, tags naming the ensemble card) and a
    per-seed class-map stack (one band per seed), both at the photo's own width
    and height, and with ``out_uncertainty`` a float32 raster of predictive entropy
    and mutual information between seeds (:func:`crustwatch.infer.uncertainty`);
    with ``out_probs`` the ensemble's class probabilities (uint8, probability x 255,
    one band per class) and with ``out_preview`` a small PNG: photo | classes | uncertainty
    (the photo shown is ``preview_photo``, the ingested photo, when given).
    ``loaded`` is the ensemble from :func:`load_ensemble` when the caller predicts
    several photos (otherwise it is loaded here).
    """
    import torch

    from . import infer, metrics
    from .progress import progress as progress_bar

    torch.set_num_threads(max(1, threads))
    ens = loaded["ens"] if loaded else io.read_json(ensemble_json)
    nrec = io.read_json(norm_record)
    irec = io.read_json(ingest_record)
    want = ens["normalization"]
    got = {k: nrec.get(k) for k in NORM_KEYS}
    if got != {k: want.get(k) for k in NORM_KEYS}:
        show = lambda d: ", ".join(f"{k}={d.get(k)}" for k in NORM_KEYS)  # noqa: E731
        raise CrustWatchError(
            f"photo '{nrec['image_id']}' was normalized with {show(got)} but the models were trained with "
            f"{show(want)}; normalize and train again with one setting: snakemake --cores N --forcerun normalize"
        )
    loaded = loaded or load_ensemble(ensemble_json, weights, cards, predict_cfg)
    device, nets, seeds = loaded["device"], loaded["nets"], loaded["seeds"]
    n_classes = len(ens["classes"])
    to_id = metrics.id_lut(ens["classes"])  # output channel -> class id
    if adabn:
        from safetensors.torch import load_file

        stats = load_file(adabn)
        for net, seed in zip(nets, seeds):
            mine = {k.split(".", 1)[1]: v.to(device) for k, v in stats.items() if k.startswith(f"seed{seed}.")}
            if not mine:
                raise CrustWatchError(f"AdaBN file '{adabn}' has no statistics for seed {seed}; remake it: "
                                      f"snakemake --cores N --forcerun {adabn}")
            net.load_state_dict(mine, strict=False)
    patch = ens["patch_size"]
    step_fraction = predict_cfg.get("step_fraction", 0.5)
    # the normalized photo is read a band of rows at a time: memory holds the outputs, not the photo's
    # per-seed probabilities (a 24 MP photo stays under 2 GB, `bench/predict_memory.py`)
    with io.RasterRows(photo) as rows:
        n_tiles = len(infer.tile_coords(rows.height, rows.width, patch, step_fraction))
        with progress_bar(n_tiles, f"predict {nrec['image_id']} (tiles)", enabled=progress) as bar:
            maps = infer.predict_maps(nets, rows, n_classes, patch, step_fraction, predict_cfg.get("batch_size", 16),
                                      device, progress=bar.update, tta=bool(predict_cfg.get("tta", False)),
                                      with_uncertainty=bool(out_uncertainty), with_probabilities=bool(out_probs),
                                      bf16=loaded["bf16"])
    shape = (irec["height"], irec["width"])
    ens_map = to_id[norm.resample_mask(maps.pop("classes"), shape)]
    seed_maps = np.stack([to_id[norm.resample_mask(s, shape)] for s in maps.pop("seeds")])
    tags = {
        "image_id": nrec["image_id"],
        **loaded["tags"],
        "predict_settings": json.dumps({"step_fraction": predict_cfg.get("step_fraction", 0.5),
                                        "tta": bool(predict_cfg.get("tta", False)), "adabn": bool(adabn),
                                        "precision": "bf16" if loaded["bf16"] else "fp32", "device": str(device)},
                                       sort_keys=True),
        "adabn_sha256": io.sha256_file(adabn) if adabn else "",
        "seeds": ",".join(map(str, seeds)),
        "classes": ",".join(f"{c['id']}={c['name']}" for c in ens["classes"]),
        "source_sha256": irec["sha256"],
    }
    hex_colors = {int(c["id"]): c.get("color") for c in predict_cfg.get("colors", [])}
    colors = {k: _rgb(v) for k, v in hex_colors.items() if v}
    io.write_raster(out_classes, ens_map, irec["geo"], tags=tags, cog="nearest", colormap=colors or None,
                    band_descriptions=["class"])
    io.write_raster(out_seeds, seed_maps, irec["geo"], tags=tags, band_descriptions=[f"seed{s}" for s in seeds])
    unc = None
    if out_uncertainty:
        unc = norm.resample_float(maps.pop("uncertainty"), shape)
        io.write_raster(out_uncertainty, unc, irec["geo"],
                        tags={**tags, "units": "nats", "max_entropy": f"{np.log(n_classes):.6f}"},
                        band_descriptions=["predictive_entropy", "mutual_information"], cog="average")
    if out_probs:
        probs = np.stack([norm.resample_mask(p, shape) for p in maps.pop("probabilities")])
        io.write_raster(out_probs, probs, irec["geo"], tags={**tags, "scale": "1/255", "units": "probability"},
                        band_descriptions=[c["name"] for c in sorted(ens["classes"], key=lambda c: int(c["id"]))],
                        cog="average")
        del probs
    if out_preview:
        from .plots import prediction_preview

        classes = [{"id": int(c["id"]), "name": c["name"], "color": hex_colors.get(int(c["id"]))}
                   for c in sorted(ens["classes"], key=lambda c: int(c["id"]))]
        prediction_preview(preview_photo or photo, ens_map, unc, classes, out_preview, title=nrec["image_id"])
    log.info("predicted %s with seeds %s", nrec["image_id"], seeds)


# ---------------------------------------------------------------- cover and evaluation


def cover_image(
    image_id: str, classes_tif: str, seeds_tif: str, mask_tif: str | None, classes: list[dict], ignore_index: int,
    out_cover: str, out_confusion: str, area: str | None = None,
) -> None:
    """Per-image cover (ensemble and each seed) over the plot ``area`` (the sheet's box, or the whole
    photo) and, when labelled, confusion matrices (over the mask's labelled pixels in the area)."""
    from . import metrics
    from .cover import image_cover

    ens, meta = io.read_raster(classes_tif)
    stack, smeta = io.read_raster(seeds_tif)
    seeds = [int(s) for s in smeta["tags"]["seeds"].split(",")]
    truth = io.read_raster(mask_tif)[0][0] if mask_tif else None
    box = parse_box(area) if area else None
    df = image_cover(image_id, ens[0], dict(zip(seeds, stack)), classes, truth, ignore_index, box)
    if truth is not None and box is not None:  # the confusion, too, over the area only
        from .cover import area_mask

        truth = np.where(area_mask(truth.shape, box), truth, ignore_index).astype(truth.dtype)
    # every row names the card of the model that made it: the ensemble's, or the seed's own
    tags = meta["tags"]
    member = dict(kv.split("=", 1) for kv in tags.get("member_cards", "").split(",") if kv)
    df["card_sha256"] = [tags.get("ensemble_card_sha256", "") if m == "ensemble" else member.get(m[4:], "")
                         for m in df["model"]]
    io.write_tsv(df, out_cover)
    n = metrics.n_classes(classes)
    rows = []
    if truth is not None:
        for model, cmap in [("ensemble", ens[0])] + [(f"seed{s}", m) for s, m in zip(seeds, stack)]:
            cm = metrics.confusion(cmap, truth, n, ignore_index)
            for t, p in zip(*np.nonzero(cm)):
                rows.append({"image_id": image_id, "model": model, "true": int(t), "pred": int(p), "pixels": int(cm[t, p])})
    io.write_tsv(pd.DataFrame(rows, columns=["image_id", "model", "true", "pred", "pixels"]), out_confusion)


def aggregate_cover(cover_tsvs: list[str], splits_tsv: str, level: float, out: dict[str, str],
                    interval: str = "calibrated", floor_pp: float = 0.01, adjust: str = "confusion",
                    val_confusion_tsvs: list[str] | None = None, classes: list[dict] | None = None,
                    adjust_min_photos: int = 2, calibration_min_pairs: int | None = None) -> None:
    """Write ``by_image``, ``by_plot_date``, ``by_site_date`` and ``by_image_seed`` tables,
    ``calibration`` (JSON: how the intervals were made, from which validation photos),
    ``adjustment`` (JSON: the validation error rates that adjusted the cover, per model) and,
    when given, ``methods`` (TSV: which cover estimate and which interval were used, and why).

    The adjustment is used only with ``adjust_min_photos`` labelled validation photos and when
    it lowers their cover error (each adjusted with the others' rates); calibrated intervals only
    with ``calibration_min_pairs`` validation pairs (default: the fewest with a finite-sample
    guarantee). Otherwise cover is the maps' own fraction and the interval is labelled
    uncalibrated; the log and ``methods`` say why.

    ``adjust``: ``confusion`` (cover adjusted by the validation photos' error rates,
    from ``val_confusion_tsvs``; ``classes`` is the config's class map) or ``none`` (cover = the map's pixel fraction); see
    :mod:`crustwatch.cover`. Every table keeps the map's own fraction as ``map_cover_pct``.

    Every row carries ``ensemble_card_sha256``, the ensemble card of the models
    that made it (``crustwatch audit`` follows it); seed rows carry their own card.
    ``interval``: ``calibrated`` (seed spread scaled by the validation error) or
    ``seed`` (seed spread alone); see :mod:`crustwatch.cover`.
    """
    from .cover import ADJUST_METHODS, adjust_cover, aggregate, apply_calibration, calibrate

    per_image = pd.concat([pd.read_csv(f, sep="\t") for f in cover_tsvs], ignore_index=True)
    meta = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)[["image_id", "site", "plot", "date", "camera", "split"]]
    if adjust not in ADJUST_METHODS:
        raise CrustWatchError(f"unknown cover.adjust '{adjust}'; choose one of {ADJUST_METHODS}")
    if adjust == "confusion":
        conf = [pd.read_csv(f, sep="\t") for f in (val_confusion_tsvs or [])]
        conf = pd.concat(conf, ignore_index=True) if conf else pd.DataFrame(columns=["image_id", "model", "true", "pred", "pixels"])
        val_ids = meta.loc[meta["split"] == "val", "image_id"].tolist()
        from .metrics import n_classes

        n = n_classes(classes) if classes else int(per_image["class_id"].max()) + 1
        per_image, adjustment = adjust_cover(per_image, conf, val_ids, n,
                                             camera_of=dict(zip(meta["image_id"], meta["camera"])),
                                             min_photos=adjust_min_photos)
        if adjustment["method"] == "confusion":
            log.info("cover adjusted by the error rates of %d validation photos%s", len(adjustment["photos"]),
                     "" if adjustment["leave_one_out"] else " (one photo: its own cover is adjusted in-sample)")
        else:
            log.warning("cover not adjusted: %s; cover is the class map's pixel fraction", adjustment["reason"])
    else:
        per_image = per_image.assign(map_cover_pct=per_image["cover_pct"])
        if "eval_cover_pct" in per_image:
            per_image = per_image.assign(eval_map_cover_pct=per_image["eval_cover_pct"])
        adjustment = {"method": "none"}
    io.write_json(out["adjustment"], adjustment)
    cards = per_image[per_image["model"] == "ensemble"].drop_duplicates("image_id")[["image_id", "card_sha256"]]
    cards = cards.rename(columns={"card_sha256": "ensemble_card_sha256"}).merge(meta, on="image_id")

    def with_cards(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        sha = cards.groupby(keys, sort=False)["ensemble_card_sha256"].agg(lambda v: ";".join(sorted(set(v))))
        return df.merge(sha.reset_index(), on=keys, how="left")

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
    io.write_json(out["calibration"], {"interval": interval, **(calibration or {"method": "seed_t", "level": level})})
    if out.get("methods"):
        io.write_tsv(pd.DataFrame(cover_methods(adjust, adjustment, interval, calibration, level),
                                  columns=["estimate", "asked", "used", "why"]), out["methods"])
    by_image = apply_calibration(by_image, calibration)
    by_image = with_cards(by_image.merge(meta, on="image_id", how="left"), ["image_id"])
    first = ["image_id", "site", "plot", "date", "camera", "split", "class", "cover_pct", "ci_low", "ci_high"]
    by_image = by_image[first + [c for c in by_image.columns if c not in first]]
    by_image = by_image.sort_values(["site", "plot", "date", "image_id"], kind="stable")
    io.write_tsv(by_image, out["by_image"])
    for name, keys in (("by_plot_date", ["site", "plot", "date"]), ("by_site_date", ["site", "date"])):
        io.write_tsv(with_cards(aggregate(per_image, meta, keys, level, calibration), keys), out[name])
    seeds = per_image[[c for c in ("image_id", "model", "class", "class_px", "valid_px", "cover_pct", "map_cover_pct",
                                   "true_cover_pct", "eval_px", "eval_cover_pct", "eval_map_cover_pct", "card_sha256")
                       if c in per_image]]
    io.write_tsv(seeds, out["by_image_seed"])


def cover_methods(adjust: str, adjustment: dict, interval: str, calibration: dict | None, level: float) -> list[tuple]:
    """Rows ``estimate asked used why`` for the cover estimate and its interval (the report's table)."""
    lvl = f"{level:.0%}"
    if adjustment["method"] == "confusion":
        chk = adjustment.get("validation_check", {})
        why = (f"error rates of {len(adjustment['photos'])} validation photos; on them (leave one out) adjusted "
               f"cover erred {chk.get('adjusted_error_pp', float('nan')):.2f} pp, the maps' own fractions "
               f"{chk.get('map_error_pp', float('nan')):.2f} pp")
    elif adjust == "none":
        why = "cover.adjust: none"
    else:
        why = adjustment["reason"] + "; cover is the class maps' own pixel fraction"
    rows = [("cover", adjust, adjustment["method"], why)]
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
    from . import metrics
    from .plots import confusion_heatmap

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
    io.write_tsv(df, out_metrics)
    labels = [names.get(k, str(k)) for k in range(n)]
    for split, path in (("test", out_plot), ("val", out_plot_val)):
        if path:
            cm = cms.get(("ensemble", split), np.zeros((n, n), dtype=np.int64))
            n_photos = conf[conf["split"] == split]["image_id"].nunique() if not conf.empty else 0
            title = {"test": "test photos", "val": "validation photos"}[split]
            confusion_heatmap(cm, labels, path, f"Ensemble confusion, {title} ({n_photos})"
                              + ("" if cm.sum() else ": none labelled"))
    if out_per_class:
        from .report import per_class_table

        io.write_tsv(per_class_table(df), out_per_class)


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
    from .seeds import cover_spread, metric_table, seeds_figure

    table = metric_table(pd.read_csv(metrics_tsv, sep="\t"), level)
    splits = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)
    spread = cover_spread(pd.read_csv(by_image_seed_tsv, sep="\t"), splits)
    io.write_tsv(table, out_table)
    io.write_tsv(spread, out_spread)
    seeds_figure(table, spread, classes, out_plot)


# ---------------------------------------------------------------- shards (one site, one date)


def ingest_shard(shard: str, items: list[dict], target_mm_per_px: float | None, class_ids: list[int],
                 ignore_index: int, out_manifest: str) -> None:
    """Ingest every photo (and mask) of a shard; ``items``: image_id, photo, mask, mm_per_px, reference."""
    def step(iid, paths):
        it = by_id[iid]
        ingest_photo(it["photo"], iid, it["mm_per_px"], target_mm_per_px, paths["ingest_photo"],
                     paths["ingest_record"], reference=it["reference"])
        if it["mask"]:
            ingest_mask(it["mask"], iid, paths["ingest_record"], class_ids, ignore_index, paths["mask"],
                        paths["mask_record"])

    by_id = {it["image_id"]: it for it in items}
    shards.run_shard(shard, list(by_id), ["ingest_photo", "ingest_record", "mask", "mask_record"], step,
                     out_manifest)


def normalize_shard(shard: str, items: list[dict], method: str, out_manifest: str) -> None:
    """Normalize every photo of a shard; ``items``: image_id, camera_json (its camera's statistics)."""
    cams = {it["image_id"]: it["camera_json"] for it in items}
    shards.run_shard(shard, list(cams), ["norm_photo", "norm_record"],
                     lambda iid, p: normalize_photo(p["ingest_photo"], p["ingest_record"], cams[iid], method,
                                                    p["norm_photo"], p["norm_record"]), out_manifest)


def predict_shard(shard: str, items: list[dict], ensemble_json: str, weights: list[str], cards: list[str],
                  predict_cfg: dict, threads: int, out_manifest: str, progress: bool = True) -> None:
    """Ensemble prediction of every photo of a shard; ``items``: image_id, adabn (the camera's file or None)."""
    adabn = {it["image_id"]: it.get("adabn") for it in items}
    loaded = load_ensemble(ensemble_json, weights, cards, predict_cfg)
    probs = bool(predict_cfg.get("probabilities", False))
    shards.run_shard(shard, list(adabn), ["prediction", "seeds", "uncertainty", "probabilities", "preview"],
                     lambda iid, p: predict_image(p["norm_photo"], p["norm_record"], p["ingest_record"],
                                                  ensemble_json, weights, cards, predict_cfg, threads,
                                                  p["prediction"], p["seeds"], progress=progress,
                                                  adabn=adabn[iid], out_uncertainty=p["uncertainty"],
                                                  loaded=loaded, out_probs=p["probabilities"] if probs else None,
                                                  out_preview=p["preview"], preview_photo=p["ingest_photo"]),
                     out_manifest)


def cover_shard(shard: str, items: list[dict], classes: list[dict], ignore_index: int, out_manifest: str) -> None:
    """Cover (and, for labelled photos, the confusion matrix) of every photo of a shard;
    ``items``: image_id, has_mask."""
    masked = {it["image_id"]: it["has_mask"] for it in items}
    area = {it["image_id"]: it.get("area") for it in items}
    shards.run_shard(shard, list(masked), ["cover", "confusion"],
                     lambda iid, p: cover_image(iid, p["prediction"], p["seeds"], p["mask"] if masked[iid] else None,
                                                classes, ignore_index, p["cover"], p["confusion"], area[iid]),
                     out_manifest)
