"""Step ``train``: one model per seed (weights, model card, run record), and the ensemble's card."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from .. import files, io
from .. import normalize as norm
from ..errors import CrustWatchError
from ..settings import train_params_filled

log = logging.getLogger("crustwatch")


def _load_training_pairs(photos: list[str], masks: list[str], classes: list[dict]):
    """Normalized photos and their masks as training targets (class channels, ignore 255)."""
    from ..metrics import channel_lut

    lut = channel_lut(classes)
    imgs, ms = [], []
    for p, m in zip(photos, masks):
        img, _ = io.read_raster(p)
        mask, _ = io.read_raster(m)
        ms.append(lut[norm.resample_mask(mask[0], img.shape[1:])])
        imgs.append(img.astype(np.float32))
    return imgs, ms


@dataclasses.dataclass(frozen=True)
class TrainingFiles:
    """The files one seed trains from: photos and masks in the order of their ids, and the records of the
    training and validation photos (train, then val)."""

    train_ids: list[str]
    val_ids: list[str]
    train_photos: list[str]  # normalized photos
    train_masks: list[str]  # ingested masks
    val_photos: list[str]
    val_masks: list[str]
    photo_records: list[str]  # ingest records
    mask_records: list[str]
    norm_records: list[str]  # normalization records
    raw_photos: list[str] | None = None  # the ingested photos of train_ids, read only with augment.drift


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """What one seed's training is: the seed, its files and every setting that shapes the weights."""

    seed: int
    files: TrainingFiles
    classes: list[dict]
    ignore_index: int
    model_cfg: dict
    train_cfg: dict
    split_seed: int | None
    # the self-supervised encoder this seed starts from (``pretrain.method``; rule pretrain), and its card
    pretrained_encoder: str | None = None
    pretrained_card: str | None = None
    # the model version this seed belongs to (crustwatch.versions), and the sha256 of the photos and labels
    # that named it (image_id -> [photo, label]): training refuses sources that have changed since
    version: str | None = None
    sources: dict | None = None


@dataclasses.dataclass
class Fitted:
    """A trained model and how it was trained (:func:`fit`)."""

    model: object  # torch.nn.Module, in eval mode
    history: dict  # losses, steps, seconds, resumed step, ops without deterministic kernels
    plan: dict | None  # train.steps auto: the plan (None for a fixed number of steps)
    cfg: object  # the TrainConfig trained with (steps as planned)
    flags: dict  # the determinism settings
    device: object


def fit(seed: int, images: list[np.ndarray], masks: list[np.ndarray], n_classes: int, model_cfg: dict,
        train_cfg: dict, *, runtime_cfg: dict | None = None, raw: list[np.ndarray] | None = None,
        luts: list[np.ndarray] | None = None, encoder_weights: str | None = None, device=None,
        ignore_index: int | None = None, log_fn=None, progress: bool = False, checkpoint: str | Path | None = None,
        fingerprint: str = "", extra_loss=None, on_model=None) -> Fitted:
    """The array-level core of step train: one seed's model trained on normalized photos and their
    targets (class channels 0..n-1, ``ignore_index`` elsewhere; default the workflow's target ignore value).

    Seeds every generator, builds the model of ``model_cfg`` (its encoder from ``encoder_weights``,
    default ``model_cfg``'s), samples patches as ``train_cfg`` says (with ``augment.drift``, from ``raw``
    and ``luts``: the photos before normalization and their lookup tables), plans the steps for
    ``steps: auto``, refuses a step that cannot fit in memory, and trains. The workflow's train rule
    (:func:`train_seed`), ``crustwatch audit --rebuild`` and the benchmarks all train through here.
    ``on_model(model)`` is called with the model before training starts (a learning curve scores it
    from ``log_fn`` as it trains).
    """
    from .. import metrics, models
    from ..data import PatchSampler
    from ..plan import plan_steps
    from ..project import section
    from ..train import TrainConfig, configure_determinism, pick_device, train_model

    log_fn = log_fn or log.info
    ignore_index = metrics.TARGET_IGNORE if ignore_index is None else ignore_index
    cfg = TrainConfig.from_dict({**train_cfg, **(runtime_cfg or {})})
    device = device or pick_device(section("train", given=train_cfg)["device"])
    flags = configure_determinism(seed, cfg.cpu_threads, device)
    weights = model_cfg.get("encoder_weights") if encoder_weights is None else encoder_weights
    model = models.create_model(model_cfg["arch"], model_cfg["encoder"], n_classes, model_cfg["encoder_depth"],
                                model_cfg.get("decoder_channels"), weights)
    if on_model is not None:
        on_model(model)
    sampler = PatchSampler(images, masks, cfg.patch_size, ignore_index, seed, cfg.augment, raw=raw, luts=luts,
                           class_balance=cfg.class_balance)
    plan = None
    if cfg.steps == "auto":
        plan = plan_steps(sampler.class_pixels(), cfg.patch_size, cfg.batch_size, cfg.class_balance, cfg.plan)
        cfg = dataclasses.replace(cfg, steps=plan["steps"])
        log_fn(f"seed {seed}: train.steps auto -> {plan['steps']} steps, set by {plan['decided_by']} "
               f"({plan['classes_present']} classes, {plan['labelled_pixels']} labelled pixels: {plan['by_classes']} "
               f"steps by classes, {plan['by_pixels']} by pixels, bounds {plan['min_steps']}..{plan['max_steps']})")
    _check_train_memory(cfg, model_cfg, n_classes, images, device)
    log_fn(f"seed {seed}: {len(images)} training photos, device {device}, {cfg.steps} steps, "
           f"{flags['torch_threads']} torch threads")
    history = train_model(model, sampler, cfg, n_classes, ignore_index, device, progress=progress, log=log_fn,
                          checkpoint=checkpoint, fingerprint=fingerprint, extra_loss=extra_loss)
    return Fitted(model, history, plan, cfg, flags, device)


def train_seed(job: TrainJob, out_weights: str, out_card: str, out_run: str | None = None,
               runtime_cfg: dict | None = None, progress: bool = True) -> None:
    """Train one model with one seed and write its weights (safetensors), its model card and the
    record of the training run (``out_run``, default ``training_run.json`` beside the card).

    The card holds what shapes the weights and follows from them (seed, settings, the plan, the
    training and validation data by sha256, library versions, determinism flags, the device type,
    losses and validation scores, the weights' sha256): a bit-identical rebuild writes the same
    card, so every output that cites its sha256 still audits. The run record holds the facts of
    this run only (duration, resumed step, host, processor, code commit, loader and log settings).

    ``job.files.raw_photos`` (the ingested photos of the training ids) are read only with
    ``augment.drift``: camera drift is then simulated on the photo as the camera
    saw it, before its normalization.

    ``job.train_cfg`` holds the settings that shape the weights (recorded in the card);
    ``runtime_cfg`` those that do not (log interval, checkpoint interval, loader
    workers). A checkpoint beside the weights lets a killed job resume; it is
    used only when it was made from the same inputs and settings.
    """
    import torch

    from .. import cover, infer, metrics, models, provenance
    from ..project import section
    from ..train import pick_device

    inputs = job.files
    seed, classes, ignore_index, model_cfg, train_cfg = job.seed, job.classes, job.ignore_index, job.model_cfg, job.train_cfg
    train_ids, val_ids, train_photos, train_masks = inputs.train_ids, inputs.val_ids, inputs.train_photos, inputs.train_masks
    val_photos, val_masks, raw_photos = inputs.val_photos, inputs.val_masks, inputs.raw_photos
    filled = section("train", given=train_cfg)  # with the schema's defaults
    device = pick_device(filled["device"])
    pretrained = _pretrained_record(job)
    if job.version and job.sources is not None:
        from .versions import check_sources

        check_sources(job.version, job.sources, inputs.photo_records, inputs.mask_records)
    nrecs, norm_paths = {}, {}
    for path in inputs.norm_records:
        r = files.read_json(path)
        nrecs[r["image_id"]], norm_paths[r["image_id"]] = r, path
    data = _training_data_record(train_ids, val_ids, train_photos, train_masks, val_photos, val_masks,
                                 inputs.photo_records, inputs.mask_records, norm_paths)
    # one output channel per configured class, whatever the ids and the ignore value
    n_classes = len(classes)
    shaping = {
        "seed": seed, "model": model_cfg, "train": train_cfg, "classes": classes, "ignore_index": ignore_index,
        "inputs": {i: (d["normalized_photo_sha256"], d["ingested_mask_sha256"]) for i, d in data.items()},
        "device": device.type, "threads": filled["cpu_threads"],
        **({"pretrained": pretrained["encoder_sha256"]} if pretrained else {}),
    }
    imgs, masks = _load_training_pairs(train_photos, train_masks, classes)
    target_ignore = metrics.TARGET_IGNORE  # the targets' ignore value (the project's is in the card)
    raw = luts = None
    if filled["augment"]["drift"]:
        if not raw_photos or len(raw_photos) != len(train_ids):
            raise CrustWatchError("train.augment.drift needs the ingested photos of the training rows")
        raw, luts = [], []
        for i, path, img in zip(train_ids, raw_photos, imgs):
            r = nrecs[i]
            photo, _ = io.read_raster(path)
            raw.append(norm.resample_photo(photo, img.shape[1:]))
            luts.append(np.asarray(r["lut"], dtype=np.float32))
    fitted = fit(seed, imgs, masks, n_classes, model_cfg, train_params_filled(train_cfg), runtime_cfg=runtime_cfg,
                 raw=raw, luts=luts,
                 # a pretrained encoder began from model.encoder_weights itself (None: model.encoder_weights)
                 encoder_weights=job.pretrained_encoder,
                 device=device, progress=progress, checkpoint=Path(out_weights).with_name("checkpoint.safetensors"),
                 fingerprint=provenance.digest(shaping))
    model, history, plan, cfg, flags = fitted.model, fitted.history, fitted.plan, fitted.cfg, fitted.flags

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
        # the model version (crustwatch.versions): named by the training data and settings
        **({"version": job.version} if job.version else {}),
        "seed": seed,
        "split_seed": job.split_seed,
        "model": {**model_cfg, "encoder_weights_sha256": files.sha256_file(ew) if ew and models.is_weights_path(ew) else None},
        "n_classes": n_classes,
        "classes": classes,
        "ignore_index": ignore_index,
        "train": dict(train_cfg),
        # train.steps auto: the steps trained and how the data decided them
        "plan": plan or {"steps": cfg.steps, "decided_by": "train.steps"},
        # labelled training pixels per output channel (predict.prior_correction's class frequencies)
        "class_pixels": [int(n) for n in sum(cover.class_pixels(m, m != target_ignore, n_classes) for m in masks)],
        # the self-supervised encoder training started from (absent: from model.encoder_weights)
        **({"pretrained": pretrained} if pretrained else {}),
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
        "determinism": provenance.determinism_record(flags, nondet, device),
        "training": {k: history[k] for k in ("steps", "loss_first", "loss_last")},
        "validation": val_metrics,
        "weights": str(out_weights),
        "weights_sha256": sha,
    }
    files.write_json(out_card, card)
    files.write_json(out_run or str(Path(out_card).with_name("training_run.json")), {
        "seed": seed,
        "weights_sha256": sha,
        "card_sha256": files.sha256_file(out_card),
        **provenance.run_facts(history, device),
        "runtime": {k: getattr(cfg, k) for k in ("log_every", "checkpoint_every", "workers")},
    })


def _pretrained_record(job: TrainJob) -> dict | None:
    """What the card says of the pretrained encoder: its card and weights by sha256, method and losses."""
    if not job.pretrained_encoder:
        return None
    if not job.pretrained_card:
        raise CrustWatchError("a pretrained encoder needs its card (rule pretrain writes both)")
    card = files.read_json(job.pretrained_card)
    sha = files.sha256_file(job.pretrained_encoder)
    if card.get("encoder_sha256") != sha:
        raise CrustWatchError(
            f"pretrained encoder '{job.pretrained_encoder}' has sha256 {sha[:12]}... but its card "
            f"'{job.pretrained_card}' records {str(card.get('encoder_sha256'))[:12]}...; rebuild it "
            f"(snakemake --forcerun {job.pretrained_encoder})")
    if card.get("seed") != job.seed:
        raise CrustWatchError(f"pretrained encoder '{job.pretrained_encoder}' is of seed {card.get('seed')}, "
                              f"not {job.seed}")
    return {
        "card": str(job.pretrained_card),
        "card_sha256": files.sha256_file(job.pretrained_card),
        "encoder": str(job.pretrained_encoder),
        "encoder_sha256": sha,
        "method": card["method"],
        "settings": card["pretrain"],
        "photos": len(card["photos"]),
        "training": card["training"],
    }


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
    from ..project import train_memory_gib

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
    precs = {r["image_id"]: r for r in map(files.read_json, photo_records)}
    mrecs = {r["image_id"]: r for r in map(files.read_json, mask_records)}
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
                "normalized_photo_sha256": files.sha256_file(ph),
                "normalization_record": norm_paths.get(i),
                "ingested_mask": str(m),
                "ingested_mask_sha256": files.sha256_file(m),
            }
    return out


def _nan_none(x):
    return None if x is None or not np.isfinite(x) else float(x)


def ensemble_card(cards: list[str], out_json: str) -> None:
    """The ensemble's card: its members' cards by sha256, and what they must share.

    Members must agree on everything but the seed (model, classes, training data
    and settings, normalization); a mixed ensemble is refused.
    """
    members, shared = [], None
    for c in cards:
        card = files.read_json(c)
        members.append({
            "seed": card["seed"], "card": str(c), "card_sha256": files.sha256_file(c),
            "weights": card.get("weights"), "weights_sha256": card["weights_sha256"],
            "validation": card.get("validation", {}),
        })
        same = {k: card.get(k) for k in ("model", "classes", "ignore_index", "train", "split_seed", "version")}
        same["data"] = {i: (d["normalized_photo_sha256"], d["ingested_mask_sha256"]) for i, d in card.get("data", {}).items()}
        same["normalization"] = {k: card["normalization"].get(k) for k in norm.NORM_KEYS}
        # pretrained or not, and how (each seed has its own encoder)
        same["pretrained"] = {k: card["pretrained"][k] for k in ("method", "settings")} if "pretrained" in card else None
        if shared is None:
            shared, first = same, card
        elif same != shared:
            diff = sorted(k for k in same if same[k] != shared[k])
            raise CrustWatchError(
                f"model cards '{cards[0]}' and '{c}' differ in {', '.join(diff)}; the members of an ensemble must "
                "differ only in their seed. Rebuild the stale models (snakemake reruns them when settings change)"
            )
    files.write_json(
        out_json,
        {
            "card_version": 2,
            **({"version": first["version"]} if first.get("version") else {}),
            "members": members,
            "seeds": [m["seed"] for m in members],
            "model": first["model"],
            "classes": first["classes"],
            "ignore_index": first["ignore_index"],
            "split_seed": first["split_seed"],
            "train": first["train"],
            "train_images": first["train_images"],
            "val_images": first["val_images"],
            "normalization": {k: first["normalization"].get(k) for k in norm.NORM_KEYS},
            "patch_size": first["train"]["patch_size"],
            **({"pretrained": shared["pretrained"]} if shared["pretrained"] else {}),
        },
    )
