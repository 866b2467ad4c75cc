"""Validation of a project's config, shared by the workflow (parse time) and ``crustwatch check``.

Every problem is reported at once, one short line each naming the key and what to do, before any
job runs: the schema's own messages (without the schema dump jsonschema appends) and the checks
a schema cannot express (unique class ids and names, the ignore value, encoder and decoder
stages, seeds torch can take, a training patch that fits in memory).
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from .errors import CrustWatchError

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
#: the largest seed every generator accepts (torch and numpy take 64-bit seeds)
MAX_SEED = 2**63 - 1
#: training memory the plan may need before it is refused, in GiB (see :func:`train_memory_gib`)
MAX_TRAIN_GIB = 64.0


@functools.cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def default(*keys: str):
    """The schema's default of a nested key, e.g. ``default("model", "encoder_depth")``."""
    node = schema()
    for k in keys:
        node = node["properties"][k]
    return node.get("default")


def with_defaults(value, node: dict | None = None):
    """``value`` with the schema's defaults filled in, recursively, as the workflow's validation
    fills them (an absent section is its ``default``, then its own keys' defaults); ``node`` is the
    schema node ``value`` follows (default: the whole config's). The library's settings classes
    are built from this, so the schema is the one place defaults live."""
    import copy

    node = schema() if node is None else node
    if value is None and "default" in node:
        value = copy.deepcopy(node["default"])
    props = node.get("properties")
    if not isinstance(value, dict) or not props:
        return value
    out = dict(value)
    for key, sub in props.items():
        if key in out:
            out[key] = with_defaults(out[key], sub)
        elif "default" in sub:
            out[key] = with_defaults(copy.deepcopy(sub["default"]), sub)
    return out


def section(*keys: str, given: dict | None = None) -> dict:
    """A config section (``section("train", "augment")``) with the schema's defaults under ``given``."""
    node = schema()
    for k in keys:
        node = node["properties"][k]
    return with_defaults(dict(given or {}), node)


def _where(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def schema_problems(config: dict) -> list[str]:
    """The config's departures from the schema, one line each (no schema dump)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([err]) if err.context else err
        key = _where(best.absolute_path)
        msg = best.message
        if best.validator == "additionalProperties":
            msg = f"{msg} (a typo? the keys this section takes are in workflow/schemas/config.schema.yaml)"
        out.append(f"config key {key}: {msg}")
    return out


def seeds_problems(seeds) -> list[str]:
    """``seeds:`` must be a non-empty list of distinct integers 0..2**63-1, or ``{start, count}``."""
    hint = "give a list such as [0, 1, 2] or a sweep {start: 0, count: 10}"
    if isinstance(seeds, dict):
        start, count = seeds.get("start", 0), seeds.get("count")
        if not isinstance(start, int) or not isinstance(count, int) or isinstance(count, bool):
            return [f"config key seeds: {seeds!r} needs integer start and count; {hint}"]
        if start < 0 or count < 1 or start + count - 1 > MAX_SEED:
            return [f"config key seeds: {seeds!r} must have start >= 0, count >= 1 and seeds <= 2**63-1; {hint}"]
        return []
    if not isinstance(seeds, list):
        return [f"config key seeds: {seeds!r} is not a list; {hint}"]
    if not seeds:
        return [f"config key seeds: the list is empty (no model would be trained); {hint}"]
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= MAX_SEED]
    if bad:
        return [f"config key seeds: {bad} are not integers in 0..2**63-1; {hint}"]
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        return [f"config key seeds: {dup} listed more than once (one model per seed); {hint}"]
    return []


def train_memory_gib(patch_size: int, batch_size: int, encoder_depth: int, decoder_channels, n_classes: int) -> float:
    """A rough upper estimate of training memory for one step (activations kept for the backward
    pass, float32), from patch, batch and model widths: the resnet stem and stages at their
    resolutions plus the decoder, times 3 (forward, gradients, optimizer work)."""
    px = batch_size * patch_size**2
    enc = [(64, 1 / 2), (64, 1 / 4), (128, 1 / 8), (256, 1 / 16), (512, 1 / 32)][:encoder_depth]
    # several tensors per stage (convolutions, batch norm, activation, residual)
    floats = sum(6 * c * f * f for c, f in enc) * px
    dec = list(decoder_channels or (256, 128, 64, 32, 16)[:encoder_depth])
    floats += sum(6 * c * (0.5 ** (len(dec) - 1 - i)) ** 2 for i, c in enumerate(dec)) * px
    floats += 8 * n_classes * px
    return 3 * 4 * floats / 2**30


def config_problems(config: dict) -> list[str]:
    """Every problem of a config (as read, before defaults are filled in)."""
    out = []
    if "seeds" in config:
        out += seeds_problems(config["seeds"])
    out += [p for p in schema_problems(config) if not p.startswith("config key seeds")]
    classes = config.get("classes")
    if isinstance(classes, list) and all(isinstance(c, dict) for c in classes):
        ids = [c.get("id") for c in classes]
        names = [c.get("name") for c in classes]
        for what, vals in (("id", ids), ("name", names)):
            dup = sorted({v for v in vals if vals.count(v) > 1}, key=str)
            if dup:
                out.append(f"config key classes: {what} {', '.join(map(str, dup))} given to more than one class; "
                           f"each class needs its own {what}")
        ign = config.get("ignore_index", 255)
        if ign in ids:
            out.append(f"config key ignore_index: {ign} is also the id of a class; choose a value no class uses "
                       "(255 unless your masks say otherwise)")
    model = config.get("model") or {}
    depth = model.get("encoder_depth", default("model", "encoder_depth"))
    dec = model.get("decoder_channels", default("model", "decoder_channels"))
    if isinstance(dec, list) and isinstance(depth, int) and len(dec) != depth:
        out.append(f"config key model.decoder_channels: {len(dec)} widths {dec} for model.encoder_depth {depth}; give "
                   f"one per stage, for example {[8 * 2**k for k in reversed(range(depth))]}, or null for smp's")
    train = config.get("train") or {}
    patch = train.get("patch_size", default("train", "patch_size"))
    batch = train.get("batch_size", default("train", "batch_size"))
    if all(isinstance(v, int) for v in (patch, batch, depth)) and isinstance(classes, list):
        gib = train_memory_gib(patch, batch, depth, dec if isinstance(dec, list) else None, len(classes))
        if gib > MAX_TRAIN_GIB:
            out.append(f"config keys train.patch_size {patch} x train.batch_size {batch}: training would need about "
                       f"{gib:.0f} GiB (more than {MAX_TRAIN_GIB:.0f}); use a smaller patch (128-512) or batch")
    out += pairs_problems((config.get("change") or {}).get("pairs", []))
    out += pretrain_problems(config.get("pretrain") or {}, patch)
    labels = (config.get("points") or {}).get("labels") or {}
    if isinstance(labels, dict) and isinstance(classes, list):
        names = {c.get("name") for c in classes if isinstance(c, dict)}
        for code, name in labels.items():
            if name not in names:
                out.append(f"config key points.labels.{code}: '{name}' is not a class name (classes: "
                           f"{', '.join(sorted(map(str, names)))})")
    return out


def pretrain_problems(pretrain: dict, patch) -> list[str]:
    """``pretrain.until`` must be a date; ``pretrain.block_px`` must divide the training patch."""
    import datetime

    from .change import as_date_text

    if not isinstance(pretrain, dict):
        return []  # the schema says so
    out = []
    until = pretrain.get("until")
    if until is not None:
        try:
            datetime.date.fromisoformat(as_date_text(until))
        except ValueError:
            out.append(f"config key pretrain.until: '{until}' is not a date YYYY-MM-DD (as in the sheet's `date`)")
    block = pretrain.get("block_px", default("pretrain", "block_px"))
    if isinstance(block, int) and isinstance(patch, int) and block > 0 and patch % block:
        out.append(f"config key pretrain.block_px: {block} does not divide train.patch_size {patch}; the hidden blocks "
                   f"must tile the patch (for example {next(b for b in (16, 8, 4, 2, 1) if patch % b == 0)})")
    return out


def pairs_problems(pairs) -> list[str]:
    """``change.pairs`` must hold pairs of two different dates, ``YYYY-MM-DD``."""
    import datetime

    from .change import as_date_text

    if not isinstance(pairs, list):
        return []  # the schema says so
    out = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2:
            continue  # the schema says so
        texts = [as_date_text(v) for v in pair]
        for t in texts:
            try:
                datetime.date.fromisoformat(t)
            except ValueError:
                out.append(f"config key change.pairs.{k}: '{t}' is not a date YYYY-MM-DD (as in the sheet's `date`)")
        if texts[0] == texts[1]:
            out.append(f"config key change.pairs.{k}: both dates are {texts[0]}; a change needs two dates")
    return out


def sheet_problems(config: dict, sheet, splits: dict[str, str]) -> list[str]:
    """What a validated config asks of the loaded sheet (``crustwatch.sheet.load_sheet``) and its
    splits (image_id -> split): a photo to train on, and a reference box in every row when
    ``normalize.method`` is ``reference``. Used by the workflow at parse time and by ``crustwatch check``."""
    out = []
    where = f"image sheet '{config['images']}'"
    if "train" not in splits.values():
        out.append(f"{where}: no photo is for training. Give labelled rows (a `mask` or `points`) with `split` train, or leave "
                   "`split` blank in every row to split by plot")
    if config["normalize"]["method"] == "reference":
        no_box = sheet[sheet["reference"] == ""]
        if len(no_box):
            out.append(
                f"{where}: normalize.method is 'reference' but sheet line(s) {', '.join(map(str, no_box['line']))} "
                f"({', '.join(no_box.index[:5])}) have no `reference` box (x0,y0,x1,y1 of a neutral target in the "
                "photo); give one per row or choose another method")
    return out


def check_sheet(config: dict, sheet, splits: dict[str, str]) -> None:
    """Raise one :class:`CrustWatchError` listing every problem :func:`sheet_problems` finds."""
    problems = sheet_problems(config, sheet, splits)
    if problems:
        raise CrustWatchError("\n".join(problems))


def check_config(config: dict, source: str = "config") -> None:
    """Raise one :class:`CrustWatchError` listing every problem of ``config``."""
    problems = config_problems(config)
    if problems:
        raise CrustWatchError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def _schema_comments() -> dict[str, str]:
    """The comment lines directly above each key of the schema file, by dotted key."""
    import re

    out, stack, pending = {}, [], []
    for line in SCHEMA.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            pending.append(text.lstrip("#").strip())
            continue
        m = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):", line)
        if not m:
            pending = []
            continue
        depth = len(m.group(1)) // 2
        stack = stack[:depth] + [m.group(2)]
        if pending:
            out[".".join(k for k in stack if k != "properties")] = " ".join(pending)
        pending = []
    return out


def _allowed(node: dict) -> str:
    if "enum" in node:
        return " / ".join(f"`{v}`" for v in node["enum"])
    if "anyOf" in node or "oneOf" in node:
        return " or ".join(_allowed(n) for n in node.get("anyOf", node.get("oneOf")))
    kind = node.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    bounds = [f"{op} {node[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                              ("exclusiveMaximum", "<"), ("multipleOf", "multiple of"))
              if k in node]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def defaults_markdown() -> str:
    """``docs/config.md``: every config key with its default, allowed values and meaning, from the schema
    (its ``description``, else the comment above the key); ``crustwatch defaults --markdown`` writes it."""
    import json

    comments = _schema_comments()
    lines = ["# Configuration reference", "",
             "Generated from `workflow/schemas/config.schema.yaml` by `crustwatch defaults --markdown` (a test checks",
             "that this file is current). The schema is the one place defaults live: a key you leave out of your",
             "config gets the default below, whatever folder Snakemake runs in. `crustwatch defaults` prints them as",
             "YAML; `config/project.yaml` is a project's starting config, and `config/config.yaml` (the demo's,",
             "which pins smaller settings) explains the main keys.", ""]

    def row(dotted: str, sub: dict, required: list) -> str:
        meaning = sub.get("description") or comments.get(dotted, "")
        default = (f"`{json.dumps(sub['default'])}`" if "default" in sub
                   else "(required)" if dotted.rsplit(".", 1)[-1] in required else "(none)")
        return f"| `{dotted}` | {default} | {_allowed(sub)} | {meaning} |"

    def is_section(sub: dict) -> bool:
        return sub.get("type") == "object" and "properties" in sub

    def rows(node: dict, prefix: str):
        for key, sub in node.get("properties", {}).items():
            if is_section(sub):
                yield from rows(sub, f"{prefix}{key}.")
            else:
                yield row(f"{prefix}{key}", sub, node.get("required", []))

    head = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    top = schema()
    for key, sub in top["properties"].items():
        if is_section(sub):
            lines += [f"## `{key}`", "", *([comments[key], ""] if comments.get(key) else []), *head,
                      *rows(sub, key + "."), ""]
    lines += ["## Top level", "", *head]
    lines += [row(key, sub, top.get("required", [])) for key, sub in top["properties"].items() if not is_section(sub)]
    return "\n".join(lines) + "\n"
