"""Step ``predict``: the ensemble's class map, per-seed maps, uncertainty and preview of each photo."""

from __future__ import annotations

import json
import logging

import numpy as np

from .. import files, io, shards
from .. import normalize as norm
from ..errors import CrustWatchError

log = logging.getLogger("crustwatch")


def _rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b)."""
    h = color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _load_members(ens: dict, weights: list[str], cards: list[str], device):
    """The ensemble's models with checked weights, and their seeds."""
    import torch

    from .. import models

    n_classes = len(ens["classes"])  # one channel per class (metrics.class_ids)
    m = ens["model"]
    nets, seeds = [], []
    for w, c in zip(weights, cards):
        card = files.read_json(c)
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

    from .. import infer
    from ..train import pick_device

    torch.set_num_threads(max(1, threads))
    ens = files.read_json(ensemble_json)
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
    with files.atomic_path(out_weights) as tmp:
        save_file(tensors, str(tmp), metadata={"crustwatch": json.dumps({"camera": camera, "seeds": seeds})})
    files.write_json(out_record, {
        "camera": camera, "seeds": seeds, "photos": [str(p) for p in photos], "max_tiles": max_tiles,
        "ensemble_card_sha256": files.sha256_file(ensemble_json), "sha256": files.sha256_file(out_weights),
    })
    log.info("AdaBN statistics of camera %s from %d photos for seeds %s", camera, len(photos), seeds)


def training_class_pixels(card: dict, path: str) -> dict[int, int]:
    """Labelled training pixels per output channel, from a member's model card (``class_pixels``;
    a card written before that field: its ``plan``, which ``train.steps: auto`` filled)."""
    if "class_pixels" in card:
        return dict(enumerate(int(n) for n in card["class_pixels"]))
    if "class_pixels" in card.get("plan", {}):
        return {int(c): int(n) for c, n in card["plan"]["class_pixels"].items()}
    raise CrustWatchError(
        f"model card '{path}' does not record its training pixels per class, which predict.prior_correction "
        "needs: retrain (snakemake --cores N --forcerun train) or set predict.prior_correction: 0"
    )


def load_ensemble(ensemble_json: str, weights: list[str], cards: list[str], predict_cfg: dict) -> dict:
    """The ensemble ready to predict: its card, the device, the members (weights checked
    against their cards), the class weights of ``predict.prior_correction`` (None: off) and
    the provenance tags every prediction carries.
    Loaded once per job, however many photos it predicts."""
    from ..infer import prior_weights, undo_logit_adjustment
    from ..train import pick_device

    ens = files.read_json(ensemble_json)
    device = pick_device(predict_cfg.get("device", "auto"))
    nets, seeds = _load_members(ens, weights, cards, device)
    from ..infer import native_bf16

    tau = float(predict_cfg.get("prior_correction", 0) or 0)
    # the soft cover's counts undo a logit-adjusted loss's shift
    tau_train = float(ens.get("train", {}).get("logit_adjust", 0) or 0)
    # the members share their training data (ensemble_card checks it): the first one's counts, where needed
    class_pixels = training_class_pixels(files.read_json(cards[0]), cards[0]) if tau > 0 or tau_train > 0 else None
    class_weights, prior = None, {}
    if tau > 0:
        class_weights = prior_weights(class_pixels, len(ens["classes"]), tau)
        prior = {"prior_correction": tau, "class_weights": [round(float(w), 6) for w in class_weights]}
    soft_weights = undo_logit_adjustment(class_pixels, len(ens["classes"]), tau_train) if tau_train > 0 else None
    precision = predict_cfg.get("precision", "auto")
    return {
        "ens": ens, "device": device, "nets": nets, "seeds": seeds, "class_weights": class_weights,
        # what the prediction tags record of the adjustment (nothing when it is off, so maps predicted
        # before the setting existed keep their tags)
        "prior_settings": prior,
        "soft_weights": soft_weights,
        "soft_tau": tau_train,
        # bfloat16 autocast where the hardware computes it natively (about twice the speed)
        "bf16": precision == "bf16" or (precision == "auto" and native_bf16(device)),
        "tags": {
            "ensemble_card": ensemble_json,
            "ensemble_card_sha256": files.sha256_file(ensemble_json),
            "model_version": ens.get("version", ""),
            "member_cards": ",".join(f"{s}={files.sha256_file(c)}" for s, c in zip(seeds, cards)),
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
    out_soft: str | None = None,
    mask: str | None = None,
    area: str | None = None,
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
    (the photo shown is ``preview_photo``, the ingested photo, when given). With ``out_soft``
    the probabilities summed per class over the plot ``area`` (the sheet's box; the whole photo
    without one), split by the ``mask``'s truth where the photo is labelled (:func:`soft_regions`,
    :func:`soft_table`): the counts of the soft cover estimate (``cover.estimate: soft``).
    ``loaded`` is the ensemble from :func:`load_ensemble` when the caller predicts
    several photos (otherwise it is loaded here).
    """
    import torch

    from .. import infer, metrics
    from ..progress import progress as progress_bar

    torch.set_num_threads(max(1, threads))
    ens = loaded["ens"] if loaded else files.read_json(ensemble_json)
    nrec = files.read_json(norm_record)
    irec = files.read_json(ingest_record)
    want = ens["normalization"]
    got = {k: nrec.get(k) for k in norm.NORM_KEYS}
    if got != {k: want.get(k) for k in norm.NORM_KEYS}:
        show = lambda d: ", ".join(f"{k}={d.get(k)}" for k in norm.NORM_KEYS)  # noqa: E731
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
    # per-seed probabilities (a 24 MP photo stays under 2 GB, `bench/speed/predict_memory.py`)
    to_channel = metrics.channel_lut(ens["classes"])
    regions = None
    if out_soft:
        truth = io.read_raster(mask)[0][0] if mask else None
        regions = soft_regions((irec["height"], irec["width"]), n_classes, to_channel, truth, area)
    with io.RasterRows(photo) as rows:
        if regions is not None:  # the model sees the normalized photo: count there
            regions = norm.resample_mask(regions, (rows.height, rows.width))
        n_tiles = len(infer.tile_coords(rows.height, rows.width, patch, step_fraction))
        with progress_bar(n_tiles, f"predict {nrec['image_id']} (tiles)", enabled=progress) as bar:
            maps = infer.predict_maps(nets, rows, n_classes, patch, step_fraction, predict_cfg.get("batch_size", 16),
                                      device, progress=bar.update, tta=bool(predict_cfg.get("tta", False)),
                                      with_uncertainty=bool(out_uncertainty), with_probabilities=bool(out_probs),
                                      bf16=loaded["bf16"], class_weights=loaded["class_weights"],
                                      regions=regions, n_regions=n_classes + 1,
                                      soft_weights=loaded["soft_weights"])
    shape = (irec["height"], irec["width"])
    ens_map = to_id[norm.resample_mask(maps.pop("classes"), shape)]
    seed_maps = np.stack([to_id[norm.resample_mask(s, shape)] for s in maps.pop("seeds")])
    tags = {
        "image_id": nrec["image_id"],
        **loaded["tags"],
        "predict_settings": json.dumps({"step_fraction": predict_cfg.get("step_fraction", 0.5),
                                        "tta": bool(predict_cfg.get("tta", False)), "adabn": bool(adabn),
                                        "precision": "bf16" if loaded["bf16"] else "fp32", "device": str(device),
                                        **loaded["prior_settings"]},
                                       sort_keys=True),
        "adabn_sha256": files.sha256_file(adabn) if adabn else "",
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
    if out_soft:
        files.write_tsv(soft_table(nrec["image_id"], maps.pop("region_sums"), seeds, to_id, loaded["soft_tau"]),
                        out_soft)
    if out_preview:
        from ..plots import prediction_preview

        classes = [{"id": int(c["id"]), "name": c["name"], "color": hex_colors.get(int(c["id"]))}
                   for c in sorted(ens["classes"], key=lambda c: int(c["id"]))]
        prediction_preview(preview_photo or photo, ens_map, unc, classes, out_preview, title=nrec["image_id"])
    log.info("predicted %s with seeds %s", nrec["image_id"], seeds)


def soft_regions(shape: tuple[int, int], n_channels: int, to_channel: np.ndarray, truth: np.ndarray | None,
                 area: str | None) -> np.ndarray:
    """uint8 (H, W) regions of the soft cover's sums, in the photo's own geometry: inside the plot
    ``area`` (``x0,y0,x1,y1``; all the photo without one) a labelled pixel's region is its true class's
    channel, an unlabelled pixel's (no mask, or the mask's ignore value) ``n_channels``; outside, 255
    (not counted). ``to_channel``: mask value -> channel, 255 for anything that is no class."""
    from ..cover import area_mask
    from ..sheet import parse_box

    counted = area_mask(shape, parse_box(area) if area else None)
    if truth is None:
        regions = np.full(shape, n_channels, dtype=np.uint8)
    else:
        if truth.shape != tuple(shape):
            raise CrustWatchError(f"mask is {truth.shape[0]}x{truth.shape[1]} px but the photo {shape[0]}x{shape[1]}")
        ch = to_channel[truth]
        regions = np.where(ch == 255, n_channels, ch).astype(np.uint8)
    regions[~counted] = 255
    return regions


def soft_table(image_id: str, sums: np.ndarray, seeds: list[int], to_id: np.ndarray, tau: float):
    """The soft cover's counts as a long table ``image_id model true pred prob_px undo_tau``: the
    probability of class ``pred`` summed over the pixels of true class ``true`` (class ids; -1: the
    area's unlabelled pixels), per model (``ensemble``, ``seed<N>``), in the normalized photo's pixels.
    ``undo_tau``: the logit adjustment undone before summing (0: none). Regions without a pixel are left out."""
    import pandas as pd

    n_channels = sums.shape[2]
    names = ["ensemble"] + [f"seed{s}" for s in seeds]
    true_ids = [int(t) for t in to_id] + [-1]
    rows = []
    for r in range(sums.shape[0]):
        if not sums[r, 0].sum() > 0:
            continue
        for m, name in enumerate(names):
            for k in range(n_channels):
                rows.append((image_id, name, true_ids[r], int(to_id[k]), float(sums[r, m, k]), float(tau)))
    return pd.DataFrame(rows, columns=["image_id", "model", "true", "pred", "prob_px", "undo_tau"])


def predict_shard(shard: str, items: list[dict], ensemble_json: str, weights: list[str], cards: list[str],
                  predict_cfg: dict, threads: int, out_manifest: str, progress: bool = True) -> None:
    """Ensemble prediction of every photo of a shard; ``items``: image_id, adabn (the camera's file or None),
    has_mask and area (the sheet's plot box, when it gives one), for the soft cover's sums."""
    adabn = {it["image_id"]: it.get("adabn") for it in items}
    has_mask = {it["image_id"]: bool(it.get("has_mask")) for it in items}
    area = {it["image_id"]: it.get("area") for it in items}
    loaded = load_ensemble(ensemble_json, weights, cards, predict_cfg)
    probs = bool(predict_cfg.get("probabilities", False))
    shards.run_shard(shard, list(adabn), ["prediction", "seeds", "uncertainty", "probabilities", "preview", "soft"],
                     lambda iid, p: predict_image(p["norm_photo"], p["norm_record"], p["ingest_record"],
                                                  ensemble_json, weights, cards, predict_cfg, threads,
                                                  p["prediction"], p["seeds"], progress=progress,
                                                  adabn=adabn[iid], out_uncertainty=p["uncertainty"],
                                                  loaded=loaded, out_probs=p["probabilities"] if probs else None,
                                                  out_preview=p["preview"], preview_photo=p["ingest_photo"],
                                                  out_soft=p["soft"], mask=p["mask"] if has_mask[iid] else None,
                                                  area=area[iid]),
                     out_manifest)
