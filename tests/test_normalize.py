"""Normalization parameters belong to the camera, never to the photo being corrected."""

from __future__ import annotations

import numpy as np
import pytest

from crustwatch import normalize as N


def _photo(seed, moss_fraction=0.3, size=64):
    rng = np.random.default_rng(seed)
    img = np.empty((3, size, size), np.uint8)
    moss = rng.random((size, size)) < moss_fraction
    img[0] = np.where(moss, 60, 200) + rng.integers(0, 20, (size, size))
    img[1] = np.where(moss, 120, 180) + rng.integers(0, 20, (size, size))
    img[2] = np.where(moss, 30, 140) + rng.integers(0, 20, (size, size))
    return img


@pytest.mark.parametrize("method", ["camera_moments", "camera_gamma", "camera_quantile"])
def test_parameters_independent_of_the_photos_own_content(method):
    photos = {f"p{i}": _photo(i) for i in range(5)}
    hists = {k: N.histogram(v) for k, v in photos.items()}
    before = N.lookup_table(method, N.pooled_histogram(hists, "p0")[0])
    # the scene in p0 changes completely (real cover change): its correction must not move
    photos["p0"] = _photo(99, moss_fraction=0.9)
    hists["p0"] = N.histogram(photos["p0"])
    after = N.lookup_table(method, N.pooled_histogram(hists, "p0")[0])
    np.testing.assert_array_equal(before, after)
    # while another photo of the same camera does see the change (pooled statistics)
    other = N.lookup_table(method, N.pooled_histogram(hists, "p1")[0])
    assert not np.array_equal(other, N.lookup_table(method, N.pooled_histogram({k: v for k, v in hists.items() if k != "p0"}, "p1")[0]))


def test_calibration_photos_are_the_cameras_first_date():
    photos = {"a1": ("A", "2019-05-14"), "a2": ("A", "2019-05-14"), "b1": ("B", "2020-05-12"),
              "a3": ("A", "2021-05-18"), "b2": ("B", "2020-05-12")}
    assert N.calibration_ids(photos, "first_date") == {"A": ["a1", "a2"], "B": ["b1", "b2"]}
    assert N.calibration_ids(photos, "all") == {"A": ["a1", "a2", "a3"], "B": ["b1", "b2"]}
    # a new monitoring date never changes which photos calibrate a camera...
    later = {**photos, "a4": ("A", "2023-05-16"), "c1": ("C", "2023-05-16")}
    cal = N.calibration_ids(later, "first_date")
    assert cal["A"] == ["a1", "a2"] and cal["B"] == ["b1", "b2"] and cal["C"] == ["c1"]
    # ...but an earlier one becomes the calibration date (the older photos then change, as they should)
    assert N.calibration_ids({**photos, "a0": ("A", "2018-05-01")}, "first_date")["A"] == ["a0"]
    with pytest.raises(ValueError, match="camera_pool"):
        N.calibration_ids(photos, "latest")


@pytest.mark.parametrize("method", ["camera_moments", "camera_gamma", "camera_quantile"])
def test_later_change_of_cover_is_not_read_as_a_camera_change(method):
    """first_date: a later photo of the camera gets the calibration pool, whatever it shows."""
    cal = {f"p{i}": N.histogram(_photo(i)) for i in range(4)}
    later = [_photo(50, moss_fraction=0.1), _photo(51, moss_fraction=0.9)]
    luts = [N.lookup_table(method, N.pooled_histogram(cal, f"later{k}")[0]) for k in range(2)]
    np.testing.assert_array_equal(luts[0], luts[1])
    pooled, n, self_included = N.pooled_histogram(cal, "later0")
    assert n == 4 and not self_included
    np.testing.assert_array_equal(pooled, np.sum(list(cal.values()), axis=0))
    # a moss-rich scene stays moss-rich after correction: the same pixel values map identically
    out = [N.apply_lut(p, luts[0]) for p in later]
    assert out[1][1].mean() < out[0][1].mean() - 0.5  # less bright green-channel soil, more moss


def test_single_photo_camera_is_flagged():
    h = {"only": N.histogram(_photo(0))}
    pooled, n, self_included = N.pooled_histogram(h, "only")
    assert self_included and n == 1


def test_moments_undo_gain_and_offset_on_a_flat_target():
    flat = np.full((3, 8, 8), 100, np.uint8)
    flat[:, :4] = 60
    changed = (flat.astype(int) * 1.5 + 10).astype(np.uint8)  # a camera with more gain and offset
    a = N.apply_lut(flat, N.lookup_table("camera_moments", N.histogram(flat)))
    b = N.apply_lut(changed, N.lookup_table("camera_moments", N.histogram(changed)))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_gamma_undoes_gain_white_balance_and_gamma_on_a_flat_target():
    """A camera records (gain * radiance) ** (1 / gamma): in log intensity that is an offset and a scale."""
    radiance = np.ones((3, 8, 8))
    radiance[:, :4] = 0.25
    radiance[:, :, :2] *= 0.5
    radiance *= np.array([0.9, 0.7, 0.5])[:, None, None]

    def camera(gain, gamma):
        return np.round(255 * np.clip(radiance * np.asarray(gain)[:, None, None], 0, 1) ** (1 / gamma)).astype(np.uint8)

    a_img, b_img = camera((1.0, 1.0, 1.0), 2.2), camera((0.8, 0.7, 0.95), 1.2)
    a = N.apply_lut(a_img, N.lookup_table("camera_gamma", N.histogram(a_img)))
    b = N.apply_lut(b_img, N.lookup_table("camera_gamma", N.histogram(b_img)))
    m_a = N.apply_lut(a_img, N.lookup_table("camera_moments", N.histogram(a_img)))
    m_b = N.apply_lut(b_img, N.lookup_table("camera_moments", N.histogram(b_img)))
    # equal up to the 8-bit rounding of the two cameras; moments (affine in the value) cannot undo the gamma
    assert np.abs(a - b).max() < 0.03
    assert np.abs(m_a - m_b).max() > 10 * np.abs(a - b).max()


def test_quantile_undoes_a_monotonic_camera_curve():
    u = np.random.default_rng(3).random((3, 64, 64))
    img = np.round(255 * u**2).astype(np.uint8)  # skewed, many distinct values
    curved = np.round(255 * (img / 255.0) ** 0.5).astype(np.uint8)  # another gamma: order kept
    a = N.apply_lut(img, N.lookup_table("camera_quantile", N.histogram(img)))
    b = N.apply_lut(curved, N.lookup_table("camera_quantile", N.histogram(curved)))
    # same ranks -> same normal scores, up to values the curve merged on the 8-bit scale
    err_quantile = np.abs(a - b).mean()
    m_a = N.apply_lut(img, N.lookup_table("camera_moments", N.histogram(img)))
    m_b = N.apply_lut(curved, N.lookup_table("camera_moments", N.histogram(curved)))
    assert err_quantile < 0.05
    assert err_quantile < 0.5 * np.abs(m_a - m_b).mean()


def test_none_is_fixed():
    lut = N.lookup_table("none", None)
    assert lut.shape == (3, 256) and lut[0, 0] == -2 and lut[0, 255] == 2


def test_unknown_method():
    with pytest.raises(ValueError, match="camera_quantile"):
        N.lookup_table("gray_world", None)


def test_scaling_shapes_and_mask_nearest():
    assert N.scale_factor(0.8, 1.0) == 0.8 and N.scale_factor(float("nan"), 1.0) == 1.0
    assert N.scale_factor(1.25, None) == 1.0
    assert N.scaled_shape(500, 400, 0.8) == (400, 320)
    img = _photo(1, size=50)
    assert N.resample_photo(img, (40, 40)).shape == (3, 40, 40)
    assert N.resample_photo(img, (60, 60)).shape == (3, 60, 60)
    mask = np.random.default_rng(0).choice([0, 3, 255], size=(50, 50)).astype(np.uint8)
    small = N.resample_mask(mask, (40, 40))
    assert set(np.unique(small)) <= {0, 3, 255}


def test_area_average_when_shrinking():
    img = np.zeros((3, 4, 4), np.uint8)
    img[:, :, :2] = 200
    img[:, :2, 2:] = 100
    out = N.resample_photo(img, (2, 2))
    assert out[0].tolist() == [[200, 100], [200, 0]]


def test_per_image_baseline_moves_with_the_scene():
    # the known-biased baseline: its parameters come from the photo's own content
    a = N.lookup_table("per_image", own=N.histogram(_photo(1, moss_fraction=0.1)))
    b = N.lookup_table("per_image", own=N.histogram(_photo(1, moss_fraction=0.8)))
    assert np.abs(a - b).max() > 0.5


def test_reference_target_undoes_white_balance_exactly_on_a_flat_target():
    flat = np.full((3, 8, 8), 100, np.uint8)
    warm = (flat * np.array([1.2, 1.0, 0.8])[:, None, None]).astype(np.uint8)  # 120, 100, 80
    la = N.lookup_table("reference", reference_rgb=list(flat.reshape(3, -1).mean(1)))
    lb = N.lookup_table("reference", reference_rgb=list(warm.reshape(3, -1).mean(1)))
    np.testing.assert_allclose(N.apply_lut(flat, la), N.apply_lut(warm, lb), atol=1e-6)
    # and its parameters never depend on the scene: only the target's mean enters
    with pytest.raises(ValueError):
        N.lookup_table("reference", reference_rgb=[0.0, 10.0, 10.0])
