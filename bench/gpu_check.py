"""GPU check: run on a machine with CUDA (one short call), print what a README needs.

    python bench/gpu_check.py            # about 1-2 minutes on one GPU

1. Trains two seeds twice each for a few steps on CUDA with the deterministic
   settings of the workflow and reports, per seed, whether the two runs gave
   bit-identical weights (and which ops warned that they are not deterministic).
2. Times training steps and sliding-window prediction on CUDA against the CPU.
Exit code 0 when CUDA was used; the determinism result is printed, not asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import hashlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from crustwatch import infer, models  # noqa: E402
from crustwatch.data import PatchSampler  # noqa: E402
from crustwatch.train import TrainConfig, configure_determinism, train_model  # noqa: E402


def data():
    rng = np.random.default_rng(0)
    imgs = [rng.normal(size=(3, 256, 256)).astype(np.float32) for _ in range(4)]
    masks = [rng.integers(0, 7, size=(256, 256)).astype(np.uint8) for _ in range(4)]
    return imgs, masks


def train_once(seed: int, device: torch.device, steps: int = 20):
    cfg = TrainConfig(patch_size=128, batch_size=16, steps=steps, cpu_threads=2)
    configure_determinism(seed, cfg.cpu_threads, device)
    model = models.create_model("Unet", "resnet18", 7, encoder_depth=3, decoder_channels=[64, 32, 16])
    imgs, masks = data()
    sampler = PatchSampler(imgs, masks, 128, 255, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.time()
        train_model(model, sampler, cfg, 7, 255, device, progress=False, log=lambda s: None)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(v.detach().cpu().numpy().tobytes())
    nondet = sorted({str(w.message).split(".")[0][:120] for w in caught if "deterministic" in str(w.message)})
    return h.hexdigest(), dt / steps, nondet, model


def main() -> int:
    if not torch.cuda.is_available():
        print("CUDA not available: nothing to check here")
        return 1
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; CUDA {torch.version.cuda}")
    for seed in (0, 1):
        a, dt, nondet, _ = train_once(seed, dev)
        b, _, _, _ = train_once(seed, dev)
        print(f"seed {seed}: bit-identical rebuild on GPU: {a == b} ({a[:12]} vs {b[:12]}); {dt * 1000:.0f} ms/step")
        for n in nondet:
            print(f"  non-deterministic op warning: {n}")
    _, dt_cpu, _, model = train_once(0, torch.device("cpu"), steps=3)
    print(f"training step (16 x 128 px): GPU {dt * 1000:.0f} ms, CPU {dt_cpu * 1000:.0f} ms")
    img = np.random.default_rng(1).normal(size=(3, 2000, 3000)).astype(np.float32)
    model = model.to(dev).eval()
    for d in (dev,):
        t = time.time()
        infer.sliding_window_probs([model] * 3, img, 7, 128, 0.5, 64, d)
        torch.cuda.synchronize()
        dt = time.time() - t
        print(f"prediction, 3 seeds, 6 MP photo: {dt:.1f} s on {d} ({6 / dt:.2f} MP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
