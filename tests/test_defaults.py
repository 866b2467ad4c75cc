"""The workflow's defaults are the settings the drift benchmark chose (docs/camera-drift.md)."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from crustwatch.data import Augment
from crustwatch.settings import train_settings
from crustwatch.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_drift", ROOT / "bench" / "drift.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def shipped() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def minimal() -> dict:
    """A project's config that sets only what the schema requires: the schema fills in the rest."""
    cfg = shipped()
    return {"images": cfg["images"], "classes": cfg["classes"]}


@pytest.mark.parametrize("make", [shipped, minimal], ids=["config.yaml", "schema defaults"])
def test_default_config_is_the_benchmarks_choice(bench, make):
    cfg = make()
    validate(cfg, SCHEMA)  # fills in the schema's defaults
    method, aug, adabn, pool = bench.METHODS[bench.DEFAULT]
    assert cfg["normalize"]["method"] == method
    assert cfg["normalize"]["camera_pool"] == pool
    assert cfg["predict"]["adabn"] is adabn
    assert cfg["cover"]["adjust"] == "confusion"  # the benchmark's +adjust rows
    # the benchmark trains with the library's TrainConfig and these augmentation settings
    wanted = asdict(Augment(drift=aug is not False, **(bench.DRIFT_AUG[aug] or {})))
    assert cfg["train"]["augment"] == wanted
    trained = asdict(TrainConfig.from_dict(train_settings(cfg["train"])))
    ref = asdict(TrainConfig(augment=Augment(**wanted)))
    for key in ("patch_size", "batch_size", "lr", "weight_decay", "dice_weight", "cpu_threads", "augment"):
        assert trained[key] == ref[key], key
    if make is shipped:  # the demo's steps; the schema's default (300) is for a real project
        assert cfg["train"]["steps"] == 200  # bench/drift.py --steps default

