"""The path contract: every file the workflow writes, relative to the project folder, in one place.

The rules (``workflow/rules/*.smk``), ``crustwatch audit`` and the benchmarks take their paths from
here; a template's ``{wildcards}`` are Snakemake's. Results go to ``results/<folder>/``, each rule's
log to ``logs/<stage>/`` and the timings of training and prediction to ``benchmarks/<stage>/``,
where the stage is the name of the rule's file (``workflow/rules/<stage>.smk``; a test checks it). Folders whose name differs
from their stage's keep the name earlier releases wrote, so a project's results stay where they
were: normalize writes ``results/normalized``, train ``results/models``, predict
``results/predictions``, cover ``results/coverage`` (and the per-photo confusion matrices under
``results/eval/confusion``), evaluate ``results/eval``; every figure goes to ``results/plots``.
``docs/outputs.md`` describes each file.
"""

from __future__ import annotations

# ------------------------------------------------------------------ per photo


def photo(image_id: str) -> dict[str, str]:
    """Every per-photo output of the workflow."""
    return {
        "ingest_photo": f"results/ingest/{image_id}/photo.tif",
        "ingest_record": f"results/ingest/{image_id}/photo.json",
        "mask": f"results/ingest/{image_id}/mask.tif",
        "mask_record": f"results/ingest/{image_id}/mask.json",
        "norm_photo": f"results/normalized/{image_id}/photo.tif",
        "norm_record": f"results/normalized/{image_id}/photo.json",
        "prediction": f"results/predictions/{image_id}.tif",
        "seeds": f"results/predictions/{image_id}_seeds.tif",
        "uncertainty": f"results/predictions/{image_id}_uncertainty.tif",
        "probabilities": f"results/predictions/{image_id}_probs.tif",
        "preview": f"results/predictions/{image_id}_preview.png",
        "soft": f"results/predictions/{image_id}_soft.tsv",
        "cover": f"results/coverage/images/{image_id}.tsv",
        "confusion": f"results/eval/confusion/{image_id}.tsv",
        "soft_confusion": f"results/eval/confusion/{image_id}_soft.tsv",
    }


#: the results folder of each per-photo stage's shard manifests (:func:`manifest`)
SHARD_FOLDERS = {"ingest": "ingest", "normalize": "normalized", "predict": "predictions", "cover": "coverage"}


def manifest(stage: str, shard: str) -> str:
    """The manifest of one per-photo stage's job for one shard (stage: ingest, normalize, predict, cover)."""
    return f"results/{SHARD_FOLDERS[stage]}/shards/{shard}.json"


# ------------------------------------------------------------------ checks, split

INPUT_CHECKS = "results/checks/inputs.tsv"
SPLITS = "results/splits.tsv"
SPLIT_LOG = "logs/split/split.log"

# ------------------------------------------------------------------ ingest, normalize

INGEST_MANIFEST = manifest("ingest", "{shard}")
INGEST_LOG = "logs/ingest/{shard}.log"
CAMERA_STATS = "results/normalized/cameras/{camera}.json"
CAMERA_STATS_LOG = "logs/normalize/camera_{camera}.log"
NORMALIZE_MANIFEST = manifest("normalize", "{shard}")
NORMALIZE_LOG = "logs/normalize/{shard}.log"

# ------------------------------------------------------------------ pretrain, train

# A model version (crustwatch.versions) is named by its training data and settings: every model, its
# pretrained encoders and its ensemble card lie under results/models/{model}/{version}/, so a new set of
# labels makes new files beside the old ones instead of replacing them.
MODELS_DIR = "results/models/{model}"
VERSION_DIR = MODELS_DIR + "/{version}"
VERSION_RECORD = VERSION_DIR + "/version.json"
VERSION_RECORD_LOG = "logs/train/{model}/{version}/version.log"
PRETRAIN_DIR = "results/pretrain/{model}/{version}/seed{seed}"
PRETRAINED_ENCODER = PRETRAIN_DIR + "/encoder.safetensors"
PRETRAINED_CARD = PRETRAIN_DIR + "/encoder_card.json"
PRETRAIN_RUN = PRETRAIN_DIR + "/pretrain_run.json"
PRETRAIN_LOG = "logs/pretrain/{model}/{version}/seed{seed}.log"
PRETRAIN_BENCHMARK = "benchmarks/pretrain/{model}/{version}/seed{seed}.tsv"
MODEL_DIR = VERSION_DIR + "/seed{seed}"
WEIGHTS = MODEL_DIR + "/model.safetensors"
MODEL_CARD = MODEL_DIR + "/model_card.json"
TRAINING_RUN = MODEL_DIR + "/training_run.json"
TRAIN_LOG = "logs/train/{model}/{version}/seed{seed}.log"
TRAIN_BENCHMARK = "benchmarks/train/{model}/{version}/seed{seed}.tsv"
ENSEMBLE_CARD = VERSION_DIR + "/ensemble.json"
ENSEMBLE_LOG = "logs/train/{model}/{version}/ensemble.log"
# the acceptance rule's decision on a candidate version against the version current before it ("none" for
# the first), and the governance log of every decision and every version
DECISIONS_DIR = MODELS_DIR + "/decisions"
DECISION = DECISIONS_DIR + "/{version}-vs-{incumbent}.json"
DECISION_LOG = "logs/versions/{model}/{version}-vs-{incumbent}.log"
GOVERNANCE = MODELS_DIR + "/governance.tsv"
VERSIONS_TABLE = MODELS_DIR + "/versions.tsv"
GOVERNANCE_LOG = "logs/versions/{model}/governance.log"

# ------------------------------------------------------------------ predict

# per camera, the predicting version's batch-norm statistics (rebuilt when another version predicts)
ADABN = "results/models/{model}/adabn/{camera}.safetensors"
ADABN_RECORD = "results/models/{model}/adabn/{camera}.json"
ADABN_LOG = "logs/predict/adabn_{model}_{camera}.log"
ADABN_BENCHMARK = "benchmarks/predict/adabn_{model}_{camera}.tsv"
PREDICT_MANIFEST = manifest("predict", "{shard}")
PREDICT_LOG = "logs/predict/{shard}.log"
PREDICT_BENCHMARK = "benchmarks/predict/{shard}.tsv"

# ------------------------------------------------------------------ cover

COVER_MANIFEST = manifest("cover", "{shard}")
COVER_LOG = "logs/cover/{shard}.log"
COVER_BY_IMAGE = "results/coverage/by_image.tsv"
COVER_BY_IMAGE_SEED = "results/coverage/by_image_seed.tsv"
COVER_BY_PLOT_DATE = "results/coverage/by_plot_date.tsv"
COVER_BY_SITE_DATE = "results/coverage/by_site_date.tsv"
COVER_ADJUSTMENT = "results/coverage/cover_adjustment.json"
INTERVAL_CALIBRATION = "results/coverage/interval_calibration.json"
COVER_METHODS = "results/coverage/cover_methods.tsv"
AGGREGATE_LOG = "logs/cover/aggregate.log"
PLOT_COVER = "results/plots/cover_over_time.png"
PLOT_COVER_LOG = "logs/cover/plot_cover_over_time.log"
PLOT_COVER_BY_PLOT = "results/plots/cover_by_plot/{site}.png"
PLOT_COVER_BY_PLOT_LOG = "logs/report/plot_cover_by_plot_{site}.log"

# ------------------------------------------------------------------ evaluate

METRICS = "results/eval/metrics.tsv"
PER_CLASS = "results/eval/per_class.tsv"
POINTS_EVAL = "results/eval/points.tsv"
POINTS_EVAL_LOG = "logs/evaluate/points.log"
PLOT_CONFUSION = "results/plots/confusion.png"
PLOT_CONFUSION_VAL = "results/plots/confusion_val.png"
EVALUATE_LOG = "logs/evaluate/evaluate.log"
SEEDS = "results/eval/seeds.tsv"
SEED_COVER_SPREAD = "results/eval/seed_cover_spread.tsv"
PLOT_SEEDS = "results/plots/seeds.png"
SEEDS_LOG = "logs/evaluate/seed_sensitivity.log"

# ------------------------------------------------------------------ change, suggest

CHANGE_BY_PLOT = "results/change/by_plot.tsv"
CHANGE_BY_SITE = "results/change/by_site.tsv"
CHANGE_TREND = "results/change/trend.tsv"
CHANGE_LOG = "logs/change/change.log"
PLOT_CHANGE = "results/plots/change/{site}.png"
PLOT_CHANGE_LOG = "logs/change/plot_{site}.log"
SUGGEST_PHOTOS = "results/suggest/photos.tsv"
SUGGEST_REGIONS = "results/suggest/regions.tsv"
SUGGEST_PREVIEWS = "results/suggest/previews"
SUGGEST_LOG = "logs/suggest/suggest.log"

# ------------------------------------------------------------------ export

EXPORT_POINTS = "results/export/coralnet_points.csv"
EXPORT_DWC = "results/export/dwc_cover.csv"
EXPORT_LOG = "logs/export/export.log"

# ------------------------------------------------------------------ report

CAMERAS = "results/eval/cameras.tsv"
PLOT_CAMERAS = "results/plots/cameras.png"
CAMERAS_LOG = "logs/report/cameras.log"
PROVENANCE = "results/eval/provenance.tsv"
PROVENANCE_LOG = "logs/report/provenance.log"
REPORT_MAPS = "results/report/maps"
REPORT_MAPS_LOG = "logs/report/maps.log"


def fill(template: str, **wildcards) -> str:
    """A template with its wildcards filled in: ``fill(WEIGHTS, model="unet", seed=0)``."""
    return template.format(**wildcards)
