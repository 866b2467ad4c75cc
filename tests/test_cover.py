"""Cover arithmetic: ignore pixels never count, aggregates are means of per-image covers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crustwatch.cover import aggregate, image_cover, seed_interval, t_quantile

CLASSES = [{"id": 0, "name": "soil"}, {"id": 1, "name": "moss"}, {"id": 2, "name": "lichen"}]


def test_cover_excludes_ignore_pixels():
    truth = np.array([[0, 0, 1, 255], [1, 1, 2, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1], [1, 1, 2, 1]], dtype=np.uint8)  # ignore pixels predicted as moss
    df = image_cover("x", pred, {}, CLASSES, truth, 255)
    e = df[df["model"] == "ensemble"].set_index("class")
    assert (e["valid_px"] == 6).all()
    assert e.loc["soil", "cover_pct"] == pytest.approx(100 / 6)
    assert e.loc["moss", "cover_pct"] == pytest.approx(400 / 6)
    assert e.loc["lichen", "cover_pct"] == pytest.approx(100 / 6)
    assert e["cover_pct"].sum() == pytest.approx(100)
    assert e.loc["moss", "true_cover_pct"] == pytest.approx(300 / 6)
    assert e.loc["moss", "class_px"] == 4 and e.loc["moss", "true_px"] == 3


def test_cover_without_mask_counts_every_pixel():
    pred = np.array([[0, 1], [1, 1]], dtype=np.uint8)
    df = image_cover("x", pred, {}, CLASSES)
    e = df.set_index("class")
    assert e.loc["moss", "cover_pct"] == 75 and e["true_cover_pct"].isna().all()


def test_t_quantile_matches_tables():
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-3)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-3)
    assert t_quantile(0.95, 1) == pytest.approx(6.3138, abs=1e-3)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-3)


def test_seed_interval_width_and_clipping():
    low, high, sd = seed_interval(np.array([50.0, 1.0]), np.array([[48.0, 50.0, 52.0], [0.0, 1.0, 5.0]]), 0.95)
    half = 4.3027 * 2.0 / np.sqrt(3)
    assert low[0] == pytest.approx(50 - half, abs=1e-3) and high[0] == pytest.approx(50 + half, abs=1e-3)
    assert low[1] == 0.0  # clipped
    one = seed_interval(np.array([3.0]), np.array([[3.0]]))
    assert one[0][0] == one[1][0] == 3.0


def test_aggregate_is_mean_of_image_covers_with_pixel_sums():
    # two photos of one plot: a small one with 100% moss, a big one with 0% moss
    small = image_cover("a", np.ones((2, 2), np.uint8), {0: np.ones((2, 2), np.uint8), 1: np.zeros((2, 2), np.uint8)}, CLASSES)
    big = image_cover("b", np.zeros((10, 10), np.uint8), {0: np.zeros((10, 10), np.uint8), 1: np.zeros((10, 10), np.uint8)}, CLASSES)
    meta = pd.DataFrame({"image_id": ["a", "b"], "site": ["s", "s"], "plot": ["1", "1"], "date": ["d", "d"],
                         "camera": ["c", "c"], "split": ["test", "test"]})
    agg = aggregate(pd.concat([small, big]), meta, ["site", "plot", "date"]).set_index("class")
    assert agg.loc["moss", "cover_pct"] == 50.0  # mean of 100 and 0, not pooled 4/104
    assert agg.loc["moss", "class_px"] == 4 and agg.loc["moss", "valid_px"] == 104
    assert agg.loc["moss", "n_images"] == 2 and agg.loc["moss", "n_seeds"] == 2
    # seeds: seed0 says (100+0)/2=50, seed1 says 0 -> sd 35.36
    assert agg.loc["moss", "seed_sd"] == pytest.approx(np.std([50, 0], ddof=1))
    assert agg.loc["moss", "ci_low"] <= 50 <= agg.loc["moss", "ci_high"]
    per_image = aggregate(pd.concat([small, big]), meta, ["image_id"]).set_index(["image_id", "class"])
    assert per_image.loc[("a", "moss"), "cover_pct"] == 100


def test_atomic_outputs_have_normal_permissions(tmp_path):
    import os

    from crustwatch.io import atomic_path

    with atomic_path(tmp_path / "x.tsv") as tmp:
        tmp.write_text("a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.tsv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["x.tsv"]


def test_failed_write_leaves_nothing(tmp_path):
    from crustwatch.io import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.tsv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
