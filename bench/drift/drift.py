"""Drift benchmark: which normalization keeps cover unbiased when the camera changes?

    make bench-drift                      # every method, 3 seeds: about 7 minutes per method on 2 CPU cores
    make bench-drift-ceiling              # what each camera's own photos allow (--ceiling, about 31 minutes)
    python bench/drift/drift.py --steps 40      # a quick look (worse models, same comparison)

Generated data with controlled drift (the demo generator, its own seed):
2 sites x 5 permanent plots x 5 dates. Date 1 is shot with camera A (the
training camera): plots 1-3 train the model, plots 4-5 are held out (the error
on the training camera). Dates 2-4 are shot with cameras B, C and D (white
balance, exposure, gamma, blur, JPEG, resolution drift). Date 5 is shot with
camera A again, but moss cover rises by about 30 percentage points: the
composition-shift case, which exposes methods that read the cover they measure.
Camera A also shoots every plot of dates 2-4 (group ``camA_same_scenes``, outside the
sheet: these photos train and calibrate nothing), so that the drifted / training-camera
ratio (``drifted_over_camA_same_scenes``, the one ``meets_targets`` uses) compares
cameras on the same scenes; ``drifted_over_camA`` divides by the held-out photos' error.

For each method one model per seed (``--seeds``, default 0) is trained with the
workflow's own code and every photo is predicted by the seeds' ensemble (mean
probabilities, as the workflow does); per group of photos (held-out camera A, cameras B, C,
D, the shift date) it reports per class the cover bias (mean signed error, pp)
and mean absolute cover error (pp), and overall accuracy and mIoU. Each method
is reported twice: ``METHOD`` is the class map's pixel fraction, ``METHOD+adjust``
the cover the workflow reports by default (``cover.adjust: confusion``): the map
fractions adjusted by the ensemble's error rates on the held-out camera A photos,
which play the validation photos' part (each of them adjusted with the others'
rates). ``METHOD+adjust+Nval`` (``--labelled-per-camera``, default 1 and 3):
as if N photos of each drifted camera, spread over its plots and sites, were
labelled validation photos too, so that camera's own error rates are used;
those photos leave that row's evaluation. ``drift_photos.tsv`` has every
photo's predicted and true cover per row. ``--map-only`` skips the adjusted rows; ``--merge`` combines the
``drift.tsv`` of several runs into one table and figure. Writes
``bench/results/drift/drift.tsv`` (long: method group class metric value),
``bench/results/drift/drift_summary.tsv`` (one row per method) and ``drift.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from crustwatch import adjust, demo, files, infer, io, metrics, provenance  # noqa: E402
from crustwatch import normalize as norm  # noqa: E402
from crustwatch.data import Augment, PatchSampler  # noqa: E402
from crustwatch.sheet import load_sheet, parse_box  # noqa: E402
from crustwatch.steps.train import fit  # noqa: E402
from crustwatch.train import TrainConfig  # noqa: E402

CAMERAS = demo.DEFAULT_CAMERAS
SPEC = demo.DemoSpec(
    seed=4242,
    plots_per_site=5,
    dates=("2019-05-14", "2020-05-12", "2021-05-18", "2022-05-10", "2023-05-16"),
    cameras=(*CAMERAS, CAMERAS[0]),
    val_plot=99,
    extra={"shift": {"date_index": 4, "moss": 30.0}},
)
TARGET_MM = 1.0
#: tile size at prediction: the training patch, as in the workflow
PATCH = TrainConfig.from_dict().patch_size
#: the model every method trains (the workflow's Unet-ResNet18 at the demo's depth and widths)
MODEL = {"arch": "Unet", "encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [64, 32, 16],
         "encoder_weights": None}
# method name -> (normalize.method, drift augmentation, AdaBN at prediction, normalize.camera_pool)
METHODS = {
    "none": ("none", False, False, "first_date"),
    "per_image": ("per_image", False, False, "first_date"),
    "camera_moments": ("camera_moments", False, False, "first_date"),
    "camera_moments/all_dates": ("camera_moments", False, False, "all"),
    "camera_quantile": ("camera_quantile", False, False, "first_date"),
    "camera_gamma": ("camera_gamma", False, False, "first_date"),
    "reference": ("reference", False, False, "first_date"),
    "camera_moments+drift_aug": ("camera_moments", True, False, "first_date"),
    "camera_moments+drift_aug+adabn": ("camera_moments", True, True, "first_date"),
    "camera_quantile+drift_aug": ("camera_quantile", True, False, "first_date"),
    "none+drift_aug": ("none", True, False, "first_date"),
    # drift augmentation without the colour part (that is the normalization's job):
    # resolution (scale), JPEG and blur only
    "camera_moments+optics_aug": ("camera_moments", "optics", False, "first_date"),
    # the same plus a Gaussian optics blur of 0..1.5 px
    "camera_moments+optics_blur_aug": ("camera_moments", "optics_blur", False, "first_date"),
    "camera_gamma+optics_blur_aug": ("camera_gamma", "optics_blur", False, "first_date"),
}
#: the energy-based domain term (energy_term): the source study's weight, unlabelled target photos
#: being every photo not used for training
ENERGY = {"camera_moments+energy": 0.01}
METHODS["camera_moments+energy"] = ("camera_moments", False, False, "first_date")
#: the workflow's default (config/config.yaml and the schema's defaults, with cover.adjust: confusion):
#: the one method without labelled photos of new cameras that met all three targets;
#: tests/test_defaults.py checks that the workflow trains and normalizes as this method does
DEFAULT = "camera_moments+optics_blur_aug"
#: drift augmentation settings by name (True: the full colour and exposure drift, the dataclass defaults of
#: the releases that measured it)
DRIFT_AUG = {False: None,
             True: {"wb": 0.15, "exposure": 0.25, "gamma": 0.15, "blur_sigma": 0.0},
             "optics": {"wb": 0.0, "exposure": 0.0, "gamma": 0.0, "blur_sigma": 0.0},
             "optics_blur": {"wb": 0.0, "exposure": 0.0, "gamma": 0.0, "blur_sigma": 1.5}}


#: camera A's photos of the drifted dates' scenes (every plot of dates 2-4): the training camera's
#: error on the very scenes cameras B, C and D shoot, so that the drifted / training-camera ratio
#: compares cameras and not scenes. Outside the sheet: only predicted, never calibrating or training.
SAME = "camA_same_scenes"


def same_scene_photos(folder: Path, target_mm: float) -> dict:
    """Camera A's photos of every plot at dates 2-4, ingested as the sheet's photos are."""
    out = {}
    for t in range(1, len(CAMERAS)):
        shot = render_set(CAMERAS[0], t, folder / f"t{t}", target_mm)
        out |= {f"camA-t{t}-{i}": {**d, "group": SAME} for i, d in shot.items()}
    return out


def group_of(row) -> str:
    t = SPEC.dates.index(row["date"])
    if t == 0:
        return "train" if int(row["plot"][1:]) <= 3 else "camA_heldout"
    if t == 4:
        return "camA_shift"
    return row["camera"].replace("cam-", "cam")


def ingest_photo(img: np.ndarray, mask: np.ndarray, mm_per_px: float, reference: str, target_mm: float) -> dict:
    """Scaled uint8 photo, mask, histogram and reference mean, as the workflow's ingest makes them."""
    shape = norm.scaled_shape(img.shape[1], img.shape[2], norm.scale_factor(mm_per_px, target_mm))
    ref, _ = norm.reference_target(img, parse_box(reference))
    scaled = norm.resample_photo(img, shape)
    return {"raw": scaled, "mask": norm.resample_mask(mask, shape), "full_mask": mask,
            "hist": norm.histogram(scaled), "ref": ref}


def ingest(sheet: pd.DataFrame, target_mm: float = TARGET_MM) -> dict:
    """Every photo of the sheet, ingested (:func:`ingest_photo`), with its camera, date and group."""
    out = {}
    for iid, r in sheet.iterrows():
        img, _ = io.read_photo(r["image_path"])
        out[iid] = {**ingest_photo(img, io.read_mask(r["mask_path"]), r["mm_per_px"], r["reference"], target_mm),
                    "camera": r["camera"], "date": r["date"], "group": group_of(r)}
    return out


def luts_for(method: str, data: dict, pool: str = "first_date", extra: dict | None = None) -> dict:
    """Lookup tables of ``data`` and ``extra``; only ``data`` calibrates the cameras."""
    cal = norm.calibration_ids({iid: (d["camera"], d["date"]) for iid, d in data.items()}, pool)
    by_cam = {cam: {i: data[i]["hist"] for i in ids} for cam, ids in cal.items()}
    out = {}
    for iid, d in (data | (extra or {})).items():
        pooled, _, _ = norm.pooled_histogram(by_cam[d["camera"]], iid)
        out[iid] = norm.lookup_table(method, pooled, own=d["hist"], reference_rgb=list(d["ref"]))
    return out


def normalized(method: str, data: dict, pool: str = "first_date", extra: dict | None = None) -> tuple[dict, dict]:
    """:func:`luts_for` and the photos of ``data`` and ``extra`` normalized with them."""
    luts = luts_for(method, data, pool, extra)
    return luts, {i: norm.apply_lut(d["raw"], luts[i]) for i, d in (data | (extra or {})).items()}


def energy_term(target: PatchSampler, weight: float, batch: int):
    """The energy-based domain term: ``weight * (mean F(target) - mean F(source))**2`` with
    ``F = -logsumexp(logits)`` the free energy of a pixel (logits read as negative energies), so that
    unlabelled target photos look as familiar to the model as its training photos (docs/camera-drift.md)."""

    def term(model, logits, step):
        xt, _ = target.batch_at(step, batch)
        xt = xt.to(logits.device).contiguous(memory_format=torch.channels_last)
        f_target = -torch.logsumexp(model(xt).float(), dim=1).mean()
        f_source = -torch.logsumexp(logits.float(), dim=1).mean()
        return weight * (f_target - f_source.detach()) ** 2

    return term


def train_one(data: dict, normed: dict, luts: dict, drift: bool, steps: int, seed: int, n_classes: int, log,
              energy: float = 0.0):
    train_ids = [i for i, d in data.items() if d["group"] == "train"]
    aug = DRIFT_AUG[drift]
    train_cfg = {"steps": steps, "cpu_threads": 2, "log_every": max(1, steps // 4),
                 "augment": {"drift": aug is not None, **(aug or {})}}
    extra_loss = None
    if energy:
        others = [i for i, d in data.items() if d["group"] != "train"]
        target = PatchSampler([normed[i] for i in others], [np.zeros(normed[i].shape[1:], np.uint8) for i in others],
                              PATCH, demo.IGNORE, seed + 10_000, Augment.from_dict(drift=False))
        extra_loss = energy_term(target, energy, max(1, TrainConfig.from_dict(train_cfg).batch_size // 2))
    # the workflow's own training core (crustwatch.steps.train.fit)
    fitted = fit(seed, [normed[i] for i in train_ids], [data[i]["mask"] for i in train_ids], n_classes, MODEL,
                 train_cfg, raw=[data[i]["raw"] for i in train_ids], luts=[luts[i] for i in train_ids],
                 device=torch.device("cpu"), ignore_index=demo.IGNORE, log_fn=log, extra_loss=extra_loss)
    return fitted.model, fitted.cfg.patch_size


def predict_map(members, img: np.ndarray, n_classes: int, shape: tuple[int, int]) -> np.ndarray:
    """The ensemble's class map of a normalized photo, mapped back to the photo's own pixels."""
    p = infer.sliding_window_probs(members, img, n_classes, PATCH, batch_size=32).mean(axis=0)
    return norm.resample_mask(p.argmax(0).astype(np.uint8), shape)


def run_method(name: str, data: dict, classes: list[dict], steps: int, log, seeds: list[int],
               extra: dict | None = None) -> list[dict]:
    """Train ``seeds`` on ``data``'s training photos with method ``name`` and score every other photo
    of ``data`` and ``extra`` (photos that are only predicted: they calibrate and train nothing)."""
    method, drift, adabn, pool = METHODS[name]
    extra = extra or {}
    luts, normed = normalized(method, data, pool, extra)
    n_classes = len(classes)
    t0 = time.time()
    members = []
    for seed in seeds:
        model, patch = train_one(data, normed, luts, drift, steps, seed, n_classes, log, ENERGY.get(name, 0.0))
        members.append(model)
    train_s = time.time() - t0
    nets = {}
    if adabn:
        for cam in sorted({d["camera"] for d in data.values()}):
            imgs = [normed[i] for i, d in data.items() if d["camera"] == cam]
            nets[cam] = [infer.adapt_batchnorm(m, imgs, patch) for m in members]
    rows = []
    for iid, d in (data | extra).items():
        if d["group"] == "train":
            continue
        pred = predict_map(nets.get(d["camera"], members), normed[iid], n_classes, d["full_mask"].shape)
        truth = d["full_mask"]
        valid = truth != demo.IGNORE
        cm = metrics.confusion(pred, truth, n_classes, demo.IGNORE)
        for c in classes:
            k = c["id"]
            rows.append({"method": name, "image_id": iid, "group": d["group"], "class": c["name"],
                         "pred_pct": 100 * float((pred[valid] == k).mean()),
                         "true_pct": 100 * float((truth[valid] == k).mean())})
        rows[-1]["cm"] = cm
    log(f"{name}: trained {len(seeds)} x {steps} steps in {train_s:.0f} s")
    return rows


def adjusted(rows: list[dict], classes: list[dict], labelled_per_camera: int = 0) -> list[dict]:
    """The same predictions with ``cover.adjust: confusion`` (the workflow's default): each
    photo's map fractions adjusted by the ensemble's error rates on the held-out camera A
    photos (the validation photos' role), leaving the photo itself out of them.

    ``labelled_per_camera``: as if the first that many photos of each drifted camera were
    labelled validation photos too (those photos then leave the evaluation): every photo
    of such a camera gets that camera's own error rates (``METHOD+adjust+Nval``).
    """
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        cms = {r["image_id"]: (r["group"], r["cm"]) for r in rows if r["method"] == method and "cm" in r}
        camera = {i: ("camA" if g.startswith("camA") else g) for i, (g, _) in cms.items()}
        cal = [i for i, (g, _) in cms.items() if g == "camA_heldout"]
        extra = []
        for g in ("camB", "camC", "camD"):  # spread over the camera's plots and sites
            ids = sorted(i for i, (gg, _) in cms.items() if gg == g)
            extra += [ids[int(k * len(ids) / labelled_per_camera)] for k in range(labelled_per_camera)]
        cal_cms = {i: cms[i][1] for i in cal + extra}
        name = method + "+adjust" + (f"+{labelled_per_camera}val" if labelled_per_camera else "")
        for iid, (group, cm) in cms.items():
            if iid in extra:
                continue
            m, _ = adjust.error_rates(cal_cms, camera, iid, camera[iid])
            p = adjust.simplex_lsq(m, cm.sum(axis=0) / cm.sum())
            for c in classes:
                out.append({"method": name, "image_id": iid, "group": group, "class": c["name"],
                            "pred_pct": 100 * p[c["id"]], "true_pct": 100 * cm.sum(axis=1)[c["id"]] / cm.sum()})
            out[-1]["cm"] = cm
    return out


#: one camera property at a time (``--ceiling``): what each costs the training camera's models
def _variants(cam: demo.Camera) -> dict[str, demo.Camera]:
    a = CAMERAS[0]
    return {
        "colour": replace(a, wb=cam.wb, exposure=cam.exposure, gamma=cam.gamma, noise=cam.noise),
        "blur": replace(a, blur_px=cam.blur_px),
        "jpeg": replace(a, fmt=cam.fmt, jpeg_quality=cam.jpeg_quality),
        "resolution": replace(a, mm_per_px=cam.mm_per_px),
        "optics": replace(cam, wb=a.wb, exposure=a.exposure, gamma=a.gamma, noise=a.noise),
        "all": cam,
    }


def render_set(cam: demo.Camera, t: int, folder: Path, target_mm: float) -> dict:
    """Every plot of date index ``t`` shot with ``cam``: written in its format, read back and
    ingested as the sheet's photos are (:func:`ingest_photo`); plots 1-3 are ``train``, 4-5 ``heldout``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for site in SPEC.sites:
        for plot in range(1, SPEC.plots_per_site + 1):
            photo, mask, _ = demo.render(SPEC, site, plot, t, cam)
            path = folder / f"{site}-p{plot}.{cam.fmt}"
            io.write_image_file(path, photo, quality=cam.jpeg_quality)
            img, _ = io.read_photo(path)
            out[f"{site}-p{plot}"] = {
                **ingest_photo(img, mask, cam.mm_per_px, demo.reference_box(SPEC, cam), target_mm),
                "scene": (t, site, plot), "camera": cam.name, "date": SPEC.dates[t],
                "group": "train" if plot <= 3 else "heldout"}
    return out


def _confusions(members, data: dict, normed: dict, n: int, ids) -> dict:
    return {i: metrics.confusion(predict_map(members, normed[i], n, data[i]["full_mask"].shape),
                                 data[i]["full_mask"], n, demo.IGNORE) for i in ids}


def _errors(cms: dict, rates: dict | None, scene_of: dict) -> dict:
    """Mean absolute cover error (pp) over photo x class of the map fractions and, with ``rates``
    (photo -> confusion of labelled photos), of the adjusted cover; rates never include a
    photo of the same scene. Also the mean signed error of bare soil and overall accuracy."""
    e_map, e_adj, soil = [], [], []
    for iid, cm in cms.items():
        truth = cm.sum(axis=1) / cm.sum()
        q = cm.sum(axis=0) / cm.sum()
        e_map.append(np.abs(100 * (q - truth)))
        soil.append(100 * (q[0] - truth[0]))
        if rates is not None:
            cal = [c for k, c in rates.items() if scene_of[k] != scene_of[iid]]
            m, _ = adjust.misclassification(sum(cal))
            e_adj.append(np.abs(100 * (adjust.simplex_lsq(m, q) - truth)))
    s = metrics.scores(np.asarray(sum(cms.values()), dtype=np.int64))
    return {"photos": len(cms), "map_mae_pp": float(np.mean(e_map)),
            "adjusted_mae_pp": float(np.mean(e_adj)) if e_adj else float("nan"),
            "soil_bias_pp": float(np.mean(soil)), "overall_accuracy": s["overall_accuracy"]}


def ceiling(args, classes: list[dict], method: str = "camera_moments") -> pd.DataFrame:
    """How far can a correction go? Two measurements with ``method`` and ``args.seeds``.

    ``in_domain``: every camera shoots the training date (plots 1-3 train, 4-5 held out: the
    scenes of ``camA_heldout``); models trained on camera X's own photos are scored on X's
    held-out photos (adjusted with X's own rates), and camera A's models on the same X photos
    (``cross``: what a correction has to work with; adjusted with camera A's rates). A
    correction cannot give camera A's models more than X's own photos hold, so the in-domain
    error of X over that of A bounds the drifted / training-camera ratio a correction can reach
    (at the same training budget).
    ``one_property``: camera A's models on the scenes of the drifted dates shot with camera A
    changed in one property of a drifted camera at a time (colour, blur, JPEG, resolution), all
    optical ones together, and everything: which property the remaining error comes from.
    ``later_dates``: the ``in_domain`` models on every plot of dates 2-4 shot with camera X (30
    photos instead of 4), adjusted with the held-out photos' rates as above.
    """
    seeds = [int(x) for x in args.seeds.split(",")]
    n = len(classes)
    folder = Path(args.data).parent / "drift_ceiling"
    rows, models_of, sets = [], {}, {}
    for cam in CAMERAS:
        data = render_set(cam, 0, folder / cam.name, args.target_mm)
        luts, normed = normalized(method, data)
        members = [train_one(data, normed, luts, False, args.steps, s, n, lambda m: None)[0] for s in seeds]
        models_of[cam.name], sets[cam.name] = members, (data, normed)
        print(f"{cam.name}: trained {len(seeds)} x {args.steps} steps", flush=True)
    a_data, a_normed = sets[CAMERAS[0].name]
    held = [i for i, d in a_data.items() if d["group"] == "heldout"]
    scene = {i: d["scene"] for i, d in a_data.items()}
    a_cms = _confusions(models_of[CAMERAS[0].name], a_data, a_normed, n, held)
    for cam in CAMERAS:
        data, normed = sets[cam.name]
        own = _confusions(models_of[cam.name], data, normed, n, held)
        cross = a_cms if cam is CAMERAS[0] else _confusions(models_of[CAMERAS[0].name], data, normed, n, held)
        rows.append({"part": "in_domain", "camera": cam.name, "shot": "all", "models": cam.name,
                     **_errors(own, own, scene)})
        if cam is not CAMERAS[0]:
            rows.append({"part": "in_domain", "camera": cam.name, "shot": "all", "models": CAMERAS[0].name,
                         **_errors(cross, a_cms, scene)})
        # the same models on the drifted dates' scenes (every plot) shot with this camera, whose
        # parameters come from its training-date photos (camera_pool: first_date)
        later = {}
        for t in range(1, len(CAMERAS)):
            later |= {f"t{t}-{i}": d for i, d in render_set(cam, t, folder / f"{cam.name}-t{t}", args.target_mm).items()}
        _, later_normed = normalized(method, data, extra=later)
        scenes = scene | {i: d["scene"] for i, d in later.items()}
        for name, rates in [(cam.name, own)] + ([(CAMERAS[0].name, a_cms)] if cam is not CAMERAS[0] else []):
            cms = _confusions(models_of[name], later, later_normed, n, list(later))
            rows.append({"part": "later_dates", "camera": cam.name, "shot": "all", "models": name,
                         **_errors(cms, rates, scenes)})
    for t, cam in enumerate(CAMERAS[1:], start=1):
        for prop, variant in {"none": CAMERAS[0], **_variants(cam)}.items():
            data = render_set(variant, t, folder / f"{cam.name}-{prop}", args.target_mm)
            _, normed = normalized(method, data)
            cms = _confusions(models_of[CAMERAS[0].name], data, normed, n, list(data))
            rows.append({"part": "one_property", "camera": cam.name, "shot": prop, "models": CAMERAS[0].name,
                         **_errors(cms, None, {})})
        print(f"{cam.name}: properties measured", flush=True)
    return pd.DataFrame(rows)


def summarise(rows: list[dict], classes: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.DataFrame(rows)
    df["err"] = df["pred_pct"] - df["true_pct"]
    out = []
    n = len(classes)
    for (method, group), g in df.groupby(["method", "group"], sort=False):
        for cls, gc in g.groupby("class", sort=False):
            out.append((method, group, cls, "cover_bias_pp", gc["err"].mean()))
            out.append((method, group, cls, "cover_abs_error_pp", gc["err"].abs().mean()))
        out.append((method, group, "all", "cover_abs_error_pp", g["err"].abs().mean()))
        out.append((method, group, "all", "max_abs_class_bias_pp", g.groupby("class")["err"].mean().abs().max()))
        cm = sum(c for c in g["cm"].dropna())
        s = metrics.scores(np.asarray(cm, dtype=np.int64).reshape(n, n))
        out.append((method, group, "all", "overall_accuracy", s["overall_accuracy"]))
        out.append((method, group, "all", "miou", s["miou"]))
    long = pd.DataFrame(out, columns=["method", "group", "class", "metric", "value"])
    return long, summary(long)


def summary(long: pd.DataFrame) -> pd.DataFrame:
    """One row per method from the long table: the issue's yardsticks and whether the targets are met."""
    piv = long[long["class"] == "all"].pivot_table(index="method", columns=["group", "metric"], values="value",
                                                   sort=False)
    drifted = ["camB", "camC", "camD"]
    summ = pd.DataFrame({
        "camA_mae_pp": piv[("camA_heldout", "cover_abs_error_pp")],
        "drifted_mae_pp": piv[[(g, "cover_abs_error_pp") for g in drifted]].mean(axis=1),
        "worst_camera_mae_pp": piv[[(g, "cover_abs_error_pp") for g in drifted]].max(axis=1),
        "drifted_oa": piv[[(g, "overall_accuracy") for g in drifted]].mean(axis=1),
        "drifted_miou": piv[[(g, "miou") for g in drifted]].mean(axis=1),
        "shift_moss_bias_pp": long[(long["group"] == "camA_shift") & (long["class"] == "moss")
                                   & (long["metric"] == "cover_bias_pp")].set_index("method")["value"],
        "shift_max_abs_bias_pp": piv[("camA_shift", "max_abs_class_bias_pp")],
    })
    summ["drifted_over_camA"] = summ["drifted_mae_pp"] / summ["camA_mae_pp"]
    same = (SAME, "cover_abs_error_pp")
    summ["camA_same_scenes_mae_pp"] = piv[same] if same in piv.columns else np.nan
    # the issue's ratio, training camera measured on the drifted cameras' own scenes
    summ["drifted_over_camA_same_scenes"] = summ["drifted_mae_pp"] / summ["camA_same_scenes_mae_pp"]
    summ["meets_targets"] = ((summ["drifted_mae_pp"] <= 1.5 * summ["camA_same_scenes_mae_pp"])
                             & (summ["worst_camera_mae_pp"] <= 3) & (summ["shift_max_abs_bias_pp"] <= 2))
    return summ.reset_index().rename(columns={"index": "method"})


def figure(long: pd.DataFrame, summ: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in ["camA_heldout", SAME, "camB", "camC", "camD", "camA_shift"] if (long["group"] == g).any()]
    methods = list(summ["method"])
    # the cover the workflow reports by default
    labels = [m + " (default)" if m == DEFAULT + "+adjust" else m for m in methods]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    width = 0.8 / len(groups)
    colors = ["#4c72b0", "#64b5cd", "#dd8452", "#55a868", "#c44e52", "#8172b3"]
    for k, g in enumerate(groups):
        vals = [long[(long["method"] == m) & (long["group"] == g) & (long["class"] == "all")
                     & (long["metric"] == "cover_abs_error_pp")]["value"].mean() for m in methods]
        axes[0].bar(np.arange(len(methods)) + (k - (len(groups) - 1) / 2) * width, vals, width, color=colors[k],
                    label=g)
    axes[0].set_xticks(range(len(methods)), labels, rotation=35, ha="right", fontsize=8)
    axes[0].set_ylabel("mean absolute cover error (pp)")
    axes[0].set_title("Cover error per photo group (lower is better)")
    axes[0].legend(fontsize=8, frameon=False)
    axes[0].grid(axis="y", alpha=0.3)
    moss = [long[(long["method"] == m) & (long["group"] == "camA_shift") & (long["class"] == "moss")
                 & (long["metric"] == "cover_bias_pp")]["value"].mean() for m in methods]
    axes[1].barh(range(len(methods)), moss, color="#4d7524")
    axes[1].axvline(0, color="black", linewidth=0.8)
    for x in (-2, 2):
        axes[1].axvline(x, color="0.5", linestyle="--", linewidth=0.8)
    axes[1].set_yticks(range(len(methods)), labels, fontsize=8)
    axes[1].invert_yaxis()
    axes[1].set_xlabel("moss cover bias on the composition-shift date (pp; dashed: +-2 pp target)")
    axes[1].set_title("Does it erase real change? (camera A, moss +41 pp)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="training steps per method (default 200, as the demo)")
    ap.add_argument("--seeds", default="0", help="comma-separated model seeds; several: their ensemble (default 0)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "drift"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "drift"))
    ap.add_argument("--map-only", action="store_true",
                    help="report the class maps' pixel fractions only, without the adjusted cover rows (METHOD+adjust)")
    ap.add_argument("--labelled-per-camera", default="1,3",
                    help="adjusted rows METHOD+adjust+Nval for each comma-separated N: N photos of each drifted camera "
                         "labelled as validation photos too, left out of the evaluation (default 1,3; 0: none)")
    ap.add_argument("--target-mm", type=float, default=TARGET_MM,
                    help=f"normalize.target_mm_per_px of the photos (default {TARGET_MM}; cameras shoot 0.8-1.25)")
    ap.add_argument("--merge", nargs="+", metavar="DRIFT_TSV",
                    help="no training: combine the drift.tsv of earlier runs (same data and seeds) into --out")
    ap.add_argument("--ceiling", action="store_true",
                    help="instead of the methods: the in-domain ceiling of every camera and the cost of each camera "
                         "property, with camera_moments (bench/results/drift/drift_ceiling.tsv; see ceiling())")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.ceiling:
        t0 = time.time()
        classes = [{"id": c["id"], "name": c["name"]} for c in demo.CLASSES]
        table = ceiling(args, classes)
        files.write_tsv(table, out / "drift_ceiling.tsv")
        files.write_json(out / "drift_ceiling_run.json", provenance.bench_run(ROOT, sys.argv, time.time() - t0))
        pd.set_option("display.width", 200)
        print(table.round(3).to_string(index=False))
        print(f"total {time.time() - t0:.0f} s; wrote {out / 'drift_ceiling.tsv'}")
        return 0
    if args.merge:
        long = pd.concat([pd.read_csv(f, sep="\t") for f in args.merge], ignore_index=True)
        long = long.drop_duplicates(["method", "group", "class", "metric"], keep="last")
        # each method beside its adjusted rows
        base = list(dict.fromkeys(m.split("+adjust")[0] for m in long["method"]))
        long = (long.assign(_b=long["method"].map(lambda m: base.index(m.split("+adjust")[0])),
                            _n=long["method"].str.len())
                .sort_values(["_b", "_n"], kind="stable").drop(columns=["_b", "_n"]).reset_index(drop=True))
        return write_results(long, summary(long), out, time.time())
    t0 = time.time()
    if not demo.is_current(args.data, SPEC):
        demo.generate(args.data, SPEC, Path(args.data) / "images.tsv")
    sheet = load_sheet(Path(args.data) / "images.tsv")
    data = ingest(sheet, args.target_mm)
    same = same_scene_photos(Path(args.data).parent / "drift_same_scenes", args.target_mm)
    classes = [{"id": c["id"], "name": c["name"], "color": c["color"]} for c in demo.CLASSES]
    truth = pd.DataFrame([{"group": d["group"], "moss": 100 * float((d["full_mask"][d["full_mask"] != 255] == 5).mean())}
                          for d in data.values()]).groupby("group")["moss"].mean()
    print(f"data: {len(data)} photos in {time.time() - t0:.0f} s; mean true moss cover by group (%): "
          + ", ".join(f"{g} {v:.1f}" for g, v in truth.items()), flush=True)
    rows = []
    for name in args.methods.split(","):
        rows += run_method(name, data, classes, args.steps, lambda s: print(s, flush=True),
                           [int(x) for x in args.seeds.split(",")], same)
    if not args.map_only:
        extra = []
        for k in [int(x) for x in args.labelled_per_camera.split(",") if int(x) > 0]:
            extra += adjusted(rows, classes, k)
        rows += adjusted(rows, classes) + extra
    long, summ = summarise(rows, classes)
    photos = pd.DataFrame(rows).drop(columns="cm", errors="ignore")
    files.write_tsv(photos, out / "drift_photos.tsv")
    return write_results(long, summ, out, t0)


def write_results(long: pd.DataFrame, summ: pd.DataFrame, out: Path, t0: float) -> int:
    files.write_tsv(long, out / "drift.tsv")
    files.write_tsv(summ, out / "drift_summary.tsv")
    files.write_json(out / "drift_run.json", provenance.bench_run(ROOT, sys.argv, time.time() - t0))
    figure(long, summ, out / "drift.png")
    pd.set_option("display.width", 200)
    print(summ.round(3).to_string(index=False))
    print(f"total {time.time() - t0:.0f} s; wrote {out / 'drift.tsv'}, drift_summary.tsv, drift.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
