"""Seed settings and seed-sensitivity tables, on hand-checked numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake.utils import validate

from crustwatch.cover import t_quantile
from crustwatch.errors import CrustWatchError
from crustwatch.seeds import cover_spread, metric_table
from crustwatch.settings import predict_settings, resolve_seeds, train_runtime, train_settings


def test_seeds_as_list_or_sweep():
    assert resolve_seeds([2, 0, 1]) == [0, 1, 2]
    assert resolve_seeds({"start": 3, "count": 4}) == [3, 4, 5, 6]
    assert resolve_seeds({"count": 2}) == [0, 1]
    with pytest.raises(CrustWatchError):
        resolve_seeds([1, 1])
    with pytest.raises(CrustWatchError):
        resolve_seeds({"start": 0, "count": 0})


def test_runtime_settings_are_kept_out_of_what_shapes_weights():
    cfg = {"steps": 10, "lr": 0.1, "log_every": 5, "checkpoint_every": 2, "workers": 3, "cpu_threads": 2}
    assert train_settings(cfg) == {"steps": 10, "lr": 0.1, "cpu_threads": 2}
    assert train_runtime(cfg) == {"log_every": 5, "checkpoint_every": 2, "workers": 3}
    # train.logit_adjust came after projects had trained: off (0) it is left out, so nothing retrains
    assert train_settings({**cfg, "logit_adjust": 0}) == {"steps": 10, "lr": 0.1, "cpu_threads": 2}
    assert train_settings({**cfg, "logit_adjust": 0.5})["logit_adjust"] == 0.5


def test_a_setting_left_out_of_the_params_trains_at_its_left_out_value_not_the_schemas_default():
    """logit_adjust 0 is left out of the params (old projects keep their models), but the schema's default is
    0.2 now: the training step must read the missing key back as 0, not fill in 0.2."""
    from crustwatch.settings import train_params_filled
    from crustwatch.train import TrainConfig

    assert TrainConfig.from_dict().logit_adjust == 0.2  # the schema's default
    params = train_settings({"steps": 10, "logit_adjust": 0})
    assert "logit_adjust" not in params
    assert TrainConfig.from_dict(train_params_filled(params)).logit_adjust == 0
    assert TrainConfig.from_dict(train_params_filled(train_settings({"steps": 10, "logit_adjust": 0.2}))).logit_adjust == 0.2


def test_prior_correction_off_leaves_the_predict_params_as_they_were():
    """predict.prior_correction came after projects had predicted: off (0), a project's predict params
    are those of the release before it, so nothing re-predicts; on, they change and prediction reruns."""
    before = {"step_fraction": 0.5, "batch_size": 16, "device": "auto", "tta": False, "probabilities": False,
              "precision": "auto", "adabn": False, "adabn_max_tiles": 2000}
    assert predict_settings({**before, "prior_correction": 0}) == before
    assert predict_settings({**before, "prior_correction": 0.2}) == {**before, "prior_correction": 0.2}


def test_a_project_keeping_drift_off_keeps_its_training_params():
    """The params of a config that pins the augmentation of releases before the optics default,
    validated against today's schema, are those of the previous release: its models do not retrain."""
    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    cfg = {"images": "images.tsv", "classes": [{"id": 0, "name": "soil"}, {"id": 1, "name": "moss"}],
           "train": {"augment": {"drift": False, "wb": 0.15, "exposure": 0.25, "gamma": 0.15}}}
    validate(cfg, str(schema))
    assert cfg["train"]["augment"]["blur_sigma"] == 1.5  # the schema fills it in...
    previous = {"flip_rotate": True, "gain": 0.15, "offset": 0.3, "contrast": 0.2, "noise": 0.05, "blur_prob": 0.3,
                "drift": False, "wb": 0.15, "exposure": 0.25, "gamma": 0.15, "jpeg_prob": 0.3,
                "jpeg_min_quality": 60, "scale": 0.2}
    assert train_settings(cfg["train"])["augment"] == previous  # ...but it shapes nothing while drift is off
    cfg["train"]["augment"]["drift"] = True
    assert train_settings(cfg["train"])["augment"]["blur_sigma"] == 1.5


def _metrics():
    rows = []
    for model, oa, err in (("ensemble", 0.9, 1.0), ("seed0", 0.6, 2.0), ("seed1", 0.95, 1.5), ("seed2", 0.9, 2.5)):
        rows += [(model, "test", "all", "overall_accuracy", oa), (model, "test", "moss", "cover_abs_error_pp", err)]
    rows.append(("ensemble", "val", "all", "miou", 0.7))  # a metric with no single-seed values
    return pd.DataFrame(rows, columns=["model", "split", "class", "metric", "value"])


def test_metric_table_by_hand():
    t = metric_table(_metrics(), 0.95)
    assert len(t) == 3  # only the (split, class, metric) rows that exist
    r = t[t["metric"] == "overall_accuracy"].iloc[0]
    vals = np.array([0.6, 0.95, 0.9])
    assert r["seed_mean"] == pytest.approx(vals.mean())
    assert r["seed_sd"] == pytest.approx(vals.std(ddof=1))
    assert (r["seed_min"], r["seed_max"], r["n_seeds"]) == (0.6, 0.95, 3)
    half = t_quantile(0.975, 2) * vals.std(ddof=1) * math.sqrt(1 + 1 / 3)
    assert vals.mean() - half < 0 and vals.mean() + half > 1
    assert (r["pi_low"], r["pi_high"]) == (0.0, 1.0)  # clipped: accuracy lies in 0..1
    s = t[(t["metric"] == "cover_abs_error_pp")].iloc[0]
    errs = np.array([2.0, 1.5, 2.5])
    h = t_quantile(0.975, 2) * errs.std(ddof=1) * math.sqrt(1 + 1 / 3)
    assert s["pi_high"] == pytest.approx(errs.mean() + h)
    assert r["ensemble_minus_seed_mean"] == pytest.approx(0.9 - vals.mean())
    assert list(r[["seed0", "seed1", "seed2"]]) == [0.6, 0.95, 0.9]
    e = t[t["metric"] == "cover_abs_error_pp"].iloc[0]
    assert e["pi_low"] == 0.0  # clipped: an absolute error is never negative
    assert e["ensemble_minus_seed_mean"] == pytest.approx(1.0 - 2.0)
    m = t[t["metric"] == "miou"].iloc[0]
    assert m["n_seeds"] == 0 and np.isnan(m["seed_mean"]) and m["ensemble"] == 0.7


def test_cover_spread_per_photo_and_class():
    rows = [("a", "ensemble", "moss", 20.0), ("a", "seed0", "moss", 18.0), ("a", "seed1", "moss", 24.0),
            ("b", "ensemble", "moss", 5.0), ("b", "seed0", "moss", 5.0), ("b", "seed1", "moss", 5.0)]
    df = pd.DataFrame(rows, columns=["image_id", "model", "class", "cover_pct"])
    splits = pd.DataFrame({"image_id": ["a", "b"], "site": "s", "plot": "p", "date": "2020-01-01", "camera": "c",
                           "split": "test"})
    out = cover_spread(df, splits).set_index("image_id")
    assert out.loc["a", "ensemble_cover_pct"] == 20.0 and out.loc["a", "seed_range"] == 6.0
    assert out.loc["a", "seed_sd"] == pytest.approx(np.std([18, 24], ddof=1))
    assert out.loc["b", "seed_sd"] == 0.0 and out.loc["a", "site"] == "s"
