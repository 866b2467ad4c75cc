"""GPU check: run on a machine with CUDA (one short call); prints what README states.

    python bench/gpu/gpu_check.py [--out results.json]     # about 1-2 minutes on one GPU

Checks, with the workflow's own training code and deterministic settings:

1. two seeds, each trained twice on CUDA: bit-identical weights per seed?
2. the ops that warned they have no deterministic CUDA kernel (recorded in model cards);
3. resume on CUDA: a run restarted from its mid-run checkpoint ends with the same weights;
4. loader workers (4 processes) give the same weights as none;
5. an architecture with bilinear upsampling (FPN), to show its alerts are caught;
6. timing: training step and sliding-window prediction on the GPU.

Needs torch and segmentation-models-pytorch (no rasterio, no Snakemake).
Exit code 0 when every determinism check passed, 1 otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))

from crustwatch import infer, models, train  # noqa: E402
from crustwatch.data import Augment, PatchSampler  # noqa: E402
from crustwatch.train import TrainConfig, configure_determinism, train_model  # noqa: E402

N_CLASSES = 7


def data():
    rng = np.random.default_rng(0)
    imgs = [rng.normal(size=(3, 256, 256)).astype(np.float32) for _ in range(4)]
    masks = [rng.integers(0, N_CLASSES, size=(256, 256)).astype(np.uint8) for _ in range(4)]
    masks[0][:40] = 255
    return imgs, masks


def weights_sha(model) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train_once(seed, device, steps=30, arch="Unet", workers=0, checkpoint=None, fingerprint=""):
    cfg = TrainConfig.from_dict(patch_size=128, batch_size=16, steps=steps, cpu_threads=2, workers=workers,
                      checkpoint_every=steps // 2, log_every=steps)
    flags = configure_determinism(seed, cfg.cpu_threads, device)
    kw = {"decoder_channels": [64, 32, 16]} if arch == "Unet" else {}
    model = models.create_model(arch, "resnet18", N_CLASSES, encoder_depth=3 if arch == "Unet" else 5, **kw)
    imgs, masks = data()
    sampler = PatchSampler(imgs, masks, 128, 255, seed, Augment.from_dict(drift=False))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.time()
    hist = train_model(model, sampler, cfg, N_CLASSES, 255, device, progress=False, log=lambda s: None,
                       checkpoint=checkpoint, fingerprint=fingerprint)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return weights_sha(model), (time.time() - t) / steps, hist, flags, model


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    ap.add_argument("--device", default="cuda", help="cpu: check this script itself, slowly (default cuda)")
    ap.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA not available: nothing to check here")
        return 1
    dev = torch.device(args.device)
    S = args.steps
    cuda = dev.type == "cuda"
    res: dict = {"gpu": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
                 "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None}
    print(f"device: {res['gpu']}; torch {res['torch']}; CUDA {res['cuda']}; cuDNN {res['cudnn']}")
    ok = True

    # 1-2. two seeds twice
    res["seeds"] = {}
    for seed in (0, 1):
        a, dt, hist, flags, _ = train_once(seed, dev, S)
        b, _, _, _, _ = train_once(seed, dev, S)
        same = a == b
        ok &= same
        res["seeds"][seed] = {"run1": a, "run2": b, "identical": same, "ms_per_step": round(dt * 1000, 1),
                              "nondeterministic_ops": hist["nondeterministic_ops"]}
        print(f"seed {seed}: two {dev.type} runs bit-identical: {same} ({a[:12]} / {b[:12]}); {dt * 1000:.1f} ms/step "
              f"(incl. first-step warm-up); non-deterministic ops: {hist['nondeterministic_ops'] or 'none'}")
    res["flags"] = flags
    print("flags:", json.dumps(flags))
    differ = res["seeds"][0]["run1"] != res["seeds"][1]["run1"]
    print(f"seeds 0 and 1 differ: {differ}")
    ok &= differ

    # 3. resume from a mid-run checkpoint on the GPU
    tmp = Path(tempfile.mkdtemp())
    ckpt = tmp / "checkpoint.safetensors"
    save = train.save_checkpoint

    def keep_copy(path, step, *a, **k):
        save(path, step, *a, **k)
        shutil.copy(path, tmp / f"step{step}.safetensors")

    train.save_checkpoint = keep_copy
    full, _, _, _, _ = train_once(0, dev, S, checkpoint=ckpt, fingerprint="gpu")
    train.save_checkpoint = save
    shutil.copy(tmp / f"step{S // 2}.safetensors", ckpt)
    resumed, _, hist, _, _ = train_once(0, dev, S, checkpoint=ckpt, fingerprint="gpu")
    same = resumed == full == res["seeds"][0]["run1"] and hist["resumed_from_step"] == S // 2
    ok &= same
    res["resume_identical"] = same
    print(f"resumed at step {hist['resumed_from_step']} of {S} on {dev.type}: identical to uninterrupted: {same}")

    # 4. loader workers
    w4, _, _, _, _ = train_once(0, dev, S, workers=4)
    same = w4 == res["seeds"][0]["run1"]
    ok &= same
    res["workers4_identical"] = same
    print(f"4 loader workers give the same weights as none: {same}")

    # 5. an architecture with bilinear upsampling
    a, _, hist, _, _ = train_once(0, dev, steps=4, arch="FPN")
    b, _, _, _, _ = train_once(0, dev, steps=4, arch="FPN")
    res["fpn"] = {"identical": a == b, "nondeterministic_ops": hist["nondeterministic_ops"]}
    print(f"FPN (bilinear upsampling): two runs identical: {a == b}; recorded ops: {hist['nondeterministic_ops']}")

    # 5b. the alerts themselves: known non-deterministic backward ops, called directly
    import warnings

    import torch.nn.functional as F

    probe = {}
    for name, fn in {"bilinear_upsampling_backward": lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
                     "adaptive_avg_pool_backward": lambda x: F.adaptive_avg_pool2d(x, 3)}.items():
        x = torch.randn(2, 4, 16, 16, device=dev, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(x).sum().backward()
        probe[name] = [str(w.message)[:160] for w in caught if "deterministic" in str(w.message)]
        print(f"probe {name}: alert raised: {bool(probe[name])} {probe[name][:1]}")
    res["probe"] = probe
    a, _, hist, _, _ = train_once(0, dev, steps=4, arch="DeepLabV3Plus")
    b, _, _, _, _ = train_once(0, dev, steps=4, arch="DeepLabV3Plus")
    res["deeplabv3plus"] = {"identical": a == b, "nondeterministic_ops": hist["nondeterministic_ops"]}
    print(f"DeepLabV3Plus (ASPP pooling, bilinear): two runs identical: {a == b}; "
          f"recorded ops: {hist['nondeterministic_ops']}")

    # 6. timing
    _, dt_gpu, _, _, model = train_once(0, dev, 2 * S)
    res["train_ms_per_step_16x128"] = round(dt_gpu * 1000, 2)
    print(f"training step (16 x 128 px, Unet-r18 depth 3): {dt_gpu * 1000:.1f} ms on {dev.type}")
    img = np.random.default_rng(1).normal(size=(3, 2000, 3000)).astype(np.float32)
    model = model.to(dev, memory_format=torch.channels_last).eval()
    infer.sliding_window_probs([model] * 3, img[:, :256, :256], N_CLASSES, 128, 0.5, 64, dev)  # warm-up
    if cuda:
        torch.cuda.synchronize()
    t = time.time()
    infer.sliding_window_probs([model] * 3, img if cuda else img[:, :500, :1000], N_CLASSES, 128, 0.5, 64, dev)
    if cuda:
        torch.cuda.synchronize()
    dt = time.time() - t
    mp = 6 if cuda else 0.5
    res["predict_mp_per_s_3_seeds"] = round(mp / dt, 2)
    print(f"prediction, 3 seeds, {mp} MP photo: {dt:.2f} s ({mp / dt:.2f} MP/s)")
    res["all_determinism_checks_passed"] = bool(ok)
    print(f"ALL DETERMINISM CHECKS PASSED: {ok}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
