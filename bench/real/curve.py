"""Learning curves on folds of the real-photo benchmark: how accuracy grows with training steps under one
variant of the training settings. It chose ``train.steps: auto`` and ``train.class_balance``, and compares the
variants in bench/real/README.md ("Choosing the defaults").

    python bench/real/curve.py --folds Stop1,Stop4 --steps 525 --label lr1e-3 --set train.lr=0.001

Reads the photos ``real.py --prepare-only`` wrote under ``--work/data``; the fold's photos are
resampled by ``--scale`` (default: the width ``plans/cpu.yaml`` gives, 1/2 since 2026-12-07 evening; runs
before used 1/3, which their ``run.json`` commands without ``--scale`` mean) and normalized with the
camera's pooled moments, leaving each photo out of its own pool (as ``camera_moments`` does; all are camera A). One
model per fold, seed ``--seed``, trained with the workflow's own sampler, loss and schedule
(``crustwatch.steps.train.fit``) on the schema's defaults plus ``--set`` (``train.*``, ``model.*``);
every ``--every`` steps it is scored on the fold's test and validation photos with the workflow's
sliding window, at the last step also with test-time flips (``tta`` 1). A curve read off one cosine
schedule is not the same as training each length to the end (the rate is still high mid-way), so it
shows where gains flatten, not the exact score of a shorter plan. Writes ``curve_<label>.tsv``
(variant, fold, step, split, tta, overall_accuracy, miou, map_cover_abs_error_pp, soft_cover_abs_error_pp,
[soft_prior_cover_abs_error_pp,] soft_em_cover_abs_error_pp, soft_cal_cover_abs_error_pp,
soft_cal_em_cover_abs_error_pp, seconds) into ``--out``: the cover errors of the maps' fractions, of the mean
probabilities, and of EM prior adaptation without and with calibration on the fold's validation photo
(``score_photos``; bench/real/README.md "Cover by EM prior adaptation").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crustwatch import infer, io, metrics, models  # noqa: E402
from crustwatch import normalize as norm  # noqa: E402
from crustwatch.pretrain import encoder_state  # noqa: E402
from crustwatch.steps.pretrain import pretrain_fit  # noqa: E402
from crustwatch.steps.train import fit  # noqa: E402
from crustwatch.train import TrainConfig  # noqa: E402

import real  # noqa: E402


def plan_scale(plan: Path = real.CPU_PLAN) -> float:
    """The photo width ``plan`` shows the model, as a fraction: camera A's mm per pixel over its
    ``normalize.target_mm_per_px`` (1 where it gives none)."""
    target = (yaml.safe_load(plan.read_text()) or {}).get("normalize.target_mm_per_px")
    return norm.scale_factor(real.CAMERA_A_MM_PER_PX, target)


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
    """Overall accuracy and mIoU against steps, one line per variant (or class balance) and photo split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "variant" not in df:  # the first curve's file: one variant per class_balance value
        df = df.assign(variant=[f"class_balance {b:g}" for b in df["balance"]], fold="Stop1", tta=0)
    df = df[df["tta"] == 0].groupby(["variant", "split", "step"], as_index=False)[["overall_accuracy", "miou"]].mean()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("overall_accuracy", "miou")):
        for k, ((v, split), g) in enumerate(df.groupby(["variant", "split"])):
            ax.plot(g["step"], g[metric], marker="o", linestyle="-" if split == "test" else "--",
                    color=f"C{k // 2}", label=f"{v}, {split} photo(s)")
        ax.set_xlabel("training step (one cosine schedule)")
        ax.set_title(metric.replace("_", " ") + " (mean over folds)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _overrides(pairs: list[str]) -> tuple[dict, dict]:
    """``--set train.x=v`` / ``model.x=v`` (values read as YAML) -> (train settings, model settings)."""
    import yaml

    train, model = {}, {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        target = {"train": train, "model": model}.get(section)
        if target is None or not name:
            raise SystemExit(f"--set {pair}: give train.<key>=<value> or model.<key>=<value>")
        *parents, leaf = name.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = yaml.safe_load(value)
    return train, model


def em_priors(q: np.ndarray, train_prior: np.ndarray, tol: float = 1e-6, max_iter: int = 200) -> np.ndarray:
    """Class shares of a photo by EM prior adaptation (Saerens, Latinne and Decaestecker 2002): ``q`` (classes x
    pixels) are posteriors made under the training class shares ``train_prior``; each pass reweights every pixel's
    posterior by (current shares / training shares), renormalizes, and takes the mean as the new shares, until
    they move by less than ``tol``. The first pass gives the mean posterior (the soft cover)."""
    shares = train_prior.astype(np.float64).copy()
    for _ in range(max_iter):
        w = q * (shares / train_prior)[:, None]
        new = (w / np.maximum(w.sum(0, keepdims=True), 1e-300)).mean(1)
        if np.abs(new - shares).max() < tol:
            return new
        shares = new
    return shares


def undo(probs: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """Posteriors (classes x pixels) multiplied by ``prior`` and renormalized (a logit-adjusted loss's shift
    undone); unchanged without ``prior``."""
    if prior is None:
        return probs
    q = probs * prior[:, None]
    return q / q.sum(0, keepdims=True)


@torch.inference_mode(False)  # also when called from the scoring, under inference_mode
@torch.enable_grad()
def fit_calibration(q: np.ndarray, y: np.ndarray, max_px: int = 200_000) -> tuple[float, np.ndarray, np.ndarray]:
    """Bias-corrected temperature scaling (Alexandari, Kundaje and Shrikumar 2020) on labelled pixels: the
    temperature T and class biases b that minimize the cross-entropy of softmax(log q / T + b) against ``y``
    (a small L2 penalty keeps the bias of a class absent from these pixels finite). Returns T, b and the
    calibration pixels' mean calibrated posterior: the source class shares EM adapts from."""
    idx = np.random.default_rng(0).permutation(q.shape[1])[:max_px]
    logq = torch.from_numpy(np.log(np.clip(q[:, idx], 1e-8, None)).T.astype(np.float32))
    yt = torch.from_numpy(y[idx].astype(np.int64))
    log_t = torch.zeros((), requires_grad=True)
    b = torch.zeros(q.shape[0], requires_grad=True)
    opt = torch.optim.LBFGS([log_t, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logq / log_t.exp() + b, yt) + 1e-3 * (b**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    t, bias = float(log_t.detach().exp()), b.detach().numpy().astype(np.float64)
    return t, bias, calibrate(q, t, bias).mean(1)


def calibrate(q: np.ndarray, t: float, b: np.ndarray) -> np.ndarray:
    """softmax(log q / t + b) over the classes (axis 0)."""
    z = np.log(np.clip(q, 1e-8, None)) / t + b[:, None]
    z = np.exp(z - z.max(0, keepdims=True))
    return z / z.sum(0, keepdims=True)


def labelled_posteriors(models: list, data: dict, ids: list[str], n: int, patch: int, device,
                        prior: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's posteriors (tau undone with ``prior``) and the masks' classes on the labelled pixels of
    ``ids``: (classes x pixels, pixels)."""
    qs, ys = [], []
    for i in ids:
        p = infer.sliding_window_probs(models, data[i][1], n, patch, device=device).mean(0)
        keep = data[i][2] != real.IGNORE
        qs.append(undo(p[:, keep].astype(np.float64), prior))
        ys.append(data[i][2][keep])
    return np.concatenate(qs, 1), np.concatenate(ys)


def dump_posteriors(net, data: dict, ids: dict, fold: str, n: int, patch: int, device, prior: np.ndarray | None,
                    train_prior: np.ndarray, out: Path) -> None:
    """``--dump-probs``: each test and validation photo's posteriors (tau undone) on its labelled pixels, with
    their true classes and the fold's training class shares, as ``<fold>_<split>_<image_id>.npz`` (q, y,
    train_prior), read by ``posteriors.py``."""
    out.mkdir(parents=True, exist_ok=True)
    for split in ("test", "val"):
        for i in ids[split]:
            q, y = labelled_posteriors([net], data, [i], n, patch, device, prior)
            np.savez_compressed(out / f"{fold}_{split}_{i}.npz", q=q.astype(np.float16), y=y.astype(np.uint8),
                                train_prior=train_prior)


def score_photos(models: list, data: dict, ids: list[str], n: int, patch: int, device, tta: bool = False,
                 prior: np.ndarray | None = None, train_prior: np.ndarray | None = None,
                 calib: tuple[float, np.ndarray, np.ndarray] | None = None) -> dict:
    """Overall accuracy, mIoU (summed confusion) and three cover errors, mean over photo x class (pp), all on
    the labelled pixels: the maps' own fractions (``map_cover``: classify and count), the mean of the
    ensemble's probabilities (``soft_cover``: probabilistic classify and count), and that mean with the
    probabilities first multiplied by ``prior`` and renormalized (``soft_prior_cover``: the training class
    frequencies to the power tau of a logit-adjusted loss, which undoes the loss's shift towards rare classes;
    omitted without ``prior``); with ``train_prior`` (the training class shares) also ``soft_em_cover``: the
    photo's shares by EM prior adaptation (:func:`em_priors`) of those posteriors (tau undone where given);
    with ``calib`` (:func:`fit_calibration` on the validation photos) ``soft_cal_cover``, the mean calibrated
    posterior, and ``soft_cal_em_cover``, EM from the calibration photos' shares."""
    cm = np.zeros((n, n), dtype=np.int64)
    errors: dict[str, list] = {"map": [], "soft": [], **({"soft_prior": []} if prior is not None else {}),
                               **({"soft_em": []} if train_prior is not None else {}),
                               **({"soft_cal": [], "soft_cal_em": []} if calib is not None else {})}
    for i in ids:
        p = infer.sliding_window_probs(models, data[i][1], n, patch, device=device, tta=tta).mean(0)
        truth = data[i][2]
        c = metrics.confusion(p.argmax(0), truth, n, real.IGNORE)
        cm += c
        if not c.sum():
            continue
        true = c.sum(1) / c.sum() * 100  # cover on the labelled pixels: truth = row sums, map = column sums
        errors["map"].extend(np.abs(true - c.sum(0) / c.sum() * 100))
        probs = p[:, truth != real.IGNORE].astype(np.float64)  # (n, labelled pixels)
        errors["soft"].extend(np.abs(true - probs.mean(1) * 100))
        q = undo(probs, prior)
        if prior is not None:
            errors["soft_prior"].extend(np.abs(true - q.mean(1) * 100))
        if train_prior is not None:
            errors["soft_em"].extend(np.abs(true - em_priors(q, train_prior) * 100))
        if calib is not None:
            c = calibrate(q, calib[0], calib[1])
            errors["soft_cal"].extend(np.abs(true - c.mean(1) * 100))
            errors["soft_cal_em"].extend(np.abs(true - em_priors(c, calib[2]) * 100))
    s = metrics.scores(cm)
    out = {"overall_accuracy": s["overall_accuracy"], "miou": s["miou"]}
    for name, e in errors.items():
        out[f"{name}_cover_abs_error_pp"] = float(np.mean(e)) if e else float("nan")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "real"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "real"))
    ap.add_argument("--folds", default="Stop1", help="test plots, comma-separated")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--label", default="defaults", help="the variant's name (file curve_<label>.tsv)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="train.<key>=<value> or model.<key>=<value> over the schema's defaults (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=plan_scale(),
                    help="photo width the model sees, as a fraction (default: plans/cpu.yaml's)")
    ap.add_argument("--pretrain-steps", type=int, default=0,
                    help="masked pretraining steps before training (pretrain.method masked, the schema's other "
                    "pretrain settings; on all five development photos, no label used); 0: none")
    ap.add_argument("--dump-probs", metavar="DIR",
                    help="at the last step, write each test and validation photo's posteriors (tau undone, as the "
                    "workflow's soft cover) on its labelled pixels and their true classes to DIR/<fold>_<split>_"
                    "<image_id>.npz (q: classes x pixels float16, y: uint8, train_prior), for posteriors.py")
    ap.add_argument("--val-trains", action="store_true",
                    help="the fold's validation photo also trains (its rows then score a training photo; the "
                    "calibration on it is in-sample): what the photo the workflow keeps for validation costs")
    ap.add_argument("--known-plot", action="store_true",
                    help="the test plot's first photo also trains (Stop 5: 'Stop 5 - Fall 2011'), so its other "
                    "photo is a new photo of a plot the masks already hold, as at a monitoring project's later dates")
    ap.add_argument("--test-photo", metavar="IMAGE_ID",
                    help="score only this one of the fold's test photos (the others are left out of training too, "
                    "unless --known-plot trains them)")
    ap.add_argument("--plot-only", metavar="TSV", help="only draw the figure of an earlier curve TSV")
    args = ap.parse_args(argv)
    if args.plot_only:
        figure(pd.read_csv(args.plot_only, sep="\t"), Path(args.plot_only).with_suffix(".png"))
        return

    from crustwatch.project import section

    data = load(Path(args.work) / "data", args.scale)
    n = len(real.CLASSES)
    device = torch.device("cpu")
    train_set, model_set = _overrides(args.set)
    rows, t_start, pretrained = [], time.time(), {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    encoder = None
    if args.pretrain_steps:  # the workflow's pretraining core, once: every fold pretrains on all photos (no label)
        pcfg = section("pretrain", given={"method": "masked", "steps": args.pretrain_steps})
        net, hist, _, _ = pretrain_fit(args.seed, [data[i][1] for i in sorted(data)], section("model", given=model_set),
                                       pcfg, section("train", given=train_set),
                                       device=device, log_fn=lambda m: print(f"{args.label}: pretrain {m}", flush=True))
        encoder = str(out / f"encoder_{args.label}.safetensors")
        models.save_state(encoder_state(net.cpu()), encoder, {"seed": args.seed})
        pretrained = {"pretrain": {"seconds": round(time.time() - t_start, 1), "loss_first": hist["loss_first"],
                                   "loss_last": hist["loss_last"]}}
    for fold in args.folds.split(","):
        sheet = real.fold_sheet(fold, Path(args.work) / "data", drifted=False)
        ids = {s: sheet.loc[sheet.split == s, "image_id"].tolist() for s in ("train", "val", "test")}
        if args.val_trains:
            ids["train"] = ids["train"] + ids["val"]
        if args.known_plot:
            if len(ids["test"]) < 2:
                raise SystemExit(f"--known-plot: fold {fold} has one test photo; its plot has no other to train on")
            ids["train"], ids["test"] = ids["train"] + ids["test"][:1], ids["test"][1:]
        if args.test_photo:
            if args.test_photo not in ids["test"]:
                raise SystemExit(f"--test-photo {args.test_photo}: not a test photo of fold {fold}: {ids['test']}")
            ids["test"] = [args.test_photo]
        print(fold, ids, flush=True)
        train_cfg = {**train_set, "steps": args.steps, "log_every": args.every, "checkpoint_every": 0}
        model_cfg = section("model", given=model_set)
        cfg = TrainConfig.from_dict(train_cfg)
        counts = np.bincount(np.concatenate([data[i][2].ravel() for i in ids["train"]]), minlength=256)[:n]
        train_prior = infer.class_frequencies(counts.tolist(), n)  # the training class shares (soft_em_cover)
        # the training frequencies ** tau: undoes a logit-adjusted loss's shift (soft_prior_cover)
        prior = train_prior**cfg.logit_adjust if cfg.logit_adjust else None
        nets = []  # the model being trained, for the scoring callback
        t0, spent = time.time(), [0.0]  # training time excludes the scoring

        def score(msg: str, fold=fold, ids=ids, nets=nets, t0=t0, spent=spent, cfg=cfg, prior=prior,
                  train_prior=train_prior) -> None:
            print(f"{args.label} {fold}: {msg}", flush=True)
            if not msg.startswith("step "):
                return
            net = nets[0]
            step = int(msg.split()[1].split("/")[0])
            t1 = time.time()
            seconds = t1 - t0 - spent[0]
            net.eval()
            with torch.inference_mode():
                calib = fit_calibration(*labelled_posteriors([net], data, ids["val"], n, cfg.patch_size, device, prior))
            print(f"  calibration on the validation photo: T {calib[0]:.2f}, b {np.round(calib[1], 2).tolist()}",
                  flush=True)
            with torch.inference_mode():
                if args.dump_probs and step == cfg.steps:
                    dump_posteriors(net, data, ids, fold, n, cfg.patch_size, device, prior, train_prior,
                                    Path(args.dump_probs))
                for split in ("test", "val"):
                    for tta in (False, True) if step == cfg.steps and split == "test" else (False,):
                        s = score_photos([net], data, ids[split], n, cfg.patch_size, device, tta, prior, train_prior,
                                         calib)
                        rows.append({"variant": args.label, "fold": fold, "step": step, "split": split, "tta": int(tta),
                                     **{k: round(v, 4) for k, v in s.items()}, "seconds": round(seconds, 1)})
                        print(f"  {split}{' tta' if tta else ''}: OA {s['overall_accuracy']:.3f} mIoU {s['miou']:.3f} "
                              f"cover {s['map_cover_abs_error_pp']:.2f} pp, soft {s['soft_cover_abs_error_pp']:.2f} pp"
                              + (f", soft prior {s['soft_prior_cover_abs_error_pp']:.2f} pp" if prior is not None else "")
                              + f", EM {s['soft_em_cover_abs_error_pp']:.2f} pp, calibrated "
                              f"{s['soft_cal_cover_abs_error_pp']:.2f} pp, calibrated EM {s['soft_cal_em_cover_abs_error_pp']:.2f} pp",
                              flush=True)
            net.train()
            spent[0] += time.time() - t1

        # the workflow's own training core; the scoring callback scores the model at every --every steps
        fit(args.seed, [data[i][1] for i in ids["train"]], [data[i][2] for i in ids["train"]], n, model_cfg, train_cfg,
            raw=[data[i][0] for i in ids["train"]], luts=[data[i][3] for i in ids["train"]], device=device,
            ignore_index=real.IGNORE, log_fn=score, on_model=nets.append, encoder_weights=encoder)
    if encoder:
        Path(encoder).unlink()
    df = pd.DataFrame(rows)
    df.to_csv(out / f"curve_{args.label}.tsv", sep="\t", index=False)
    figure(df, out / f"curve_{args.label}.png")
    from crustwatch import files, provenance

    files.write_json(out / f"curve_{args.label}_run.json",
                     {**provenance.bench_run(ROOT, sys.argv, time.time() - t_start), **pretrained})
    print(df.to_string(), flush=True)


if __name__ == "__main__":
    main()
