"""How long does Snakemake take to plan a large project? (issue: 10,000 photos in <= 30 s)

    python bench/scale/dag_scale.py                    # 10,000 and 100,000 photos
    python bench/scale/dag_scale.py --photos 1000,10000

For each size it writes a project under ``bench/data/dag_scale/N``: an image sheet
of N photos (monitoring over years: 40 sites x 25 plots x dates, a camera per
date; the first date labelled), every photo a hard link to one tiny generated
PNG (the sheet check needs real files, their content does not matter to the
plan), and times ``snakemake -n`` from a cold start (parsing, sheet
validation, DAG) and a second time. Writes ``bench/results/scale/dag_scale.tsv``
(photos, jobs, seconds) and prints it.
"""

from __future__ import annotations

import argparse
import os
import re
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

from crustwatch import demo, files, provenance  # noqa: E402

BIN = Path(sys.executable).parent


def make_project(n: int, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    sheet = out / "images.tsv"
    if sheet.exists() and len(pd.read_csv(sheet, sep="\t", usecols=["image_id"])) == n:
        return out
    photos, masks = out / "photos", out / "masks"
    photos.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    src = out / "one.png"
    demo.write_image_file(src, rng.integers(0, 255, (3, 64, 64), dtype=np.uint8))
    msk = out / "one_mask.png"
    demo.write_image_file(msk, rng.integers(0, 7, (64, 64), dtype=np.uint8))
    sites, plots = 40, 25
    dates = -(-n // (sites * plots))
    rows = []
    for t in range(dates):
        date = f"{2000 + t // 2}-{5 if t % 2 == 0 else 10:02d}-15"
        for s in range(sites):
            for p in range(plots):
                if len(rows) == n:
                    break
                iid = f"s{s:02d}_p{p:02d}_{date}"
                img = photos / f"{iid}.png"
                if not img.exists():
                    if t % 50 == 0 and not (out / f"one_{t}.png").exists():  # a file takes at most 65,000 links
                        os.link(src, out / f"one_{t}.png") if t == 0 else shutil.copyfile(src, out / f"one_{t}.png")
                    os.link(out / f"one_{t - t % 50}.png", img)
                labelled = t == 0 and p < 3
                if labelled:
                    m = masks / f"{iid}.png"
                    if not m.exists():
                        os.link(msk, m)
                rows.append({"image_id": iid, "site": f"s{s:02d}", "plot": f"p{p:02d}", "date": date,
                             "camera": f"cam{t % 4}", "image": f"photos/{iid}.png",
                             "mask": f"masks/{iid}.png" if labelled else "",
                             "split": ("val" if p == 2 else "train") if labelled else "",
                             "mm_per_px": "1", "reference": ""})
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    cfg = {"images": "images.tsv", "classes": demo.demo_classes(), "ignore_index": 255, "seeds": [0, 1, 2],
           "normalize": {"method": "camera_moments", "target_mm_per_px": 1.0}}
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def dry_run(project: Path) -> tuple[float, int]:
    cmd = [str(BIN / "snakemake"), "-n", "--quiet", "rules", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(project), "--configfile", str(project / "config.yaml")]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{res.stderr[-3000:]}")
    m = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, flags=re.M)
    return dt, int(m.group(1)) if m else -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default="10000,100000")
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "dag_scale"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale" / "dag_scale.tsv"))
    args = ap.parse_args()
    rows = []
    for n in (int(x) for x in args.photos.split(",")):
        t0 = time.perf_counter()
        project = make_project(n, Path(args.data) / str(n))
        made = time.perf_counter() - t0
        first, jobs = dry_run(project)
        second, _ = dry_run(project)
        rows.append({"photos": n, "jobs": jobs, "dry_run_s": round(first, 1), "dry_run_again_s": round(second, 1)})
        print(f"{n} photos (sheet made in {made:.0f} s): {jobs} jobs planned, snakemake -n {first:.1f} s, "
              f"again {second:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, sep="\t", index=False)
    files.write_json(Path(args.out).with_name(Path(args.out).stem + "_run.json"), provenance.bench_run(ROOT, sys.argv))
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
