"""Prediction and training throughput: a naive smp loop against CrustWatch's own path.

    make bench-speed                          # CPU, about 6 minutes on 2 cores
    python bench/speed/speed.py --device cuda       # on a GPU machine (bf16 against the bf16 matmul peak)

Both paths run the default model (Unet, resnet18, depth 3, decoder 64-32-16, 7
classes, 128 px tiles) in the same process, after the machine's peak is measured
with a large matrix product (fp32 sgemm on CPU, bf16 on GPU). Columns:
``path device mp_per_s gflop_per_s peak_gflop_per_s fraction_of_peak`` (training:
``samples_per_s`` instead of ``mp_per_s``), plus the settings used. FLOPs are
counted by ``torch.utils.flop_counter`` on one tile (one training batch,
forward and backward).

Prediction of a 3-seed ensemble over a photo (``--mp``, default 1.5 MP), tiles of
128 px at a half-tile step with Gaussian blending:

- ``naive``: plain smp forward: fp32, NCHW, ``torch.no_grad``, one tile at a time,
  each tile's softmax blended into full-photo arrays.
- ``crustwatch``: :func:`crustwatch.infer.predict_maps` as the workflow runs it:
  channels_last, ``torch.inference_mode``, batches of tiles, probabilities held
  for one band of rows, bf16 autocast where the hardware has native bf16 (GPUs,
  CPUs with AVX512-BF16 or AMX: ``predict.precision: auto``), pinned-memory
  transfers on GPU; it also computes the uncertainty bands, which naive does not.
  ``same_class_as_naive``: the fraction of pixels given the same class.

Training (batches of 16 crops of 128 px from 8 labelled photos of ``--train-mp``
MP, default 12 MP, a typical field camera):

- ``naive``: a plain loop that decodes each sample's photo and mask files (JPEG,
  PNG) every step, crops, scales to 0..1 and trains (fp32, NCHW, cross-entropy).
- ``crustwatch``: :func:`crustwatch.train.train_model` on a
  :class:`crustwatch.data.PatchSampler` holding the normalized photos in memory
  (decoded once), channels_last, fixed threads; on GPU bf16 autocast.

Writes ``bench/results/speed/predict_speed.tsv`` and ``train_speed.tsv`` (``--device
cuda``: ``predict_speed_gpu.tsv``, ``train_speed_gpu.tsv``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from crustwatch import demo, files, infer, io, models, provenance  # noqa: E402
from crustwatch.data import Augment, PatchSampler  # noqa: E402
from crustwatch.train import TrainConfig, make_loss, train_model  # noqa: E402

N_CLASSES = 7
PATCH = 128
IGNORE = 255


def new_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.create_model("Unet", "resnet18", N_CLASSES, 3, [64, 32, 16])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gflops(device: torch.device, dtype: torch.dtype | None = None) -> float:
    """A large matrix product: fp32 on CPU, bf16 on GPU (the best of 3 timings)."""
    n = 2048 if device.type == "cpu" else 8192
    dtype = dtype or (torch.float32 if device.type == "cpu" else torch.bfloat16)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 10 if device.type == "cpu" else 50
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best / 1e9


def count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def synthetic_photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A demo plot photo and its mask, tiled (mirrored every other copy) to the size asked for."""
    with tempfile.TemporaryDirectory() as d:
        spec = demo.DemoSpec(seed=seed, plots_per_site=1, dates=demo.DEFAULT_DATES[:1], sites=("mesa",), val_plot=99)
        demo.generate(Path(d) / "data", spec, Path(d) / "images.tsv")
        row = pd.read_csv(Path(d) / "images.tsv", sep="\t").iloc[0]
        photo = io.read_raster(Path(d) / row["image"])[0][:3]
        mask = io.read_raster(Path(d) / row["mask"])[0][0]
    reps = (height // photo.shape[1] + 1, width // photo.shape[2] + 1)
    big = np.tile(photo, (1, *reps))[:, :height, :width].copy()
    big_mask = np.tile(mask, reps)[:height, :width].copy()
    big[:, :, ::2], big_mask[:, ::2] = big[:, :, ::2][:, ::-1], big_mask[:, ::2][::-1]
    return np.ascontiguousarray(big), np.ascontiguousarray(big_mask)


def row(path: str, device: torch.device, rate: float, gflops: float, peak: float, unit: str, **extra) -> dict:
    return {"path": path, "device": device.type, unit: round(rate, 3), "gflop_per_s": round(gflops, 1),
            "peak_gflop_per_s": round(peak, 1), "fraction_of_peak": round(gflops / peak, 3), **extra}


# ---------------------------------------------------------------- prediction


@torch.no_grad()
def naive_predict(nets, img: np.ndarray, step_fraction: float = 0.5) -> np.ndarray:
    """Sliding window with a plain forward per tile (NCHW fp32), blended into full-photo arrays."""
    _, h, w = img.shape
    weight = infer.gaussian_weight(PATCH)
    acc = np.zeros((len(nets), N_CLASSES, h, w), np.float32)
    norm = np.zeros((h, w), np.float32)
    for y, x in infer.tile_coords(h, w, PATCH, step_fraction):
        tile = torch.from_numpy(np.ascontiguousarray(img[:, y : y + PATCH, x : x + PATCH]))[None]
        for m, net in enumerate(nets):
            acc[m, :, y : y + PATCH, x : x + PATCH] += torch.softmax(net(tile), 1)[0].numpy() * weight
        norm[y : y + PATCH, x : x + PATCH] += weight
    return (acc / norm).mean(0).argmax(0).astype(np.uint8)


def bench_predict(device: torch.device, mp: float, batch: int, peak: float) -> list[dict]:
    width = int(round((mp * 1e6 * 1.5) ** 0.5))
    height = int(round(mp * 1e6 / width))
    photo, _ = synthetic_photo(height, width)
    img = ((photo.astype(np.float32) - 128) / 64).astype(np.float32)
    nets = [new_model(s).eval() for s in range(3)]
    n_tiles = len(infer.tile_coords(height, width, PATCH, 0.5))
    tile_flops = count_flops(lambda: nets[0](torch.zeros(1, 3, PATCH, PATCH))) * len(nets)
    rows = []
    # naive: on CPU the photo's tiles; on a GPU the same loop (tiles moved one at a time)
    naive_nets = [n.to(device) for n in nets]
    if device.type == "cpu":
        naive_predict(naive_nets, img[:, :256, :256])  # warm-up
        t = time.perf_counter()
        naive_map = naive_predict(naive_nets, img)
        dt = time.perf_counter() - t
    else:
        naive_map = None
        dt = naive_predict_gpu(naive_nets, img, device)
    rows.append(row("naive", device, height * width / 1e6 / dt, n_tiles * tile_flops / dt / 1e9, peak, "mp_per_s",
                    seconds=round(dt, 2), tiles=n_tiles, batch=1, layout="NCHW", precision="fp32"))
    fast = [new_model(s).eval().to(device, memory_format=torch.channels_last) for s in range(3)]
    bf16 = infer.native_bf16(device)  # what `predict.precision: auto` picks
    infer.predict_maps(fast, infer.ArrayRows(img[:, :256, :256]), N_CLASSES, PATCH, 0.5, batch, device,
                       with_uncertainty=True, bf16=bf16)  # warm-up
    sync(device)
    t = time.perf_counter()
    out = infer.predict_maps(fast, infer.ArrayRows(img), N_CLASSES, PATCH, 0.5, batch, device, with_uncertainty=True,
                             bf16=bf16)
    sync(device)
    dt = time.perf_counter() - t
    agree = float((out["classes"] == naive_map).mean()) if naive_map is not None else float("nan")
    rows.append(row("crustwatch", device, height * width / 1e6 / dt, n_tiles * tile_flops / dt / 1e9, peak,
                    "mp_per_s", seconds=round(dt, 2), tiles=n_tiles, batch=batch, layout="channels_last",
                    precision="bf16" if bf16 else "fp32", same_class_as_naive=round(agree, 5)))
    return rows


@torch.no_grad()
def naive_predict_gpu(nets, img: np.ndarray, device: torch.device) -> float:
    """The naive loop on a GPU: one pageable tile copy and one fp32 forward at a time; returns seconds."""
    sync(device)
    t = time.perf_counter()
    for y, x in infer.tile_coords(img.shape[1], img.shape[2], PATCH, 0.5):
        tile = torch.from_numpy(np.ascontiguousarray(img[:, y : y + PATCH, x : x + PATCH]))[None].to(device)
        for net in nets:
            torch.softmax(net(tile), 1).cpu()
    sync(device)
    return time.perf_counter() - t


# ---------------------------------------------------------------- training


def make_training_files(d: Path, n: int, mp: float) -> list[tuple[Path, Path]]:
    width = int(round((mp * 1e6 * 4 / 3) ** 0.5))
    height = int(round(mp * 1e6 / width))
    pairs = []
    for k in range(n):
        photo, mask = synthetic_photo(height, width, seed=k)
        p, m = d / f"photo{k}.jpg", d / f"mask{k}.png"
        io.write_image_file(p, photo, quality=90)
        io.write_image_file(m, mask[None])
        pairs.append((p, m))
    return pairs


def naive_train(pairs, steps: int, batch: int, device: torch.device) -> float:
    """Decode each sample's photo and mask every step, crop, train fp32 NCHW; returns seconds per step."""
    from PIL import Image

    model = new_model().to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ce = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    rng = np.random.default_rng(0)
    times = []
    for step in range(steps + 1):
        t = time.perf_counter()
        xs, ys = [], []
        for _ in range(batch):
            p, m = pairs[int(rng.integers(len(pairs)))]
            photo = np.asarray(Image.open(p).convert("RGB"))
            mask = np.asarray(Image.open(m))
            y0 = int(rng.integers(photo.shape[0] - PATCH))
            x0 = int(rng.integers(photo.shape[1] - PATCH))
            xs.append(photo[y0 : y0 + PATCH, x0 : x0 + PATCH].transpose(2, 0, 1) / 255.0)
            ys.append(mask[y0 : y0 + PATCH, x0 : x0 + PATCH])
        x = torch.from_numpy(np.stack(xs)).float().to(device)
        y = torch.from_numpy(np.stack(ys).astype(np.int64)).to(device)
        loss = ce(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync(device)
        if step:  # the first step warms up
            times.append(time.perf_counter() - t)
    return float(np.mean(times))


def crustwatch_train(pairs, steps: int, batch: int, device: torch.device, threads: int) -> tuple[float, float]:
    """Decode once into a PatchSampler, then train_model; returns (seconds per step, seconds to load)."""
    from crustwatch import normalize as norm

    t = time.perf_counter()
    imgs, masks = [], []
    for p, m in pairs:
        photo = io.read_raster(p)[0][:3]
        lut = norm.lookup_table("camera_moments", norm.histogram(photo))
        imgs.append(norm.apply_lut(photo, lut))
        masks.append(io.read_raster(m)[0][0])
    sampler = PatchSampler(imgs, masks, PATCH, IGNORE, 0, Augment.from_dict(drift=False))
    load = time.perf_counter() - t
    torch.set_num_threads(threads)
    cfg = TrainConfig.from_dict(patch_size=PATCH, batch_size=batch, steps=steps + 1, checkpoint_every=0, log_every=10**6,
                      precision="bf16" if device.type == "cuda" else "fp32")
    model = new_model()
    hist = train_model(model, sampler, cfg, N_CLASSES, IGNORE, device, progress=False, log=lambda *_: None)
    return hist["seconds"] / cfg.steps, load


def bench_train(device: torch.device, mp: float, steps: int, batch: int, peak: float, threads: int) -> list[dict]:
    model = new_model().train()
    x = torch.zeros(batch, 3, PATCH, PATCH)
    y = torch.zeros(batch, PATCH, PATCH, dtype=torch.int64)
    loss_fn = make_loss(N_CLASSES, IGNORE, 1.0)
    sample_flops = count_flops(lambda: loss_fn(model(x), y).backward()) / batch
    with tempfile.TemporaryDirectory() as d:
        pairs = make_training_files(Path(d), 8, mp)
        naive_s = naive_train(pairs, steps, batch, device)
        ours_s, load_s = crustwatch_train(pairs, steps, batch, device, threads)
    rows = []
    for path, s, extra in (("naive", naive_s, {"layout": "NCHW", "data": "decode files every step"}),
                           ("crustwatch", ours_s, {"layout": "channels_last", "data": "patches from memory",
                                                   "load_once_s": round(load_s, 1)})):
        rows.append(row(path, device, batch / s, batch * sample_flops / s / 1e9, peak, "samples_per_s",
                        seconds_per_step=round(s, 3), batch=batch, photo_mp=mp,
                        precision="bf16" if device.type == "cuda" and path == "crustwatch" else "fp32", **extra))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--mp", type=float, default=1.5, help="megapixels of the photo predicted")
    ap.add_argument("--train-mp", type=float, default=12.0, help="megapixels of each training photo")
    ap.add_argument("--steps", type=int, default=10, help="training steps timed per path")
    ap.add_argument("--batch", type=int, default=16, help="tiles per forward pass at prediction")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out-dir", default=str(ROOT / "bench" / "results" / "speed"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    peak = peak_gflops(device)
    print(f"peak ({'bf16' if device.type == 'cuda' else 'fp32'} matmul): {peak:.1f} GFLOP/s")
    if device.type == "cpu":
        print(f"for comparison, bf16 matmul on this CPU: {peak_gflops(device, torch.bfloat16):.1f} GFLOP/s "
              f"(native bf16: {infer.native_bf16(device)})")
    suffix = "" if device.type == "cpu" else "_gpu"
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred = pd.DataFrame(bench_predict(device, args.mp, args.batch, peak))
    pred.to_csv(out / f"predict_speed{suffix}.tsv", sep="\t", index=False)
    print(pred.to_string(index=False))
    train = pd.DataFrame(bench_train(device, args.train_mp, args.steps, 16, peak, args.threads))
    train.to_csv(out / f"train_speed{suffix}.tsv", sep="\t", index=False)
    files.write_json(out / f"speed{suffix}_run.json", provenance.bench_run(ROOT, sys.argv))
    print(train.to_string(index=False))
    for name, df, unit in (("prediction", pred, "mp_per_s"), ("training", train, "samples_per_s")):
        n, c = df.set_index("path").loc["naive"], df.set_index("path").loc["crustwatch"]
        print(f"{name}: crustwatch {c[unit]:.3g} {unit}, {c[unit] / n[unit]:.2f}x naive, "
              f"{c['fraction_of_peak']:.0%} of the matmul peak (naive {n['fraction_of_peak']:.0%})")


if __name__ == "__main__":
    main()
