"""Step ``versions``: a version's record, the acceptance rule's decision on a candidate version, and the
governance log of every decision and every version (:mod:`crustwatch.versions` has the rules)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files, io
from .. import normalize as norm
from .. import versions as ver
from ..errors import CrustWatchError

log = logging.getLogger("crustwatch")

#: the governance log's columns (one row per decision, oldest first)
GOVERNANCE_COLUMNS = ["decided_at", "candidate", "incumbent", "decision", "reason", "metric", "candidate_mean",
                      "incumbent_mean", "gain", "worst_class", "worst_drop", "validation_photos", "per_class",
                      "candidate_ensemble_sha256", "incumbent_ensemble_sha256"]
#: the versions table's columns (one row per version on disk)
VERSIONS_COLUMNS = ["version", "status", "train_photos", "val_photos", "seeds", "first_decided", "decision",
                    "settings_sha256", "data_sha256"]


def write_record(version: str, definition: dict, out_json: str) -> None:
    """A version's record: its id and definition (what it trains from), so that it can be named in
    ``versions.pin`` and rebuilt after the sheet and config have moved on."""
    got = ver.version_id(definition)
    if got != version:
        raise CrustWatchError(f"the definition given for version {version} hashes to {got}: its record on disk was "
                              f"edited; delete results/models/*/{version} to drop that version")
    settings, data = ver.data_and_settings(definition)
    files.write_json(out_json, {"version": version, "train_photos": len(definition["train"]),
                                "val_photos": len(definition["val"]), "settings_sha256": settings,
                                "data_sha256": data, "definition": definition})


def check_sources(version: str, expected: dict[str, list[str]], photo_records: list[str],
                  mask_records: list[str]) -> None:
    """Refuse to train ``version`` from photos or labels whose content is no longer what it was named by
    (``expected``: image_id -> [photo sha256, label sha256], from its definition)."""
    got = {}
    for kind, recs in (("photo", photo_records), ("label", mask_records)):
        for p in recs:
            if not Path(p).exists():
                raise CrustWatchError(f"version {version} trains on a photo whose record '{p}' is missing: the photo "
                                      "left the sheet, so this version can no longer be rebuilt")
            r = files.read_json(p)
            got.setdefault(r["image_id"], {})[kind] = r["sha256"]
    changed = [i for i, (photo, label) in expected.items()
               if got.get(i, {}).get("photo") != photo or got.get(i, {}).get("label") != label]
    if changed:
        raise CrustWatchError(
            f"version {version} was named by photos and labels that have changed since ({', '.join(changed[:5])}"
            f"{' ...' if len(changed) > 5 else ''}): it cannot be rebuilt bit for bit. Its weights, where kept, still "
            "predict; the current sheet's data makes a new version")


def _ensemble_scores(ensemble_json: str, weights: list[str], cards: list[str], photos: list[str],
                     norm_records: list[str], masks: list[str], names: list[str], metric: str, device_cfg: dict,
                     threads: int) -> tuple[dict[str, float] | None, str]:
    """Per-class scores of one version's ensemble on the validation photos (None, why: it cannot predict them)."""
    import torch

    from .. import infer, metrics
    from .predict import load_ensemble

    torch.set_num_threads(max(1, threads))
    ens = files.read_json(ensemble_json)
    if [c["name"] for c in sorted(ens["classes"], key=lambda c: int(c["id"]))] != names:
        return None, "its classes differ from the current ones"
    for rec in norm_records:
        got = {k: files.read_json(rec).get(k) for k in norm.NORM_KEYS}
        if got != {k: ens["normalization"].get(k) for k in norm.NORM_KEYS}:
            return None, "the photos are now normalized otherwise than it was trained on"
    loaded = load_ensemble(ensemble_json, weights, cards, {"precision": "fp32", **device_cfg})
    lut = metrics.channel_lut(ens["classes"])
    n = len(names)
    cm = np.zeros((n, n), dtype=np.int64)
    with torch.inference_mode():
        for photo, mask in zip(photos, masks):
            with io.RasterRows(photo) as rows:
                # the library's default tiling, as the training's own validation: prediction settings never
                # change a decision
                maps = infer.predict_maps(loaded["nets"], rows, n, ens["patch_size"], device=loaded["device"],
                                          with_uncertainty=False)
            truth = lut[norm.resample_mask(io.read_raster(mask)[0][0], maps["classes"].shape)]
            cm += metrics.confusion(maps["classes"], truth, n, metrics.TARGET_IGNORE)
    return ver.class_scores(cm, names, metric), ""


def decide(candidate: str, incumbent: str, candidate_files: dict, incumbent_files: dict | None,
           val_ids: list[str], val_photos: list[str], val_norm_records: list[str], val_masks: list[str],
           classes: list[dict], rule: dict, out_json: str, device_cfg: dict | None = None, threads: int = 1) -> dict:
    """Judge ``candidate`` against ``incumbent`` (``none``: the first version) on the current validation
    photos, and write the decision with both versions' per-class scores.

    ``*_files``: ``ensemble`` (card), ``weights`` and ``cards`` of each version.
    """
    names = [c["name"] for c in sorted(classes, key=lambda c: int(c["id"]))]
    metric = rule["metric"]
    args = (val_photos, val_norm_records, val_masks, names, metric, device_cfg or {}, threads)

    def scores(f):
        return _ensemble_scores(f["ensemble"], list(f["weights"]), list(f["cards"]), *args)

    t0 = time.time()
    cand, why_c = scores(candidate_files) if val_photos else ({}, "")
    if cand is None:
        raise CrustWatchError(f"candidate version {candidate} cannot predict the validation photos: {why_c}")
    inc, why_i = (None, "")
    if incumbent != ver.NO_VERSION and incumbent_files:
        inc, why_i = scores(incumbent_files) if val_photos else ({}, "")
    if incumbent != ver.NO_VERSION and inc is None:
        verdict = {"decision": "accepted", "reason": f"the current version {incumbent} cannot be compared: {why_i}",
                   "candidate_mean": ver.mean_score(cand), "incumbent_mean": float("nan"), "gain": float("nan"),
                   "worst_class": None, "worst_drop": float("nan")}
    else:
        verdict = ver.judge(cand, inc, metric, rule["min_gain"], rule["max_class_drop"])
    verdict = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in verdict.items()}
    out = {
        "candidate": candidate,
        "incumbent": incumbent,
        "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **verdict,
        "rule": dict(rule),
        "validation_images": list(val_ids),
        "candidate_scores": cand,
        "incumbent_scores": inc,
        "candidate_ensemble_sha256": files.sha256_file(candidate_files["ensemble"]),
        "incumbent_ensemble_sha256": files.sha256_file(incumbent_files["ensemble"]) if incumbent_files else None,
        "seconds": round(time.time() - t0, 1),
    }
    files.write_json(out_json, out)
    log.info("version %s against %s: %s", candidate, incumbent, out["reason"])
    return out


def _fmt(x) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}"


def governance(models_dir: str, status: dict, out_governance: str, out_versions: str) -> None:
    """The governance log (every decision on disk, oldest first, with both scores per class) and the
    versions table (every version on disk: current, pinned, rejected, superseded or deferred).

    ``status``: ``pinned`` (the pinned version, or None) and ``deferred`` (``version`` and ``note`` of a
    candidate that ``versions.retrain_growth`` holds back, or None).
    """
    folder = Path(models_dir)
    decisions = ver.read_decisions(folder / "decisions")
    rows = []
    for d in decisions:
        inc = d.get("incumbent_scores") or {}
        per_class = "; ".join(f"{c} {v:.3f}" + (f" / {inc[c]:.3f}" if c in inc else "")
                              for c, v in (d.get("candidate_scores") or {}).items())
        rows.append({
            "decided_at": d.get("decided_at", ""), "candidate": d["candidate"], "incumbent": d["incumbent"],
            "decision": d["decision"], "reason": d.get("reason", ""), "metric": (d.get("rule") or {}).get("metric", ""),
            "candidate_mean": _fmt(d.get("candidate_mean")), "incumbent_mean": _fmt(d.get("incumbent_mean")),
            "gain": _fmt(d.get("gain")), "worst_class": d.get("worst_class") or "",
            "worst_drop": _fmt(d.get("worst_drop")), "validation_photos": len(d.get("validation_images") or []),
            "per_class": per_class, "candidate_ensemble_sha256": d.get("candidate_ensemble_sha256") or "",
            "incumbent_ensemble_sha256": d.get("incumbent_ensemble_sha256") or "",
        })
    files.write_tsv(pd.DataFrame(rows, columns=GOVERNANCE_COLUMNS), out_governance)

    current = ver.current_version(decisions)
    pinned, deferred = status.get("pinned"), status.get("deferred") or {}
    last = {d["candidate"]: d for d in decisions}  # the latest decision on each candidate
    vrows = []
    for rec_path in sorted(folder.glob("v*/version.json")):
        rec = files.read_json(rec_path)
        v = rec["version"]
        seeds = sorted(int(p.parent.name[4:]) for p in rec_path.parent.glob("seed*/model.safetensors"))
        d = last.get(v)
        if v == pinned:
            status_of = "pinned"
        elif v == current:
            status_of = "current" if not pinned else "current (not predicting: another version is pinned)"
        elif v == deferred.get("version"):
            status_of = "deferred"
        elif d:
            status_of = "rejected" if d["decision"] == "rejected" else "superseded"
        else:
            status_of = "not judged"
        vrows.append({"version": v, "status": status_of, "train_photos": rec["train_photos"],
                      "val_photos": rec["val_photos"], "seeds": ",".join(map(str, seeds)),
                      "first_decided": min((x.get("decided_at", "") for x in decisions if x["candidate"] == v),
                                           default=""),
                      "decision": deferred["note"] if v == deferred.get("version") else (d or {}).get("reason", ""),
                      "settings_sha256": rec["settings_sha256"][:12], "data_sha256": rec["data_sha256"][:12]})
    files.write_tsv(pd.DataFrame(vrows, columns=VERSIONS_COLUMNS), out_versions)
    log.info("%d decisions, %d versions; %s predicts", len(rows), len(vrows), pinned or current)
