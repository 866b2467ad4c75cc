"""Real Snakemake runs of the whole workflow on a tiny generated project."""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from crustwatch import demo

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow


def tiny_config(project: Path, **over) -> Path:
    cfg = {
        "images": "images.tsv",
        "classes": demo.demo_classes(),
        "ignore_index": 255,
        "seeds": [0, 1],
        "normalize": {"method": "camera_moments", "target_mm_per_px": 1.0},
        "model": {"name": "tiny", "arch": "Unet", "encoder": "resnet18", "encoder_depth": 3,
                  "decoder_channels": [16, 8, 4]},
        # 2 torch threads: the rebuild test then runs with --cores 1 and must still match
        "train": {"patch_size": 32, "batch_size": 4, "steps": 3, "cpu_threads": 2, "log_every": 1},
        "predict": {"batch_size": 16},
        # 2 validation photos x 7 classes: below the 19 pairs a 95% guarantee needs, calibrated all the same
        "cover": {"calibration_min_pairs": 14},
    }
    cfg.update(over)
    path = project / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(project),
           "--configfile", str(project / "config.yaml"), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-8000:]}")
    return res


def planned_jobs(res: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    out = (res.stdout + res.stderr).splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("Job stats"))
    jobs = {}
    for line in out[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def version_of(project: Path) -> str:
    """The model version the project's sheet and config define now (the candidate, or the current one)."""
    from crustwatch import versions

    res = snakemake(project, "-n", "--cores", "1")
    m = re.search(r"model versions: (v[0-9a-f]{12})", res.stdout + res.stderr)
    if m:
        return m.group(1)
    current = versions.current_version(versions.read_decisions(project / "results/models/tiny/decisions"))
    assert current, res.stdout[-2000:] + res.stderr[-2000:]
    return current


def vdir(project: Path, version: str | None = None) -> str:
    """The folder of a model version of the tiny project (default: the one its sheet and config define)."""
    return f"results/models/tiny/{version or version_of(project)}"


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_project_master) -> Path:
    """The tiny project after one complete workflow run."""
    project = tmp_path_factory.mktemp("wf") / "project"
    shutil.copytree(tiny_project_master, project)
    tiny_config(project)
    snakemake(project, "--cores", "2")
    return project


def test_models_and_cards(finished):
    from crustwatch.files import sha256_file

    sheet = pd.read_csv(finished / "images.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("image_id")
    models_dir = finished / vdir(finished)
    for seed in (0, 1):
        d = models_dir / f"seed{seed}"
        assert (d / "model.safetensors").stat().st_size > 10000
        assert not (d / "checkpoint.safetensors").exists()
        card = yaml.safe_load((d / "model_card.json").read_text())
        assert card["seed"] == seed and card["split_seed"] is None  # the tiny sheet gives each split
        assert card["version"] == models_dir.name
        assert card["model"]["arch"] == "Unet" and card["model"]["encoder"] == "resnet18"
        assert card["train"]["steps"] == 3 and card["train"]["cpu_threads"] == 2
        run = yaml.safe_load((d / "training_run.json").read_text())
        assert "log_every" not in card["train"] and run["runtime"]["log_every"] == 1
        assert card["classes"][0] == {"id": 0, "name": "bare_soil"} and card["ignore_index"] == 255
        # every training and validation photo and mask, by sha256, source and derived files
        assert sorted(card["data"]) == sorted(card["train_images"] + card["val_images"])
        assert len(card["train_images"]) == 2 and len(card["val_images"]) == 2
        for iid, d_ in card["data"].items():
            assert d_["photo_sha256"] == sha256_file(finished / sheet.loc[iid, "image"])
            assert d_["mask_sha256"] == sha256_file(finished / sheet.loc[iid, "mask"])
            assert d_["normalized_photo_sha256"] == sha256_file(finished / d_["normalized_photo"])
            assert d_["ingested_mask_sha256"] == sha256_file(finished / d_["ingested_mask"])
        assert card["normalization"]["method"] == "camera_moments"
        assert set(card["normalization"]["per_photo"]) == set(card["data"])
        assert {"torch", "segmentation-models-pytorch", "snakemake", "numpy", "rasterio"} <= set(card["versions"])
        assert card["device"] == {"device": "cpu"} and run["device"]["cpu"] and run["host"]
        det = card["determinism"]
        assert det["use_deterministic_algorithms"] is True and det["torch_threads"] == 2
        assert det["cudnn_benchmark"] is False and det["nondeterministic_ops"] == [] and det["bit_reproducible"]
        assert run["seconds"] > 0 and run["resumed_from_step"] is None and "seconds" not in card["training"]
        assert run["card_sha256"] == sha256_file(d / "model_card.json")
        assert 0 <= card["validation"]["overall_accuracy"] <= 1
        assert card["weights_sha256"] == sha256_file(d / "model.safetensors")
        assert len(run["code"]["git_commit"]) == 40 and "code" not in card
        # the workflow's own library ran, not another installed copy of crustwatch
        assert run["code"]["path"] == str(REPO)
    ens = yaml.safe_load((models_dir / "ensemble.json").read_text())
    assert ens["seeds"] == [0, 1] and len(ens["members"]) == 2 and ens["version"] == models_dir.name
    for m in ens["members"]:
        assert m["card_sha256"] == sha256_file(finished / m["card"])


def test_predictions_in_photo_geometry(finished):
    from crustwatch.files import sha256_file

    v = vdir(finished)
    ens_sha = sha256_file(finished / v / "ensemble.json")
    sheet = pd.read_csv(finished / "images.tsv", sep="\t", dtype=str)
    for _, r in sheet.iterrows():
        with rasterio.open(finished / r["image"]) as src:
            shape = (src.height, src.width)
        with rasterio.open(finished / "results" / "predictions" / f"{r['image_id']}.tif") as ds:
            assert (ds.height, ds.width) == shape and ds.count == 1 and ds.dtypes[0] == "uint8"
            tags = ds.tags()
            assert tags["seeds"] == "0,1" and tags["ensemble_card_sha256"] == ens_sha
            assert tags["model_version"] == Path(v).name
            cards = [finished / f"{v}/seed{s}/model_card.json" for s in (0, 1)]
            assert tags["member_cards"] == f"0={sha256_file(cards[0])},1={sha256_file(cards[1])}"
            assert ds.read(1).max() < 7
            # a cloud-optimized GeoTIFF with the classes' colours (QGIS shows them as given in the config)
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            cmap = ds.colormap(1)
            for c in demo.demo_classes():
                h = c["color"].lstrip("#")
                assert cmap[c["id"]][:3] == tuple(int(h[k:k + 2], 16) for k in (0, 2, 4))
        with rasterio.open(finished / "results" / "predictions" / f"{r['image_id']}_seeds.tif") as ds:
            assert ds.count == 2 and ds.descriptions == ("seed0", "seed1")
        with rasterio.open(finished / "results" / "predictions" / f"{r['image_id']}_uncertainty.tif") as ds:
            assert (ds.height, ds.width) == shape and ds.dtypes == ("float32", "float32")
            assert ds.descriptions == ("predictive_entropy", "mutual_information")
            ent, mi = ds.read()
            assert ent.min() >= 0 and ent.max() <= np.log(7) + 1e-4 and (mi <= ent + 1e-4).all() and mi.min() >= 0
        # a preview to look at (photo | classes | uncertainty); the probability stack only when asked for
        with rasterio.open(finished / "results" / "predictions" / f"{r['image_id']}_preview.png") as ds:
            assert ds.count >= 3 and ds.width > 500
        assert not (finished / "results" / "predictions" / f"{r['image_id']}_probs.tif").exists()


def test_probability_stack_on_request(finished_copy):
    p = finished_copy
    with changed_config(p) as (cfg, write):
        cfg["predict"] = {**cfg.get("predict", {}), "probabilities": True}
        write()
        snakemake(p, "--cores", "2", "results/predictions/shards/mesa_2020-05-12.json")
    manifest = json.loads((p / "results/predictions/shards/mesa_2020-05-12.json").read_text())
    for iid, files in manifest["photos"].items():
        assert set(files) == {"prediction", "seeds", "uncertainty", "probabilities", "preview", "soft"}
        with rasterio.open(p / files["probabilities"]["path"]) as ds:
            probs = ds.read().astype(int)
            assert ds.descriptions == tuple(c["name"] for c in demo.demo_classes())
            assert ds.tags()["scale"] == "1/255"
        with rasterio.open(p / files["prediction"]["path"]) as ds:
            classes = ds.read(1)
        assert probs.shape[1:] == classes.shape
        assert np.abs(probs.sum(0) - 255).max() <= 4  # rounding of 7 bands
        # the class map is the most probable class (up to ties within the rounding)
        top = np.take_along_axis(probs, classes[None].astype(np.int64), 0)[0]
        assert (top >= probs.max(0) - 1).all()

    # the logit adjustment (predict.prior_correction) re-predicts, never retrains: the class map is then
    # the argmax of the same probabilities times the weights of the training pixels the model card records
    from crustwatch.infer import prior_weights

    card = json.loads(next((p / "results" / "models").glob("*/*/seed0/model_card.json")).read_text())
    assert len(card["class_pixels"]) == 7 and sum(card["class_pixels"]) > 0
    w = prior_weights(card["class_pixels"], 7, 1.0)
    with changed_config(p) as (cfg, write):
        cfg["predict"] = {**cfg.get("predict", {}), "probabilities": True, "prior_correction": 1.0}
        write()
        jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
        assert jobs.get("predict") == 4 and "train" not in jobs and "ensemble_card" not in jobs, jobs
        snakemake(p, "--cores", "2", "results/predictions/shards/mesa_2020-05-12.json")
    changed = 0
    for iid, files in manifest["photos"].items():
        with rasterio.open(p / files["probabilities"]["path"]) as ds:
            probs = ds.read().astype(np.float64)
        with rasterio.open(p / files["prediction"]["path"]) as ds:
            adjusted = ds.read(1)
            settings = json.loads(ds.tags()["predict_settings"])
        assert settings["prior_correction"] == 1.0 and np.allclose(settings["class_weights"], w, atol=1e-6)
        weighted = probs * w[:, None, None]
        top = np.take_along_axis(weighted, adjusted[None].astype(np.int64), 0)[0]
        assert (top >= weighted.max(0) - 1.0).all()  # up to the probabilities' rounding
        changed += int((adjusted != np.argmax(probs, 0)).sum())
    assert changed > 0  # close calls went to rarer classes


def test_cover_tables(finished):
    from crustwatch.files import sha256_file

    cov = finished / "results" / "coverage"
    by_image = pd.read_csv(cov / "by_image.tsv", sep="\t", dtype={"date": str, "plot": str})
    for c in ["image_id", "site", "plot", "date", "class", "cover_pct", "ci_low", "ci_high", "valid_px"]:
        assert c in by_image.columns
    assert len(by_image) == 8 * 7
    sums = by_image.groupby("image_id")["cover_pct"].sum()
    np.testing.assert_allclose(sums, 100, atol=1e-6)
    assert (by_image["ci_low"] <= by_image["cover_pct"] + 1e-9).all()
    assert (by_image["ci_high"] >= by_image["cover_pct"] - 1e-9).all()
    assert (by_image["n_seeds"] == 2).all()
    for name, keys in (("by_plot_date", ["site", "plot", "date"]), ("by_site_date", ["site", "date"])):
        t = pd.read_csv(cov / f"{name}.tsv", sep="\t", dtype={"date": str, "plot": str})
        for c in keys + ["class", "cover_pct", "ci_low", "ci_high", "valid_px", "class_px"]:
            assert c in t.columns, (name, c)
        n_groups = by_image.drop_duplicates(keys).shape[0]
        assert len(t) == n_groups * 7
    # every row leads to the ensemble card; seed rows to their own card
    v = vdir(finished)
    ens_sha = sha256_file(finished / v / "ensemble.json")
    for name in ("by_image", "by_plot_date", "by_site_date"):
        t = pd.read_csv(cov / f"{name}.tsv", sep="\t")
        assert (t["ensemble_card_sha256"] == ens_sha).all(), name
        assert (t["model_version"] == Path(v).name).all(), name  # the version that made every row
    seeds = pd.read_csv(cov / "by_image_seed.tsv", sep="\t")
    card0 = sha256_file(finished / v / "seed0" / "model_card.json")
    assert (seeds[seeds["model"] == "seed0"]["card_sha256"] == card0).all()
    assert (seeds[seeds["model"] == "ensemble"]["card_sha256"] == ens_sha).all()
    # a site x date cover is the mean of its photos' covers
    site = pd.read_csv(cov / "by_site_date.tsv", sep="\t", dtype={"date": str})
    mean = by_image.groupby(["site", "date", "class"])["cover_pct"].mean()
    got = site.set_index(["site", "date", "class"])["cover_pct"]
    np.testing.assert_allclose(got.sort_index(), mean.sort_index())
    # cover is the soft cover adjusted by the validation photos' error rates (cover.adjust: confusion)
    from crustwatch.adjust import simplex_lsq

    adj = json.loads((cov / "cover_adjustment.json").read_text())
    splits = pd.read_csv(finished / "results" / "splits.tsv", sep="\t")
    val = splits[splits["split"] == "val"]
    assert set(adj["photos"]) == set(val["image_id"])
    # the adjustment is used only where it lowered the validation photos' error (each left out in turn)
    methods = pd.read_csv(cov / "cover_methods.tsv", sep="\t").set_index("estimate")
    chk = adj["validation_check"]
    assert chk["pairs"] == len(val) * len(demo.CLASSES)
    # the schema's cover.estimate (soft): what is adjusted, and what stands when it is not
    assert adj["estimate"] == "soft" and methods.loc["counted", "used"] == "soft"
    base = seeds["soft_cover_pct"]
    if chk["adjusted_error_pp"] > chk["unadjusted_error_pp"]:
        assert adj["method"] == "none" and methods.loc["cover", "used"] == "none"
        assert "erred" in methods.loc["cover", "why"]
        np.testing.assert_allclose(seeds["cover_pct"], base)
        return
    assert adj["method"] == "confusion" and methods.loc["cover", "used"] == "confusion"
    # each camera with validation photos has its own error rates on record
    assert set(adj["models"]["ensemble"]["cameras"]) == set(val["camera"])
    np.testing.assert_allclose(seeds["map_cover_pct"], 100 * seeds["class_px"] / seeds["valid_px"])
    for model in ("ensemble", "seed1"):
        test_photo, camera = splits[splits["split"] == "test"][["image_id", "camera"]].iloc[0]
        rates = adj["models"][model]
        m = np.array(rates["cameras"][camera]["M"] if camera in rates["cameras"] else rates["M"])
        np.testing.assert_allclose(m.sum(axis=0), 1, atol=1e-6)
        row = seeds[(seeds["model"] == model) & (seeds["image_id"] == test_photo)]
        want = 100 * simplex_lsq(m, row["soft_cover_pct"].to_numpy() / 100)
        np.testing.assert_allclose(row["cover_pct"], want, atol=1e-4)
    assert "map_cover_pct" in by_image.columns and "map_cover_pct" in site.columns


def test_soft_cover_is_the_summed_probabilities_and_switching_estimate_repredicts_nothing(finished_copy):
    """cover.estimate: soft (the default) counts each class's probability over the plot, with the training's
    logit adjustment undone by the frequencies the model card records; switching to map only re-aggregates."""
    from crustwatch.infer import undo_logit_adjustment

    p = finished_copy
    card = json.loads(next((p / "results" / "models").glob("*/*/seed0/model_card.json")).read_text())
    tau = card["train"].get("logit_adjust", 0)
    assert tau > 0  # the tiny project trains with the schema's logit-adjusted loss
    w = undo_logit_adjustment(card["class_pixels"], 7, tau)
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("image_id")
    cov = p / "results" / "coverage"
    seeds = pd.read_csv(cov / "by_image_seed.tsv", sep="\t")
    np.testing.assert_allclose(seeds.groupby(["image_id", "model"])["soft_cover_pct"].sum(), 100, atol=1e-6)
    assert (seeds["soft_cover_pct"] - seeds["map_cover_pct"]).abs().max() > 0.01  # a different estimate
    with changed_config(p) as (cfg, write):
        cfg["predict"] = {**cfg.get("predict", {}), "probabilities": True}
        write()
        snakemake(p, "--cores", "2")
        manifest = json.loads((p / "results/predictions/shards/mesa_2020-05-12.json").read_text())
        for iid, files in manifest["photos"].items():
            soft = pd.read_csv(p / files["soft"]["path"], sep="\t")
            assert (soft["undo_tau"] == tau).all() and set(soft["model"]) == {"ensemble", "seed0", "seed1"}
            with rasterio.open(p / files["probabilities"]["path"]) as ds:
                probs = ds.read().astype(np.float64) / 255
            if sheet.loc[iid, "area"]:  # the plot's box only
                x0, y0, x1, y1 = map(int, sheet.loc[iid, "area"].split(","))
                probs = probs[:, y0:y1, x0:x1]
            q = probs * w[:, None, None]
            want = (q / q.sum(0, keepdims=True)).reshape(7, -1).mean(1)
            ens = soft[soft["model"] == "ensemble"]
            got = ens.groupby("pred")["prob_px"].sum() / ens["prob_px"].sum()
            # the sums are counted at the model's resolution, the stack is written at the photo's
            np.testing.assert_allclose(got.reindex(range(7), fill_value=0), want, atol=0.01)
        cfg["cover"] = {**cfg.get("cover", {}), "estimate": "map"}
        write()
        jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
        assert "aggregate_cover" in jobs and not {"predict", "cover", "train"} & set(jobs), jobs
        snakemake(p, "--cores", "2", "results/coverage/by_image.tsv", "results/coverage/cover_methods.tsv")
    seeds = pd.read_csv(cov / "by_image_seed.tsv", sep="\t")
    methods = pd.read_csv(cov / "cover_methods.tsv", sep="\t").set_index("estimate")
    adj = json.loads((cov / "cover_adjustment.json").read_text())
    assert methods.loc["counted", "used"] == "map" and adj["estimate"] == "map"
    if adj["method"] == "none":  # unadjusted: cover is the maps' own fraction
        np.testing.assert_allclose(seeds["cover_pct"], seeds["map_cover_pct"])
    else:
        assert adj["validation_check"]["adjusted_error_pp"] <= adj["validation_check"]["unadjusted_error_pp"]
    np.testing.assert_allclose(seeds["map_cover_pct"], 100 * seeds["class_px"] / seeds["valid_px"])


def test_change_tables(finished):
    """The change tables of the tiny project (2 sites x 2 plots x 2 dates, a new camera on the second date)
    agree with its cover table, carry the ensemble card, and the figure is drawn per site."""
    from crustwatch.change import BY_PLOT_COLUMNS, BY_SITE_COLUMNS, TREND_COLUMNS
    from crustwatch.files import sha256_file

    ch = finished / "results" / "change"
    text = {"plot": str, "date_from": str, "date_to": str, "date": str}
    by_plot = pd.read_csv(ch / "by_plot.tsv", sep="\t", dtype=text, keep_default_na=False, na_values=[""])
    by_site = pd.read_csv(ch / "by_site.tsv", sep="\t", dtype=text, keep_default_na=False, na_values=[""])
    trend = pd.read_csv(ch / "trend.tsv", sep="\t", dtype=text, keep_default_na=False, na_values=[""])
    for table, cols in ((by_plot, BY_PLOT_COLUMNS), (by_site, BY_SITE_COLUMNS), (trend, TREND_COLUMNS)):
        assert list(table.columns[: len(cols)]) == cols
    d1, d2 = demo.DEFAULT_DATES[:2]
    assert len(by_plot) == 2 * 2 * 7 and set(zip(by_plot["date_from"], by_plot["date_to"])) == {(d1, d2)}
    pdt = pd.read_csv(finished / "results/coverage/by_plot_date.tsv", sep="\t", dtype=text).set_index(
        ["site", "plot", "date", "class"])["cover_pct"]
    for r in by_plot.itertuples():
        want = pdt[(r.site, r.plot, d2, r._3)] - pdt[(r.site, r.plot, d1, r._3)]
        assert r.change_pp == pytest.approx(want, abs=1e-6)
        assert r.ci_low <= r.change_pp <= r.ci_high
    assert by_plot["camera_changed"].all()  # cam-A, then cam-B
    assert by_plot["note"].str.contains("trained the model").any()  # the first date's training photos
    assert (by_site["n_plots"] == 2).all() and by_site["p_value"].between(0, 1).all()
    assert (by_site["q_value"] >= by_site["p_value"] - 1e-12).all() and by_site["summary"].str.len().gt(20).all()
    mean = by_plot.groupby(["site", "class"])["change_pp"].mean()
    np.testing.assert_allclose(by_site.set_index(["site", "class"])["change_pp"].loc[mean.index], mean)
    assert len(trend) == 2 * 7 * 3 and trend["slope_pp_per_year"].notna().all()  # per plot and per site
    v = vdir(finished)
    ens_sha = sha256_file(finished / v / "ensemble.json")
    for table in (by_plot, by_site, trend):
        assert (table["ensemble_card_sha256"] == ens_sha).all() and (table["model_version"] == Path(v).name).all()
    assert sorted(p.name for p in (finished / "results/plots/change").glob("*.png")) == ["dunes.png", "mesa.png"]


def test_suggestions_rank_the_unlabelled_photos(finished_copy):
    """Two photos lose their masks: they become the candidates, ranked with regions inside them and previews;
    with every photo labelled the tables are empty."""
    from crustwatch.steps.suggest import PHOTO_COLUMNS, REGION_COLUMNS

    p = finished_copy
    sug = p / "results" / "suggest"
    assert pd.read_csv(sug / "photos.tsv", sep="\t").empty and not list((sug / "previews").glob("*.png"))
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    test = sheet.index[sheet["split"] == "test"][:2]
    sheet.loc[test, ["mask", "split"]] = ""  # unlabelled: predicted only
    sheet.to_csv(p / "images.tsv", sep="\t", index=False)
    snakemake(p, "--cores", "2", "results/suggest/photos.tsv")
    photos = pd.read_csv(sug / "photos.tsv", sep="\t", dtype={"plot": str, "date": str})
    regions = pd.read_csv(sug / "regions.tsv", sep="\t")
    assert list(photos.columns) == PHOTO_COLUMNS and list(regions.columns) == REGION_COLUMNS
    assert set(photos["image_id"]) == set(sheet.loc[test, "image_id"]) and list(photos["rank"]) == [1, 2]
    assert photos["score"].is_monotonic_decreasing and (photos["why"].str.contains("mutual information")).all()
    assert (photos["new"].str.contains("camera cam-B")).all()  # the test date's camera has no label
    assert set(regions["image_id"]) == set(photos["image_id"])
    for r in regions.itertuples():
        rec = json.loads((p / f"results/ingest/{r.image_id}/photo.json").read_text())
        assert 0 <= r.x0 < r.x1 <= rec["width"] and 0 <= r.y0 < r.y1 <= rec["height"]
    previews = sorted(f.name for f in (sug / "previews").glob("*.png"))
    assert previews == [f"{r.rank:03d}_{r.image_id}.png" for r in photos.itertuples()]


def test_ignore_value_below_the_class_ids_gets_no_channel(tiny_project):
    """The source study's masks: 0 unlabelled, classes 1..7. The model has 7 channels, the maps hold
    class ids only and every photo's cover sums to 100% (adjusted and as map fractions)."""
    from PIL import Image

    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    for m in sheet["mask"]:
        if m:
            a = np.asarray(Image.open(tiny_project / m))
            Image.fromarray(np.where(a == 255, 0, a + 1).astype(np.uint8)).save(tiny_project / m)
    classes = [{**c, "id": c["id"] + 1} for c in demo.demo_classes()]
    tiny_config(tiny_project, classes=classes, ignore_index=0)
    snakemake(tiny_project, "--cores", "2")
    card = yaml.safe_load((tiny_project / vdir(tiny_project) / "seed0" / "model_card.json").read_text())
    assert card["n_classes"] == 7 and card["ignore_index"] == 0
    ids = {c["id"] for c in classes}
    for iid in sheet["image_id"]:
        with rasterio.open(tiny_project / "results" / "predictions" / f"{iid}.tif") as src:
            assert set(np.unique(src.read(1)).tolist()) <= ids, iid
    by_image = pd.read_csv(tiny_project / "results" / "coverage" / "by_image.tsv", sep="\t")
    assert set(by_image["class"]) == {c["name"] for c in classes}
    for col in ("cover_pct", "map_cover_pct"):
        np.testing.assert_allclose(by_image.groupby("image_id")[col].sum(), 100, atol=1e-6)


def test_metrics_and_splits(finished):
    splits = pd.read_csv(finished / "results" / "splits.tsv", sep="\t")
    assert set(splits["split"]) == {"train", "val", "test"}
    m = pd.read_csv(finished / "results" / "eval" / "metrics.tsv", sep="\t")
    assert list(m.columns) == ["model", "split", "class", "metric", "value"]
    assert set(m["model"]) == {"ensemble", "seed0", "seed1"}
    assert set(m["split"]) == {"val", "test"}
    assert {"overall_accuracy", "miou", "iou", "f1", "cover_abs_error_pp", "cover_bias_pp", "map_cover_abs_error_pp",
            "map_cover_bias_pp"} <= set(m["metric"])
    oa = m[(m["metric"] == "overall_accuracy")]["value"]
    assert ((oa >= 0) & (oa <= 1)).all()
    assert (finished / "results" / "plots" / "cover_over_time.png").stat().st_size > 10000
    assert (finished / "results" / "plots" / "confusion.png").stat().st_size > 5000
    # cover intervals calibrated on the validation photos, their coverage measured on test photos
    cal = json.loads((finished / "results" / "coverage" / "interval_calibration.json").read_text())
    val_ids = set(splits[splits["split"] == "val"]["image_id"])
    assert cal["method"] == "calibrated" and set(cal["photos"]) == val_ids and cal["q"] > 0
    by_image = pd.read_csv(finished / "results" / "coverage" / "by_image.tsv", sep="\t")
    assert (by_image["interval"] == "calibrated95").all()
    methods = pd.read_csv(finished / "results" / "coverage" / "cover_methods.tsv", sep="\t").set_index("estimate")
    assert methods.loc["interval", "used"] == "calibrated" and "14 validation" in methods.loc["interval", "why"]
    cov = m[(m["metric"] == "cover_interval_coverage") & (m["class"] == "all")].set_index("split")["value"]
    t = by_image[by_image["split"] == "test"]
    inside = ((t["true_cover_pct"] >= t["ci_low"]) & (t["true_cover_pct"] <= t["ci_high"])).mean()
    assert cov["test"] == pytest.approx(inside)
    if not cal["finite_sample_guarantee"]:  # too few validation pairs for the 95% rank: the largest score is used
        assert cov["val"] == 1.0


def test_logs_and_benchmarks(finished):
    v = Path(vdir(finished)).name
    assert (finished / "benchmarks" / "train" / "tiny" / v / "seed0.tsv").exists()
    log = (finished / "logs" / "train" / "tiny" / v / "seed0.log").read_text()
    assert "train seed 0: 3/3 (100%)" in log and "step 3/3" in log  # progress and loss lines, one per line
    assert "\r" not in log
    assert any((finished / "benchmarks" / "predict").iterdir())


def test_nothing_left_to_do_after_a_run(finished):
    res = snakemake(finished, "-n", "--cores", "1")
    assert "Nothing to be done" in res.stdout + res.stderr


def test_bad_mask_stops_before_training(tiny_project):
    from crustwatch.io import read_mask, write_image_file

    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str)
    mask_path = tiny_project / sheet.loc[5, "mask"]  # a test photo's mask, sheet line 7
    m = read_mask(mask_path)
    m[3, 3] = 77
    write_image_file(mask_path, m[None])
    tiny_config(tiny_project)
    res = snakemake(tiny_project, "--cores", "2", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "sheet line 7" in out and sheet.loc[5, "mask"].split("/")[-1] in out and "[77]" in out
    assert not (tiny_project / "results" / "models").exists()


def test_missing_photo_stops_at_once(tiny_project):
    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str)
    (tiny_project / sheet.loc[2, "image"]).unlink()
    tiny_config(tiny_project)
    res = snakemake(tiny_project, "--cores", "2", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "sheet line 4" in out and "photo file does not exist" in out
    assert not (tiny_project / "results").exists()


def test_truncated_jpeg_stops_its_shard_naming_the_sheet_line(tiny_project):
    """A JPEG cut off in upload passes the header check; its ingest job refuses it, names the sheet line,
    and leaves no finished output for that shard."""
    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str)
    k = next(i for i, f in enumerate(sheet["image"]) if f.endswith(".jpg"))
    photo = tiny_project / sheet.loc[k, "image"]
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    tiny_config(tiny_project)
    res = snakemake(tiny_project, "--cores", "1", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"sheet line {k + 2}" in out and f"image_id '{sheet.loc[k, 'image_id']}'" in out
    assert "truncated or corrupt" in out and sheet.loc[k, "image"] in out
    assert "Traceback" not in out
    shard = f"{sheet.loc[k, 'site']}_{sheet.loc[k, 'date']}"
    assert not (tiny_project / "results" / "ingest" / "shards" / f"{shard}.json").exists()


def test_lint_is_clean(tiny_project):
    tiny_config(tiny_project)
    res = snakemake(tiny_project, "--lint", check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_project_config_never_gets_the_demos_settings(tiny_project):
    """Run from a folder holding the demo's config/config.yaml (the repository), a project's --configfile gets
    the schema's defaults for what it leaves out, never the demo's pins: the same settings from any folder."""
    (tiny_project / "config").mkdir()
    (tiny_project / "config" / "config.yaml").write_text(yaml.safe_dump(
        {"images": "elsewhere.tsv", "classes": demo.demo_classes(), "seeds": [5], "model": {"name": "pinned"}}))
    (tiny_project / "config.yaml").write_text(yaml.safe_dump({"images": "images.tsv", "classes": demo.demo_classes()}))
    out = snakemake(tiny_project, "-n", "--cores", "1").stdout
    default_seeds = [rf"results/models/unet/v[0-9a-f]{{12}}/seed{s}/model\.safetensors" for s in (0, 1, 2)]
    assert all(re.search(p, out) for p in default_seeds) and "seed5" not in out and "pinned" not in out


def test_sheet_without_training_rows_stops_at_once(tiny_project):
    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet["split"] = sheet["split"].replace({"train": "test"})
    sheet.to_csv(tiny_project / "images.tsv", sep="\t", index=False)
    tiny_config(tiny_project)
    res = snakemake(tiny_project, "-n", check=False)
    assert res.returncode != 0 and "no photo is for training" in res.stdout + res.stderr


def test_cli_demo_and_check(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = lambda *a: subprocess.run([str(BIN / "crustwatch"), *a], capture_output=True, text=True, env=env, cwd=tmp_path)  # noqa: E731
    res = run("demo", "--tiny", "--out", "d", "--sheet", "images.tsv")
    assert res.returncode == 0 and "wrote 8 photos" in res.stdout
    assert "is current" in run("demo", "--tiny", "--out", "d", "--sheet", "images.tsv").stdout
    tiny_config(tmp_path)
    res = run("check", "--config", "config.yaml", "--out", "sizes.tsv")
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(tmp_path / "sizes.tsv", sep="\t")) == 8
    (tmp_path / "d" / "photos" / "mesa_P1_2019-05-14.png").write_bytes(b"not a png")
    res = run("check", "--config", "config.yaml")
    assert res.returncode == 2 and "sheet line 2" in res.stderr and "cannot be read" in res.stderr


@contextmanager
def changed_config(project: Path):
    """Yield (config dict, write function); the project's config is restored afterwards."""
    path = project / "config.yaml"
    original = path.read_text()
    cfg = yaml.safe_load(original)
    try:
        yield cfg, lambda: path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    finally:
        path.write_text(original)


def test_prediction_and_display_settings_never_retrain(finished):
    with changed_config(finished) as (cfg, write):
        cfg["predict"] = {"batch_size": 4, "step_fraction": 0.25}
        cfg["cover"] = {"interval_level": 0.9}
        cfg["classes"][0]["color"] = "#000000"
        # run-time training settings: how often to log and checkpoint, loader processes
        cfg["train"].update({"log_every": 2, "checkpoint_every": 1, "workers": 1})
        write()
        jobs = planned_jobs(snakemake(finished, "-n", "--cores", "1"))
        assert jobs.get("predict") == 4  # prediction settings do rerun prediction (4 site x date shards)...
        assert "train" not in jobs and "ensemble_card" not in jobs  # ...but never training


@pytest.fixture
def finished_copy(finished, tmp_path) -> Path:
    """A private copy of the finished project (results and Snakemake's records included)."""
    dst = tmp_path / "project"
    shutil.copytree(finished, dst, symlinks=True)
    return dst


def _rewrite(path: Path, keep_mtime: bool) -> None:
    """New pixels in the same file name (and, with ``keep_mtime``, the old modification time)."""
    from PIL import Image

    st = path.stat()
    a = np.asarray(Image.open(path))
    Image.fromarray((255 - a).astype(np.uint8)).save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_content_not_mtime_decides_what_reruns(finished_copy):
    p = finished_copy
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    # touched, or copied over with the same bytes: nothing reruns
    for f in sheet["image"]:
        (p / f).touch()
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(p, "-n", "--cores", "1"))
    # a test photo replaced in place, its old mtime kept: its shard re-ingests and re-predicts in this
    # one run (no second run needed), and nothing trains
    test_photo = p / sheet.loc[sheet["split"] == "test", "image"].iloc[0]
    _rewrite(test_photo, keep_mtime=True)
    jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
    assert jobs.get("ingest") == 1 and jobs.get("predict", 0) >= 1 and jobs.get("cover", 0) >= 1, jobs
    assert "train" not in jobs and "ensemble_card" not in jobs, jobs
    # a training photo changed: the models retrain
    train_photo = p / sheet.loc[sheet["split"] == "train", "image"].iloc[0]
    _rewrite(train_photo, keep_mtime=True)
    assert planned_jobs(snakemake(p, "-n", "--cores", "1")).get("train") == 2


def test_settings_in_another_key_order_rerun_nothing(finished_copy):
    """The same effective settings written in another order (a minimal config, a reordered one, the
    classes listed by name) are the same parameters: nothing reruns."""
    def reverse(obj):
        if isinstance(obj, dict):
            return {k: reverse(obj[k]) for k in reversed(list(obj))}
        return [reverse(v) for v in obj] if isinstance(obj, list) else obj

    with changed_config(finished_copy) as (cfg, write):
        cfg.clear()
        cfg.update(reverse(yaml.safe_load((finished_copy / "config.yaml").read_text())))
        write()
        res = snakemake(finished_copy, "-n", "--cores", "1")
        assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-3000:]
        # classes listed in another order: tables and plots follow the list, models and maps do not
        cfg["classes"] = sorted(cfg["classes"], key=lambda c: c["name"])
        write()
        jobs = planned_jobs(snakemake(finished_copy, "-n", "--cores", "1"))
        assert not {"ingest", "normalize", "train", "ensemble_card", "predict"} & set(jobs), jobs


def test_failed_input_check_keeps_every_result(finished_copy):
    """A run stopped by the input check (a class missing from the list) deletes nothing: the corrected
    run has nothing to do, and no model is retrained."""
    p = finished_copy
    before = {f: f.stat().st_mtime_ns for f in (p / "results").rglob("*") if f.is_file()}
    with changed_config(p) as (cfg, write):
        cfg["classes"] = cfg["classes"][:-1]
        write()
        res = snakemake(p, "--cores", "1", check=False)
        out = res.stdout + res.stderr
        assert res.returncode != 0 and "sheet line" in out and "neither a class id" in out, out
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(p, "-n", "--cores", "1"))
    after = {f: f.stat().st_mtime_ns for f in (p / "results").rglob("*") if f.is_file()}
    assert after == before


def test_drift_only_blur_never_retrains_while_drift_is_off(finished_copy):
    p = finished_copy
    with changed_config(p) as (cfg, write):
        cfg["train"]["augment"] = {"drift": False}
        write()
        version = version_of(p)
        target = f"{vdir(p, version)}/seed0/model.safetensors"
        snakemake(p, "--cores", "2", target)
        cfg["train"]["augment"]["blur_sigma"] = 2.0  # read only by the drift simulation, which is off
        write()
        assert version_of(p) == version  # the same model version: nothing retrains
        res = snakemake(p, "-n", "--cores", "2", target)
        assert "Nothing to be done" in res.stdout + res.stderr
        cfg["train"]["augment"]["drift"] = True  # now it shapes the weights: a new version
        write()
        target = f"{vdir(p)}/seed0/model.safetensors"
        assert version_of(p) != version
        assert planned_jobs(snakemake(p, "-n", "--cores", "2", target)).get("train") == 1


def test_seed_sensitivity_tables_and_plot(finished):
    ev = finished / "results" / "eval"
    seeds = pd.read_csv(ev / "seeds.tsv", sep="\t")
    metrics = pd.read_csv(ev / "metrics.tsv", sep="\t")
    assert {"seed_mean", "seed_sd", "seed_min", "seed_max", "pi_low", "pi_high", "ensemble",
            "ensemble_minus_seed_mean", "seed0", "seed1"} <= set(seeds.columns)
    assert len(seeds) == len(metrics[metrics["model"] == "ensemble"])
    r = seeds[(seeds["split"] == "test") & (seeds["metric"] == "overall_accuracy")].iloc[0]
    m = metrics[(metrics["split"] == "test") & (metrics["metric"] == "overall_accuracy")].set_index("model")["value"]
    assert r["seed0"] == pytest.approx(m["seed0"]) and r["ensemble"] == pytest.approx(m["ensemble"])
    assert r["seed_mean"] == pytest.approx((m["seed0"] + m["seed1"]) / 2)
    assert 0 <= r["pi_low"] <= r["seed_mean"] <= r["pi_high"] <= 1
    spread = pd.read_csv(ev / "seed_cover_spread.tsv", sep="\t")
    assert len(spread) == 8 * 7 and (spread["n_seeds"] == 2).all()
    assert np.allclose(spread["seed_range"], spread["seed_max"] - spread["seed_min"])
    assert (finished / "results" / "plots" / "seeds.png").stat().st_size > 10000


def crustwatch_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    return subprocess.run([sys.executable, "-m", "crustwatch.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_audit_traces_outputs_and_rebuilds_a_seed(finished):
    res = crustwatch_cli("audit", "results/coverage/by_site_date.tsv", cwd=finished)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    v = vdir(finished)
    assert f"ensemble card: {v}/ensemble.json" in out and f"model version {Path(v).name}" in out
    assert "seed 0 card" in out and "seed 1 card" in out and "AUDIT OK" in out
    assert "training and validation data (4 photos)" in out and "predicted photos (8)" in out
    assert "git " in out and "torch 2." in out and '"steps": 3' in out
    pred = finished / "results" / "predictions" / "mesa_P1_2020-05-12.tif"
    res = crustwatch_cli("audit", str(pred), cwd=REPO)
    assert res.returncode == 0 and "prediction settings" in res.stdout and "predicted photos (1)" in res.stdout
    res = crustwatch_cli("audit", f"{v}/seed1/model.safetensors", "--rebuild", cwd=finished)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rebuild seed 1" in res.stdout and "IDENTICAL" in res.stdout and "seed 0" not in res.stdout


def test_audit_fails_when_files_changed(finished_copy):
    p = finished_copy
    v = vdir(p)
    card = yaml.safe_load((p / f"{v}/seed0/model_card.json").read_text())
    photo = next(d["photo"] for d in card["data"].values() if d["split"] == "train")
    with open(p / photo, "ab") as f:
        f.write(b"\0")
    res = crustwatch_cli("audit", "results/coverage/by_image.tsv", cwd=p)
    assert res.returncode == 1 and f"photo: {photo}" in res.stdout and "CHANGED" in res.stdout
    assert "AUDIT FAILED" in res.stdout
    # a model retrained after the table was made: the table's card is gone
    ens = p / f"{v}/ensemble.json"
    ens.write_text(ens.read_text().replace('"seeds"', '"seeds" ', 1))
    res = crustwatch_cli("audit", "results/coverage/by_image.tsv", cwd=p)
    assert res.returncode == 1 and "NOT FOUND" in res.stdout


def test_deleted_model_rebuilds_bit_identical_whatever_the_cores(finished_copy):
    from crustwatch.files import sha256_file

    target = f"{vdir(finished_copy)}/seed0/model.safetensors"
    weights = finished_copy / target
    before = sha256_file(weights)
    card_before = sha256_file(weights.parent / "model_card.json")
    weights.unlink()
    # trained with 2 torch threads under --cores 2; rebuilt under --cores 1, still 2 threads
    snakemake(finished_copy, "--cores", "1", target)
    assert sha256_file(weights) == before
    card = yaml.safe_load((weights.parent / "model_card.json").read_text())
    assert card["weights_sha256"] == before and card["determinism"]["torch_threads"] == 2
    # the card holds only what shapes the numbers: a bit-identical rebuild writes it unchanged, so
    # every earlier table that cites it still audits (the run's own facts are in training_run.json)
    assert sha256_file(weights.parent / "model_card.json") == card_before
    res = crustwatch_cli("audit", "results/coverage/by_site_date.tsv", cwd=finished_copy)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert yaml.safe_load((weights.parent / "training_run.json").read_text())["weights_sha256"] == before


def test_replaced_weights_are_refused_and_the_advised_command_restores_them(finished_copy):
    import shlex

    from crustwatch.files import sha256_file

    p = finished_copy
    models_dir = p / vdir(p)
    original = sha256_file(models_dir / "seed0/model.safetensors")
    shutil.copy(models_dir / "seed1/model.safetensors", models_dir / "seed0/model.safetensors")
    res = snakemake(p, "--cores", "2", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "changed or replaced" in out, out[-3000:]
    advice = re.search(r"snakemake --cores N --forcerun (\S+)", out)
    assert advice, out[-3000:]
    snakemake(p, "--cores", "2", "--forcerun", *shlex.split(advice.group(1)))
    assert sha256_file(models_dir / "seed0/model.safetensors") == original
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(p, "-n", "--cores", "1"))


def test_killed_training_job_resumes_to_identical_weights(finished_copy):
    import signal
    import time

    from crustwatch.files import sha256_file

    p = finished_copy
    tiny_config(p, train={"patch_size": 32, "batch_size": 4, "steps": 150, "cpu_threads": 2,
                          "checkpoint_every": 10, "log_every": 10})
    v = vdir(p)
    target = f"{v}/seed5/model.safetensors"
    ckpt = p / f"{v}/seed5/checkpoint.safetensors"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(p),
           "--configfile", str(p / "config.yaml"), "--cores", "2", target]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "training wrote no checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its training job, no chance to clean up
    proc.wait()
    assert not (p / target).exists()
    snakemake(p, "--unlock")
    snakemake(p, "--cores", "2", target)
    log = (p / f"logs/train/tiny/{Path(v).name}/seed5.log").read_text()
    assert "resumed from checkpoint" in log, log[-2000:]
    run = yaml.safe_load((p / f"{v}/seed5/training_run.json").read_text())
    assert run["resumed_from_step"] > 0 and not ckpt.exists()
    resumed = sha256_file(p / target)
    # the same job, uninterrupted
    (p / target).unlink()
    snakemake(p, "--cores", "2", target)
    assert "resumed" not in (p / f"logs/train/tiny/{Path(v).name}/seed5.log").read_text()
    assert sha256_file(p / target) == resumed


COVER_COLUMNS = ["image_id", "class", "cover_pct", "ci_low", "ci_high", "seed_sd", "valid_px", "class_px"]


def same_results(project: Path, reference: Path) -> None:
    """Every seed's weights byte for byte, and every cover number, equal to the reference run's."""
    from crustwatch.files import sha256_file

    for w in sorted((reference / "results/models").rglob("model.safetensors")):
        assert sha256_file(project / w.relative_to(reference)) == sha256_file(w), w.name
    a = pd.read_csv(project / "results/coverage/by_image.tsv", sep="\t")[COVER_COLUMNS]
    b = pd.read_csv(reference / "results/coverage/by_image.tsv", sep="\t")[COVER_COLUMNS]
    pd.testing.assert_frame_equal(a, b)
    for name in ("by_plot_date", "by_site_date"):
        assert (project / f"results/coverage/{name}.tsv").is_file()


def test_killed_at_every_stage_and_restarted_gives_the_same_results(tiny_project, finished):
    """SIGKILL to Snakemake and its jobs during ingest, normalization, training (mid-way), prediction and
    cover; each time the same command (after `--unlock`) carries on, and the end result equals an
    uninterrupted run's."""
    import signal
    import time

    p = tiny_project
    # a checkpoint after every step, so that the kill lands inside training (never changes the weights)
    tiny_config(p, train={"patch_size": 32, "batch_size": 4, "steps": 3, "cpu_threads": 2, "log_every": 1,
                          "checkpoint_every": 1})
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(p),
           "--configfile", str(p / "config.yaml"), "--cores", "2"]
    stages = [("ingest", "results/ingest/shards", "*.json"),
              ("normalization", "results/normalized/shards", "*.json"),
              ("training", "results/models", "checkpoint.safetensors"),
              ("prediction", "results/predictions/shards", "*.json"),
              ("cover", "results/coverage/shards", "*.json")]
    killed = []
    for stage, folder, pattern in stages:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        deadline = time.time() + 600
        while proc.poll() is None and time.time() < deadline and not list((p / folder).rglob(pattern)):
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before {stage} could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed.append(stage)
        snakemake(p, "--unlock")
        # whatever the kill left: no output under its final name is half-written (temporary names only)
        for f in (p / "results").rglob("*.json"):
            if not f.name.startswith("."):
                json.loads(f.read_text())  # complete, or not there at all
    assert killed == [stage for stage, _, _ in stages]
    snakemake(p, "--cores", "2")
    assert "resumed from checkpoint" in "".join(f.read_text() for f in (p / "logs/train").rglob("*.log"))
    same_results(p, finished)


def test_full_disk_gives_a_clear_error_and_keeps_nothing_half_written(tiny_project, finished, tmp_path):
    """results/ on a 3 MB file system: the first model checkpoint does not fit. The run stops with a plain
    message, no file is left half-written under its final name, and after moving results/ to a disk with
    room the same command finishes with the uninterrupted run's results."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        if os.environ.get("CRUSTWATCH_REQUIRE_MOUNT") == "1":
            pytest.fail(f"CRUSTWATCH_REQUIRE_MOUNT=1 but tmpfs cannot be mounted: {mounted.stderr}")
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        p = tiny_project
        tiny_config(p, train={"patch_size": 32, "batch_size": 4, "steps": 3, "cpu_threads": 2, "log_every": 1,
                              "checkpoint_every": 1})
        (small / "results").mkdir()
        (p / "results").symlink_to(small / "results")
        res = snakemake(p, "--cores", "1", check=False)
        out = res.stdout + res.stderr
        assert res.returncode != 0
        assert "the disk is full" in out and "Nothing half-written was kept" in out, out[-3000:]
        assert "Traceback" not in out.split("the disk is full")[0][-200:]
        # nothing looks finished that is not: no weights, no checkpoint or temporary file left behind
        files = [f for f in (small / "results").rglob("*") if f.is_file()]
        assert not [f for f in files if f.name.endswith(".safetensors")], files
        # (Snakemake's own .snakemake_timestamp marks a finished directory output, no temporary file)
        assert not [f for f in files if f.name.startswith(".") and f.name != ".snakemake_timestamp"], files
        for f in files:
            if f.suffix == ".json":
                json.loads(f.read_text())
        # room again: results/ moved to the big disk, the same command finishes
        (p / "results").unlink()
        shutil.copytree(small / "results", p / "results")
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
    snakemake(p, "--cores", "2")
    same_results(p, finished)


def test_seed_sweep_equals_list_and_new_seeds_train_alone(finished):
    with changed_config(finished) as (cfg, write):
        cfg["seeds"] = {"start": 0, "count": 2}
        write()
        res = snakemake(finished, "-n", "--cores", "1")
        assert "Nothing to be done" in res.stdout + res.stderr
        cfg["seeds"] = {"start": 0, "count": 3}
        write()
        jobs = planned_jobs(snakemake(finished, "-n", "--cores", "1"))
        assert jobs["train"] == 1  # only seed 2; seeds 0 and 1 stay


def test_adabn_per_camera_at_prediction(finished_copy):
    p = finished_copy
    with changed_config(p) as (cfg, write):
        cfg["predict"] = {**cfg.get("predict", {}), "adabn": True}
        write()
        # one shard: the photos of site mesa on 2020-05-12 (both cam-B)
        target = "results/predictions/shards/mesa_2020-05-12.json"
        jobs = planned_jobs(snakemake(p, "-n", "--cores", "1", target))
        assert jobs.get("adabn") == 1 and jobs.get("predict") == 1 and "train" not in jobs
        snakemake(p, "--cores", "2", target)
        rec = yaml.safe_load((p / "results/models/tiny/adabn/cam-B.json").read_text())
        assert rec["seeds"] == [0, 1] and len(rec["photos"]) == 4
        with rasterio.open(p / "results/predictions/mesa_P1_2020-05-12.tif") as ds:
            tags = ds.tags()
        assert tags["adabn_sha256"] == rec["sha256"] and '"adabn": true' in tags["predict_settings"]


def test_prediction_refuses_photos_normalized_otherwise(finished_copy):
    from crustwatch.errors import CrustWatchError
    from crustwatch.steps import predict

    p = finished_copy
    iid = "mesa_P1_2020-05-12"
    rec_path = p / f"results/normalized/{iid}/photo.json"
    rec = yaml.safe_load(rec_path.read_text())
    rec["method"] = "camera_quantile"
    rec_path.write_text(json.dumps(rec))
    models_dir = p / vdir(p)
    with pytest.raises(CrustWatchError, match="normalized with method=camera_quantile"):
        predict.predict_image(
            str(p / f"results/normalized/{iid}/photo.tif"), str(rec_path), str(p / f"results/ingest/{iid}/photo.json"),
            str(models_dir / "ensemble.json"), [str(models_dir / f"seed{s}/model.safetensors") for s in (0, 1)],
            [str(models_dir / f"seed{s}/model_card.json") for s in (0, 1)], {}, 1,
            str(p / "out.tif"), str(p / "out_seeds.tif"), progress=False)
    assert not (p / "out.tif").exists()


def test_reference_method_needs_a_box_on_every_row(tiny_project):
    sheet = pd.read_csv(tiny_project / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet.loc[3, "reference"] = ""
    sheet.to_csv(tiny_project / "images.tsv", sep="\t", index=False)
    tiny_config(tiny_project, normalize={"method": "reference", "target_mm_per_px": 1.0})
    res = snakemake(tiny_project, "-n", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "sheet line(s) 5" in out and "no `reference` box" in out


def add_timestep(project: Path, tmp: Path, camera: str) -> list[str]:
    """Append a third monitoring date (every plot, with masks, split test) shot with
    ``camera`` to the tiny project's sheet; returns the new image_ids."""
    cams = {c.name: c for c in demo.DEFAULT_CAMERAS}
    spec = demo.tiny_spec()
    spec = demo.DemoSpec(**{**spec.__dict__, "dates": demo.DEFAULT_DATES[:3],
                            "cameras": (*spec.cameras[:2], cams[camera])})
    src = tmp / "new_date"
    rows = demo.generate(src, spec, src / "images.tsv")
    new = rows[rows["date"] == demo.DEFAULT_DATES[2]].copy()
    for col in ("image", "mask"):
        for rel in new[col]:
            dst = project / "data" / Path(rel).parent.name / Path(rel).name
            shutil.copyfile(src / rel, dst)
        new[col] = [f"data/{Path(r).parent.name}/{Path(r).name}" for r in new[col]]
    sheet = pd.read_csv(project / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    pd.concat([sheet, new.astype(str)]).to_csv(project / "images.tsv", sep="\t", index=False)
    return list(new["image_id"])


@pytest.mark.parametrize("camera", ["cam-B", "cam-C"])
def test_new_timestep_runs_only_new_work(finished_copy, tmp_path, camera):
    """A season's new photos, from the last date's camera (cam-B) or a new one (cam-C):
    nothing is retrained, no old photo is redone, and old cover rows stay byte for byte."""
    p = finished_copy
    cov = p / "results" / "coverage"
    old_tables = {n: (cov / f"{n}.tsv").read_text().splitlines() for n in
                  ("by_image", "by_plot_date", "by_site_date", "by_image_seed")}
    change = {n: pd.read_csv(p / "results" / "change" / f"{n}.tsv", sep="\t", dtype=str, keep_default_na=False)
              for n in ("by_plot", "by_site")}
    old_files = {f: f.stat().st_mtime_ns for d in ("ingest", "normalized", "predictions", "models")
                 for f in (p / "results" / d).rglob("*") if f.is_file()}
    new_ids = add_timestep(p, tmp_path, camera)
    assert len(new_ids) == 4
    jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
    # one job per stage for each new shard (site x date): 2 sites on the new date
    per_photo = {"ingest", "normalize", "predict", "cover"}
    assert {r: jobs[r] for r in per_photo} == {r: 2 for r in per_photo}
    assert "train" not in jobs and "ensemble_card" not in jobs
    # a new camera gets its own statistics; an old camera's are left as they were
    assert jobs.get("camera_stats", 0) == (1 if camera == "cam-C" else 0)
    # re-aggregation: tables, figures and the report's views of them (never the provenance of the models)
    assert set(jobs) - per_photo <= {"camera_stats", "check_inputs", "split", "aggregate_cover", "plot_cover",
                                     "evaluate", "seed_sensitivity", "plot_cover_by_plot", "report_maps",
                                     "camera_report", "change", "plot_change", "suggest", "export",
                                     "evaluate_points", "all"}
    snakemake(p, "--cores", "2")
    # no old file was rewritten: models, normalized photos and predictions stay as they were
    changed = [str(f) for f, t in old_files.items() if f.stat().st_mtime_ns != t]
    assert not changed, changed[:5]
    for name, old in old_tables.items():
        new = (cov / f"{name}.tsv").read_text().splitlines()
        assert new[0] == old[0], name
        kept = [line for line in new[1:] if not any(i in line for i in new_ids)
                and demo.DEFAULT_DATES[2] not in line]
        assert kept == old[1:], name  # every old row unchanged, byte for byte
        assert len(new) > len(old), name
    by_image = pd.read_csv(cov / "by_image.tsv", sep="\t", dtype=str)
    assert set(new_ids) <= set(by_image["image_id"]) and demo.DEFAULT_DATES[2] in set(by_image["date"])
    # change: the new date adds its pairs (from the last date and from the first); every old row stays, and
    # only the site table's q-values (and what follows from them) are recomputed over the larger family
    keys = ["site", "plot", "class", "date_from", "date_to"]
    for name, old in change.items():
        new = pd.read_csv(p / "results" / "change" / f"{name}.tsv", sep="\t", dtype=str, keep_default_na=False)
        k = [c for c in keys if c in new]
        assert set(zip(*(new[c] for c in ("date_from", "date_to")))) == {
            (demo.DEFAULT_DATES[0], demo.DEFAULT_DATES[1]), (demo.DEFAULT_DATES[0], demo.DEFAULT_DATES[2]),
            (demo.DEFAULT_DATES[1], demo.DEFAULT_DATES[2])}
        kept = new.merge(old[k], on=k)[old.columns].reset_index(drop=True)
        family = ["q_value", "significant", "summary"] if name == "by_site" else []
        pd.testing.assert_frame_equal(kept.drop(columns=family), old.drop(columns=family))
        assert len(new) == 3 * len(old), name
    rec = json.loads((p / f"results/normalized/{new_ids[0]}/photo.json").read_text())
    assert rec["camera"] == camera and rec["camera_pool"] == "first_date"
    assert rec["calibration_photo"] is (camera == "cam-C")
    assert rec["calibration_date"] == (demo.DEFAULT_DATES[2] if camera == "cam-C" else demo.DEFAULT_DATES[1])


def test_pretrained_encoders_start_training_and_a_new_date_changes_nothing(finished_copy, tmp_path):
    """pretrain.method masked: each seed pretrains its encoder on the photos up to the last labelled date,
    its model card cites that encoder by sha256, the audit rebuilds the seed bit for bit from it, and a new
    monitoring date re-pretrains and retrains nothing."""
    from crustwatch.files import sha256_file

    p = finished_copy
    with changed_config(p) as (cfg, write):
        cfg["pretrain"] = {"method": "masked", "steps": 3, "block_px": 8}
        write()
        jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
        assert jobs.get("pretrain") == 2 and jobs.get("train") == 2, jobs
        assert not {"ingest", "normalize"} & set(jobs), jobs
        v = vdir(p)
        models = f"{v}/ensemble.json"  # the models only: predictions are tested elsewhere
        snakemake(p, "--cores", "2", models)
        sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
        for seed in (0, 1):
            d = p / "results" / "pretrain" / "tiny" / Path(v).name / f"seed{seed}"
            enc = json.loads((d / "encoder_card.json").read_text())
            assert enc["seed"] == seed and enc["training"]["steps"] == 3
            # every photo (labelled or not) dated up to the last training/validation date
            last = sheet.loc[sheet["split"].isin(["train", "val"]), "date"].max()
            wanted = sorted(sheet.loc[sheet["date"] <= last, "image_id"])
            assert sorted(x["image_id"] for x in enc["photos"]) == wanted and len(wanted) < len(sheet)
            card = json.loads((p / v / f"seed{seed}" / "model_card.json").read_text())
            pre = card["pretrained"]
            assert pre["encoder_sha256"] == sha256_file(d / "encoder.safetensors") == enc["encoder_sha256"]
            assert pre["card_sha256"] == sha256_file(d / "encoder_card.json") and pre["method"] == "masked"
            assert (p / "logs" / "pretrain" / "tiny" / Path(v).name / f"seed{seed}.log").exists()
            assert (p / "benchmarks" / "pretrain" / "tiny" / Path(v).name / f"seed{seed}.tsv").exists()
        ens = json.loads((p / v / "ensemble.json").read_text())
        assert ens["pretrained"]["method"] == "masked"
        res = crustwatch_cli("audit", f"{v}/seed1/model_card.json", "--rebuild", cwd=p)
        assert res.returncode == 0 and "pretrained encoder" in res.stdout and "IDENTICAL" in res.stdout, res.stdout
        add_timestep(p, tmp_path, "cam-B")
        res = snakemake(p, "-n", "--cores", "1", models)
        assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]


def test_points_instead_of_a_mask_train_and_are_evaluated(finished_copy):
    """A training photo labelled by 60 CoralNet points instead of its mask: the points become a sparse mask
    (disks of points.radius_px), the models retrain from it, and its card cites the points file."""
    from crustwatch.files import sha256_file
    from crustwatch.io import read_mask
    from crustwatch.points import write_points

    p = finished_copy
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    k = sheet.index[sheet["split"] == "train"][0]
    iid, photo = sheet.loc[k, "image_id"], Path(sheet.loc[k, "image"]).name
    mask = read_mask(p / sheet.loc[k, "mask"])
    rows, cols = np.nonzero(mask != 255)
    pick = np.random.default_rng(0).choice(rows.size, 60, replace=False)
    names = {c["id"]: c["name"] for c in demo.demo_classes()}
    write_points(p / "data" / "points.csv", [{"Name": photo, "Row": int(rows[j]), "Column": int(cols[j]),
                                              "Label": names[int(mask[rows[j], cols[j]])]} for j in pick])
    sheet["points"] = ""
    sheet.loc[k, ["mask", "points"]] = ["", "data/points.csv"]
    sheet.to_csv(p / "images.tsv", sep="\t", index=False)
    # positions to label on a test photo (CoralNet's points export: no labels)
    other = Path(sheet.loc[sheet["split"] == "test", "image"].iloc[0]).name
    write_points(p / "to_label.csv", [{"Name": other, "Row": r, "Column": c, "Label": ""} for r, c in
                                      ((10, 10), (20, 30), (40, 5))])
    jobs = planned_jobs(snakemake(p, "-n", "--cores", "1"))
    assert jobs.get("ingest") == 1 and jobs.get("train") == 2, jobs
    v = vdir(p)  # points instead of a mask: a new model version
    snakemake(p, "--cores", "2", "--config", "export={points: to_label.csv}")
    rec = json.loads((p / f"results/ingest/{iid}/mask.json").read_text())
    assert rec["points"]["n"] == 60 and rec["points"]["radius_px"] == 2
    assert rec["sha256"] == sha256_file(p / "data" / "points.csv")
    sparse = read_mask(p / f"results/ingest/{iid}/mask.tif")
    assert sparse.shape == mask.shape and 0 < (sparse != 255).sum() <= 60 * 13
    # every point's own pixel carries its class; its disk mostly agrees with the full mask (edges of patches differ)
    own = [int(sparse[rows[j], cols[j]] == mask[rows[j], cols[j]]) for j in pick]
    assert all(sparse[rows[j], cols[j]] in (mask[rows[j], cols[j]], 255) for j in pick) and sum(own) >= 55
    both = (sparse != 255) & (mask != 255)
    assert (sparse[both] == mask[both]).mean() > 0.8
    card = json.loads((p / v / "seed0/model_card.json").read_text())
    assert card["data"][iid]["mask"].endswith("points.csv")
    # exports: the ensemble's label at every point (the training points with their truth, the positions
    # without), and cover as Darwin Core rows
    pts = pd.read_csv(p / "results/export/coralnet_points.csv", keep_default_na=False)
    assert list(pts.columns) == ["Name", "Row", "Column", "Label", "Confidence", "Truth"]
    assert (pts["Name"] == photo).sum() == 60 and (pts.loc[pts["Name"] == photo, "Truth"] != "").all()
    assert (pts.loc[pts["Name"] == other, "Truth"] == "").all() and (pts["Name"] == other).sum() == 3
    assert set(pts["Label"]) <= set(names.values()) and pts["Confidence"].between(0, 100).all()
    dwc = pd.read_csv(p / "results/export/dwc_cover.csv")
    by_image = pd.read_csv(p / "results/coverage/by_image.tsv", sep="\t")
    by_plot = pd.read_csv(p / "results/coverage/by_plot_date.tsv", sep="\t")
    assert len(dwc) == len(by_image) + len(by_plot) and set(dwc["measurementUnit"]) == {"%"}
    res = snakemake(p, "-n", "--cores", "1", "--config", "export={points: to_label.csv}")
    assert "Nothing to be done" in res.stdout + res.stderr


def test_sheet_values_never_reach_a_shell(tiny_project):
    """Sheet values that would run commands if pasted into a shell: nothing is executed."""
    p = tiny_project
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    hostile = p / "data" / "photos" / "x; touch pwned_path.txt $(touch pwned_sub.txt).jpg"
    shutil.move(p / sheet.loc[1, "image"], hostile)
    sheet.loc[1, "image"] = str(hostile.relative_to(p))
    sheet.loc[sheet["site"] == "mesa", "site"] = "mesa; touch pwned_site.txt"
    sheet.loc[sheet["camera"] == "cam-B", "camera"] = "`touch pwned_cam.txt` $(touch pwned_cam2.txt)"
    sheet.loc[sheet["site"] == "dunes", "site"] = "Dünen Süd 砂丘"  # spaces and non-ASCII letters
    sheet.to_csv(p / "images.tsv", sep="\t", index=False)
    tiny_config(p, seeds=[0])
    snakemake(p, "--cores", "2")
    pwned = [f for f in list(p.rglob("pwned*")) + list(Path.cwd().glob("pwned*")) + list(REPO.glob("pwned*"))]
    assert not pwned, pwned
    by_image = pd.read_csv(p / "results/coverage/by_image.tsv", sep="\t", dtype=str)
    assert "mesa; touch pwned_site.txt" in set(by_image["site"])  # the values are kept, as data
    assert "`touch pwned_cam.txt` $(touch pwned_cam2.txt)" in set(by_image["camera"])
    assert "Dünen Süd 砂丘" in set(by_image["site"])


def test_report_opens_in_a_browser_with_every_category(finished, tmp_path):
    """`snakemake --report` on the tiny project, opened in Debian's headless Chromium."""
    sys.path.insert(0, str(REPO / "tests"))
    from report_browser import Report, info, missing, view

    html = tmp_path / "report.html"
    snakemake(finished, "--report", str(html))
    assert html.stat().st_size > 100_000
    why = missing()
    if why:
        if os.environ.get("CRUSTWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CRUSTWATCH_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    r = Report(html, tmp_path / "chromium-profile")
    try:
        assert all(c in r.text() for c in ("Cover", "Change", "Label next", "Maps", "Quality", "Drift", "Provenance"))
        expected = {
            "Cover": ["Per site", "Per plot", "Tables"],
            "Change": ["Per site", "Tables"],
            "Label next": ["photos to label, ranked", "regions to label"],
            "Quality": ["All metrics", "Cover estimate and interval", "Ensemble and each seed", "Per class", "Test photos",
                        "Validation photos", "Point labels"],
            "Drift": ["per camera statistics", "camera drift and correction"],
            "Provenance": ["models of the ensemble", "model versions"],
        }
        for category, entries in expected.items():
            r.home()
            r.click(category, then=entries[0])
            text = r.text()
            assert all(e in text for e in entries), (category, text[:500])
        # figures render (a decoded image, not a broken one) and carry their captions
        figures = [("Cover", "Per site", "results/plots/cover_over_time.png", "y axis is cover in percent"),
                   ("Quality", "Test photos", "results/plots/confusion.png", "true classes from the masks"),
                   ("Drift", None, "camera drift and correction", "correction each camera's photos get")]
        for category, sub, name, caption in figures:
            r.home()
            r.click(category)
            if sub:
                r.click(sub)
            view(r, name)
            assert any(w > 300 and h > 200 for w, h in r.images()), name
            assert caption in info(r, name), name
        r.home()
        r.click("Change")
        r.click("Per site", then="mesa")
        view(r, "mesa")
        assert any(w > 300 for w, _ in r.images())
        assert "dashed frame marks a pair across which the camera changed" in info(r, "mesa")
        r.home()
        r.click("Cover")
        r.click("Per plot", then="mesa")
        view(r, "mesa")
        assert any(w > 300 for w, _ in r.images())
        ids = sorted(pd.read_csv(finished / "images.tsv", sep="\t")["image_id"])
        r.home()
        r.click("Maps", then=ids[0])
        assert all(i in r.text() for i in ids)  # every photo of the tiny project has its map
        view(r, ids[-1])
        assert any(w > 500 for w, _ in r.images())
        assert r.errors() == []
    finally:
        r.close()


def test_labels_grow_into_versions_judged_on_the_validation_photos(tiny_project):
    """Labels grow over the seasons: a photo gains its mask, which makes a new model version, trained beside the
    current one and judged against it on the current validation photos, class by class. A deliberately worse
    version (one training step) is rejected and kept; every decision is logged with both scores. Pinned, the
    first version predicts the first run's cover again byte for byte, and its deleted weights rebuild bit for
    bit from its record although the sheet has moved on."""
    from crustwatch.files import sha256_file

    p = tiny_project
    tiny_config(p, seeds=[0], train={"patch_size": 32, "batch_size": 4, "steps": 40, "cpu_threads": 2})
    gov, versions = "results/models/tiny/governance.tsv", "results/models/tiny/versions.tsv"
    v1 = version_of(p)
    snakemake(p, "--cores", "2", gov, "results/coverage/by_image.tsv")
    first_cover = (p / "results/coverage/by_image.tsv").read_text().splitlines()
    assert all(line.endswith("\t" + v1) for line in first_cover[1:])  # every row names its model version
    w1 = sha256_file(p / vdir(p, v1) / "seed0/model.safetensors")

    # a test photo gets labelled and joins the training photos: a new version, judged against the first
    sheet = pd.read_csv(p / "images.tsv", sep="\t", dtype=str, keep_default_na=False)
    gained = sheet.index[sheet["split"] == "test"][0]
    sheet.loc[gained, "split"] = "train"
    sheet.to_csv(p / "images.tsv", sep="\t", index=False)
    v2 = version_of(p)
    assert v2 != v1
    jobs = planned_jobs(snakemake(p, "-n", "--cores", "1", gov))
    assert jobs.get("train") == 1 and jobs.get("decide_version") == 1, jobs  # v1 is not retrained
    snakemake(p, "--cores", "2", gov)
    log = pd.read_csv(p / gov, sep="\t", keep_default_na=False)
    assert list(log["candidate"]) == [v1, v2] and list(log["incumbent"]) == ["none", v1]
    second = log.iloc[1]
    assert second["decision"] in ("accepted", "rejected") and second["validation_photos"] == 2
    assert second["per_class"].count(" / ") >= 4  # both versions' scores, class by class
    current = v2 if second["decision"] == "accepted" else v1

    # a deliberately worse version: one training step
    with changed_config(p) as (cfg, write):
        cfg["train"]["steps"] = 1
        write()
        v3 = version_of(p)
        snakemake(p, "--cores", "2", gov)
        log = pd.read_csv(p / gov, sep="\t", keep_default_na=False)
        worse = log.iloc[-1]
        assert (worse["candidate"], worse["incumbent"], worse["decision"]) == (v3, current, "rejected"), worse
        assert float(worse["gain"]) < 0 and "rejected: mean per-class IoU" in worse["reason"]
        table = pd.read_csv(p / versions, sep="\t", keep_default_na=False).set_index("version")
        assert table.loc[v3, "status"] == "rejected" and table.loc[current, "status"] == "current"
        assert (p / vdir(p, v3) / "seed0/model.safetensors").exists()  # kept, with its decision

    # the first version, pinned: its weights deleted, rebuilt bit for bit from its record (two training photos,
    # while the sheet now has three), and the first run's cover again, byte for byte
    (p / vdir(p, v1) / "seed0/model.safetensors").unlink()
    with changed_config(p) as (cfg, write):
        cfg["versions"] = {"pin": v1}
        write()
        jobs = planned_jobs(snakemake(p, "-n", "--cores", "1", vdir(p, v1) + "/seed0/model.safetensors"))
        assert jobs == {"train": 1, "total": 1} if "total" in jobs else jobs.get("train") == 1, jobs
        snakemake(p, "--cores", "2", vdir(p, v1) + "/seed0/model.safetensors", "results/coverage/by_image.tsv", gov)
        assert sha256_file(p / vdir(p, v1) / "seed0/model.safetensors") == w1
        card = json.loads((p / vdir(p, v1) / "seed0/model_card.json").read_text())
        assert card["version"] == v1 and len(card["train_images"]) == 2
        cover = (p / "results/coverage/by_image.tsv").read_text().splitlines()
        gained_id = sheet.loc[gained, "image_id"]
        assert cover[0] == first_cover[0]
        assert [x for x in cover if gained_id not in x] == [x for x in first_cover if gained_id not in x]
        table = pd.read_csv(p / versions, sep="\t", keep_default_na=False).set_index("version")
        assert table.loc[v1, "status"] == "pinned" and len(table) == 3
