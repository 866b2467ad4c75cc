"""``crustwatch audit PATH [--rebuild]``: trace an output back to its models, seeds, photos and code.

Any output of a run can be audited: a cover table (its rows name the ensemble
card), a prediction raster (its tags do), a model's weights or card, or an
ensemble card. The audit prints the chain

    output -> ensemble card -> member model cards (one per seed) -> weights,
              training and validation photos and masks, settings, code, libraries

and checks every recorded sha256 against the files on disk. With ``--rebuild``
it retrains the named seeds in a temporary folder, with the recorded settings
and thread count, and compares the new weights with the recorded ones bit for
bit. The exit code is 1 when anything does not match.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import CrustWatchError
from .files import read_json, sha256_file
from .provenance import training_run


@dataclass
class Audit:
    root: Path
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        self.lines.append(text)

    def check(self, label: str, path: str | Path | None, expected: str | None, indent: str = "    ") -> bool:
        """One line: ``OK`` when the file on disk still has the recorded sha256."""
        if path is None or expected is None:
            self.say(f"{indent}{label}: not recorded")
            return True
        p = self.resolve(path)
        if not p.exists():
            status, ok = "MISSING", False
        else:
            ok = sha256_file(p) == expected
            status = "OK" if ok else "CHANGED (sha256 differs from the record)"
        self.say(f"{indent}{label}: {path}  sha256 {expected[:12]}  {status}")
        if not ok:
            self.problems.append(f"{label} {path}: {status.split(' ')[0].lower()}")
        return ok

    def resolve(self, path: str | Path) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p


def project_root(path: Path) -> Path:
    """The folder a run was made in: the parent of the ``results`` folder holding ``path``."""
    path = path.resolve()
    for parent in [path, *path.parents]:
        if parent.name == "results":
            return parent.parent
    raise CrustWatchError(f"'{path}' is not inside a 'results' folder of a CrustWatch run; give an output's path")


def find_ensemble_cards(root: Path, sha: str) -> list[Path]:
    return [p for p in sorted(root.glob(paths.fill(paths.ENSEMBLE_CARD, model="*", version="v*")))
            if sha256_file(p) == sha]


def _output_kind(path: Path) -> tuple[str, dict]:
    """What ``path`` is, and what it records about the models that made it."""
    name = path.name
    if name == "ensemble.json":
        return "ensemble card", {"ensemble": path}
    if name == "model_card.json":
        return "model card", {"card": path}
    if path.suffix == ".safetensors":
        card = path.with_name("model_card.json")
        if not card.exists():
            raise CrustWatchError(f"no model card beside '{path}' (expected {card})")
        return "model weights", {"card": card, "weights": path}
    if path.suffix in (".tif", ".tiff"):
        from .io import read_raster_tags

        tags = read_raster_tags(path)
        if "ensemble_card_sha256" not in tags:
            raise CrustWatchError(f"raster '{path}' has no ensemble_card_sha256 tag: not a CrustWatch prediction")
        iid = tags.get("image_id") or path.stem.removesuffix("_seeds")
        return "prediction", {"ensemble_sha": {tags["ensemble_card_sha256"]}, "images": [iid], "tags": tags}
    if path.suffix == ".tsv":
        import pandas as pd

        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        col = next((c for c in ("ensemble_card_sha256", "card_sha256") if c in df.columns), None)
        if col is None:
            raise CrustWatchError(f"table '{path}' has no ensemble_card_sha256 column: it cannot be traced")
        if col == "card_sha256" and "model" in df.columns:
            shas = set(df.loc[df["model"] == "ensemble", col])
        else:
            shas = {s for v in df[col] for s in v.split(";") if s}
        if "image_id" in df.columns:
            images = sorted(set(df["image_id"]))
        else:  # a table per plot or site and date: its photos are those of its groups
            keys = [k for k in ("site", "plot", "date") if k in df.columns]
            splits = project_root(path) / paths.SPLITS
            sheet = pd.read_csv(splits, sep="\t", dtype=str, keep_default_na=False) if splits.exists() else None
            images = [] if sheet is None or not keys else sorted(
                sheet.merge(df[keys].drop_duplicates(), on=keys)["image_id"])
        return "cover table", {"ensemble_sha": shas, "images": images}
    raise CrustWatchError(f"do not know how to audit '{path}': give a cover table, prediction, model or card")


def run_audit(path: str | Path, rebuild: bool = False, seeds: list[int] | None = None) -> Audit:
    """Audit one output; the returned object holds the printed lines and the problems found."""
    path = Path(path)
    if not path.exists():
        raise CrustWatchError(f"'{path}' does not exist")
    root = project_root(path)
    a = Audit(root)
    kind, info = _output_kind(path.resolve())
    a.say(f"{kind}: {path}")
    a.say(f"run folder: {root}")

    # output -> ensemble card(s) -> member cards
    member_cards: list[Path] = []
    ensembles: list[Path] = []
    if "ensemble" in info:
        ensembles = [info["ensemble"]]
    elif "ensemble_sha" in info:
        for sha in sorted(info["ensemble_sha"]):
            found = find_ensemble_cards(root, sha)
            if not found:
                a.problems.append(f"ensemble card {sha[:12]} not found")
                a.say(f"ensemble card sha256 {sha[:12]}: NOT FOUND among results/models/*/*/ensemble.json "
                      "(the models were retrained or changed after this output was made; rerun snakemake)")
            ensembles += found
    if "card" in info:
        member_cards = [info["card"]]
    for e in ensembles:
        ens = read_json(e)
        a.say(f"ensemble card: {e.relative_to(root)}  sha256 {sha256_file(e)[:12]}  seeds {ens['seeds']}"
              f"{'  model version ' + ens['version'] if ens.get('version') else ''}")
        for m in ens["members"]:
            a.check(f"seed {m['seed']} card", m["card"], m["card_sha256"])
            member_cards.append(a.resolve(m["card"]))
    if "tags" in info:
        a.say(f"prediction settings: {info['tags'].get('predict_settings', 'not recorded')}")

    cards = []
    for c in member_cards:
        if not c.exists():
            a.problems.append(f"model card {c} missing")
            continue
        cards.append((c, read_json(c)))
    if seeds is not None:
        cards = [(c, card) for c, card in cards if card["seed"] in seeds]
        if not cards:
            raise CrustWatchError(f"none of seeds {seeds} is in this output's ensemble")

    # each model: weights, device, code
    for c, card in cards:
        a.say("")
        a.say(f"model seed {card['seed']}: card {c.relative_to(root) if c.is_relative_to(root) else c}")
        weights = card.get("weights") or str(c.with_name("model.safetensors"))
        a.check("weights", weights, card["weights_sha256"])
        pre = card.get("pretrained")
        if pre:
            t = pre["training"]
            a.say(f"    started from a self-supervised encoder ({pre['method']}, {t['steps']} steps on "
                  f"{pre['photos']} photos, loss {t['loss_first']:.4f} -> {t['loss_last']:.4f}):")
            a.check("pretrained encoder", pre["encoder"], pre["encoder_sha256"])
            a.check("its card", pre["card"], pre["card_sha256"])
        run = training_run(c)
        dev = run.get("device") or card.get("device", {})
        det = card.get("determinism", {})
        a.say(f"    trained on {dev.get('device')} ({dev.get('gpu') or dev.get('cpu')}), "
              f"{det.get('torch_threads')} torch threads, {run.get('seconds', card.get('training', {}).get('seconds'))} s, "
              f"resumed from step {run.get('resumed_from_step', card.get('training', {}).get('resumed_from_step'))}"
              f"{', host ' + run['host'] if run.get('host') else ''}")
        a.say(f"    determinism: deterministic algorithms {det.get('use_deterministic_algorithms')}, "
              f"cudnn.benchmark {det.get('cudnn_benchmark')}, ops without deterministic kernel: "
              f"{det.get('nondeterministic_ops') or 'none'}")
        code = run.get("code") or card.get("code", {})
        a.say(f"    code: git {code.get('git_commit')}{' (uncommitted changes)' if code.get('git_dirty') else ''}")
        v = card.get("versions", {})
        a.say("    libraries: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
        val = card.get("validation") or {}
        if val:
            a.say(f"    validation: overall accuracy {val['overall_accuracy']:.4f}, mIoU {val['miou']:.4f}")

    # settings and data, once (members share them; the ensemble card checked that)
    if cards:
        card = cards[0][1]
        a.say("")
        a.say("settings that shaped the models:")
        a.say(f"    model: {json.dumps(card['model'], sort_keys=True)}")
        a.say(f"    train: {json.dumps(card['train'], sort_keys=True)}")
        a.say(f"    normalization: method {card['normalization']['method']}, "
              f"target_mm_per_px {card['normalization']['target_mm_per_px']}")
        names = ", ".join(f"{c['id']}={c['name']}" for c in card["classes"])
        a.say(f"    classes: {names}; "
              f"ignore_index {card['ignore_index']}; split seed {card['split_seed']}")
        a.say("")
        a.say(f"training and validation data ({len(card.get('data', {}))} photos):")
        for iid, d in card.get("data", {}).items():
            a.say(f"  {iid} ({d['split']})")
            a.check("photo", d["photo"], d["photo_sha256"])
            a.check("mask", d["mask"], d["mask_sha256"])
            a.check("normalized photo", d["normalized_photo"], d["normalized_photo_sha256"])
            a.check("ingested mask", d["ingested_mask"], d["ingested_mask_sha256"])

    # the photos this output was predicted from
    if info.get("images"):
        a.say("")
        a.say(f"predicted photos ({len(info['images'])}):")
        for iid in info["images"]:
            rec = root / paths.photo(iid)["ingest_record"]
            if not rec.exists():
                a.say(f"  {iid}: no ingest record {rec.relative_to(root)}")
                a.problems.append(f"ingest record of {iid} missing")
                continue
            r = read_json(rec)
            a.check(iid, r["source"], r["sha256"], indent="  ")

    if rebuild:
        a.say("")
        for c, card in cards:
            rebuild_seed(a, c, card)

    a.say("")
    if a.problems:
        a.say(f"AUDIT FAILED: {len(a.problems)} problem(s): " + "; ".join(a.problems))
    else:
        a.say("AUDIT OK: every recorded file matches" + (" and every rebuilt seed is bit-identical" if rebuild else ""))
    return a


def rebuild_seed(a: Audit, card_path: Path, card: dict) -> bool:
    """Retrain one seed from its card in a temporary folder; compare the weights' sha256."""
    import logging
    import time

    from .steps.train import TrainingFiles, TrainJob, train_seed
    from .provenance import cpu_model

    seed = card["seed"]
    label = f"rebuild seed {seed}"
    trained_on = card.get("device", {}).get("device", "cpu")
    if trained_on.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            a.say(f"{label}: NOT POSSIBLE here: trained on {trained_on}, and this machine has no CUDA")
            a.problems.append(f"{label}: needs CUDA")
            return False
    data = card.get("data", {})
    pre = card.get("pretrained")
    if pre:
        p = a.resolve(pre["encoder"])
        if not p.exists() or sha256_file(p) != pre["encoder_sha256"]:
            a.say(f"{label}: NOT POSSIBLE: the pretrained encoder {pre['encoder']} is missing or changed; remake it "
                  "with the project's own command (snakemake --cores N --configfile ...), then audit again")
            a.problems.append(f"{label}: pretrained encoder changed")
            return False
    for d in data.values():
        for k in ("normalized_photo", "ingested_mask"):
            p = a.resolve(d[k])
            if not p.exists() or sha256_file(p) != d[f"{k}_sha256"]:
                a.say(f"{label}: NOT POSSIBLE: training input {d[k]} is missing or changed; "
                      "remake it with the project's own command (snakemake --cores N --configfile ...: it redoes changed or "
                      "missing files), then audit again")
                a.problems.append(f"{label}: inputs changed")
                return False
    here = cpu_model()
    was = (training_run(card_path).get("device") or card.get("device", {})).get("cpu")
    if was not in (None, here) and trained_on == "cpu":
        a.say(f"{label}: note: trained on CPU '{was}', rebuilding on '{here}'; "
              "other CPU types may round differently")
    train_ids, val_ids = card["train_images"], card["val_images"]

    def recorded(ids, key):
        return [str(a.resolve(data[i][key])) for i in ids]

    def records(kind):
        ids = train_ids + val_ids
        if kind == "norm":
            return [str(a.resolve(data[i]["normalization_record"])) for i in ids]
        return [str(a.root / paths.photo(i)["ingest_record" if kind == "photo" else "mask_record"]) for i in ids]

    logging.getLogger("crustwatch").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix=f"crustwatch-rebuild-seed{seed}-") as tmp:
        t0 = time.time()
        files = TrainingFiles(
            train_ids=train_ids, val_ids=val_ids,
            train_photos=recorded(train_ids, "normalized_photo"), train_masks=recorded(train_ids, "ingested_mask"),
            val_photos=recorded(val_ids, "normalized_photo"), val_masks=recorded(val_ids, "ingested_mask"),
            photo_records=records("photo"), mask_records=records("mask"), norm_records=records("norm"),
            raw_photos=[str(a.root / paths.photo(i)["ingest_photo"]) for i in train_ids])
        job = TrainJob(seed=seed, files=files, classes=card["classes"], ignore_index=card["ignore_index"],
                       model_cfg={k: v for k, v in card["model"].items() if k != "encoder_weights_sha256"},
                       train_cfg=card["train"], split_seed=card["split_seed"],
                       pretrained_encoder=str(a.resolve(pre["encoder"])) if pre else None,
                       pretrained_card=str(a.resolve(pre["card"])) if pre else None, version=card.get("version"))
        train_seed(job, str(Path(tmp) / "model.safetensors"), str(Path(tmp) / "model_card.json"), progress=False)
        got = sha256_file(Path(tmp) / "model.safetensors")
    same = got == card["weights_sha256"]
    steps = (card.get("plan") or {}).get("steps", card["train"].get("steps"))
    a.say(f"{label}: {steps} steps, {card['train']['cpu_threads']} threads, "
          f"{time.time() - t0:.0f} s: weights sha256 {got[:12]} vs recorded {card['weights_sha256'][:12]}: "
          f"{'IDENTICAL' if same else 'DIFFERENT'}")
    if not same:
        a.problems.append(f"{label}: weights differ")
    return same
