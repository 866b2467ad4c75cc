"""Self-supervised pretraining: seeded masked batches, the loss on hidden pixels only, an encoder
that learns and starts supervised training (crustwatch.pretrain, crustwatch.steps.pretrain)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crustwatch import files, io, models
from crustwatch.errors import CrustWatchError
from crustwatch.pretrain import MaskedPatches, encoder_state, masked_l1_loss
from crustwatch.project import config_problems
from crustwatch.steps import pretrain as step
from crustwatch.train import TrainConfig, configure_determinism, train_model

MODEL = {"arch": "Unet", "encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 4],
         "encoder_weights": None}


def _photos(n=2, h=48, w=56, seed=0):
    """Smooth photos with structure (stripes of varying phase plus noise): there is context to learn from."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    out = []
    for k in range(n):
        base = np.sin((xx + 3 * k) / 3.0) + 0.5 * np.cos(yy / 5.0)
        out.append(np.stack([base, -base, 0.5 * base]) + rng.normal(0, 0.05, (3, h, w)).astype(np.float32))
    return out


def test_masked_batches_are_seeded_and_hide_whole_blocks():
    s = MaskedPatches(_photos(), patch=32, seed=3, mask_ratio=0.5, block=8)
    x1, t1 = s.batch_at(7, 6)
    x2, t2 = s.batch_at(7, 6)
    assert torch.equal(x1, x2) and torch.equal(t1, t2)
    x3, _ = s.batch_at(8, 6)
    assert not torch.equal(x1, x3)
    assert not torch.equal(MaskedPatches(_photos(), 32, 4, 0.5, 8).batch_at(7, 6)[0], x1)
    assert x1.shape == (6, 3, 32, 32) and t1.shape == (6, 4, 32, 32)
    hidden = t1[:, 3]
    # hidden pixels are zero in the input and kept in the target; visible pixels are the photo
    assert torch.all(x1.permute(1, 0, 2, 3)[:, hidden > 0] == 0)
    assert torch.equal(x1.permute(1, 0, 2, 3)[:, hidden == 0], t1[:, :3].permute(1, 0, 2, 3)[:, hidden == 0])
    # whole 8 x 8 blocks, about half of them, at least one per patch
    cells = hidden.reshape(6, 4, 8, 4, 8).amax((2, 4))
    assert torch.equal(hidden, cells.repeat_interleave(8, 1).repeat_interleave(8, 2))
    assert torch.all(cells.sum((1, 2)) >= 1)
    many = torch.cat([s.batch_at(k, 8)[1][:, 3] for k in range(20)])
    assert 0.4 < float(many.mean()) < 0.6


def test_masked_batches_refuse_bad_settings_and_pad_small_photos():
    with pytest.raises(ValueError, match="divide"):
        MaskedPatches(_photos(), patch=32, seed=0, block=12)
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedPatches(_photos(), patch=32, seed=0, mask_ratio=1.0)
    small = MaskedPatches([np.ones((3, 20, 24), np.float32)], patch=32, seed=0, block=8)
    assert small.batch_at(0, 2)[0].shape == (2, 3, 32, 32)


def test_loss_counts_only_the_hidden_pixels():
    truth = torch.randn(2, 3, 8, 8)
    hidden = torch.zeros(2, 1, 8, 8)
    hidden[:, :, :4] = 1
    target = torch.cat([truth, hidden], 1)
    pred = truth.clone()
    pred[:, :, 4:] += 5.0  # wrong only where the pixels were visible
    assert float(masked_l1_loss(pred, target)) == 0.0
    pred[:, :, :4] += 1.0
    assert float(masked_l1_loss(pred, target)) == pytest.approx(1.0)


def _pretrain(seed, steps=30):
    cfg = TrainConfig.from_dict(patch_size=32, batch_size=4, steps=steps, lr=3e-3, cpu_threads=1, log_every=1000)
    configure_determinism(seed, 1, torch.device("cpu"))
    model = models.create_model("Unet", "resnet18", 3, 3, [16, 8, 4])
    sampler = MaskedPatches(_photos(), 32, seed, 0.5, 8)
    hist = train_model(model, sampler, cfg, 3, -1, torch.device("cpu"), progress=False, log=lambda s: None,
                       loss_fn=masked_l1_loss)
    return model, hist


def test_pretraining_learns_and_is_bit_reproducible():
    a, hist = _pretrain(5)
    b, _ = _pretrain(5)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    # the hidden stripes are painted back better than at the start
    assert hist["loss_last"] < 0.75 * hist["loss_first"], hist


def test_exported_encoder_starts_a_segmentation_model(tmp_path):
    model, _ = _pretrain(1, steps=3)
    path = tmp_path / "encoder.safetensors"
    sha = models.save_state(encoder_state(model), path, {"seed": 1})
    assert sha == files.sha256_file(path)
    seg = models.create_model("Unet", "resnet18", 7, 3, [16, 8, 4], encoder_weights=str(path))
    got = seg.encoder.state_dict()
    for k, v in encoder_state(model).items():
        assert torch.equal(got[k], v), k
    # the segmentation head has its own classes; nothing of the painting head is carried over
    assert seg.segmentation_head[0].out_channels == 7


def test_pretrain_step_writes_a_card_that_training_cites(tmp_path):
    from crustwatch.steps.train import TrainJob, TrainingFiles, _pretrained_record

    photos = []
    for k, img in enumerate(_photos(3)):
        p = tmp_path / f"p{k}.tif"
        io.write_raster(p, img.astype(np.float32))
        photos.append(str(p))
    job = step.PretrainJob(seed=2, image_ids=["a", "b", "c"], photos=photos, model_cfg=MODEL,
                           pretrain_cfg={"method": "masked", "steps": 4, "lr": 0.003, "mask_ratio": 0.5, "block_px": 8},
                           train_cfg={"patch_size": 32, "batch_size": 2, "weight_decay": 1e-4, "cpu_threads": 1,
                                      "device": "cpu"})
    enc, card = tmp_path / "out" / "encoder.safetensors", tmp_path / "out" / "encoder_card.json"
    step.pretrain_seed(job, str(enc), str(card), progress=False)
    c = files.read_json(card)
    assert c["seed"] == 2 and c["method"] == "masked" and c["training"]["steps"] == 4
    assert [p["sha256"] for p in c["photos"]] == [files.sha256_file(p) for p in photos]
    assert c["encoder_sha256"] == files.sha256_file(enc) and c["determinism"]["bit_reproducible"]
    run = files.read_json(tmp_path / "out" / "pretrain_run.json")
    assert run["card_sha256"] == files.sha256_file(card) and run["seconds"] > 0
    # a rebuild writes the same encoder and the same card
    enc2, card2 = tmp_path / "again" / "encoder.safetensors", tmp_path / "again" / "encoder_card.json"
    step.pretrain_seed(job, str(enc2), str(card2), progress=False)
    assert files.sha256_file(enc2) == files.sha256_file(enc)
    c2 = files.read_json(card2)
    assert {k: v for k, v in c2.items() if k != "encoder"} == {k: v for k, v in c.items() if k != "encoder"}

    tf = TrainingFiles([], [], [], [], [], [], [], [], [])
    train = TrainJob(seed=2, files=tf, classes=[], ignore_index=255, model_cfg=MODEL, train_cfg={}, split_seed=None,
                     pretrained_encoder=str(enc), pretrained_card=str(card))
    rec = _pretrained_record(train)
    assert rec["encoder_sha256"] == c["encoder_sha256"] and rec["card_sha256"] == files.sha256_file(card)
    assert rec["method"] == "masked" and rec["photos"] == 3
    # another seed's encoder, or one changed after its card was written, is refused
    with pytest.raises(CrustWatchError, match="seed 2, not 3"):
        _pretrained_record(TrainJob(**{**train.__dict__, "seed": 3}))
    enc.write_bytes(enc.read_bytes()[:-1] + b" ")
    with pytest.raises(CrustWatchError, match="forcerun"):
        _pretrained_record(train)


def test_pretrain_settings_are_checked_with_the_config():
    base = {"images": "x.tsv", "classes": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]}
    assert config_problems({**base, "pretrain": {"method": "masked", "until": "2012-05-01"}}) == []
    probs = config_problems({**base, "train": {"patch_size": 40}, "pretrain": {"until": "2012-13-01", "block_px": 16}})
    assert any("pretrain.until" in p and "2012-13-01" in p for p in probs), probs
    assert any("pretrain.block_px: 16 does not divide train.patch_size 40" in p for p in probs), probs
    assert any("pretrain.method" in p for p in config_problems({**base, "pretrain": {"method": "simclr"}}))
