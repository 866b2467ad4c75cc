"""Step ``pretrain``: one self-supervised encoder per seed, from the project's normalized photos.

Writes the encoder's weights (safetensors, the format ``model.encoder_weights`` reads), a card
(what shaped them: seed, settings, the photos by sha256, library versions, losses, the weights'
sha256; a bit-identical rebuild writes the same card) and a run record (duration, host, code).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from .. import files, io

log = logging.getLogger("crustwatch")


@dataclasses.dataclass(frozen=True)
class PretrainJob:
    """One seed's pretraining: the photos (normalized, in id order) and every setting that shapes the encoder.

    ``train_cfg`` gives the patch and batch size, weight decay, threads, device and precision (those of the
    supervised training that follows); ``pretrain_cfg`` the method, steps, learning rate and masking.
    """

    seed: int
    image_ids: list[str]
    photos: list[str]
    model_cfg: dict
    pretrain_cfg: dict
    train_cfg: dict


#: the train settings pretraining uses (the rule's params hold only these, so changing another
#: train setting retrains the models but never re-pretrains their encoders)
TRAIN_KEYS = ("patch_size", "batch_size", "weight_decay", "cpu_threads", "device", "precision")


def pretrain_fit(seed: int, images: list[np.ndarray], model_cfg: dict, pretrain_cfg: dict, train_cfg: dict, *,
                 runtime_cfg: dict | None = None, device=None, log_fn=None, progress: bool = False,
                 checkpoint: str | Path | None = None, fingerprint: str = ""):
    """The array-level core of step pretrain: one seed's U-Net (3-band head) trained by masked-image
    modelling on normalized photos ``images`` (C, H, W float). Returns ``(model, history, flags, device)``;
    :func:`crustwatch.pretrain.encoder_state` of the model is the encoder that starts supervised training.
    The pretrain rule (:func:`pretrain_seed`) and the benchmarks pretrain through here."""
    from .. import models
    from ..errors import CrustWatchError
    from ..pretrain import MaskedPatches, masked_l1_loss
    from ..project import section
    from ..train import TrainConfig, configure_determinism, pick_device, train_model

    pc, tc, mc = pretrain_cfg, train_cfg, model_cfg
    if pc["method"] != "masked":
        raise CrustWatchError(f"pretrain.method '{pc['method']}': the pretrain rule runs only for 'masked'")
    cfg = TrainConfig.from_dict({
        **{k: tc[k] for k in TRAIN_KEYS if k in tc}, "steps": int(pc["steps"]), "lr": float(pc["lr"]),
        "dice_weight": 0.0, **(runtime_cfg or {}),
    })
    device = device or pick_device(section("train", given=tc)["device"])
    flags = configure_determinism(seed, cfg.cpu_threads, device)
    # the same body as the supervised model, with a 3-band head that paints the photo back
    model = models.create_model(mc["arch"], mc["encoder"], 3, mc["encoder_depth"], mc.get("decoder_channels"),
                                mc.get("encoder_weights"))
    sampler = MaskedPatches(images, cfg.patch_size, seed, float(pc["mask_ratio"]), int(pc["block_px"]))
    history = train_model(model, sampler, cfg, 3, -1, device, progress=progress, log=log_fn or log.info,
                          checkpoint=checkpoint, fingerprint=fingerprint, loss_fn=masked_l1_loss,
                          label=f"pretrain seed {seed}")
    return model, history, flags, device


def pretrain_seed(job: PretrainJob, out_encoder: str, out_card: str, out_run: str | None = None,
                  runtime_cfg: dict | None = None, progress: bool = True) -> None:
    from .. import models, provenance
    from ..errors import CrustWatchError
    from ..pretrain import encoder_state
    from ..project import section
    from ..train import pick_device

    pc, tc, mc = job.pretrain_cfg, job.train_cfg, job.model_cfg
    if not job.photos:
        raise CrustWatchError("pretrain: no photo to pretrain on (pretrain.until is before every date of the sheet?)")
    device = pick_device(section("train", given=tc)["device"])
    imgs, shas = [], {}
    for i, path in zip(job.image_ids, job.photos):
        img, _ = io.read_raster(path)
        imgs.append(img.astype(np.float32))
        shas[i] = files.sha256_file(path)
    shaping = {"seed": job.seed, "model": mc, "pretrain": pc, "train": {k: tc.get(k) for k in TRAIN_KEYS},
               "photos": shas, "device": device.type}
    log.info("pretrain seed %d: %d photos (%.1f megapixels), %s, %d steps, device %s", job.seed, len(imgs),
             sum(i.shape[1] * i.shape[2] for i in imgs) / 1e6, pc["method"], int(pc["steps"]), device)
    checkpoint = Path(out_encoder).with_name("checkpoint.safetensors")
    model, history, flags, device = pretrain_fit(job.seed, imgs, mc, pc, tc, runtime_cfg=runtime_cfg, device=device,
                                                 log_fn=log.info, progress=progress, checkpoint=checkpoint,
                                                 fingerprint=provenance.digest(shaping))
    model.cpu()
    sha = models.save_state(encoder_state(model), out_encoder, {"seed": job.seed, "format": "crustwatch-encoder-1"})
    nondet = history.pop("nondeterministic_ops")
    files.write_json(out_card, {
        "card_version": 1,
        "kind": "pretrained encoder",
        "seed": job.seed,
        "method": pc["method"],
        "pretrain": dict(pc),
        "model": dict(mc),
        "train": {k: tc.get(k) for k in TRAIN_KEYS},
        "photos": [{"image_id": i, "normalized_photo": p, "sha256": shas[i]} for i, p in zip(job.image_ids, job.photos)],
        "versions": provenance.versions(),
        "device": {"device": device.type},
        "determinism": provenance.determinism_record(flags, nondet, device),
        "training": {k: history[k] for k in ("steps", "loss_first", "loss_last")},
        "encoder": str(out_encoder),
        "encoder_sha256": sha,
    })
    files.write_json(out_run or str(Path(out_card).with_name("pretrain_run.json")), {
        "seed": job.seed,
        "encoder_sha256": sha,
        "card_sha256": files.sha256_file(out_card),
        **provenance.run_facts(history, device),
    })
    log.info("pretrain seed %d: masked L1 %.4f -> %.4f in %.0f s", job.seed, history["loss_first"],
             history["loss_last"], history["seconds"])
