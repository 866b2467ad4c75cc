"""Model versions, and the rule that decides which version is current (``versions:`` in the config).

A monitoring project gains labels every season. Instead of replacing its models, each set of labels and
settings makes a **version**, named by what it was trained from (:func:`version_id`): the training and
validation photos and their labels by content (sha256 of the files), the settings that shape the weights
(classes, ignore value, model, train, split seed, normalization, pretraining) and the photos that set the
cameras' colour correction. The same labels and settings always give the same id, on any machine; a new
label, a corrected mask or a changed setting gives a new one. Seeds are members of a version, not part of
its name: adding a seed adds a member.

A new version does not simply take over. It is compared with the current version on the **current**
validation photos (both ensembles predict them afresh), class by class, and becomes current only if it
meets the acceptance rule (:func:`judge`); otherwise the current version keeps predicting, and both stay on
disk with the decision and both scores in the governance log. The default rule, ``metric: iou``,
``min_gain: 0``, ``max_class_drop: 0.05``:

- **mean over classes, not overall accuracy**: overall accuracy is dominated by the commonest cover
  (cyanobacterial crust, bare soil); a rare lichen can vanish from the maps without moving it. A mean of
  per-class IoU weighs every taxon present in the validation truth alike.
- **not lower (gain >= 0) rather than CoralNet's 1.01 x accuracy**: a new version is trained on more (and
  newer) labels, so an equal score is a reason to take it; demanding a 1% gain on a handful of validation
  photos rejects most genuine updates, because two equally good ensembles differ by about that much by chance.
- **no class worse by more than 0.05 IoU**: the mean can rise while one taxon collapses (a version that
  learns moss better and loses Fulgensia); the margin is about the seed-to-seed spread of one class's IoU on
  a few validation photos, so it stops a real loss but not noise.

What is current is read from the decisions on disk (:func:`current_version`): the candidate of the latest
accepted decision. ``versions.pin`` names a version (or ``current``) that predicts whatever new labels
arrive, and no candidate is trained; ``versions.retrain_growth`` (CoralNet: 1.1) defers a candidate whose
only change is more labels until the labelled training photos have grown by that factor since the current
version (a changed setting always makes a candidate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .errors import CrustWatchError
from .settings import canonical

#: a version id: "v" and the first 12 hex digits of the sha256 of its definition
ID_PATTERN = r"v[0-9a-f]{12}"
#: the incumbent of the first decision, when no version was current
NO_VERSION = "none"


def version_id(definition: dict) -> str:
    """The id of a version: ``v`` + 12 hex digits of the sha256 of its canonical definition."""
    from .provenance import digest

    return "v" + digest(canonical(definition))[:12]


def definition(settings: dict, train: list[dict], val: list[dict], calibration: dict[str, list[dict]],
               pretrain: list[dict] | None = None) -> dict:
    """What a version is trained from, in a canonical form (:func:`version_id` hashes it).

    Args:
        settings: what shapes the weights: classes, ignore_index, model, train (the weight-shaping
            settings), split_seed, normalize, pretrain (None when off), points (None without point rows).
        train, val: one dict per training / validation photo, in sheet order: ``image_id``, ``photo_sha256``,
            ``label_sha256`` (mask or points file), and the sheet values that change its ingest (``meta``).
        calibration: per camera key of those photos, the photos that set its colour correction
            (``image_id``, ``photo_sha256``).
        pretrain: the photos the encoders pretrain on (``image_id``, ``photo_sha256``), or None.
    """
    return canonical({
        "settings": settings,
        "train": list(train),
        "val": list(val),
        "calibration": calibration,
        "pretrain": list(pretrain) if pretrain else None,
    })


def data_and_settings(defn: dict) -> tuple[str, str]:
    """Digests of a definition's settings and of its data: a changed setting always makes a candidate."""
    from .provenance import digest

    settings = defn["settings"]
    data = {k: v for k, v in defn.items() if k != "settings"}
    return digest(settings), digest(data)


def labelled_training_photos(defn: dict) -> int:
    """Labelled photos a version trains on (masks or points): what ``retrain_growth`` counts."""
    return len(defn["train"])


# ------------------------------------------------------------------ what is current


def read_decisions(folder: str | Path) -> list[dict]:
    """Every decision record in ``folder`` (``<candidate>-vs-<incumbent>.json``), oldest first."""
    from .files import read_json

    out = []
    for p in sorted(Path(folder).glob("*-vs-*.json")):
        try:
            d = read_json(p)
        except (OSError, ValueError):
            continue  # a half-written file of an interrupted run is never current
        if isinstance(d, dict) and "candidate" in d and "decision" in d:
            out.append({**d, "path": str(p)})
    return sorted(out, key=lambda d: (str(d.get("decided_at", "")), d["path"]))


def current_version(decisions: list[dict]) -> str | None:
    """The candidate of the latest accepted decision; None when no version was ever accepted."""
    accepted = [d for d in decisions if d["decision"] == "accepted"]
    return accepted[-1]["candidate"] if accepted else None


def read_definitions(models_dir: str | Path) -> dict[str, dict]:
    """The definitions of the versions recorded under ``models_dir`` (``<version>/version.json``)."""
    from .files import read_json

    out = {}
    for p in sorted(Path(models_dir).glob("v*/version.json")):
        try:
            rec = read_json(p)
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("version") == p.parent.name and "definition" in rec:
            out[rec["version"]] = rec["definition"]
    return out


@dataclass(frozen=True)
class Plan:
    """Which version predicts in this run, and whether a candidate is trained and judged.

    Attributes:
        candidate: the version the sheet and config define now.
        incumbent: the current version before this run (None: none was ever accepted).
        selected: the version that predicts, when known before the run (None: the decision of
            ``candidate`` against ``incumbent``, made in this run, says).
        decide: whether the candidate is trained and judged against the incumbent in this run.
        state: ``first`` (no version yet: the candidate is accepted as the first), ``current`` (the
            candidate is the current version), ``candidate`` (judged in this run, or judged before),
            ``deferred`` (``retrain_growth`` not reached) or ``pinned``.
        note: a sentence for the log and the governance table.
    """

    candidate: str
    incumbent: str | None
    selected: str | None
    decide: bool
    state: str
    note: str


def plan(candidate: str, candidate_def: dict, decisions: list[dict], known: dict[str, dict],
         pin: str | None = None, retrain_growth: float | None = None) -> Plan:
    """Decide, before the run, what the versions on disk and the config mean for it (:class:`Plan`).

    Raises:
        CrustWatchError: ``pin`` names a version that was never made here (its record lists the known ones).
    """
    incumbent = current_version(decisions)
    if pin:
        if pin == "current":
            if incumbent is None:
                raise CrustWatchError("config versions.pin: current, but no version has been accepted yet in this "
                                      "project: run once without the pin (or name a version)")
            pin = incumbent
        if pin != candidate and pin not in known:
            listed = ", ".join(sorted(known)) or "none yet"
            raise CrustWatchError(f"config versions.pin: '{pin}' is no version of this project (versions on disk: "
                                  f"{listed}; results/models/<model>/governance.tsv lists them)")
        return Plan(candidate, incumbent, pin, False, "pinned",
                    f"versions.pin: {pin} predicts; no candidate is trained"
                    + ("" if pin == candidate else f" (the sheet and config now define {candidate})"))
    if incumbent is None:
        return Plan(candidate, None, candidate, True, "first", f"{candidate} is the project's first version")
    if candidate == incumbent:
        return Plan(candidate, incumbent, incumbent, False, "current", f"{candidate} is the current version")
    if retrain_growth and incumbent in known:
        old = known[incumbent]
        same_settings = data_and_settings(old)[0] == data_and_settings(candidate_def)[0]
        n_old, n_new = labelled_training_photos(old), labelled_training_photos(candidate_def)
        if same_settings and n_new < retrain_growth * n_old:
            return Plan(candidate, incumbent, incumbent, False, "deferred",
                        f"{candidate} is not trained yet: {n_new} labelled training photos against {n_old} of the "
                        f"current {incumbent} ({n_new / max(n_old, 1):.2f}x), below versions.retrain_growth "
                        f"{retrain_growth:g}x")
    return Plan(candidate, incumbent, None, True, "candidate",
                f"{candidate} is judged against the current {incumbent} on the current validation photos")


# ------------------------------------------------------------------ the acceptance rule


def class_scores(cm, names: list[str], metric: str = "iou") -> dict[str, float]:
    """Per class (channel order), the ``iou`` or ``f1`` of a confusion matrix (true x predicted), for the
    classes present in the truth; a class the truth lacks is left out (its score says nothing)."""
    import numpy as np

    from .metrics import scores

    s = scores(np.asarray(cm))
    present = np.asarray(cm).sum(1) > 0
    return {n: float(s[metric][k]) for k, n in enumerate(names) if present[k]}


def mean_score(scores: dict[str, float]) -> float:
    """The mean of the finite per-class scores (NaN when there are none)."""
    vals = [v for v in scores.values() if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def judge(candidate: dict[str, float], incumbent: dict[str, float] | None, metric: str = "iou",
          min_gain: float = 0.0, max_class_drop: float = 0.05) -> dict:
    """The acceptance rule: the candidate's mean per-class score minus the incumbent's must be at least
    ``min_gain``, and no class may score lower than the incumbent's by more than ``max_class_drop``.

    ``candidate`` and ``incumbent`` map class names to scores on the same validation pixels
    (:func:`class_scores`). Without an incumbent (the first version) or without validation pixels the
    candidate is accepted, and the reason says why.

    Returns:
        ``decision`` (accepted or rejected), ``reason`` (one sentence with the numbers), ``candidate_mean``,
        ``incumbent_mean``, ``gain``, ``worst_class`` and ``worst_drop``.
    """
    label = {"iou": "mean per-class IoU", "f1": "mean per-class F1"}.get(metric, f"mean per-class {metric}")
    out = {"candidate_mean": mean_score(candidate), "incumbent_mean": float("nan"), "gain": float("nan"),
           "worst_class": None, "worst_drop": float("nan")}
    if incumbent is None:
        return {**out, "decision": "accepted", "reason": "the project's first version: nothing to compare with"}
    if not candidate or not incumbent:
        return {**out, "decision": "accepted",
                "reason": "no labelled validation pixels to compare on: accepted without comparison"}
    out["incumbent_mean"] = mean_score(incumbent)
    out["gain"] = gain = out["candidate_mean"] - out["incumbent_mean"]
    drops = {c: incumbent[c] - candidate.get(c, 0.0) for c in incumbent}
    worst = max(sorted(drops), key=lambda c: drops[c])
    out["worst_class"], out["worst_drop"] = worst, drops[worst]
    eps = 1e-12
    mean_ok = gain >= min_gain - eps
    class_ok = drops[worst] <= max_class_drop + eps
    verdict = "accepted" if mean_ok and class_ok else "rejected"
    why = [f"{label} {out['candidate_mean']:.3f} against {out['incumbent_mean']:.3f} ({gain:+.3f}, "
           f"{'at least' if mean_ok else 'below'} the required {min_gain:+.3f})"]
    why.append(f"largest class drop {worst} {drops[worst]:+.3f} ({'within' if class_ok else 'beyond'} the allowed "
               f"{max_class_drop:.3f})" if drops[worst] > 0 else "no class scores lower")
    return {**out, "decision": verdict, "reason": f"{verdict}: " + "; ".join(why)}
