"""Cover arithmetic: ignore pixels never count, aggregates are means of per-image covers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crustwatch.cover import aggregate, calibrate, image_cover, seed_interval, t_quantile

CLASSES = [{"id": 0, "name": "soil"}, {"id": 1, "name": "moss"}, {"id": 2, "name": "lichen"}]


def test_one_denominator_for_labelled_and_unlabelled_photos():
    """Cover counts the plot area's pixels whether the photo has a mask or not; the mask is the truth on
    its labelled pixels, compared with the estimate over those same pixels (eval_*)."""
    truth = np.array([[0, 0, 1, 255], [1, 1, 2, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1], [1, 1, 2, 1]], dtype=np.uint8)  # the unlabelled column predicted as moss
    e = image_cover("x", pred, {}, CLASSES, truth, 255).set_index("class")
    u = image_cover("x", pred, {}, CLASSES).set_index("class")  # the same map, no mask
    assert (e["valid_px"] == 8).all() and (u["valid_px"] == 8).all()
    assert e["cover_pct"].tolist() == u["cover_pct"].tolist() == pytest.approx([12.5, 75, 12.5])
    assert e["cover_pct"].sum() == pytest.approx(100)
    # the truth and the estimate it is compared with: the 6 labelled pixels
    assert (e["eval_px"] == 6).all() and e.loc["moss", "eval_class_px"] == 4
    assert e.loc["moss", "eval_cover_pct"] == pytest.approx(400 / 6)
    assert e.loc["moss", "true_cover_pct"] == pytest.approx(300 / 6)
    assert e.loc["moss", "class_px"] == 6 and e.loc["moss", "true_px"] == 3
    assert u["eval_cover_pct"].isna().all() and u["true_cover_pct"].isna().all()
    # an area box (the plot inside a frame) counts the same pixels for both
    a = image_cover("x", pred, {}, CLASSES, truth, 255, area=(0, 0, 3, 2)).set_index("class")
    b = image_cover("x", pred, {}, CLASSES, area=(0, 0, 3, 2)).set_index("class")
    assert (a["valid_px"] == 6).all() and a["cover_pct"].tolist() == b["cover_pct"].tolist()
    assert a["cover_pct"].tolist() == pytest.approx(a["eval_cover_pct"].tolist())  # fully labelled area


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

    from crustwatch.files import atomic_path

    with atomic_path(tmp_path / "x.tsv") as tmp:
        tmp.write_text("a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.tsv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["x.tsv"]


def test_failed_write_leaves_nothing(tmp_path):
    from crustwatch.files import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.tsv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def _by_image(errors, sds, split="val"):
    n = len(errors)
    return pd.DataFrame({"image_id": [f"p{i // 2}" for i in range(n)], "class": ["moss", "soil"] * (n // 2),
                         "cover_pct": 50.0 + np.asarray(errors, float), "true_cover_pct": 50.0,
                         "seed_sd": np.asarray(sds, float), "split": split})


def test_calibrated_interval_scale_is_the_conformal_quantile_of_validation_scores():
    # scores |error| / (sd + floor) on 38 validation pairs are 1..38 (floor 0)
    errors = np.arange(1, 39) * 0.5
    cal = calibrate(_by_image(errors, np.full(38, 0.5)), level=0.95, floor_pp=0.0)
    # ceil(39 * 0.95) = 38th smallest of 38 scores
    assert cal["method"] == "calibrated" and cal["q"] == 38.0 and cal["rank"] == 38 and cal["finite_sample_guarantee"]
    cal90 = calibrate(_by_image(errors, np.full(38, 0.5)), level=0.9, floor_pp=0.0)
    assert cal90["q"] == 36.0  # ceil(39 * 0.9) = 36
    # test and train photos never calibrate; with a lowered bar, too few pairs use the largest score and say so
    mixed = pd.concat([_by_image([1.0, 1.0], [1.0, 1.0]), _by_image([90.0, 90.0], [1.0, 1.0], "test")])
    few = calibrate(mixed, 0.95, 0.0, min_pairs=2)
    assert few["q"] == 1.0 and few["n_pairs"] == 2 and not few["finite_sample_guarantee"]
    none = calibrate(_by_image([1.0, 1.0], [1.0, 1.0], "test"), 0.95, 0.0)
    assert none["method"] == "seed_t" and none["q"] is None


def test_too_few_validation_pairs_give_an_interval_labelled_uncalibrated():
    from crustwatch.cover import apply_calibration, calibration_min_pairs

    # the fewest pairs whose conformal rank ceil((n + 1) level) is at most n
    assert calibration_min_pairs(0.95) == 19 and calibration_min_pairs(0.9) == 9 and calibration_min_pairs(0.5) == 1
    errors = np.arange(1, 19) * 0.5
    short = calibrate(_by_image(errors, np.full(18, 0.5)), 0.95, 0.0)  # 18 pairs: one short
    assert short["method"] == "seed_t" and short["q"] is None and "18 validation" in short["reason"]
    assert "at least 19" in short["reason"]
    enough = calibrate(_by_image(np.arange(1, 21) * 0.5, np.full(20, 0.5)), 0.95, 0.0)
    assert enough["method"] == "calibrated" and enough["finite_sample_guarantee"]
    table = pd.DataFrame({"cover_pct": [10.0], "ci_low": [9.0], "ci_high": [11.0], "seed_sd": [1.0],
                          "interval": ["seed_t95"]})
    out = apply_calibration(table, short)
    assert out["interval"].tolist() == ["seed_t95_uncalibrated"] and out["ci_low"].tolist() == [9.0]
    assert apply_calibration(table, None)["interval"].tolist() == ["seed_t95"]  # cover.interval: seed, as asked


def test_calibrated_interval_widens_with_seed_spread_and_holds_on_exchangeable_data():
    rng = np.random.default_rng(0)
    # error proportional to the seed spread (as on a new camera), 400 validation and 4000 test pairs
    sd_val, sd_test = rng.uniform(0.05, 0.3, 400), rng.uniform(0.05, 1.0, 4000)
    val = _by_image(rng.normal(0, 3, 400) * sd_val, sd_val)
    cal = calibrate(val, 0.95, 0.01)
    err_test = np.abs(rng.normal(0, 3, 4000) * sd_test)
    inside = err_test <= cal["q"] * (sd_test + 0.01)
    assert 0.93 <= inside.mean() <= 0.97
    # the plain seed t-interval of 3 seeds (t * sd / sqrt(3)) would cover far less
    assert (err_test <= 4.3027 * sd_test / np.sqrt(3)).mean() < 0.8


def test_aggregate_applies_the_calibration_to_every_level():
    a = image_cover("a", np.ones((4, 4), np.uint8), {0: np.ones((4, 4), np.uint8), 1: np.zeros((4, 4), np.uint8)}, CLASSES)
    meta = pd.DataFrame({"image_id": ["a"], "site": ["s"], "plot": ["1"], "date": ["d"], "camera": ["c"], "split": ["test"]})
    cal = {"method": "calibrated", "q": 2.0, "floor_pp": 0.5, "level": 0.9}
    for keys in (["image_id"], ["site", "plot", "date"]):
        t = aggregate(a, meta, keys, 0.9, cal).set_index("class")
        sd = np.std([100, 0], ddof=1)
        assert t.loc["moss", "seed_sd"] == pytest.approx(sd)
        assert t.loc["moss", "ci_low"] == pytest.approx(max(0, 100 - 2 * (sd + 0.5)))
        assert t.loc["moss", "ci_high"] == 100  # clipped
        # all seeds agree on lichen (0%): the floor still gives an interval
        assert t.loc["lichen", "ci_high"] == pytest.approx(2 * 0.5) and t.loc["lichen", "ci_low"] == 0
        assert (t["interval"] == "calibrated90").all()
    assert (aggregate(a, meta, ["image_id"], 0.95)["interval"] == "seed_t95").all()


# ---------------------------------------------------------------- adjusted cover
def _photo_with_errors(iid, true_counts, rates, seeds=(0,)):
    """A photo whose class map mislabels exactly ``rates[(j, i)]`` of true class j pixels as i."""
    from crustwatch import metrics

    truth = np.concatenate([np.full(n, k, np.uint8) for k, n in enumerate(true_counts)])
    pred = truth.copy()
    start = 0
    for j, n in enumerate(true_counts):
        at = start
        for (tj, i), r in sorted(rates.items()):
            if tj == j:
                k = int(round(r * n))
                pred[at : at + k] = i
                at += k
        start += n
    truth, pred = truth[None], pred[None]
    cov = image_cover(iid, pred, {s: pred for s in seeds}, CLASSES, truth, 255)
    cm = metrics.confusion(pred, truth, 3)
    conf = pd.DataFrame([{"image_id": iid, "model": m, "true": t, "pred": p, "pixels": int(cm[t, p])}
                         for m in ["ensemble"] + [f"seed{s}" for s in seeds] for t, p in zip(*np.nonzero(cm))])
    return cov, conf


RATES = {(1, 0): 0.10, (0, 1): 0.02, (2, 0): 0.20}  # moss read as soil, soil as moss, lichen edges as soil


def _adjusted(photos):
    from crustwatch.adjust import adjust_cover

    covs, confs = zip(*[_photo_with_errors(iid, counts, RATES) for iid, counts in photos.items()])
    per_image = pd.concat(covs, ignore_index=True)
    conf = pd.concat(confs, ignore_index=True)
    return adjust_cover(per_image, conf, ["val1", "val2"], 3, min_photos=2)


def test_adjusted_cover_undoes_stable_error_rates_at_any_composition():
    out, rec = _adjusted({"val1": [7000, 2000, 1000], "val2": [6000, 3000, 1000],
                          "later": [3000, 6000, 1000], "other": [8000, 500, 1500]})
    e = out[out["model"] == "ensemble"].set_index(["image_id", "class"])
    for iid in ("later", "other"):
        np.testing.assert_allclose(e.loc[iid]["cover_pct"], e.loc[iid]["true_cover_pct"], atol=1e-6)
        # the map's own fraction is biased, and kept beside
        assert abs(e.loc[(iid, "moss"), "map_cover_pct"] - e.loc[(iid, "moss"), "true_cover_pct"]) > 1
    # a real change of moss cover (20% -> 60%) is reported in full, not pulled toward the validation photos
    assert e.loc[("later", "moss"), "cover_pct"] == pytest.approx(60.0)
    assert rec["method"] == "confusion" and rec["photos"] == ["val1", "val2"] and rec["leave_one_out"]
    m = np.array(rec["models"]["ensemble"]["M"])
    assert m[0, 1] == pytest.approx(0.10) and m[0, 2] == pytest.approx(0.20) and m[1, 0] == pytest.approx(0.02)
    np.testing.assert_allclose(m.sum(axis=0), 1)
    # seeds are adjusted with their own error rates, and every photo's covers still sum to 100
    s = out[out["model"] == "seed0"].set_index(["image_id", "class"])
    np.testing.assert_allclose(s.loc["later"]["cover_pct"], e.loc["later"]["cover_pct"], atol=1e-6)
    assert out.groupby(["image_id", "model"])["cover_pct"].sum().to_numpy() == pytest.approx(100)


def test_validation_photo_is_adjusted_with_the_other_photos_error_rates():
    from crustwatch.adjust import adjust_cover

    a, ca = _photo_with_errors("val1", [7000, 2000, 1000], RATES)
    b, cb = _photo_with_errors("val2", [6000, 3000, 1000], {(1, 0): 0.30})  # val2's own errors differ
    out, _ = adjust_cover(pd.concat([a, b], ignore_index=True), pd.concat([ca, cb], ignore_index=True),
                          ["val1", "val2"], 3, min_photos=2, require_gain=False)
    e = out[out["model"] == "ensemble"].set_index(["image_id", "class"])
    # val1 with val2's rates (30% of moss as soil): over-corrected, as an honest out-of-sample estimate is
    assert e.loc[("val1", "moss"), "cover_pct"] > e.loc[("val1", "moss"), "true_cover_pct"] + 1
    # val2 with val1's rates: under-corrected
    assert e.loc[("val2", "moss"), "cover_pct"] < e.loc[("val2", "moss"), "true_cover_pct"] - 1


def test_adjustment_that_does_not_help_the_validation_photos_is_not_used():
    from crustwatch.adjust import adjust_cover

    a, ca = _photo_with_errors("val1", [7000, 2000, 1000], RATES)
    b, cb = _photo_with_errors("val2", [6000, 3000, 1000], {(1, 0): 0.30})  # the photos' error rates disagree
    t, ct = _photo_with_errors("test1", [3000, 6000, 1000], RATES)
    per_image = pd.concat([a, b, t], ignore_index=True)
    conf = pd.concat([ca, cb, ct], ignore_index=True)
    out, rec = adjust_cover(per_image, conf, ["val1", "val2"], 3, min_photos=2)
    # left out in turn, each validation photo is adjusted worse than its map: the maps' fractions are kept
    chk = rec["validation_check"]
    assert chk["adjusted_error_pp"] > chk["map_error_pp"] and chk["pairs"] == 6
    assert rec["method"] == "none" and "erred" in rec["reason"]
    np.testing.assert_array_equal(out["cover_pct"], out["map_cover_pct"])
    # rates that hold on both validation photos pass the check and are used
    b2, cb2 = _photo_with_errors("val2", [6000, 3000, 1000], RATES)
    out2, rec2 = adjust_cover(pd.concat([a, b2, t], ignore_index=True), pd.concat([ca, cb2, ct], ignore_index=True),
                              ["val1", "val2"], 3, min_photos=2)
    assert rec2["method"] == "confusion"
    assert rec2["validation_check"]["adjusted_error_pp"] < rec2["validation_check"]["map_error_pp"]
    # one labelled validation photo cannot be checked: not adjusted, and the record says why
    out1, rec1 = adjust_cover(pd.concat([a, t], ignore_index=True), pd.concat([ca, ct], ignore_index=True), ["val1"], 3, min_photos=2)
    assert rec1["method"] == "none" and "1 labelled validation photo" in rec1["reason"]
    np.testing.assert_array_equal(out1["cover_pct"], out1["map_cover_pct"])


def test_adjusted_cover_stays_a_composition():
    from crustwatch.adjust import simplex_lsq

    m = np.array([[0.9, 0.3, 0.0], [0.1, 0.7, 0.0], [0.0, 0.0, 1.0]])
    q = np.array([0.97, 0.0, 0.03])  # no moss labelled at all: the exact inverse would be negative
    p = simplex_lsq(m, q)
    assert (p >= 0).all() and p.sum() == pytest.approx(1)
    # and no composition fits better (a fine grid of the simplex)
    g = np.linspace(0, 1, 201)
    grid = np.array([(x, y, 1 - x - y) for x in g for y in g if x + y <= 1 + 1e-12])
    best = np.linalg.norm(grid @ m.T - q, axis=1).min()
    assert np.linalg.norm(m @ p - q) <= best + 1e-9
    inside = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(simplex_lsq(m, m @ inside), inside, atol=1e-9)


def test_rare_classes_and_missing_validation_keep_the_map_fraction():
    from crustwatch.adjust import adjust_cover, misclassification

    cm = np.array([[900, 100, 0], [5, 45, 0], [0, 0, 0]])
    m, kept = misclassification(cm, min_class_px=100)
    assert kept == [1, 2]
    np.testing.assert_allclose(m[:, 1], [0, 1, 0]) and np.testing.assert_allclose(m[:, 0], [0.9, 0.1, 0])
    cov, conf = _photo_with_errors("test1", [7000, 2000, 1000], RATES)
    out, rec = adjust_cover(cov, conf, [], 3, min_photos=2)
    assert rec["method"] == "none" and "no validation photo" in rec["reason"]
    np.testing.assert_array_equal(out["cover_pct"], out["map_cover_pct"])


def test_a_camera_with_validation_photos_gets_its_own_error_rates():
    from crustwatch.adjust import adjust_cover

    new_camera = {(1, 0): 0.30, (2, 0): 0.40}  # the new camera misreads more moss and lichen as soil
    parts = [_photo_with_errors("valA1", [7000, 2000, 1000], RATES), _photo_with_errors("valA2", [6000, 3000, 1000], RATES),
             _photo_with_errors("valB", [6500, 2500, 1000], new_camera),
             _photo_with_errors("testB", [3000, 6000, 1000], new_camera),
             _photo_with_errors("testA", [3000, 6000, 1000], RATES),
             _photo_with_errors("testC", [3000, 6000, 1000], RATES)]
    per_image = pd.concat([c for c, _ in parts], ignore_index=True)
    conf = pd.concat([c for _, c in parts], ignore_index=True)
    cams = {"valA1": "A", "valA2": "A", "valB": "B", "testB": "B", "testA": "A", "testC": "C"}
    out, rec = adjust_cover(per_image, conf, ["valA1", "valA2", "valB"], 3, camera_of=cams, min_photos=2)
    e = out[out["model"] == "ensemble"].set_index(["image_id", "class"])
    # each camera's own rates undo its own misreadings exactly
    for iid in ("testA", "testB"):
        np.testing.assert_allclose(e.loc[iid]["cover_pct"], e.loc[iid]["true_cover_pct"], atol=1e-6)
    # a camera without validation photos gets the pooled rates: between the two cameras'
    assert e.loc[("testC", "moss"), "true_cover_pct"] < e.loc[("testC", "moss"), "cover_pct"]
    cams_rec = rec["models"]["ensemble"]["cameras"]
    assert sorted(cams_rec) == ["A", "B"] and cams_rec["B"]["photos"] == ["valB"]
    assert np.array(cams_rec["B"]["M"])[0, 1] == pytest.approx(0.30)
    # valB is its camera's only validation photo: left out, it gets the pooled rates of the others (camera A's)
    assert e.loc[("valB", "moss"), "cover_pct"] < e.loc[("valB", "moss"), "true_cover_pct"] - 1


def _mixed_photo(iid: str, moss_frac: float, seeds=(0, 1)):
    """A photo whose moss grows in thin mixed pixels: the model gives each moss pixel 0.45 moss,
    so the class map calls every one of them soil while the probabilities still hold the moss."""
    from crustwatch.cover import add_soft_cover, soft_confusion

    n = 1000
    k = int(round(moss_frac * n))
    truth = np.zeros((1, n), dtype=np.uint8)
    truth[0, :k] = 1
    pred = np.zeros((1, n), dtype=np.uint8)  # the argmax: all soil
    cov = image_cover(iid, pred, {s: pred for s in seeds}, CLASSES, truth, 255)
    rows = []
    for model in ["ensemble"] + [f"seed{s}" for s in seeds]:
        for true, px, p_moss in ((0, n - k, 0.05), (1, k, 0.45)):
            if px:
                rows += [(iid, model, true, 0, px * (1 - p_moss)), (iid, model, true, 1, px * p_moss)]
    soft = pd.DataFrame(rows, columns=["image_id", "model", "true", "pred", "prob_px"])
    return add_soft_cover(cov, soft), soft_confusion(soft, n)


def test_soft_cover_counts_what_the_map_drops_and_its_adjustment_undoes_the_soft_bias():
    from crustwatch.adjust import adjust_cover

    parts = [_mixed_photo(i, f) for i, f in (("val1", 0.3), ("val2", 0.2), ("later", 0.5))]
    per_image = pd.concat([p[0] for p in parts], ignore_index=True)
    conf = pd.concat([p[1] for p in parts], ignore_index=True)
    e = per_image[per_image["model"] == "ensemble"].set_index(["image_id", "class"])
    assert e.loc[("later", "moss"), "cover_pct"] == 0  # the map loses the moss
    # soft: 0.45 of each moss pixel and 0.05 of each soil pixel
    assert e.loc[("later", "moss"), "soft_cover_pct"] == pytest.approx(0.5 * 45 + 0.5 * 5)
    assert e.loc[("later", "moss"), "eval_soft_cover_pct"] == pytest.approx(25.0)
    out, rec = adjust_cover(per_image, conf, ["val1", "val2"], 3, min_photos=2, estimate="soft")
    o = out[out["model"] == "ensemble"].set_index(["image_id", "class"])
    assert rec["method"] == "confusion" and rec["estimate"] == "soft"
    # the soft error rates (moss keeps 0.45, soil lends 0.05) undo the bias at any composition
    assert o.loc[("later", "moss"), "cover_pct"] == pytest.approx(50.0, abs=1e-6)
    assert o.loc[("later", "moss"), "map_cover_pct"] == 0  # the maps' own fraction is kept beside
    chk = rec["validation_check"]
    assert chk["adjusted_error_pp"] < chk["unadjusted_error_pp"] < chk["map_error_pp"]


def test_soft_estimate_needs_the_probability_sums():
    from crustwatch.adjust import select_estimate

    cov = image_cover("p", np.zeros((2, 2), np.uint8), {0: np.zeros((2, 2), np.uint8)}, CLASSES)
    with pytest.raises(ValueError, match="older than cover.estimate"):
        select_estimate(cov, "soft")
    assert (select_estimate(cov, "map")["map_cover_pct"] == cov["cover_pct"]).all()
