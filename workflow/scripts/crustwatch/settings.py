"""Config helpers shared by the Snakefile and the library (no heavy imports: parsed at every dry run)."""

from __future__ import annotations

from .errors import CrustWatchError

# train settings that never change the weights: changing them must not retrain
TRAIN_RUNTIME_KEYS = ("log_every", "checkpoint_every", "workers")

#: weight-shaping settings that :func:`train_settings` leaves out of the params at these values, the ones
#: every model had before the setting existed (so such a project keeps its models); the training step reads
#: them back with :func:`train_params_filled`, never from the schema, whose default may differ since
LEFT_OUT_AT = {"class_balance": 0, "logit_adjust": 0, "precision": "fp32"}


def train_settings(train_cfg: dict) -> dict:
    """The ``train:`` settings that shape the weights (what the train rule takes as params).

    ``plan`` is left out unless ``steps`` is ``auto``, ``class_balance`` and ``logit_adjust`` when
    they are 0 and ``precision`` when it is ``fp32``.
    With ``augment.drift`` off, ``augment.blur_sigma`` (read only by the drift simulation)
    is left out too: it came after models were trained with drift off, and a project that
    keeps drift off must not retrain because the schema now fills it in. The other drift
    ranges stay, as they always have been in the params.
    """
    out = {k: v for k, v in canonical(train_cfg).items() if k not in TRAIN_RUNTIME_KEYS}
    # read only by `steps: auto`; and class_balance 0 samples as before it existed: a project
    # that fixes its steps and keeps class_balance 0 keeps its models
    if out.get("steps") != "auto":
        out.pop("plan", None)
    for key, value in LEFT_OUT_AT.items():  # the plain loss, fp32: as before these settings existed
        if key in out and out[key] == value:
            out.pop(key)
    aug = out.get("augment")
    if isinstance(aug, dict) and not aug.get("drift", False) and "blur_sigma" in aug:
        out["augment"] = {k: v for k, v in aug.items() if k != "blur_sigma"}
    return out


def train_params_filled(params: dict) -> dict:
    """The train rule's params with what :func:`train_settings` left out put back (``LEFT_OUT_AT``):
    a project that sets ``logit_adjust: 0`` trains with 0 although the schema's default is 0.2."""
    return {**LEFT_OUT_AT, **params}


def predict_settings(predict_cfg: dict) -> dict:
    """The ``predict:`` settings as the predict and adabn rules take them (params).

    ``prior_correction`` is left out when it is 0 (off): it came after projects had predicted,
    and the plain argmax it names must not re-predict them.
    """
    out = canonical(predict_cfg)
    if out.get("prior_correction") == 0:
        out.pop("prior_correction")
    return out


def canonical(obj):
    """``obj`` with every dict's keys sorted, recursively: settings given in another key order
    (a minimal config against a full one) are then the same rule parameters, and nothing reruns."""
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return obj


def train_runtime(train_cfg: dict) -> dict:
    """The ``train:`` settings that only change how fast or how verbosely training runs."""
    return {k: v for k, v in train_cfg.items() if k in TRAIN_RUNTIME_KEYS}


def resolve_seeds(seeds) -> list[int]:
    """``seeds:`` as a list (``[0, 1, 2]``) or a sweep (``{start: 0, count: 10}``) -> sorted list."""
    if isinstance(seeds, dict):
        start, count = int(seeds.get("start", 0)), int(seeds["count"])
        if count < 1 or start < 0:
            raise CrustWatchError(f"config: seeds {seeds} must have start >= 0 and count >= 1")
        return list(range(start, start + count))
    out = [int(s) for s in seeds]
    if len(set(out)) != len(out) or any(s < 0 for s in out):
        raise CrustWatchError(f"config: seeds {seeds} must be distinct non-negative integers")
    return sorted(out)
