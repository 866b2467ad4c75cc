"""What to label next, proven by a simulated labelling loop (issue "What to label next").

    make bench-label-next                  # the demo and the drift benchmark, 5 loop seeds (see README for times)
    python bench/label_next/label_next.py --benchmarks demo --loop-seeds 0 --rounds 2 --steps 20   # a quick look

Two generated projects whose every photo has a known mask: ``demo`` (the bundled demo: 2 sites x 4 plots x
4 dates, cameras A-D) and ``drift`` (the drift benchmark's project: 2 sites x 5 plots x 5 dates, cameras A-D
and A again after a moss increase). Roles, by plot so that no scene is both labelled and tested:

- start: the first date's photo of plot 1 of each site, with ``--start-boxes`` (default 1) random boxes of its
  mask labelled, a training patch square each (the whole mask with 0; on these easy generated photos two whole
  masks already reach 99% of the all-labelled mIoU, which leaves nothing for any strategy to show);
- pool: every other photo of the first half of the plots (all dates and cameras); their masks stay hidden
  until the loop labels part of them;
- test: every photo of the other plots (all dates and cameras).

Each round, per strategy, an ensemble of ``--ensemble`` seeds is trained on the labels so far (the workflow's own
training core, ``crustwatch.steps.train.fit``, with the schema's training defaults at ``--steps``,
``--patch`` and ``--batch``) and scored on the test photos: mIoU and overall accuracy of the pooled confusion,
and the maps' cover error (mean over test photo x class of ``|map fraction - true fraction|``, pp). Then:

- ``suggested``: the workflow's suggestion (``crustwatch.suggest``): the pool photos ranked by the ensemble's
  mutual information x (1 + rarity) x novelty over their still unlabelled plot pixels; in each of the top
  ``--photos`` its ``--regions`` best boxes (``suggest.regions`` of the rarity-weighted mutual information,
  ``--region-score``; a training patch square; ``--photo-score boxes`` ranks the photos by those boxes' mean
  score instead, a variant that was tried and not kept);
- ``random``: as many boxes of the same size, on ``--photos`` pool photos drawn at random, placed at random
  inside their plot area.

A labelled box is the photo's mask inside the box, ignore elsewhere: the partial mask an annotator would give,
trained as it is. The x axis is the labelled pool pixels (start photos not counted; a pixel labelled twice
counts once). The reference is the same ensemble trained on the start and every pool photo's full mask.
``pixels_to_95pct``: the labelled pool pixels at which the mean curve over the loop seeds first reaches 95%
of the reference's mean mIoU (linear between rounds; blank, with ``reached`` false, if the rounds never get
there; ``pixels_max`` says how far they went). Every strategy runs ``--rounds`` rounds and then goes on, up to
``--max-rounds``, until its mean curve has got there, so that both strategies' pixels are measured, not bounded.
``--strategies random --merge`` retrains one strategy and keeps the other's curves of the run in ``--out``
(the loop is seeded throughout, so a rerun repeats its first rounds exactly; the reference is checked first);
``--loop-seeds 3,4 --merge`` adds loop seeds to the run: they go as many rounds as its loop seeds did, and the mean
curve and the target are over all of them.

Writes ``bench/results/label_next/summary.tsv`` (``benchmark strategy pixels_to_95pct`` and the reference,
target, ``reached``, ``pixels_max``, pool pixels, final mIoU and cover error), ``curves.tsv`` (one row per
benchmark, strategy, loop seed and round), ``label_next.png`` and ``run.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(ROOT / "bench" / "drift"))

from crustwatch import demo, files, infer, io, metrics, provenance, suggest  # noqa: E402
from crustwatch.project import schema_problems, section  # noqa: E402
from crustwatch.sheet import load_sheet  # noqa: E402
from crustwatch.steps.train import fit  # noqa: E402

import drift  # noqa: E402  (ingest and normalization as the workflow does them, on arrays)

BENCHMARKS = {"demo": demo.DemoSpec(), "drift": drift.SPEC}
STRATEGIES = ("suggested", "random")
IGNORE = demo.IGNORE


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load(name: str, folder: Path, target_mm: float) -> tuple[dict, dict]:
    """The benchmark's photos, ingested and normalized as the workflow does, each with its role
    (``start``, ``pool`` or ``test``), camera, date, site and plot; and their lookup tables."""
    spec = BENCHMARKS[name]
    if not demo.is_current(folder, spec):
        demo.generate(folder, spec, folder / "images.tsv")
    sheet = load_sheet(folder / "images.tsv")
    pool_plots = spec.plots_per_site - spec.plots_per_site // 2
    data = {}
    for iid, r in sheet.iterrows():
        img, _ = io.read_photo(r["image_path"])
        d = drift.ingest_photo(img, io.read_mask(r["mask_path"]), r["mm_per_px"], r["reference"], target_mm)
        p, t = int(r["plot"][1:]), spec.dates.index(r["date"])
        role = "start" if (p == 1 and t == 0) else "pool" if p <= pool_plots else "test"
        data[iid] = {"raw": d["raw"], "hist": d["hist"], "ref": d["ref"], "mask": d["mask"],
                     "valid": d["mask"] != IGNORE, "role": role,
                     **{k: str(r[k]) for k in ("camera", "date", "site", "plot")}}
    normalize = section("normalize")
    luts, normed = drift.normalized(normalize["method"], data, normalize["camera_pool"])
    for iid in data:
        data[iid]["img"] = normed[iid]
    return data, luts


class Loop:
    """One benchmark's simulation: trains ensembles on partial labels and scores them."""

    def __init__(self, data: dict, luts: dict, args):
        self.data, self.luts, self.args = data, luts, args
        self.n_classes = len(demo.CLASSES)
        self.class_ids = list(range(self.n_classes))
        self.train_cfg = {**args.train_set, "steps": args.steps, "patch_size": args.patch, "batch_size": args.batch,
                          "cpu_threads": args.threads, "log_every": max(1, args.steps)}
        self.ids = {role: [i for i, d in data.items() if d["role"] == role] for role in ("start", "pool", "test")}
        self.pool_pixels = int(sum(data[i]["valid"].sum() for i in self.ids["pool"]))
        self.fits = 0
        self.fit_s = 0.0

    def train(self, labels: dict[str, np.ndarray], seeds: list[int]) -> list[torch.nn.Module]:
        """An ensemble trained on ``labels`` (image id -> target, ignore where unlabelled)."""
        ids = sorted(labels)
        t0 = time.time()
        members = []
        for s in seeds:
            fitted = fit(s, [self.data[i]["img"] for i in ids], [labels[i] for i in ids], self.n_classes,
                         drift.MODEL, self.train_cfg, raw=[self.data[i]["raw"] for i in ids],
                         luts=[self.luts[i] for i in ids], device=torch.device("cpu"), ignore_index=IGNORE,
                         log_fn=lambda m: None)
            members.append(fitted.model.eval())
        self.fits += len(seeds)
        self.fit_s += time.time() - t0
        return members

    def probs(self, members, iid: str) -> np.ndarray:
        return infer.sliding_window_probs(members, self.data[iid]["img"], self.n_classes, self.args.patch,
                                          batch_size=32)

    def score(self, members) -> dict:
        """Test mIoU and overall accuracy (pooled confusion) and the maps' mean cover error (pp)."""
        cm = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        errors = []
        for iid in self.ids["test"]:
            d = self.data[iid]
            pred = self.probs(members, iid).mean(axis=0).argmax(0)
            cm += metrics.confusion(pred, d["mask"], self.n_classes, IGNORE)
            v = d["valid"]
            for c in self.class_ids:
                errors.append(100 * abs(float((pred[v] == c).mean()) - float((d["mask"][v] == c).mean())))
        s = metrics.scores(cm)
        return {"miou": s["miou"], "overall_accuracy": s["overall_accuracy"],
                "map_cover_abs_error_pp": float(np.mean(errors))}

    def start_labels(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``--start-boxes`` random boxes of each start photo labelled (all of it with 0)."""
        if not self.args.start_boxes:
            return {i: self.data[i]["mask"].copy() for i in self.ids["start"]}
        labels: dict[str, np.ndarray] = {}
        for iid in self.ids["start"]:
            self.label_boxes(labels, iid, self.random_boxes(rng, iid, self.args.start_boxes))
        return labels

    def all_labels(self) -> dict[str, np.ndarray]:
        return {i: self.data[i]["mask"].copy() for i in self.ids["start"] + self.ids["pool"]}

    def label_boxes(self, labels: dict, iid: str, boxes) -> int:
        """Copy the mask inside ``boxes`` into ``labels[iid]``; the newly labelled plot pixels."""
        d = self.data[iid]
        target = labels.setdefault(iid, np.full(d["mask"].shape, IGNORE, dtype=np.uint8))
        new = 0
        for x0, y0, x1, y1 in boxes:
            sl = np.s_[y0:y1, x0:x1]
            fresh = (target[sl] == IGNORE) & d["valid"][sl]
            new += int(fresh.sum())
            target[sl] = np.where(fresh, d["mask"][sl], target[sl])
        return new

    def open_pixels(self, labels: dict, iid: str) -> np.ndarray:
        """The plot pixels of a pool photo not labelled yet."""
        d = self.data[iid]
        return d["valid"] & (labels[iid] == IGNORE) if iid in labels else d["valid"]

    def candidates(self, labels: dict) -> list[str]:
        """The pool photos with at least a quarter of a box of plot pixels still unlabelled."""
        return [i for i in self.ids["pool"] if self.open_pixels(labels, i).sum() >= self.args.patch ** 2 // 4]

    def suggested(self, members, labels: dict) -> list[tuple[str, list]]:
        """The workflow's suggestion: photos ranked by crustwatch.suggest, the top regions in each."""
        counts = sum(np.bincount(t[t != IGNORE], minlength=self.n_classes) for t in labels.values())
        shares = suggest.class_shares(dict(enumerate(counts)), self.class_ids)
        seen = pd.DataFrame([{k: self.data[i][k] for k in ("site", "date", "camera")} for i in labels])
        rows, maps = [], {}
        for iid in self.candidates(labels):
            open_ = self.open_pixels(labels, iid)
            p = self.probs(members, iid)
            mi = infer.uncertainty(p)[1]
            cm = p.mean(axis=0).argmax(0)
            nov, _ = suggest.novelty(self.data[iid], seen)
            maps[iid] = (suggest.rarity_weighted(mi, cm, self.class_ids, shares) if self.args.region_score == "rarity"
                         else mi, open_)
            if self.args.photo_score == "boxes":
                info, rar = boxes_information(suggest.regions(*maps[iid], self.args.patch, self.args.regions)), 0.0
            else:
                s = suggest.photo_scores(mi, cm, open_, self.class_ids, shares)
                info, rar = s["information"], s["rarity"]
            rows.append({"image_id": iid, "information": info, "rarity": rar, "novelty": nov})
        ranked = suggest.rank(pd.DataFrame(rows))
        return [(iid, [b[:4] for b in suggest.regions(*maps[iid], self.args.patch, self.args.regions)])
                for iid in ranked["image_id"].head(self.args.photos)]

    def random_boxes(self, rng: np.random.Generator, iid: str, n: int) -> list[tuple[int, int, int, int]]:
        """``n`` non-overlapping boxes of the patch's size at random inside the photo's plot area."""
        v = self.data[iid]["valid"]
        rows, cols = np.flatnonzero(v.any(axis=1)), np.flatnonzero(v.any(axis=0))
        box = min(self.args.patch, rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0])
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(100 * n):
            if len(boxes) == n:
                break
            y, x = int(rng.integers(rows[0], rows[-1] + 2 - box)), int(rng.integers(cols[0], cols[-1] + 2 - box))
            if all(x + box <= a or c <= x or y + box <= b or d <= y for a, b, c, d in boxes):
                boxes.append((x, y, x + box, y + box))
        return boxes

    def random(self, rng: np.random.Generator, labels: dict) -> list[tuple[str, list]]:
        """As many boxes of the same size, on pool photos drawn at random, at random inside their plot area."""
        cands = self.candidates(labels)
        return [(str(iid), self.random_boxes(rng, str(iid), self.args.regions))
                for iid in rng.choice(cands, size=min(self.args.photos, len(cands)), replace=False)]


def boxes_information(boxes: list[tuple[int, int, int, int, float]]) -> float:
    """``--photo-score boxes``: the mean score of a photo's suggested boxes (``suggest.regions``), what labelling
    just those boxes would teach, where the photo's mean mutual information is what labelling all of it would;
    0 without boxes. Tried on the demo and not kept (README, "Ranking photos by their boxes")."""
    return float(np.mean([b[4] for b in boxes])) if boxes else 0.0


def simulate(name: str, loop: Loop, args) -> tuple[list[dict], list[dict]]:
    """Every loop seed's curves for each strategy, and the reference's scores.

    The loop seeds go round by round together, so that after each round the mean curve is known: a strategy
    runs ``--rounds`` rounds and then, up to ``--max-rounds``, on until its mean curve reaches 95% of the
    reference's mean mIoU. Each loop seed has its own random generator and every model is seeded by itself, so
    a loop seed's first rounds are the same however many rounds follow."""
    curves, refs = [], []
    pool_px = loop.pool_pixels
    seeds = {ls: [1000 * ls + k for k in range(args.ensemble)] for ls in args.loop_seeds}
    for ls in args.loop_seeds:
        ref = loop.score(loop.train(loop.all_labels(), seeds[ls]))
        refs.append({"benchmark": name, "loop_seed": ls, **ref})
        log(f"{name} loop seed {ls}: all {len(loop.ids['pool'])} pool photos labelled ({pool_px} px): "
            f"mIoU {ref['miou']:.3f}, cover error {ref['map_cover_abs_error_pp']:.2f} pp")
    kept = pd.DataFrame(columns=["strategy", "loop_seed", "round", "miou"])
    all_refs = [r["miou"] for r in refs]
    if args.merge:
        old_curves, old_refs = read_run(Path(args.out))
        same_reference(pd.DataFrame(refs), old_refs)
        # the earlier run's loop seeds that this run does not retrain count in the mean curve and the target
        others = ~old_curves["loop_seed"].isin(args.loop_seeds)
        kept = old_curves[(old_curves["benchmark"] == name) & others]
        all_refs += old_refs.loc[(old_refs["benchmark"] == name) & ~old_refs["loop_seed"].isin(args.loop_seeds),
                                 "miou"].tolist()
    target = 0.95 * float(np.mean(all_refs))
    starts = {}  # per loop seed: the start labels, the ensemble trained on them, their pixels and scores
    for ls in args.loop_seeds:
        labels = loop.start_labels(np.random.default_rng([ls, 5]))
        members = loop.train(labels, seeds[ls])
        starts[ls] = {"labels": labels, "members": members, "score": loop.score(members),
                      "pixels": int(sum((t != IGNORE).sum() for t in labels.values()))}
        log(f"{name} loop seed {ls}: start {starts[ls]['pixels']} px: mIoU {starts[ls]['score']['miou']:.3f}, "
            f"cover error {starts[ls]['score']['map_cover_abs_error_pp']:.2f} pp")
    for strategy in args.strategies:
        state = {}
        for ls, st in starts.items():
            state[ls] = {"labels": {k: v.copy() for k, v in st["labels"].items()}, "members": st["members"],
                         "pixels": 0, "photos": set(), "rng": np.random.default_rng([ls, 17])}
            curves.append({"benchmark": name, "strategy": strategy, "loop_seed": ls, "round": 0, "pixels": 0,
                           "start_pixels": st["pixels"], "photos_touched": 0, "labelled": "", **st["score"]})
        r, reached = 0, False
        mine = kept[kept["strategy"] == strategy]
        fixed = kept_rounds(mine, name, strategy)
        if fixed is not None:
            log(f"{name} {strategy}: loop seeds {args.loop_seeds} run the {fixed} rounds of the earlier run's "
                f"loop seeds {sorted(set(mine['loop_seed']))}, and the mean curve is over all of them")
        while (r < fixed if fixed is not None else
               (r < args.rounds or (not reached and r < args.max_rounds))):
            r += 1
            mious = mine.loc[mine["round"] == r, "miou"].tolist()
            for ls, st in state.items():
                labels = st["labels"]
                if strategy == "suggested":
                    picks = loop.suggested(st["members"], labels)
                else:
                    picks = loop.random(st["rng"], labels)
                for iid, boxes in picks:
                    st["pixels"] += loop.label_boxes(labels, iid, boxes)
                    st["photos"].add(iid)
                st["members"] = loop.train(labels, seeds[ls])
                s = loop.score(st["members"])
                mious.append(s["miou"])
                curves.append({"benchmark": name, "strategy": strategy, "loop_seed": ls, "round": r,
                               "pixels": st["pixels"], "start_pixels": starts[ls]["pixels"],
                               "photos_touched": len(st["photos"]),
                               "labelled": " ".join(f"{i}:{len(b)}" for i, b in picks), **s})
                log(f"{name} seed {ls} {strategy} round {r}: {st['pixels']} px "
                    f"({100 * st['pixels'] / pool_px:.1f}% of the pool), mIoU {s['miou']:.3f}, "
                    f"cover error {s['map_cover_abs_error_pp']:.2f} pp "
                    f"[{loop.fits} fits, {loop.fit_s / max(loop.fits, 1):.0f} s each]")
            reached = reached or float(np.mean(mious)) >= target
            log(f"{name} {strategy} round {r}: mean mIoU {np.mean(mious):.3f} (target {target:.3f}"
                f"{', reached' if reached else ''})")
    return curves, refs


def pixels_to(curve: pd.DataFrame, target: float) -> float:
    """The pixels at which ``curve`` (``pixels miou``, by round) first reaches ``target``, linear between rounds."""
    px, y = curve["pixels"].to_numpy(float), curve["miou"].to_numpy(float)
    for k in range(len(y)):
        if y[k] >= target:
            if k == 0:
                return px[0]
            return px[k - 1] + (target - y[k - 1]) / (y[k] - y[k - 1]) * (px[k] - px[k - 1])
    return float("nan")


def common_rounds(g: pd.DataFrame) -> list[int]:
    """The rounds every loop seed of one benchmark and strategy ran: a mean curve is only read where it is the
    mean of them all (loop seeds merged from several runs could otherwise end at different rounds)."""
    seeds = g.groupby("round")["loop_seed"].nunique()
    return sorted(seeds.index[seeds == g["loop_seed"].nunique()])


def kept_rounds(kept: pd.DataFrame, name: str, strategy: str) -> int | None:
    """How many rounds loop seeds added to an earlier run must run: as many as that run's loop seeds of the
    strategy ran (they cannot be extended without retraining them), or None when it had none."""
    if kept.empty:
        return None
    last = kept.groupby("loop_seed")["round"].max()
    if last.nunique() != 1:
        raise SystemExit(f"--merge: the earlier run's loop seeds of {name} {strategy} ran different numbers of "
                         f"rounds ({last.to_dict()}); rerun that strategy with every loop seed")
    return int(last.iloc[0])


def summarise(curves: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (bench, strategy), g in curves.groupby(["benchmark", "strategy"], sort=False):
        g = g[g["round"].isin(common_rounds(g))]
        mean = g.groupby("round")[["pixels", "miou", "map_cover_abs_error_pp"]].mean().reset_index()
        ref = float(refs.loc[refs.benchmark == bench, "miou"].mean())
        px = pixels_to(mean, 0.95 * ref)
        rows.append({"benchmark": bench, "strategy": strategy, "pixels_to_95pct": px,
                     "reached": bool(np.isfinite(px)), "reference_miou": ref, "target_miou": 0.95 * ref,
                     "pixels_max": float(mean["pixels"].iloc[-1]), "pool_pixels": int(refs.loc[refs.benchmark == bench, "pool_pixels"].iloc[0]),
                     "start_pixels": float(g["start_pixels"].mean()),
                     "start_miou": float(mean["miou"].iloc[0]), "final_miou": float(mean["miou"].iloc[-1]),
                     "final_map_cover_abs_error_pp": float(mean["map_cover_abs_error_pp"].iloc[-1]),
                     "reference_map_cover_abs_error_pp": float(refs.loc[refs.benchmark == bench,
                                                                        "map_cover_abs_error_pp"].mean()),
                     "loop_seeds": int(g["loop_seed"].nunique())})
    out = pd.DataFrame(rows)
    # suggested against random: the pixels random choice needs over the pixels the suggestions need; where
    # random choice never got there, the pixels it labelled give a lower bound of that ratio
    for bench, g in out.groupby("benchmark"):
        s = g.set_index("strategy")
        sug, rnd = s["pixels_to_95pct"].get("suggested", np.nan), s["pixels_to_95pct"].get("random", np.nan)
        ratio, bound = np.nan, ""
        if np.isfinite(sug) and sug > 0:
            if np.isfinite(rnd):
                ratio, bound = rnd / sug, "equal"
            elif "random" in s.index:
                ratio, bound = s.loc["random", "pixels_max"] / sug, "at_least"
        out.loc[out.benchmark == bench, "random_over_suggested"] = ratio
        out.loc[out.benchmark == bench, "ratio_is"] = bound
    return out


def figure(curves: pd.DataFrame, summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(curves["benchmark"]))
    fig, axes = plt.subplots(2, len(benches), figsize=(5.5 * len(benches), 7.5), squeeze=False)
    colours = {"suggested": "#c0392b", "random": "#2c7fb8"}
    for j, bench in enumerate(benches):
        s = summary[summary.benchmark == bench].set_index("strategy")
        for strategy in STRATEGIES:
            g = curves[(curves.benchmark == bench) & (curves.strategy == strategy)]
            if g.empty:
                continue
            by = g.groupby("round")
            px = by["pixels"].mean() / 1000
            for row, metric, label in ((0, "miou", "test mIoU"), (1, "map_cover_abs_error_pp", "cover error (pp)")):
                ax = axes[row, j]
                ax.fill_between(px, by[metric].min(), by[metric].max(), color=colours[strategy], alpha=0.15)
                ax.plot(px, by[metric].mean(), "o-", color=colours[strategy], label=strategy, ms=3)
                ax.set_ylabel(label)
            reach = s.loc[strategy, "pixels_to_95pct"]
            if np.isfinite(reach):
                axes[0, j].axvline(reach / 1000, color=colours[strategy], ls=":", lw=1)
        axes[0, j].axhline(s["target_miou"].iloc[0], color="k", ls="--", lw=1, label="95% of all labelled")
        axes[0, j].set_title(f"{bench}: mean of {int(s['loop_seeds'].iloc[0])} loop seeds (band: range)")
        axes[1, j].set_xlabel("labelled pool pixels (thousands)")
        axes[0, j].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmarks", default="demo,drift", help="comma-separated: demo, drift")
    ap.add_argument("--loop-seeds", default="0,1,2,3,4", help="comma-separated seeds of the loop (models and random "
                    "choice)")
    ap.add_argument("--strategies", default="suggested,random", help="comma-separated: suggested, random")
    ap.add_argument("--rounds", type=int, default=6, help="labelling rounds every strategy runs (default 6)")
    ap.add_argument("--max-rounds", type=int, default=16, help="past --rounds, a strategy goes on until its mean "
                    "curve reaches 95%% of the all-labelled mIoU, at most this many rounds (default 16)")
    ap.add_argument("--photos", type=int, default=2, help="photos labelled per round (default 2)")
    ap.add_argument("--regions", type=int, default=2, help="boxes labelled per photo (default 2)")
    ap.add_argument("--start-boxes", type=int, default=1, help="random boxes labelled on each start photo at the "
                    "start (default 1; 0: its whole mask)")
    ap.add_argument("--ensemble", type=int, default=2, help="seeds per ensemble (default 2)")
    ap.add_argument("--steps", type=int, default=100, help="training steps per model (default 100)")
    ap.add_argument("--patch", type=int, default=64, help="training patch and region box, px (default 64)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--target-mm", type=float, default=2.0, help="ground mm per pixel the photos are ingested at "
                    "(default 2.0: half the demo's resolution, to keep the loop's many trainings short)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--photo-score", choices=["mean", "boxes"], default="mean",
                    help="what ranks the photos: mean (the photo's mean mutual information x (1 + rarity), the "
                    "workflow's default) or boxes (the mean score of the boxes that would be labelled in it)")
    ap.add_argument("--region-score", choices=["rarity", "information"], default="rarity",
                    help="what the suggested boxes maximize: rarity (the workflow's, crustwatch.suggest.rarity_weighted:"
                    " the mean mutual information weighted by the rarity of each pixel's predicted class) or "
                    "information (the mean mutual information alone, the workflow's before 2026-12-07)")
    ap.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE",
                    help="a training setting over the schema's defaults for every model of the loop, the reference "
                    "included (value read as YAML; repeatable), e.g. train.class_balance=0.5")
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "label_next"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "label_next"))
    ap.add_argument("--from-curves", action="store_true", help="no training: summarise and plot the curves.tsv and "
                    "reference.tsv already in --out")
    ap.add_argument("--merge", action="store_true", help="keep the rows of the curves.tsv and reference.tsv already "
                    "in --out for the benchmarks, strategies and loop seeds this run does not train (the rows it "
                    "trains are replaced); loop seeds new to the run go as many rounds as its loop seeds did")
    args = ap.parse_args(argv)
    args.loop_seeds = [int(s) for s in args.loop_seeds.split(",")]
    args.train_set = {}
    for pair in args.set:
        key, _, value = pair.partition("=")
        if not key.startswith("train.") or not value or key[6:] in ("steps", "patch_size", "batch_size", "cpu_threads"):
            ap.error(f"--set {pair}: give train.<key>=<value> (steps, patch and batch have their own options)")
        args.train_set[key[6:]] = yaml.safe_load(value)
    # an unknown key or a bad value fails before any training
    bad = [b for b in schema_problems({"train": args.train_set}) if b.startswith("config key train")]
    if bad:
        ap.error("--set: " + "; ".join(bad))
    args.strategies = [s for s in args.strategies.split(",") if s]
    unknown = sorted(set(args.strategies) - set(STRATEGIES))
    if unknown:
        ap.error(f"--strategies: unknown {', '.join(unknown)} (known: {', '.join(STRATEGIES)})")
    if args.max_rounds < args.rounds:
        ap.error(f"--max-rounds {args.max_rounds} is below --rounds {args.rounds}")
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_curves:
        curves_df, refs_df = (pd.read_csv(out / f, sep="\t") for f in ("curves.tsv", "reference.tsv"))
        return report(curves_df, refs_df, out, t0, write_curves=False)
    curves, refs = [], []
    for name in args.benchmarks.split(","):
        data, luts = load(name, Path(args.data) / name, args.target_mm)
        loop = Loop(data, luts, args)
        log(f"{name}: {len(loop.ids['start'])} start photos, {len(loop.ids['pool'])} pool photos "
            f"({loop.pool_pixels} plot px), {len(loop.ids['test'])} test photos")
        c, r = simulate(name, loop, args)
        curves += c
        refs += [{**row, "pool_pixels": loop.pool_pixels} for row in r]
    curves_df, refs_df = pd.DataFrame(curves), pd.DataFrame(refs)
    earlier = []
    if args.merge:
        curves_df, refs_df = merged(out, curves_df, refs_df)
        earlier = earlier_runs(out)
    return report(curves_df, refs_df, out, t0, write_curves=True, earlier=earlier)


def earlier_runs(out: Path) -> list[dict]:
    """The run records of the runs whose curves a merged run keeps (run.json's ``merged_with``)."""
    path = out / "run.json"
    if not path.exists():
        return []
    rec = files.read_json(path)
    return [{k: v for k, v in rec.items() if k != "merged_with"}, *rec.get("merged_with", [])]


def read_run(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The curves.tsv and reference.tsv of an earlier run in ``out``."""
    return tuple(pd.read_csv(out / f, sep="\t", keep_default_na=False, na_values=[""])
                 for f in ("curves.tsv", "reference.tsv"))


def same_reference(refs: pd.DataFrame, old_refs: pd.DataFrame) -> None:
    """A benchmark's reference is retrained with the same seeds, so it must agree with the earlier run's: else
    the kept curves would be measured against another reference. Checked before any loop round is trained."""
    both = old_refs.merge(refs, on=["benchmark", "loop_seed"], suffixes=("_old", ""))
    off = both[~np.isclose(both["miou_old"], both["miou"], rtol=0, atol=1e-6)]
    if not off.empty:
        raise SystemExit(f"--merge: the reference of {', '.join(sorted(set(off['benchmark'])))} differs from the "
                         f"earlier run's (mIoU {off['miou_old'].round(4).tolist()} then, "
                         f"{off['miou'].round(4).tolist()} now); rerun every strategy instead")


def merged(out: Path, curves: pd.DataFrame, refs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This run's curves with the earlier run's rows in ``out`` that it did not retrain: other benchmarks,
    other strategies and other loop seeds (so loop seeds can be added to a run), and their references."""
    old_curves, old_refs = read_run(out)
    same_reference(refs, old_refs)
    def rows_not_in(old: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> pd.DataFrame:
        return old[~old.set_index(key).index.isin(new.set_index(key).index)]

    keep = rows_not_in(old_curves, curves, ["benchmark", "strategy", "loop_seed"])
    refs = pd.concat([rows_not_in(old_refs, refs, ["benchmark", "loop_seed"]), refs], ignore_index=True)
    log(f"--merge: kept {len(keep)} curve rows of {out / 'curves.tsv'}")
    return (in_order(pd.concat([keep, curves]), ["benchmark", "strategy", "loop_seed", "round"]),
            in_order(refs, ["benchmark", "loop_seed"]))


def in_order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows sorted by ``by``, benchmarks and strategies in the order this script names them."""
    rank = {b: k for k, b in enumerate(BENCHMARKS)} | {s: k for k, s in enumerate(STRATEGIES)}
    return df.sort_values(by, key=lambda c: c.map(rank) if c.name in ("benchmark", "strategy") else c,
                          kind="stable", ignore_index=True)


def report(curves_df: pd.DataFrame, refs_df: pd.DataFrame, out: Path, t0: float, write_curves: bool,
           earlier: list[dict] | None = None) -> int:
    summary = summarise(curves_df, refs_df)
    files.write_tsv(summary, out / "summary.tsv")
    if write_curves:
        files.write_tsv(curves_df, out / "curves.tsv")
        files.write_tsv(refs_df, out / "reference.tsv")
        run = provenance.bench_run(ROOT, sys.argv, time.time() - t0)
        files.write_json(out / "run.json", {**run, "merged_with": earlier} if earlier else run)
    figure(curves_df, summary, out / "label_next.png")
    pd.set_option("display.width", 200)
    print(summary.round(3).to_string(index=False))
    print(f"total {time.time() - t0:.0f} s; wrote {out / 'summary.tsv'}, curves.tsv, label_next.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
