"""Training is deterministic per seed; weights round-trip through safetensors with a checked hash."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crustwatch import models
from crustwatch.data import Augment, PatchSampler
from crustwatch.errors import CrustWatchError
from crustwatch.train import TrainConfig, configure_determinism, train_model


#: the photometric augmentation only (no camera drift simulation: no raw photos here)
PLAIN = Augment.from_dict(drift=False)


def _data():
    rng = np.random.default_rng(0)
    imgs = [rng.normal(size=(3, 48, 40)).astype(np.float32) for _ in range(2)]
    masks = [rng.integers(0, 3, size=(48, 40)).astype(np.uint8) for _ in range(2)]
    masks[0][:5] = 255
    return imgs, masks


def _train(seed: int, steps: int = 2, workers: int = 0, log=lambda s: None, **kw) -> dict[str, torch.Tensor]:
    cfg = TrainConfig.from_dict(patch_size=32, batch_size=4, steps=steps, cpu_threads=1, log_every=1, workers=workers,
                      checkpoint_every=2)
    configure_determinism(seed, cfg.cpu_threads, torch.device("cpu"))
    model = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])
    imgs, masks = _data()
    sampler = PatchSampler(imgs, masks, cfg.patch_size, 255, seed, Augment.from_dict(drift=False))
    train_model(model, sampler, cfg, 3, 255, torch.device("cpu"), progress=False, log=log, **kw)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_identical_weights_twice():
    a = _train(5)
    b = _train(5)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loader_workers_do_not_change_the_weights():
    # two processes make the batches, in whatever order they finish: same weights
    assert _same(_train(5, steps=3), _train(5, steps=3, workers=2))


KILLED_RUN = """
import sys, time
sys.path.insert(0, {scripts!r})
sys.path.insert(0, {tests!r})
import test_train as t
from crustwatch import train
save = train.save_checkpoint
def slow_save(*a, **k):  # give the killer time: pause after each checkpoint
    save(*a, **k)
    time.sleep(0.5)
train.save_checkpoint = slow_save
t._train(5, steps=12, checkpoint={ckpt!r}, fingerprint="fp")
print("finished", flush=True)
"""


def test_sigkilled_training_resumes_to_identical_weights(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from safetensors import safe_open

    ckpt = tmp_path / "checkpoint.safetensors"
    script = KILLED_RUN.format(scripts=str(Path(models.__file__).parents[1]), tests=str(Path(__file__).parent),
                               ckpt=str(ckpt))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint appeared"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with safe_open(str(ckpt), framework="pt") as f:
        import json

        step = json.loads(f.metadata()["crustwatch_checkpoint"])["step"]
    assert 0 < step < 12
    lines: list[str] = []
    resumed = _train(5, steps=12, checkpoint=ckpt, fingerprint="fp", log=lines.append)
    assert f"at step {step}/12" in lines[0]
    assert not ckpt.exists(), "the checkpoint is removed once training ends"
    assert _same(resumed, _train(5, steps=12))


def test_checkpoint_of_other_settings_is_not_used(tmp_path):
    ckpt = tmp_path / "c.safetensors"
    # leave a checkpoint behind by training with another fingerprint and keeping it
    from crustwatch import train

    configure_determinism(5, 1, torch.device("cpu"))
    model = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])
    opt = torch.optim.AdamW(model.parameters())
    train.save_checkpoint(ckpt, 2, model, opt, {"fingerprint": "other", "losses": [1.0, 1.0], "seconds": 1})
    lines: list[str] = []
    assert _same(_train(5, steps=3, checkpoint=ckpt, fingerprint="fp", log=lines.append), _train(5, steps=3))
    assert not any("resumed" in line for line in lines)


def test_other_seed_gives_other_weights():
    a = _train(5)
    c = _train(6)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_training_reduces_loss_on_a_learnable_task():
    # colour says the class: a model must learn it in a few dozen steps
    rng = np.random.default_rng(1)
    m = np.kron(rng.integers(0, 2, size=(8, 8)), np.ones((8, 8))).astype(np.uint8)
    img = np.stack([np.where(m == 1, 1.0, -1.0)] * 3).astype(np.float32) + rng.normal(0, 0.1, (3, 64, 64)).astype(np.float32)
    cfg = TrainConfig.from_dict(patch_size=32, batch_size=8, steps=60, lr=0.01, cpu_threads=1, log_every=60)
    configure_determinism(0, 1, torch.device("cpu"))
    model = models.create_model("Unet", "resnet18", 2, encoder_depth=3, decoder_channels=[16, 8, 4])
    sampler = PatchSampler([img], [m], 32, 255, 0, Augment.from_dict(drift=False, gain=0, offset=0, contrast=0, noise=0, blur_prob=0))
    h = train_model(model, sampler, cfg, 2, 255, torch.device("cpu"), progress=False, log=lambda s: None)
    assert h["loss_last"] < 0.5 * h["loss_first"]


def test_bf16_autocast_learns_and_is_repeatable():
    # precision bf16 (meant for GPUs; CPU autocast runs the same code path): still learns, still deterministic
    rng = np.random.default_rng(1)
    m = np.kron(rng.integers(0, 2, size=(8, 8)), np.ones((8, 8))).astype(np.uint8)
    img = np.stack([np.where(m == 1, 1.0, -1.0)] * 3).astype(np.float32) + rng.normal(0, 0.1, (3, 64, 64)).astype(np.float32)

    def run():
        cfg = TrainConfig.from_dict(patch_size=32, batch_size=8, steps=40, lr=0.01, cpu_threads=1, log_every=40, precision="bf16")
        configure_determinism(0, 1, torch.device("cpu"))
        model = models.create_model("Unet", "resnet18", 2, encoder_depth=3, decoder_channels=[16, 8, 4])
        sampler = PatchSampler([img], [m], 32, 255, 0, Augment.from_dict(drift=False, gain=0, offset=0, contrast=0, noise=0, blur_prob=0))
        h = train_model(model, sampler, cfg, 2, 255, torch.device("cpu"), progress=False, log=lambda s: None)
        return h, model.state_dict()

    (h, a), (_, b) = run(), run()
    assert h["loss_last"] < 0.5 * h["loss_first"]
    assert all(v.dtype != torch.bfloat16 for v in a.values())  # weights stay float32
    assert _same(a, b)
    with pytest.raises(ValueError, match="precision"):
        train_model(models.create_model("Unet", "resnet18", 2, encoder_depth=3, decoder_channels=[16, 8, 4]),
                    PatchSampler([img], [m], 32, 255, 0, PLAIN), TrainConfig.from_dict(steps=1, precision="fp16"), 2, 255,
                    torch.device("cpu"), progress=False, log=lambda s: None)


def test_patch_sampler_is_seeded_and_pads_small_photos():
    imgs, masks = _data()
    small = [np.zeros((3, 10, 12), np.float32)]
    s = PatchSampler(small, [np.zeros((10, 12), np.uint8)], 16, 255, 0, PLAIN)
    x, y = s.batch_at(0, 2)
    assert x.shape == (2, 3, 16, 16) and (y == 255).any()
    a = PatchSampler(imgs, masks, 16, 255, 3, PLAIN)
    b = PatchSampler(imgs, masks, 16, 255, 3, PLAIN)
    # a batch depends on (seed, step) only, not on which batches were drawn before
    b.batch_at(0, 3)
    assert torch.equal(a.batch_at(7, 3)[0], b.batch_at(7, 3)[0])
    assert not torch.equal(a.batch_at(7, 3)[0], a.batch_at(8, 3)[0])
    assert not torch.equal(a.batch_at(7, 3)[0], PatchSampler(imgs, masks, 16, 255, 4, PLAIN).batch_at(7, 3)[0])


def test_class_balance_centres_patches_on_rare_classes():
    # a 1% class in one corner of one photo: uniform crops rarely hold it, balanced ones often
    m = np.zeros((200, 200), np.uint8)
    m[180:200, 180:200] = 1
    m[:, :10] = 255
    img = np.random.default_rng(0).normal(size=(3, 200, 200)).astype(np.float32)
    aug = Augment.from_dict(drift=False, flip_rotate=False, noise=0, blur_prob=0)

    def share(b):
        s = PatchSampler([img, img], [m, np.zeros_like(m)], 32, 255, 0, aug, class_balance=b)
        return np.mean([(s.batch_at(k, 8)[1] == 1).any(dim=(1, 2)).float().mean() for k in range(40)])

    # b / K of the patches (K = 2 classes here) are centred on the rare class
    assert share(0.0) < 0.1 and 0.2 < share(0.5) < 0.35 and share(1.0) > 0.45
    s = PatchSampler([img], [m], 32, 255, 0, aug, class_balance=0.5)
    assert s.class_pixels() == {0: 200 * 190 - 400, 1: 400}
    assert torch.equal(s.batch_at(3, 4)[1], PatchSampler([img], [m], 32, 255, 0, aug, class_balance=0.5).batch_at(3, 4)[1])
    # balance 0 draws exactly the batches of earlier releases (no extra random number)
    assert torch.equal(PatchSampler([img], [m], 32, 255, 0, aug).batch_at(5, 4)[0],
                       PatchSampler([img], [m], 32, 255, 0, aug, class_balance=0).batch_at(5, 4)[0])
    with pytest.raises(ValueError, match="class_balance"):
        PatchSampler([img], [m], 32, 255, 0, aug, class_balance=1.5)


def test_logit_adjusted_loss_shifts_the_cross_entropy_by_the_class_log_frequencies():
    from crustwatch.train import logit_offsets, make_loss

    assert logit_offsets({0: 90, 1: 10}, 2, 0) is None
    off = logit_offsets({0: 899, 1: 99}, 3, 0.5)  # class 2 has no pixel: smoothed, finite
    np.testing.assert_allclose(off.numpy(), 0.5 * np.log(np.array([900, 100, 1]) / 1001), rtol=1e-5)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    target = torch.randint(0, 3, (2, 4, 4), generator=g)
    target[0, 0, 0] = 255  # ignored
    plain = make_loss(3, 255, 0.0)
    adjusted = make_loss(3, 255, 0.0, off)
    # the adjusted loss is the plain loss of the shifted logits; without offsets nothing changes
    torch.testing.assert_close(adjusted(logits, target), plain(logits + off.view(1, 3, 1, 1), target))
    torch.testing.assert_close(make_loss(3, 255, 1.0, None)(logits, target), make_loss(3, 255, 1.0)(logits, target))
    # the Dice term sees the plain logits: the difference of the two losses is cross-entropy's alone
    with_dice = make_loss(3, 255, 1.0, off)(logits, target) - make_loss(3, 255, 1.0)(logits, target)
    torch.testing.assert_close(with_dice, adjusted(logits, target) - plain(logits, target))


def test_steps_auto_follows_classes_and_labelled_pixels():
    from crustwatch.plan import StepsPlan, plan_steps

    DEFAULT = StepsPlan.from_dict()  # the schema's
    few = plan_steps({0: 5000, 1: 5000}, 128, 16, 0.5, StepsPlan.from_dict(class_patches=600, pixel_passes=4, min_steps=200))
    assert few["steps"] == 200 and few["decided_by"] == "min_steps"  # 2 x 600 / 8 = 150 < 200
    seven = plan_steps({c: 10**5 for c in range(7)}, 128, 16, 0.0, DEFAULT)  # the defaults: 7 x 2400 / 16
    assert seven["steps"] == seven["by_classes"] == 1050 and seven["decided_by"] == "classes"
    assert plan_steps({c: 10**5 for c in range(7)}, 128, 16, 0.5, DEFAULT)["steps"] == 2100  # 7 x 2400 / 8
    many_px = plan_steps({0: 10**9, 1: 10**9}, 128, 16, 0.5, DEFAULT)
    assert many_px["steps"] == 5000 and many_px["decided_by"] == "max_steps" and many_px["by_pixels"] > 5000
    # more classes or more pixels never plan fewer steps; absent classes do not count
    assert plan_steps({c: 10**5 for c in range(9)}, 128, 16, 0.0, DEFAULT)["steps"] > seven["steps"]
    assert plan_steps({0: 10**5, 1: 0}, 128, 16, 0.5, DEFAULT)["classes_present"] == 1
    with pytest.raises(ValueError, match="no labelled"):
        plan_steps({0: 0}, 128, 16, 0.5, DEFAULT)
    with pytest.raises(ValueError, match="plan 'auto' first"):
        img, m = np.zeros((3, 32, 32), np.float32), np.zeros((32, 32), np.uint8)
        train_model(models.create_model("Unet", "resnet18", 2, encoder_depth=3, decoder_channels=[16, 8, 4]),
                    PatchSampler([img], [m], 32, 255, 0, PLAIN), TrainConfig.from_dict(steps="auto"), 2, 255,
                    torch.device("cpu"), progress=False, log=lambda s: None)


def test_safetensors_roundtrip_and_hash_check(tmp_path):
    model = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])
    path = tmp_path / "m.safetensors"
    sha = models.save_weights(model, path, {"seed": 1})
    other = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])
    models.load_weights(other, path, expected_sha256=sha)
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k])
    with pytest.raises(CrustWatchError, match="changed or replaced"):
        models.load_weights(other, path, expected_sha256="0" * 64)
    # identical weights give an identical file, metadata included
    assert models.save_weights(other, tmp_path / "again.safetensors", {"seed": 1, "format": "x"}) == models.save_weights(
        other, tmp_path / "again2.safetensors", {"format": "x", "seed": 1}
    )


def test_encoder_weights_names_go_to_smp_and_paths_must_exist(tmp_path):
    # a name is smp's own option (it downloads `imagenet` where there is internet; not testable here):
    # an unknown name reaches smp, whose refusal is passed on with the hint
    with pytest.raises(CrustWatchError, match="nosuchweights.*not a file here either"):
        models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4],
                            encoder_weights="nosuchweights")
    assert not models.is_weights_path("imagenet") and models.is_weights_path("enc.safetensors")
    with pytest.raises(CrustWatchError, match="is not a file"):
        models.create_model("Unet", "resnet18", 3, encoder_depth=3, encoder_weights=str(tmp_path / "missing.pt"))
    # a local file: the encoder starts from its weights
    src = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in src.encoder.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    got = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4],
                              encoder_weights=str(tmp_path / "enc.safetensors"))
    for k, v in src.encoder.state_dict().items():
        assert torch.equal(v, got.encoder.state_dict()[k])


def test_decoder_channels_must_match_depth():
    with pytest.raises(CrustWatchError, match="one width per encoder stage, for example \\[32, 16, 8\\]"):
        models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8])
    # null: smp's widths, as many as the stages used (smp itself would refuse 5 widths for 4 stages)
    net = models.create_model("Unet", "resnet18", 3, encoder_depth=4, decoder_channels=None)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


class _AlertingUnet(torch.nn.Module):
    """A Unet whose forward also calls an op torch flags as non-deterministic (put_)."""

    def __init__(self):
        super().__init__()
        self.net = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4])

    def forward(self, x):
        torch.zeros(2).put_(torch.tensor([0]), torch.tensor([1.0]))
        return self.net(x)


def test_ops_without_deterministic_kernel_are_recorded():
    # on CUDA, training only warns about such ops; the warning must reach the model card
    cfg = TrainConfig.from_dict(patch_size=32, batch_size=2, steps=2, cpu_threads=1)
    configure_determinism(0, 1, torch.device("cpu"))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        imgs, masks = _data()
        h = train_model(_AlertingUnet(), PatchSampler(imgs, masks, 32, 255, 0, PLAIN), cfg, 3, 255, torch.device("cpu"),
                        progress=False, log=lambda s: None)
    finally:
        torch.use_deterministic_algorithms(True)
    assert len(h["nondeterministic_ops"]) == 1 and "put_" in h["nondeterministic_ops"][0]


def test_drift_augmentation_is_seeded_and_keeps_labels_aligned():
    imgs, masks = _data()
    raw = [np.clip(np.round(128 + 40 * i), 0, 255).astype(np.uint8) for i in imgs]
    lut = np.tile(((np.arange(256) / 255.0) - 0.5) / 0.25, (3, 1)).astype(np.float32)
    aug = Augment.from_dict(drift=True, jpeg_prob=1.0, scale=0.3)
    a = PatchSampler(imgs, masks, 16, 255, 3, aug, raw=raw, luts=[lut, lut])
    b = PatchSampler(imgs, masks, 16, 255, 3, aug, raw=raw, luts=[lut, lut])
    xa, ya = a.batch_at(4, 6)
    xb, yb = b.batch_at(4, 6)
    assert xa.shape == (6, 3, 16, 16) and ya.shape == (6, 16, 16)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert set(np.unique(ya.numpy())) <= {0, 1, 2, 255}  # nearest resampling: no mixed labels
    with pytest.raises(ValueError, match="before normalization"):
        PatchSampler(imgs, masks, 16, 255, 3, aug)


def test_drift_augmentation_optics_blur_is_seeded_and_smooths():
    rng = np.random.default_rng(5)
    raw = [rng.integers(0, 256, (3, 48, 48), dtype=np.uint8) for _ in range(2)]
    masks = [np.zeros((48, 48), np.uint8) for _ in range(2)]
    lut = np.tile(((np.arange(256) / 255.0) - 0.5) / 0.25, (3, 1)).astype(np.float32)
    imgs = [lut[0][r] for r in raw]
    plain = dict(drift=True, jpeg_prob=0.0, scale=0.0, wb=0.0, exposure=0.0, gamma=0.0, noise=0.0, blur_prob=0.0,
                 gain=0.0, offset=0.0, contrast=0.0, blur_sigma=0.0)

    def batch(**kw):
        return PatchSampler(imgs, masks, 32, 255, 7, Augment.from_dict({**plain, **kw}), raw=raw, luts=[lut, lut]).batch_at(2, 8)[0]

    sharp, blurred = batch(), batch(blur_sigma=1.5)
    assert torch.equal(blurred, batch(blur_sigma=1.5))  # a pure function of (seed, step)

    def roughness(x):  # mean absolute difference of neighbouring pixels
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    assert roughness(blurred) < 0.8 * roughness(sharp)


def test_drift_settings_do_nothing_with_drift_off():
    """A project that keeps ``drift: false`` trains the same batches whatever the drift ranges (and
    whether ``blur_sigma`` is set): only the train rule's params change, not the weights."""
    imgs, masks = _data()

    def batch(**kw):
        return PatchSampler(imgs, masks, 16, 255, 3, Augment.from_dict(drift=False, **kw)).batch_at(5, 6)

    xa, ya = batch(wb=0.15, exposure=0.25, gamma=0.15)
    xb, yb = batch(wb=0.0, exposure=0.0, gamma=0.0, blur_sigma=1.5, jpeg_prob=1.0, scale=0.5)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    xc, _ = PatchSampler(imgs, masks, 16, 255, 3, Augment.from_dict(drift=False, noise=0.2)).batch_at(5, 6)
    assert not torch.equal(xa, xc)  # the comparison can fail: other settings do change the batches


def test_adabn_re_estimates_batchnorm_statistics_only():
    from crustwatch import infer

    torch.manual_seed(0)
    model = models.create_model("Unet", "resnet18", 3, encoder_depth=3, decoder_channels=[16, 8, 4]).eval()
    shifted = [np.full((3, 64, 64), 2.0, np.float32) + np.random.default_rng(i).normal(size=(3, 64, 64)).astype(np.float32)
               for i in range(2)]
    a = infer.adapt_batchnorm(model, shifted, 32)
    b = infer.adapt_batchnorm(model, shifted, 32)
    sa, sb, s0 = a.state_dict(), b.state_dict(), model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # deterministic
    bn = "encoder.bn1.running_mean"
    assert not torch.equal(sa[bn], s0[bn])  # statistics moved to the new camera's data
    assert all(torch.equal(sa[k], s0[k]) for k in s0 if "running" not in k and "num_batches" not in k)
    assert not a.training


def test_progress_in_logs_is_one_line_per_update():
    import io as _io

    from crustwatch.progress import LineProgress

    t = [0.0]
    console = _io.StringIO()
    bar = LineProgress(200, "train seed 3", console=console, every_s=30, clock=lambda: t[0])
    for _ in range(200):
        t[0] += 0.5  # 100 s in all: a line at each tenth, and none in between
        bar.update(1)
        if bar.n == 100:
            bar.set_postfix(loss="0.5000")
    assert len(bar.lines) == 10 and "\r" not in console.getvalue()
    assert bar.lines[0] == "train seed 3: 20/200 (10%) in 10 s, about 1.5 min left"
    assert bar.lines[-1] == "train seed 3: 200/200 (100%) in 1.7 min [loss 0.5000]"
    assert console.getvalue().splitlines()[4] == "  crustwatch " + bar.lines[4]
    # a slow step still reports every `every_s` seconds
    slow = LineProgress(1000, "predict x (tiles)", console=_io.StringIO(), every_s=30, clock=lambda: t[0])
    for _ in range(3):
        t[0] += 31
        slow.update(1)
    assert len(slow.lines) == 3 and slow.lines[0].startswith("predict x (tiles): 1/1000 (0%) in 31 s")


def test_training_that_cannot_fit_in_memory_is_refused_with_the_numbers(monkeypatch):
    from crustwatch.errors import CrustWatchError as Err
    from crustwatch.steps import train as train_step

    cfg = TrainConfig.from_dict(patch_size=1024, batch_size=64)
    monkeypatch.setattr(train_step, "_available_gib", lambda: 16.0)
    imgs = [np.zeros((3, 100, 100), np.float32)]
    with pytest.raises(Err, match=r"training needs about \d+\.\d GiB .*patch_size 1024.*but 16\.0 GiB"):
        train_step._check_train_memory(cfg, {"encoder_depth": 4, "decoder_channels": [64, 32, 16, 8]}, 7, imgs,
                                     torch.device("cpu"))
    train_step._check_train_memory(TrainConfig.from_dict(), {"encoder_depth": 4, "decoder_channels": [64, 32, 16, 8]}, 7, imgs,
                                 torch.device("cpu"))


def test_the_train_step_core_trains_arrays_as_the_workflow_does():
    """crustwatch.steps.train.fit, which the train rule, the audit's rebuild and the benchmarks call:
    seeded (same weights twice), the plan of steps auto in its result, the model handed out before training."""
    from crustwatch.steps.train import fit

    imgs, masks = _data()
    model_cfg = {"arch": "Unet", "encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 4],
                 "encoder_weights": None}
    train_cfg = {"patch_size": 32, "batch_size": 4, "steps": "auto", "cpu_threads": 1, "augment": {"drift": False},
                 "plan": {"class_patches": 4, "pixel_passes": 0, "min_steps": 2, "max_steps": 5}}
    seen = []
    a = fit(3, imgs, masks, 3, model_cfg, train_cfg, device=torch.device("cpu"), log_fn=lambda s: None,
            on_model=seen.append)
    assert seen == [a.model] and a.plan["steps"] == a.cfg.steps == a.history["steps"] == 3
    assert a.plan["decided_by"] == "classes" and a.flags["use_deterministic_algorithms"]
    b = fit(3, imgs, masks, 3, model_cfg, train_cfg, device=torch.device("cpu"), log_fn=lambda s: None)
    assert _same(a.model.state_dict(), b.model.state_dict())
    c = fit(4, imgs, masks, 3, model_cfg, train_cfg, device=torch.device("cpu"), log_fn=lambda s: None)
    assert not _same(a.model.state_dict(), c.model.state_dict())
