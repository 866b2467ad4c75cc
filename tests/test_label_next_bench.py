"""The label-next benchmark's arithmetic (bench/label_next): the pixels at which a mean curve reaches the target,
and the ratio of random choice's pixels over the suggestions' that decides issue "What to label next"."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "label_next"))

import label_next  # noqa: E402


def curve(pixels, miou):
    return pd.DataFrame({"pixels": pixels, "miou": miou})


def test_pixels_to_interpolates_between_rounds_and_is_nan_when_never_reached():
    c = curve([0, 10_000, 20_000], [0.4, 0.5, 0.7])
    assert label_next.pixels_to(c, 0.6) == pytest.approx(15_000)
    assert label_next.pixels_to(c, 0.5) == pytest.approx(10_000)
    assert label_next.pixels_to(c, 0.3) == 0  # the start is already there
    assert np.isnan(label_next.pixels_to(c, 0.8))


def test_photo_score_boxes_is_the_mean_score_of_the_boxes_that_would_be_labelled():
    mi = np.zeros((64, 64))
    mi[:16, :16] = 1.0  # one hot spot: the best box holds all of it
    boxes = label_next.suggest.regions(mi, np.ones(mi.shape, bool), 16, 2)
    assert boxes[0][4] == pytest.approx(1.0) and boxes[1][4] < 1.0
    assert label_next.boxes_information(boxes) == pytest.approx((boxes[0][4] + boxes[1][4]) / 2)
    assert label_next.boxes_information([]) == 0.0


def rows(strategy, seeds_pixels_miou):
    return [{"benchmark": "demo", "strategy": strategy, "loop_seed": ls, "round": r, "pixels": px, "miou": m,
             "start_pixels": 8192, "map_cover_abs_error_pp": 1.0}
            for ls, pts in seeds_pixels_miou.items() for r, (px, m) in enumerate(pts)]


REFS = pd.DataFrame({"benchmark": ["demo", "demo"], "loop_seed": [0, 1], "miou": [0.8, 0.6],
                     "map_cover_abs_error_pp": [1.0, 1.0], "pool_pixels": [100_000, 100_000]})  # target 0.665


def test_the_ratio_is_exact_when_both_reach_and_a_lower_bound_when_random_never_does():
    sug = rows("suggested", {0: [(0, 0.5), (10_000, 0.7)], 1: [(0, 0.5), (10_000, 0.7)]})  # 0.665 at 8,250 px
    rnd = rows("random", {0: [(0, 0.5), (10_000, 0.55), (20_000, 0.6), (30_000, 0.7)],
                          1: [(0, 0.5), (10_000, 0.55), (20_000, 0.6), (30_000, 0.7)]})  # at 26,500 px
    s = label_next.summarise(pd.DataFrame(sug + rnd), REFS).set_index("strategy")
    assert s.loc["suggested", "pixels_to_95pct"] == pytest.approx(8_250)
    assert s.loc["random", "pixels_to_95pct"] == pytest.approx(26_500)
    assert s.loc["random", "random_over_suggested"] == pytest.approx(26_500 / 8_250)
    assert s.loc["random", "ratio_is"] == "equal"
    short = pd.DataFrame(sug + [r for r in rnd if r["round"] < 3])  # random stops at 20,000 px below the target
    s = label_next.summarise(short, REFS).set_index("strategy")
    assert not s.loc["random", "reached"]
    assert s.loc["suggested", "random_over_suggested"] == pytest.approx(20_000 / 8_250)
    assert s.loc["suggested", "ratio_is"] == "at_least"


def test_merge_keeps_the_other_strategies_and_refuses_another_reference(tmp_path):
    old = pd.DataFrame(rows("suggested", {0: [(0, 0.5), (10_000, 0.7)]}) + rows("random", {0: [(0, 0.5)]}))
    old.to_csv(tmp_path / "curves.tsv", sep="\t", index=False)
    REFS.to_csv(tmp_path / "reference.tsv", sep="\t", index=False)
    new = pd.DataFrame(rows("random", {0: [(0, 0.5), (10_000, 0.6)]}))
    curves, refs = label_next.merged(tmp_path, new, REFS.copy())
    assert list(zip(curves["strategy"], curves["round"])) == [("suggested", 0), ("suggested", 1), ("random", 0),
                                                             ("random", 1)]
    assert len(refs) == 2
    with pytest.raises(SystemExit, match="reference of demo differs"):
        label_next.merged(tmp_path, new, REFS.assign(miou=[0.8, 0.61]))


def test_merge_adds_loop_seeds_beside_the_earlier_ones_and_means_only_rounds_all_of_them_ran(tmp_path):
    old = pd.DataFrame(rows("suggested", {0: [(0, 0.5), (10_000, 0.7)], 1: [(0, 0.5), (10_000, 0.7)]}))
    old.to_csv(tmp_path / "curves.tsv", sep="\t", index=False)
    REFS.to_csv(tmp_path / "reference.tsv", sep="\t", index=False)
    # loop seed 2 added: its curve and reference join those of seeds 0 and 1
    new = pd.DataFrame(rows("suggested", {2: [(0, 0.5), (10_000, 0.4)]}))
    new_refs = pd.DataFrame({"benchmark": ["demo"], "loop_seed": [2], "miou": [0.7], "map_cover_abs_error_pp": [1.0],
                             "pool_pixels": [100_000]})
    curves, refs = label_next.merged(tmp_path, new, new_refs)
    assert sorted(set(curves["loop_seed"])) == [0, 1, 2] and len(curves) == 6
    assert sorted(refs["loop_seed"]) == [0, 1, 2]
    s = label_next.summarise(curves, refs).set_index("strategy")
    assert s.loc["suggested", "loop_seeds"] == 3
    assert s.loc["suggested", "target_miou"] == pytest.approx(0.95 * 0.7)
    assert s.loc["suggested", "final_miou"] == pytest.approx(0.6)  # (0.7 + 0.7 + 0.4) / 3: seed 2 counts
    # a loop seed that ran one round more than the others does not make the mean of that round
    longer = pd.concat([curves, pd.DataFrame(rows("suggested", {2: [(0, 0.5), (10_000, 0.4), (20_000, 0.9)]}))
                        .query("round == 2")])
    s = label_next.summarise(longer, refs).set_index("strategy")
    assert s.loc["suggested", "pixels_max"] == 10_000 and s.loc["suggested", "final_miou"] == pytest.approx(0.6)
    # loop seeds added to a run go as many rounds as its loop seeds did, which must agree
    assert label_next.kept_rounds(old, "demo", "suggested") == 1
    assert label_next.kept_rounds(old.iloc[:0], "demo", "suggested") is None
    with pytest.raises(SystemExit, match="different numbers of rounds"):
        label_next.kept_rounds(longer, "demo", "suggested")


@pytest.mark.parametrize("pair, message", [
    ("train.class_balanc=0.5", "class_balanc"),  # a typo of a key
    ("train.class_balance=2", "greater than the maximum"),  # a value the schema refuses
    ("train.steps=50", "their own options"),  # --steps sets it
    ("model.encoder=resnet18", "train.<key>=<value>"),
])
def test_set_refuses_a_bad_training_setting_before_any_training(pair, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        label_next.main(["--set", pair, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # nothing generated, nothing trained
