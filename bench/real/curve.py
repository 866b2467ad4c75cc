"""Learning curve on one fold of the real-photo benchmark: how accuracy grows with training steps,
with and without class-balanced patch sampling. It chose ``train.steps: auto`` and
``train.class_balance`` (bench/real/README.md "Choosing the defaults").

    python bench/real/curve.py --work bench/data/real --fold Stop1 --steps 600 --balance 0,0.5

Reads the photos ``real.py --prepare-only`` wrote under ``--work/data``; the fold's photos are
resampled by ``--scale`` (the benchmark's 1/3) and normalized with the camera's pooled moments,
leaving each photo out of its own pool (as ``camera_moments`` does; all are camera A). One
model per balance setting, seed ``--seed``, trained with the workflow's own sampler, loss and
schedule (``crustwatch.train.train_model``); every ``--every`` steps it is scored on the fold's
test and validation photos with the workflow's sliding window. A curve read off one cosine
schedule is not the same as training each length to the end (the rate is still high mid-way),
so it shows where gains flatten, not the exact score of a shorter plan. Writes ``curve.tsv``
(balance, step, split, overall_accuracy, miou, seconds) into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crustwatch import infer, io, metrics  # noqa: E402
from crustwatch import normalize as norm  # noqa: E402
from crustwatch.steps.train import fit  # noqa: E402
from crustwatch.train import TrainConfig  # noqa: E402

import real  # noqa: E402


def load(data: Path, scale: float) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """image_id -> (raw uint8 photo, normalized photo, mask) at the benchmark's resolution."""
    raw, masks, hists = {}, {}, {}
    for stem in real.DEV:
        iid = real.image_id(stem)
        photo = io.read_photo(data / "photos" / f"{iid}.png")[0]
        shape = norm.scaled_shape(photo.shape[1], photo.shape[2], scale)
        raw[iid] = norm.resample_photo(photo, shape)
        masks[iid] = norm.resample_mask(io.read_raster(data / "masks" / f"{iid}.png")[0][0], shape)
        hists[iid] = norm.histogram(raw[iid])
    out = {}
    for iid in raw:
        hist, _, _ = norm.pooled_histogram(hists, iid)
        lut = norm.lookup_table("camera_moments", hist=hist)
        out[iid] = (raw[iid], norm.apply_lut(raw[iid], lut), masks[iid], lut)
    return out


def figure(df: pd.DataFrame, path: Path) -> None:
    """Overall accuracy and mIoU against steps, one line per balance setting and photo split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("overall_accuracy", "miou")):
        for (b, split), g in df.groupby(["balance", "split"]):
            ax.plot(g["step"], g[metric], marker="o", linestyle="-" if split == "test" else "--",
                    color="C0" if b == 0 else "C1", label=f"class_balance {b:g}, {split} photo")
        ax.set_xlabel("training step (one 600-step cosine schedule)")
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "real"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "real"))
    ap.add_argument("--fold", default="Stop1", help="test plot")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--balance", default="0,0.5", help="class_balance values, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=1 / 3)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--decoder", default="64,32,16,8")
    ap.add_argument("--plot-only", metavar="TSV", help="only draw the figure of an earlier curve TSV")
    args = ap.parse_args(argv)
    if args.plot_only:
        figure(pd.read_csv(args.plot_only, sep="\t"), Path(args.plot_only).with_suffix(".png"))
        return

    data = load(Path(args.work) / "data", args.scale)
    sheet = real.fold_sheet(args.fold, Path(args.work) / "data", drifted=False)
    ids = {s: sheet.loc[sheet.split == s, "image_id"].tolist() for s in ("train", "val", "test")}
    print({k: v for k, v in ids.items()}, flush=True)
    n = len(real.CLASSES)
    device = torch.device("cpu")
    rows = []
    for b in [float(x) for x in args.balance.split(",")]:
        train_cfg = {"steps": args.steps, "log_every": args.every, "checkpoint_every": 0, "class_balance": b,
                     "augment": {"drift": True, "wb": 0, "exposure": 0, "gamma": 0, "blur_sigma": 1.5}}
        model_cfg = {"arch": "Unet", "encoder": "resnet18", "encoder_depth": args.depth,
                     "decoder_channels": [int(c) for c in args.decoder.split(",")], "encoder_weights": None}
        cfg = TrainConfig.from_dict(train_cfg)
        nets = []  # the model being trained, for the scoring callback
        t0, spent = time.time(), [0.0]  # training time excludes the scoring

        def score(msg: str, b=b, nets=nets, t0=t0, spent=spent) -> None:
            print(f"balance {b}: {msg}", flush=True)
            if not msg.startswith("step "):
                return
            net = nets[0]
            step = int(msg.split()[1].split("/")[0])
            t1 = time.time()
            seconds = t1 - t0 - spent[0]
            net.eval()
            with torch.inference_mode():
                for split in ("test", "val"):
                    cm = np.zeros((n, n), dtype=np.int64)
                    for i in ids[split]:
                        p = infer.sliding_window_probs([net], data[i][1], n, cfg.patch_size, device=device)[0]
                        cm += metrics.confusion(p.argmax(0), data[i][2], n, real.IGNORE)
                    s = metrics.scores(cm)
                    rows.append({"balance": b, "step": step, "split": split, "overall_accuracy": s["overall_accuracy"],
                                 "miou": s["miou"], "seconds": round(seconds, 1)})
                    print(f"  {split}: OA {s['overall_accuracy']:.3f} mIoU {s['miou']:.3f}", flush=True)
            net.train()
            spent[0] += time.time() - t1

        # the workflow's own training core; the scoring callback scores the model at every --every steps
        fit(args.seed, [data[i][1] for i in ids["train"]], [data[i][2] for i in ids["train"]], n, model_cfg, train_cfg,
            raw=[data[i][0] for i in ids["train"]], luts=[data[i][3] for i in ids["train"]], device=device,
            ignore_index=real.IGNORE, log_fn=score, on_model=nets.append)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / f"curve_{args.fold}.tsv", sep="\t", index=False)
    figure(pd.DataFrame(rows), out / f"curve_{args.fold}.png")
    print(pd.DataFrame(rows).to_string(), flush=True)


if __name__ == "__main__":
    main()
