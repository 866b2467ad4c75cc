# Sheet loading and validation, wildcard constraints and input functions.
# The stage files (ingest.smk, ...) hold rules only.

import json
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from crustwatch import fingerprint as cw_fp  # noqa: E402
from crustwatch.change import as_date_text  # noqa: E402
from crustwatch import sheet as cw_sheet  # noqa: E402
from crustwatch.errors import CrustWatchError  # noqa: E402
from crustwatch.normalize import calibration_ids as calibration_photos  # noqa: E402
from crustwatch.project import check_config, check_sheet  # noqa: E402
from crustwatch.settings import (
    canonical,
    predict_settings,
    resolve_seeds,
    train_settings,
)  # noqa: E402
from crustwatch import paths  # noqa: E402
from crustwatch import versions as cw_versions  # noqa: E402
from crustwatch.shards import shard_of, site_key  # noqa: E402

# every config problem at once, one line each, before the schema fills in its defaults
check_config(config, "config (--configfile / --config)")
validate(config, schema="../schemas/config.schema.yaml")

MODEL = config["model"]["name"]
# `seeds:` is a list or a sweep {start, count}
SEEDS = resolve_seeds(config["seeds"])
CLASS_IDS = sorted(int(c["id"]) for c in config["classes"])

# The sheet is checked in full (columns, ids, dates, files) before any job runs.
SHEET = cw_sheet.load_sheet(config["images"])
# sha256 of every photo and mask (cached; only new or changed files are read)
FINGERPRINT = cw_fp.fingerprints(
    [p for p in SHEET["image_path"]] + [m for m in SHEET["mask_path"] if m]
)
validate(
    SHEET[[c for c in SHEET.columns if c in cw_sheet.REQUIRED + cw_sheet.OPTIONAL]],
    schema="../schemas/images.schema.yaml",
)
SPLITS = cw_sheet.assign_splits(SHEET, **config["split"])
SPLIT_OF = dict(zip(SPLITS["image_id"], SPLITS["split"]))
CAMERA_KEY = {cam: cw_sheet.camera_key(cam) for cam in SHEET["camera"].unique()}
# a photo to train on, reference boxes where normalize.method needs them (also `crustwatch check`)
check_sheet(config, SHEET, SPLIT_OF)


wildcard_constraints:
    image_id=r"[A-Za-z0-9._-]+",
    seed=r"\d+",
    # only the configured model: another name would train with this config's settings
    model=re.escape(MODEL),
    version=cw_versions.ID_PATTERN,
    incumbent=f"{cw_versions.ID_PATTERN}|{cw_versions.NO_VERSION}",
    camera=r"[A-Za-z0-9._-]+",
    shard=r"[A-Za-z0-9._-]+",


def ids_in(*splits):
    """image_ids whose split is one of ``splits``, in sheet order."""
    return [i for i in SHEET.index if SPLIT_OF[i] in splits]


def class_map():
    """Class ids and names by id, without display colours (the order of the list is no setting)."""
    return sorted(
        ({"id": int(c["id"]), "name": c["name"]} for c in config["classes"]),
        key=lambda c: c["id"],
    )


def train_params():
    """The train settings that shape the weights; log, checkpoint and loader settings are left out."""
    return train_settings(config["train"])


def train_threads():
    """torch threads (fixed: numerics depend on them) plus loader processes."""
    return config["train"]["cpu_threads"] + config["train"]["workers"]


def train_mem_mb():
    """Memory a training job asks the cluster for: the estimate from patch, batch and model widths
    (crustwatch.project.train_memory_gib) plus the photos held in memory, at least 8 GB.
    """
    from crustwatch.project import train_memory_gib

    t, m = config["train"], config["model"]
    gib = train_memory_gib(
        t["patch_size"],
        t["batch_size"],
        m["encoder_depth"],
        m["decoder_channels"],
        len(config["classes"]),
    )
    return max(8000, int(1024 * (gib + 2)))


def grow(base):
    """A resource that grows with each retry of a failed job: base x attempt
    (a job killed for memory or time on a cluster asks for more next time)."""
    return lambda wildcards, attempt: base * attempt


def split_seed():
    """The split seed when the automatic split is used, else None (the sheet decides)."""
    return config["split"]["seed"] if (SPLITS["source"] == "auto").all() else None


def labelled_ids():
    return [i for i in SHEET.index if SHEET.loc[i, "mask_path"]]


def val_labelled_ids():
    """Validation photos with masks: their error rates adjust cover and calibrate its intervals."""
    return [i for i in labelled_ids() if SPLIT_OF[i] == "val"]


def _meta(i):
    """The sheet values that change how a photo is ingested (a params rerun trigger)."""
    r = SHEET.loc[i]
    gsd = r["mm_per_px"]
    return {
        "mm_per_px": None if gsd != gsd else float(gsd),
        "reference": r["reference"] or None,
    }


# ------------------------------------------------------------------ shards
# Per-photo stages run one job per shard: the photos of one site on one date
# (crustwatch.shards). Outputs stay per photo; each job writes a manifest.
SHARD_OF = {
    i: shard_of(site, date)
    for i, site, date in zip(SHEET.index, SHEET["site"], SHEET["date"])
}
SHARDS = {}
for _i, _s in SHARD_OF.items():
    SHARDS.setdefault(_s, []).append(_i)


def path_of(i, kind):
    """A per-photo output (crustwatch.paths.photo)."""
    return paths.photo(i)[kind]


def manifests(stage, ids):
    """The manifests of ``stage`` for the shards holding ``ids`` (sorted, unique)."""
    return sorted({paths.manifest(stage, SHARD_OF[i]) for i in ids})


def shard_photos(wildcards):
    return [SHEET.loc[i, "image_path"] for i in SHARDS[wildcards.shard]]


def shard_masks(wildcards):
    return [
        SHEET.loc[i, "mask_path"]
        for i in SHARDS[wildcards.shard]
        if SHEET.loc[i, "mask_path"]
    ]


def points_settings():
    """How a points file becomes a sparse mask (crustwatch.points): class names, label codes, disk radius."""
    return {
        "classes": {c["name"]: int(c["id"]) for c in config["classes"]},
        "labels": canonical(config["points"]["labels"]),
        "radius_px": config["points"]["radius_px"],
    }


def ingest_items(wildcards):
    """Per photo of the shard: what ingest reads, by content (a params rerun trigger)."""
    return [
        {
            "image_id": i,
            "photo": SHEET.loc[i, "image_path"],
            "photo_sha256": FINGERPRINT.get(SHEET.loc[i, "image_path"], ""),
            "mask": SHEET.loc[i, "mask_path"],
            "mask_sha256": FINGERPRINT.get(SHEET.loc[i, "mask_path"], ""),
            **_meta(i),
            # only for a points row: a project of masks keeps its params (and its ingested files)
            **(
                {"points": points_settings()}
                if SHEET.loc[i, "label_kind"] == "points"
                else {}
            ),
        }
        for i in SHARDS[wildcards.shard]
    ]


def camera_ids(camera_key):
    """image_ids of the photos whose camera has this path-safe key."""
    cams = [c for c, k in CAMERA_KEY.items() if k == camera_key]
    return list(SHEET.index[SHEET["camera"].isin(cams)])


# Per camera key, the photos that calibrate its colour correction: with
# `camera_pool: first_date` those of its first date, so a later date never
# reruns its statistics (crustwatch.normalize.calibration_ids).
CALIBRATION = calibration_photos(
    {
        i: (CAMERA_KEY[cam], date)
        for i, cam, date in zip(SHEET.index, SHEET["camera"], SHEET["date"])
    },
    config["normalize"]["camera_pool"],
)


def calibration_date(wildcards):
    """The first date the camera was used (``camera_pool: first_date``), else None."""
    if config["normalize"]["camera_pool"] != "first_date":
        return None
    return str(SHEET.loc[CALIBRATION[wildcards.camera][0], "date"])


def calibration_ids(wildcards):
    return CALIBRATION[wildcards.camera]


def get_calibration_shards(wildcards):
    return manifests("ingest", calibration_ids(wildcards))


def calibration_records(wildcards):
    return [path_of(i, "ingest_record") for i in calibration_ids(wildcards)]


def camera_stats_of(i):
    return paths.fill(paths.CAMERA_STATS, camera=CAMERA_KEY[SHEET.loc[i, "camera"]])


def get_shard_camera_stats(wildcards):
    return sorted({camera_stats_of(i) for i in SHARDS[wildcards.shard]})


def normalize_items(wildcards):
    return [
        {"image_id": i, "camera_json": camera_stats_of(i)}
        for i in SHARDS[wildcards.shard]
    ]


def get_camera_shards(wildcards):
    """The normalized shards holding one camera's photos (AdaBN reads them)."""
    return manifests("normalize", camera_ids(wildcards.camera))


def camera_photos(wildcards):
    return [path_of(i, "norm_photo") for i in camera_ids(wildcards.camera)]


def adabn_of(i):
    if not config["predict"]["adabn"]:
        return None
    cam = CAMERA_KEY[SHEET.loc[i, "camera"]]
    return paths.fill(paths.ADABN, model=MODEL, camera=cam)


def get_shard_adabn(wildcards):
    """The AdaBN statistics of the shard's cameras when predict.adabn is on, else nothing."""
    return sorted({adabn_of(i) for i in SHARDS[wildcards.shard]} - {None})


def counted_pixels(i):
    """What decides a photo's counted pixels: whether it has a mask, and its plot area box (only where
    the sheet gives one, so a project without keeps its params)."""
    return {
        "has_mask": bool(SHEET.loc[i, "mask_path"]),
        **({"area": SHEET.loc[i, "area"]} if SHEET.loc[i, "area"] else {}),
    }


def predict_items(wildcards):
    # the mask and plot area split the soft cover's probability sums
    return [
        {"image_id": i, "adabn": adabn_of(i), **counted_pixels(i)}
        for i in SHARDS[wildcards.shard]
    ]


def cover_items(wildcards):
    return [{"image_id": i, **counted_pixels(i)} for i in SHARDS[wildcards.shard]]


def sheet_rows():
    """Rows for the raster checks: line, id, paths, reference box and scale."""
    cols = [
        "line",
        "image_id",
        "image_path",
        "mask_path",
        "label_kind",
        "reference",
        "area",
        "mm_per_px",
    ]
    return SHEET[cols].to_dict("records")


def check_all_inputs():
    """Open every photo and mask not yet checked in this content (and with these settings) and
    stop, naming each problem, before any job runs (the onstart hook: main process only).
    """
    from crustwatch.steps.ingest import check_inputs, write_check_table

    settings = {
        "class_ids": CLASS_IDS,
        "ignore_index": config["ignore_index"],
        "max_megapixels": config["ingest"]["max_megapixels"],
        "target_mm_per_px": config["normalize"]["target_mm_per_px"],
    }
    # a project of masks keeps its check records
    if (SHEET["label_kind"] == "points").any():
        settings["points"] = points_settings()
    key = json.dumps(settings, sort_keys=True)
    rows = sheet_rows()
    todo = cw_fp.unchecked(rows, FINGERPRINT, key)
    if not todo:
        return
    print(f"CrustWatch: checking {len(todo)} new or changed photos", file=sys.stderr)
    try:
        checked = check_inputs(todo, out_tsv=None, **settings)
    except CrustWatchError as e:
        print(f"\nCrustWatch: {e}\n", file=sys.stderr)
        raise SystemExit(1)
    cw_fp.mark_checked(todo, FINGERPRINT, key)
    write_check_table(checked, list(SHEET.index), paths.INPUT_CHECKS)


def _pretrain_ids():
    """The photos the encoders pretrain on: those dated up to ``pretrain.until`` (default: the last date
    with a training or validation photo, so a new monitoring date changes nothing), at most
    ``pretrain.max_photos`` of them spread evenly over (date, site, plot, image_id); none while
    ``pretrain.method`` is ``none`` (the rule then never runs).
    """
    p = config["pretrain"]
    if p["method"] == "none":
        return []
    dates = SHEET["date"].astype(str)
    if p["until"] is None:
        until = dates[SHEET.index.isin(ids_in("train", "val"))].max()
    else:
        until = as_date_text(p["until"])
    keys = ["date", "site", "plot", "image_id"]
    chosen = SHEET.loc[dates <= until, keys].astype(str).reset_index(drop=True)
    ids = list(chosen.sort_values(keys)["image_id"])
    n = p["max_photos"]
    if len(ids) > n:
        ids = [ids[int(k * len(ids) / n)] for k in range(n)]
    return ids


# computed once: the candidate version's definition reads it
PRETRAIN_IDS = _pretrain_ids()


# ------------------------------------------------------------------ model versions
# A model version (crustwatch.versions) is named by what it trains from: the training and validation photos
# and labels by content, the settings that shape the weights, the photos that set the cameras' colour
# correction. The sheet and config define the candidate; the decisions on disk say which version is
# current; versions.pin overrides both. Every train, pretrain and ensemble job takes its settings from its
# version's definition, so an older version keeps (and can rebuild) its models after the sheet moved on.


def pretrain_params():
    """The pretrain settings that shape an encoder (``until`` and ``max_photos`` act through the photos)."""
    return canonical(
        {
            k: v
            for k, v in config["pretrain"].items()
            if k not in ("until", "max_photos")
        }
    )


def _photo_entry(i):
    """A training or validation photo in a version's definition: its photo and label by content."""
    r = SHEET.loc[i]
    return {
        "image_id": i,
        "photo_sha256": FINGERPRINT.get(r["image_path"], ""),
        "label_sha256": FINGERPRINT.get(r["mask_path"], ""),
        **_meta(i),
    }


def _candidate_definition():
    train, val = ids_in("train"), ids_in("val")
    labelled = train + val
    cams = sorted({CAMERA_KEY[SHEET.loc[i, "camera"]] for i in labelled})
    points = (SHEET.loc[labelled, "label_kind"] == "points").any()
    settings = {
        "classes": class_map(),
        "ignore_index": config["ignore_index"],
        "model": canonical(config["model"]),
        "train": train_params(),
        "split_seed": split_seed(),
        "normalize": canonical(config["normalize"]),
        "pretrain": pretrain_params() if PRETRAIN_IDS else None,
        "points": points_settings() if points else None,
    }
    sha = lambda i: {
        "image_id": i,
        "photo_sha256": FINGERPRINT.get(SHEET.loc[i, "image_path"], ""),
    }
    return cw_versions.definition(
        settings,
        [_photo_entry(i) for i in train],
        [_photo_entry(i) for i in val],
        {cam: [sha(i) for i in CALIBRATION[cam]] for cam in cams},
        [sha(i) for i in PRETRAIN_IDS] or None,
    )


MODELS_DIR = paths.fill(paths.MODELS_DIR, model=MODEL)
CANDIDATE_DEF = _candidate_definition()
CANDIDATE = cw_versions.version_id(CANDIDATE_DEF)
DEFINITIONS = {**cw_versions.read_definitions(MODELS_DIR), CANDIDATE: CANDIDATE_DEF}
DECISIONS = cw_versions.read_decisions(paths.fill(paths.DECISIONS_DIR, model=MODEL))
try:
    VERSION_PLAN = cw_versions.plan(
        CANDIDATE,
        CANDIDATE_DEF,
        DECISIONS,
        DEFINITIONS,
        pin=config["versions"]["pin"],
        retrain_growth=config["versions"]["retrain_growth"],
    )
except CrustWatchError as e:
    print(f"\nCrustWatch: {e}\n", file=sys.stderr)
    raise SystemExit(1)
if VERSION_PLAN.state != "current":
    print(f"CrustWatch: model versions: {VERSION_PLAN.note}", file=sys.stderr)


def version_def(version):
    if version not in DEFINITIONS:
        raise CrustWatchError(
            f"model version {version} is unknown here: no {paths.fill(paths.VERSION_RECORD, model=MODEL, version=version)}"
        )
    return DEFINITIONS[version]


def version_ids(version, *splits):
    return [e["image_id"] for s in splits for e in version_def(version)[s]]


def _version_params(version):
    """Every train and pretrain parameter of a version, from its definition (computed once per version)."""
    if version in _VERSION_PARAMS:
        return _VERSION_PARAMS[version]
    d = version_def(version)
    s = d["settings"]
    train, val = version_ids(version, "train"), version_ids(version, "val")
    pre = [e["image_id"] for e in d["pretrain"] or []]
    from crustwatch.steps.pretrain import TRAIN_KEYS

    out = {
        **{
            k: s[k]
            for k in (
                "classes",
                "ignore_index",
                "model",
                "train",
                "split_seed",
                "pretrain",
            )
        },
        "train_ids": train,
        "val_ids": val,
        # the sha256 of the photos and labels that named the version: training refuses changed ones
        "sources": {
            e["image_id"]: [e["photo_sha256"], e["label_sha256"]]
            for e in d["train"] + d["val"]
        },
        "photos": [path_of(i, "norm_photo") for i in train],
        # read only with train.augment.drift (drift simulated before normalization)
        "raw_photos": [path_of(i, "ingest_photo") for i in train],
        "masks": [path_of(i, "mask") for i in train],
        "val_photos": [path_of(i, "norm_photo") for i in val],
        "val_masks": [path_of(i, "mask") for i in val],
        "photo_records": [path_of(i, "ingest_record") for i in train + val],
        "mask_records": [path_of(i, "mask_record") for i in train + val],
        "norm_records": [path_of(i, "norm_record") for i in train + val],
        "pretrain_ids": pre,
        "pretrain_photos": [path_of(i, "norm_photo") for i in pre],
        "pretrain_train": {k: s["train"][k] for k in TRAIN_KEYS if k in s["train"]},
    }
    _VERSION_PARAMS[version] = out
    return out


_VERSION_PARAMS = {}


def version_param(key):
    """A train or pretrain rule parameter, from the definition of the job's version."""
    return lambda wildcards: _version_params(wildcards.version)[key]


def _version_inputs(version, files):
    """Another version's inputs are ancient: a newer file of today's data never retrains it (its
    record and the sha256 checks of the train step keep it honest)."""
    if version == CANDIDATE:
        return files
    return [ancient(f) for f in files]


def training_shards(wildcards):
    """The ingest and normalize shards holding a version's training and validation photos."""
    ids = [i for i in version_ids(wildcards.version, "train", "val") if i in SHARD_OF]
    return _version_inputs(
        wildcards.version, manifests("ingest", ids) + manifests("normalize", ids)
    )


def pretrain_shards(wildcards):
    ids = [
        i for i in _version_params(wildcards.version)["pretrain_ids"] if i in SHARD_OF
    ]
    return _version_inputs(wildcards.version, manifests("normalize", ids))


def pretrained_inputs(wildcards):
    """The seed's pretrained encoder and its card when the version pretrains, else nothing."""
    if version_def(wildcards.version)["settings"]["pretrain"] is None:
        return {}
    w = {"model": wildcards.model, "version": wildcards.version, "seed": wildcards.seed}
    return {
        "encoder": paths.fill(paths.PRETRAINED_ENCODER, **w),
        "encoder_card": paths.fill(paths.PRETRAINED_CARD, **w),
    }


def version_files(version, kind):
    """A version's ensemble card, or its members' weights or cards (one per configured seed)."""
    if kind == "ensemble":
        return paths.fill(paths.ENSEMBLE_CARD, model=MODEL, version=version)
    template = paths.WEIGHTS if kind == "weights" else paths.MODEL_CARD
    return expand(template, model=MODEL, version=version, seed=SEEDS)


def model_files(kind):
    """The members' weights or cards of the job's own version (ensemble_card)."""
    return lambda wildcards: version_files(wildcards.version, kind)


def selected_version():
    """The version that predicts: the pinned or current one, or the one this run's decision chose
    (read from the decision once it is made: Snakemake re-evaluates the jobs that depend on it).
    """
    if VERSION_PLAN.selected:
        return VERSION_PLAN.selected
    out = checkpoints.decide_version.get(
        model=MODEL, version=VERSION_PLAN.candidate, incumbent=VERSION_PLAN.incumbent
    ).output[0]
    d = json.loads(Path(out).read_text())
    return d["candidate"] if d["decision"] == "accepted" else d["incumbent"]


def selected(kind):
    """Input function: the predicting version's ensemble card, weights or cards."""
    return lambda wildcards: version_files(selected_version(), kind)


def decision_target():
    """The decision behind the predicting version: this run's on the candidate (the first version
    included), or the one that made the current version current; none for a pinned version.
    """
    p = VERSION_PLAN
    if p.decide:
        inc = p.incumbent or cw_versions.NO_VERSION
        return [
            paths.fill(paths.DECISION, model=MODEL, version=p.candidate, incumbent=inc)
        ]
    accepted = [d["path"] for d in DECISIONS if d["decision"] == "accepted"]
    return accepted[-1:] if p.state in ("current", "deferred") else []


def decision_inputs(wildcards):
    """Both versions' ensembles and the current validation photos' shards."""
    out = {
        f"candidate_{k}": version_files(wildcards.version, k)
        for k in ("ensemble", "weights", "cards")
    }
    if wildcards.incumbent != cw_versions.NO_VERSION:
        out.update(
            {
                f"incumbent_{k}": version_files(wildcards.incumbent, k)
                for k in ("ensemble", "weights", "cards")
            }
        )
    ids = ids_in("val")
    out["shards"] = manifests("ingest", ids) + manifests("normalize", ids)
    return out


def models_dir_of(wildcards, output):
    """The model's results folder (results/models/<model>), from an output inside it."""
    return str(Path(output[0]).parent)


def version_status():
    """What the governance tables need to know of this run beyond the decisions on disk: a pinned version,
    or a candidate deferred by versions.retrain_growth (the rule's params: a new state rewrites them).
    """
    p = VERSION_PLAN
    return {
        "pinned": p.selected if p.state == "pinned" else None,
        "deferred": (
            {"version": p.candidate, "note": p.note} if p.state == "deferred" else None
        ),
    }


def evaluated_ids():
    return [i for i in labelled_ids() if SPLIT_OF[i] in ("val", "test")]


# ------------------------------------------------------------------ report
SITE_OF_KEY = {site_key(s): s for s in SHEET["site"].unique()}


def report_map_ids():
    """The photos shown in the report's Maps: all, or ``report.max_maps`` spread evenly over the sheet."""
    ids = sorted(
        SHEET.index, key=lambda i: tuple(SHEET.loc[i, ["site", "plot", "date"]]) + (i,)
    )
    n = config["report"]["max_maps"]
    if len(ids) <= n:
        return ids
    step = len(ids) / n
    return [ids[int(k * step)] for k in range(n)]


def unlabelled_ids():
    """Photos without a mask: the candidates of what to label next."""
    return [i for i in SHEET.index if not SHEET.loc[i, "mask_path"]]


def suggest_candidates():
    return [
        {
            "image_id": i,
            **{k: str(SHEET.loc[i, k]) for k in ("site", "plot", "date", "camera")},
            "prediction": path_of(i, "prediction"),
            "uncertainty": path_of(i, "uncertainty"),
            "photo": path_of(i, "ingest_photo"),
            "record": path_of(i, "ingest_record"),
            **({"area": SHEET.loc[i, "area"]} if SHEET.loc[i, "area"] else {}),
        }
        for i in unlabelled_ids()
    ]


def labelled_meta():
    """Site, date and camera of the photos whose masks train or validate the models."""
    return [
        {k: str(SHEET.loc[i, k]) for k in ("site", "date", "camera")}
        for i in ids_in("train", "val")
    ]


def _export_photos():
    """The photos whose points are exported with the ensemble's labels: every row with `points` (its labels
    are the truth) and the photos of export.points (positions to label), matched by file name.
    """
    from crustwatch.points import photo_names

    rows = SHEET.index[SHEET["label_kind"] == "points"]
    out = [_export_photo(i, SHEET.loc[i, "mask_path"], True) for i in rows]
    extra = config["export"]["points"]
    if extra:
        if not Path(extra).is_file():
            raise CrustWatchError(f"config key export.points: '{extra}' is not a file")
        by_name = {}
        for i, path in zip(SHEET.index, SHEET["image_path"]):
            by_name.setdefault(Path(path).name, []).append(i)
        for name in sorted(photo_names(extra)):
            ids = by_name.get(name, [])
            if len(ids) != 1:
                why = (
                    "no photo of the sheet"
                    if not ids
                    else f"the file name of {len(ids)} sheet rows"
                )
                raise CrustWatchError(
                    f"export.points '{extra}': Name '{name}' is {why}; points are matched by the photo's file name"
                )
            out.append(_export_photo(ids[0], extra, False))
    return out


def _export_photo(i, points, labelled):
    return {
        "image_id": i,
        "name": Path(SHEET.loc[i, "image_path"]).name,
        "points": points,
        "labelled": labelled,
        "prediction": path_of(i, "prediction"),
        "seeds": path_of(i, "seeds"),
    }


def export_inputs(wildcards):
    """The prediction shards of the exported photos, and the points files."""
    return {
        "predictions": manifests("predict", [p["image_id"] for p in EXPORT_PHOTOS]),
        "points": sorted({p["points"] for p in EXPORT_PHOTOS}),
    }


# computed once (it reads export.points): the export rule's params and inputs both use it
EXPORT_PHOTOS = _export_photos()


def change_pairs():
    """``change.pairs`` as ``[date_from, date_to]`` texts (YAML reads an unquoted date as a date)."""
    return [[as_date_text(d) for d in pair] for pair in config["change"]["pairs"]]


def get_final_output():
    return [
        paths.SPLITS,
        paths.COVER_BY_IMAGE,
        paths.COVER_BY_PLOT_DATE,
        paths.COVER_BY_SITE_DATE,
        paths.METRICS,
        paths.SEEDS,
        paths.SEED_COVER_SPREAD,
        paths.PLOT_SEEDS,
        paths.PLOT_COVER,
        paths.PLOT_CONFUSION,
        paths.PLOT_CONFUSION_VAL,
        paths.PER_CLASS,
        paths.CAMERAS,
        paths.PLOT_CAMERAS,
        paths.PROVENANCE,
        paths.REPORT_MAPS,
        *expand(paths.PLOT_COVER_BY_PLOT, site=sorted(SITE_OF_KEY)),
        paths.CHANGE_BY_PLOT,
        paths.CHANGE_BY_SITE,
        paths.CHANGE_TREND,
        *expand(paths.PLOT_CHANGE, site=sorted(SITE_OF_KEY)),
        paths.SUGGEST_PHOTOS,
        paths.SUGGEST_REGIONS,
        paths.SUGGEST_PREVIEWS,
        paths.EXPORT_POINTS,
        paths.EXPORT_DWC,
        paths.POINTS_EVAL,
        paths.fill(paths.GOVERNANCE, model=MODEL),
        paths.fill(paths.VERSIONS_TABLE, model=MODEL),
        # the decision on a candidate version, a target of its own: Snakemake (9.27) re-plans the jobs whose
        # inputs the decision chooses (predict) only when the decision is a direct input of the target rule;
        # a narrower target is made with the current version until the candidate has been judged
        *decision_target(),
    ]


onstart:
    check_all_inputs()
