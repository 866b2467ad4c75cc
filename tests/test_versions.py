"""Model versions (crustwatch.versions): named by their training data and settings, judged by the acceptance
rule class by class, and which one predicts (current, pinned, deferred by label growth)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crustwatch import versions as ver
from crustwatch.errors import CrustWatchError
from crustwatch.steps import versions as steps


def defn(train=("a", "b"), val=("c",), steps_=100, mask_sha="m"):
    photo = lambda i: {"image_id": i, "photo_sha256": f"p-{i}", "label_sha256": f"{mask_sha}-{i}",  # noqa: E731
                       "mm_per_px": None, "reference": None}
    return ver.definition({"classes": [{"id": 0, "name": "soil"}], "train": {"steps": steps_}, "pretrain": None},
                          [photo(i) for i in train], [photo(i) for i in val], {"camA": [{"image_id": "a"}]})


def test_a_version_is_named_by_its_data_and_settings_alone():
    a = ver.version_id(defn())
    assert a == ver.version_id(defn()) and a.startswith("v") and len(a) == 13
    # any key order gives the same name; data, labels and settings each give another
    shuffled = json.loads(json.dumps(defn(), sort_keys=False))
    assert ver.version_id(dict(reversed(list(shuffled.items())))) == a
    others = {ver.version_id(defn(train=("a", "b", "d"))), ver.version_id(defn(mask_sha="corrected")),
              ver.version_id(defn(steps_=200)), ver.version_id(defn(val=("c", "d")))}
    assert a not in others and len(others) == 4
    s1, d1 = ver.data_and_settings(defn())
    s2, d2 = ver.data_and_settings(defn(train=("a", "b", "d")))
    assert s1 == s2 and d1 != d2
    assert ver.data_and_settings(defn(steps_=200))[0] != s1


def test_acceptance_rule_per_class():
    inc = {"soil": 0.80, "moss": 0.60, "lichen": 0.30}
    better = {"soil": 0.82, "moss": 0.62, "lichen": 0.31}
    assert ver.judge(better, inc)["decision"] == "accepted"
    equal = ver.judge(dict(inc), inc)
    assert equal["decision"] == "accepted" and equal["gain"] == pytest.approx(0) and "no class" in equal["reason"]
    # the mean rises, but a rare taxon collapses: rejected by the per-class margin
    trade = {"soil": 0.95, "moss": 0.75, "lichen": 0.20}
    r = ver.judge(trade, inc)
    assert r["decision"] == "rejected" and r["worst_class"] == "lichen" and r["worst_drop"] == pytest.approx(0.10)
    assert r["gain"] > 0 and "beyond the allowed 0.050" in r["reason"]
    assert ver.judge(trade, inc, max_class_drop=0.2)["decision"] == "accepted"
    # a small loss of the mean: rejected at min_gain 0, accepted with a tolerance
    worse = {"soil": 0.79, "moss": 0.59, "lichen": 0.30}
    assert ver.judge(worse, inc)["decision"] == "rejected"
    assert ver.judge(worse, inc, min_gain=-0.01)["decision"] == "accepted"
    # CoralNet-like: demand a gain
    assert ver.judge(better, inc, min_gain=0.05)["decision"] == "rejected"
    # nothing to compare with
    assert ver.judge(better, None)["decision"] == "accepted"
    assert "without comparison" in ver.judge({}, {})["reason"]


def test_class_scores_leave_out_classes_the_truth_lacks():
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])  # no lichen in the truth
    iou = ver.class_scores(cm, ["soil", "moss", "lichen"], "iou")
    assert set(iou) == {"soil", "moss"} and iou["soil"] == pytest.approx(8 / 11)
    assert ver.class_scores(cm, ["soil", "moss", "lichen"], "f1")["moss"] == pytest.approx(18 / 21)


def decision(folder, cand, inc, verdict, at):
    (folder / f"{cand}-vs-{inc}.json").write_text(json.dumps(
        {"candidate": cand, "incumbent": inc, "decision": verdict, "decided_at": at}))


def test_the_latest_accepted_decision_is_current(tmp_path):
    assert ver.current_version(ver.read_decisions(tmp_path)) is None
    decision(tmp_path, "v1", "none", "accepted", "2024-05-01T10:00:00")
    decision(tmp_path, "v2", "v1", "rejected", "2025-05-01T10:00:00")
    assert ver.current_version(ver.read_decisions(tmp_path)) == "v1"
    decision(tmp_path, "v3", "v1", "accepted", "2026-05-01T10:00:00")
    (tmp_path / "v4-vs-v3.json").write_text('{"candidate": "v4", "decis')  # an interrupted write: never current
    assert ver.current_version(ver.read_decisions(tmp_path)) == "v3"


def test_the_plan_of_a_run():
    d1, d2 = defn(), defn(train=("a", "b", "d"))
    v1, v2 = ver.version_id(d1), ver.version_id(d2)
    known = {v1: d1, v2: d2}
    first = ver.plan(v1, d1, [], {v1: d1})
    assert (first.state, first.decide, first.selected, first.incumbent) == ("first", True, v1, None)
    accepted = [{"candidate": v1, "incumbent": "none", "decision": "accepted"}]
    same = ver.plan(v1, d1, accepted, known)
    assert (same.state, same.decide, same.selected) == ("current", False, v1)
    new = ver.plan(v2, d2, accepted, known)
    assert (new.state, new.decide, new.selected, new.incumbent) == ("candidate", True, None, v1)
    # CoralNet's trigger: 3 labelled training photos against 2 is 1.5x
    assert ver.plan(v2, d2, accepted, known, retrain_growth=1.1).decide
    held = ver.plan(v2, d2, accepted, known, retrain_growth=2.0)
    assert (held.state, held.decide, held.selected) == ("deferred", False, v1) and "1.50x" in held.note
    # a changed setting always makes a candidate, whatever the growth
    d3 = defn(steps_=5)
    assert ver.plan(ver.version_id(d3), d3, accepted, {**known, ver.version_id(d3): d3}, retrain_growth=2.0).decide
    # pins: a version by name, or whatever is current
    pinned = ver.plan(v2, d2, accepted, known, pin=v1)
    assert (pinned.state, pinned.decide, pinned.selected) == ("pinned", False, v1)
    assert ver.plan(v2, d2, accepted, known, pin="current").selected == v1
    with pytest.raises(CrustWatchError, match="no version of this project"):
        ver.plan(v2, d2, accepted, known, pin="v000000000000")
    with pytest.raises(CrustWatchError, match="no version has been accepted"):
        ver.plan(v1, d1, [], {v1: d1}, pin="current")


def test_version_record_and_governance_tables(tmp_path):
    d1, d2 = defn(), defn(train=("a", "b", "d"))
    v1, v2 = ver.version_id(d1), ver.version_id(d2)
    for v, d in ((v1, d1), (v2, d2)):
        (tmp_path / v).mkdir()
        steps.write_record(v, d, str(tmp_path / v / "version.json"))
    with pytest.raises(CrustWatchError, match="hashes to"):
        steps.write_record(v1, d2, str(tmp_path / "x.json"))
    assert ver.read_definitions(tmp_path) == {v1: d1, v2: d2}
    dec = tmp_path / "decisions"
    dec.mkdir()
    (dec / f"{v1}-vs-none.json").write_text(json.dumps({"candidate": v1, "incumbent": "none", "decision": "accepted",
                                                        "decided_at": "2024", "candidate_scores": {"soil": 0.5}}))
    (dec / f"{v2}-vs-{v1}.json").write_text(json.dumps({
        "candidate": v2, "incumbent": v1, "decision": "rejected", "decided_at": "2025", "reason": "rejected: ...",
        "rule": {"metric": "iou"}, "candidate_mean": 0.4, "incumbent_mean": 0.5, "gain": -0.1,
        "candidate_scores": {"soil": 0.4}, "incumbent_scores": {"soil": 0.5}, "validation_images": ["c"]}))
    gov, table = tmp_path / "governance.tsv", tmp_path / "versions.tsv"
    steps.governance(str(tmp_path), {"pinned": None, "deferred": None}, str(gov), str(table))
    import pandas as pd

    log = pd.read_csv(gov, sep="\t", keep_default_na=False)
    assert list(log["decision"]) == ["accepted", "rejected"] and log.iloc[1]["per_class"] == "soil 0.400 / 0.500"
    t = pd.read_csv(table, sep="\t", keep_default_na=False).set_index("version")
    assert t.loc[v1, "status"] == "current" and t.loc[v2, "status"] == "rejected"
    assert t.loc[v2, "train_photos"] == 3
    steps.governance(str(tmp_path), {"pinned": v2, "deferred": None}, str(gov), str(table))
    t = pd.read_csv(table, sep="\t", keep_default_na=False).set_index("version")
    assert t.loc[v2, "status"] == "pinned" and t.loc[v1, "status"].startswith("current (not predicting")
