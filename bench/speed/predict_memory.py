"""Peak memory of predicting one 24 MP photo (6000 x 4000) with the real workflow.

    make bench-memory          # about 6 minutes on 2 CPU cores
    python bench/speed/predict_memory.py --width 3000 --height 2000   # a quicker look

Generates the tiny test project, adds one large unlabelled photo (a camera JPEG,
``--width`` x ``--height``, at the target resolution so nothing is downsampled: the
worst case), trains the default model (3 seeds, a few steps: memory does not depend
on the weights) and runs ``snakemake`` up to that photo's prediction. Snakemake's
benchmark of the predict job gives its peak resident memory (``max_rss``), which
is printed beside what the whole-photo algorithm would need for its per-seed
probabilities alone (seeds x classes x pixels x 4 bytes). Writes
``bench/results/speed/predict_memory.tsv``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from crustwatch import demo, files, io, paths, provenance  # noqa: E402

BIG = {"image_id": "big_P1_2024-06-01", "site": "big", "plot": "P1", "date": "2024-06-01"}


def make_project(root: Path, width: int, height: int, seeds: int, steps: int) -> str:
    """The tiny project plus one large photo; returns the large photo's shard."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    demo.generate(root / "data", demo.tiny_spec(), root / "images.tsv")
    sheet = pd.read_csv(root / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    src = sheet[sheet["camera"] == "cam-B"].iloc[0]
    photo, _ = io.read_raster(root / src["image"])
    reps = (1, height // photo.shape[1] + 1, width // photo.shape[2] + 1)
    big = np.tile(photo, reps)[:, :height, :width]
    # mirror every other copy so the tiles do not repeat exactly
    big[:, :, ::2] = big[:, :, ::2][:, ::-1]
    io.write_image_file(root / "data" / "photos" / "big.jpg", np.ascontiguousarray(big), quality=90)
    row = {c: "" for c in sheet.columns}
    row.update(BIG, camera="cam-B", image="data/photos/big.jpg", mm_per_px="1.0")
    pd.concat([sheet, pd.DataFrame([row])]).to_csv(root / "images.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.update(images="images.tsv", classes=demo.demo_classes(), seeds=list(range(seeds)))
    cfg["normalize"]["target_mm_per_px"] = 1.0
    cfg["train"].update(steps=steps, checkpoint_every=0)
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return f"big_{BIG['date']}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "data" / "predict_memory"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "speed" / "predict_memory.tsv"))
    args = ap.parse_args(argv)
    root = Path(args.workdir)
    shard = make_project(root, args.width, args.height, args.seeds, args.steps)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    subprocess.run([str(bin_dir / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(root),
                    "--configfile", str(root / "config.yaml"), "--cores", "2",
                    paths.manifest("predict", shard)], check=True, env=env)
    wall = time.perf_counter() - t0
    bench = pd.read_csv(root / "benchmarks" / "predict" / f"{shard}.tsv", sep="\t")
    n_classes = len(demo.demo_classes())
    pixels = args.width * args.height
    whole = args.seeds * n_classes * pixels * 4 / 2**20
    row = {
        "width": args.width, "height": args.height, "megapixels": round(pixels / 1e6, 1), "seeds": args.seeds,
        "classes": n_classes, "predict_max_rss_mb": round(float(bench["max_rss"].iloc[0]), 1),
        "predict_s": round(float(bench["s"].iloc[0]), 1),
        "whole_photo_probabilities_mb": round(whole, 1), "workflow_wall_s": round(wall, 1),
    }
    out = pd.DataFrame([row])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, sep="\t", index=False)
    files.write_json(Path(args.out).with_name(Path(args.out).stem + "_run.json"),
                     provenance.bench_run(ROOT, sys.argv, time.perf_counter() - t0))
    print(out.to_string(index=False))
    print(f"\npredicting a {row['megapixels']} MP photo with {args.seeds} seeds peaked at "
          f"{row['predict_max_rss_mb']:.0f} MB resident (target: under 2048 MB); the per-seed probabilities of "
          f"the whole photo alone would take {whole:.0f} MB")


if __name__ == "__main__":
    main()
