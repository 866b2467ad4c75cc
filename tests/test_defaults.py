"""One source of defaults: the config schema. The library's settings classes hold none of their own,
the documented reference (docs/config.md) is generated from the schema, and the demo's config departs
from it only where it says so."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from crustwatch import project
from crustwatch.data import Augment
from crustwatch.plan import StepsPlan
from crustwatch.settings import train_settings
from crustwatch.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
#: what the bundled demo pins in config/config.yaml so that `make demo` stays short (each says why there)
DEMO_PINS = {"images", "classes", "normalize.target_mm_per_px", "model.name", "model.encoder_depth", "model.decoder_channels", "train.steps",
             "train.logit_adjust",
             "cover.calibration_min_pairs", "cover.estimate"}


def shipped() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def minimal() -> dict:
    """A project's config that sets only what the schema requires: the schema fills in the rest."""
    cfg = shipped()
    return {"images": cfg["images"], "classes": cfg["classes"]}


def departures(cfg: dict) -> set[str]:
    """The dotted keys where ``cfg`` sets a value other than the schema's default."""
    defaults = leaves(project.with_defaults({}))
    return {k for k, v in leaves(cfg).items() if defaults.get(k, object()) != v}


def leaves(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "seeds":
            out.update(leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("cls", [TrainConfig, Augment, StepsPlan])
def test_settings_classes_hold_no_defaults_of_their_own(cls):
    own = [f.name for f in dataclasses.fields(cls)
           if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert own == [], f"{cls.__name__} has defaults of its own for {own}; they belong in the schema"


def test_settings_classes_are_filled_with_the_schemas_defaults():
    train = project.section("train")
    assert dataclasses.asdict(Augment.from_dict()) == train["augment"]
    assert dataclasses.asdict(StepsPlan.from_dict()) == train["plan"]
    built = dataclasses.asdict(TrainConfig.from_dict())
    assert built == {k: v for k, v in train.items() if k in built}
    assert set(train) - set(built) == {"device"}  # the device is picked by the step, not the loop
    # a subset given, the rest from the schema; the workflow's params (what shapes the weights) build the same
    cfg = TrainConfig.from_dict({"steps": 7, "augment": {"noise": 0.0}})
    assert cfg.steps == 7 and cfg.augment.noise == 0.0 and cfg.augment.gain == train["augment"]["gain"]
    validated = minimal()
    validate(validated, SCHEMA)
    assert TrainConfig.from_dict(train_settings(validated["train"])) == TrainConfig.from_dict()


@pytest.mark.parametrize("make", [shipped, minimal], ids=["config.yaml", "minimal"])
def test_the_library_fills_in_defaults_as_the_workflow_does(make):
    by_snakemake = make()
    validate(by_snakemake, SCHEMA)
    assert project.with_defaults(make()) == by_snakemake


def test_the_documented_reference_is_the_schema():
    """docs/config.md is generated from the schema: rerun `crustwatch defaults --markdown > docs/config.md`."""
    doc = (ROOT / "docs" / "config.md").read_text()
    assert doc == project.defaults_markdown(), "docs/config.md is stale: crustwatch defaults --markdown > docs/config.md"
    for dotted, value in leaves(project.with_defaults({})).items():
        assert f"| `{dotted}` |" in doc, dotted
    # every key is explained (a description or the comment above it in the schema)
    assert "|  |" not in doc


def test_the_demo_departs_from_the_schema_only_in_its_pins():
    ours = leaves(shipped())
    defaults = leaves(project.with_defaults({}))
    assert departures(shipped()) == DEMO_PINS
    # and it shows every setting but the newest optional sections, which it leaves to the schema
    assert set(defaults) - set(ours) <= {k for k in defaults if k.split(".")[0] in ("change", "suggest", "pretrain", "points", "export")} | {
        "train.class_balance", "train.logit_adjust", "train.plan.class_patches", "train.plan.pixel_passes", "train.plan.min_steps",
        "train.plan.max_steps", "train.precision", "seeds"}


def test_the_drift_benchmarks_choice_stays_the_default():
    """bench/drift/drift.py's winning method (docs/camera-drift.md): camera_moments over each camera's first date,
    no AdaBN, the optics augmentation (blur, JPEG, scale; no colour drift), confusion-adjusted cover."""
    d = project.with_defaults({})
    assert (d["normalize"]["method"], d["normalize"]["camera_pool"]) == ("camera_moments", "first_date")
    assert d["predict"]["adabn"] is False and d["cover"]["adjust"] == "confusion"
    aug = d["train"]["augment"]
    assert aug["drift"] is True and (aug["wb"], aug["exposure"], aug["gamma"]) == (0, 0, 0)
    assert aug["blur_sigma"] == 1.5 and aug["jpeg_prob"] == 0.3 and aug["scale"] == 0.2


def test_the_project_template_leaves_every_setting_to_the_schema():
    """config/project.yaml, where README's "Your own photos" starts, sets what a project must (sheet, classes) and
    pins none of the demo's small settings; the keys it shows commented out carry the schema's defaults."""
    text = (ROOT / "config" / "project.yaml").read_text()
    cfg = yaml.safe_load(text)
    validate(copy.deepcopy(cfg), SCHEMA)  # validate fills in the defaults in place
    defaults = leaves(project.with_defaults({}))
    assert departures(cfg) == {"images", "classes"}
    assert not set(leaves(cfg)) & (DEMO_PINS - {"images", "classes"})
    commented = text.split("# Keys projects often set")[1].split("\n", 1)[1]
    shown = leaves(yaml.safe_load("\n".join(line.removeprefix("# ") for line in commented.splitlines())))
    assert shown and all(defaults[k] == v for k, v in shown.items()), shown
