"""Sliding-window reassembly is exact for a per-pixel model, at any photo size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crustwatch.infer import (ensemble, gaussian_weight, predict_maps, prior_weights, probability_bands,
                              sliding_window_probs, tile_coords, tile_starts, uncertainty)


class PerPixel(torch.nn.Module):
    """A 1x1 convolution: output at a pixel depends only on that pixel."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 4, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=g))

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("shape", [(64, 64), (100, 77), (20, 33), (129, 200)])
@pytest.mark.parametrize("step_fraction", [0.5, 0.3, 1.0])
def test_reassembly_exact(shape, step_fraction):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, *shape)).astype(np.float32)
    models = [PerPixel(1).eval(), PerPixel(2).eval()]
    probs = sliding_window_probs(models, img, 4, patch=32, step_fraction=step_fraction, batch_size=5)
    assert probs.shape == (2, 4, *shape)
    with torch.no_grad():
        for k, m in enumerate(models):
            full = torch.softmax(m(torch.from_numpy(img)[None]), 1)[0].numpy()
            np.testing.assert_allclose(probs[k], full, rtol=1e-5, atol=1e-6)


def test_flip_tta_is_exact_for_a_flip_equivariant_model_and_changes_others():
    img = np.random.default_rng(1).normal(size=(3, 50, 70)).astype(np.float32)
    plain = sliding_window_probs([PerPixel(1).eval()], img, 4, patch=32)
    tta = sliding_window_probs([PerPixel(1).eval()], img, 4, patch=32, tta=True)
    np.testing.assert_allclose(tta, plain, rtol=1e-5, atol=1e-6)  # a per-pixel model ignores flips

    class LeftShift(PerPixel):  # looks at its right neighbour: not flip-equivariant
        def forward(self, x):
            return self.conv(torch.roll(x, -1, dims=3))

    a = sliding_window_probs([LeftShift(1).eval()], img, 4, patch=32)
    b = sliding_window_probs([LeftShift(1).eval()], img, 4, patch=32, tta=True)
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_allclose(b.sum(1), 1, atol=1e-5)


def test_tiles_cover_every_pixel():
    for size in (1, 31, 32, 33, 100, 257):
        starts = tile_starts(size, 32, 16)
        covered = np.zeros(max(size, 32), bool)
        for s in starts:
            covered[s : s + 32] = True
        assert covered[:size].all() and starts[-1] + 32 >= size


def test_gaussian_weight():
    w = gaussian_weight(64)
    assert w.shape == (64, 64) and w.min() > 0 and w.max() == 1.0
    assert w[32, 32] > w[0, 0]


def test_ensemble_averages_probabilities_not_labels():
    # seed A: class 0 with 0.51; seed B: class 1 with 0.9 -> mean favours class 1, a vote would tie
    p = np.zeros((2, 2, 1, 1), np.float32)
    p[0, :, 0, 0] = [0.51, 0.49]
    p[1, :, 0, 0] = [0.10, 0.90]
    ens, per_seed, mean = ensemble(p)
    assert ens[0, 0] == 1 and per_seed[:, 0, 0].tolist() == [0, 1]


def test_prior_weights_are_inverse_smoothed_frequencies_to_the_power_tau():
    assert prior_weights({0: 900, 1: 100}, 2, 0) is None  # off: the plain argmax
    w = prior_weights({0: 899, 1: 99}, 3, 1.0)  # class 2 never labelled: Laplace-smoothed, finite
    freq = np.array([900, 100, 1]) / 1001
    np.testing.assert_allclose(w, (1 / freq) / (1 / freq).max(), rtol=1e-6)
    assert w.max() == 1 and w[2] == 1 and w[0] < w[1] < w[2]
    np.testing.assert_allclose(prior_weights([899, 99, 0], 3, 0.5), np.sqrt(w), rtol=1e-6)  # a list works too
    with pytest.raises(ValueError, match="channel 5"):
        prior_weights({5: 10}, 3, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        prior_weights({0: 10}, 3, -1)


def test_logit_adjustment_moves_close_calls_to_the_rare_class_for_ensemble_and_seeds():
    # a common class (90% of training pixels) at 0.6 against a rare one (10%) at 0.4
    p = np.zeros((2, 2, 1, 2), np.float32)
    p[:, :, 0, 0] = [0.6, 0.4]  # a close call
    p[:, :, 0, 1] = [0.95, 0.05]  # a sure one
    plain, plain_seeds, mean = ensemble(p)
    assert plain.tolist() == [[0, 0]]
    w = prior_weights({0: 900, 1: 100}, 2, 1.0)
    adj, adj_seeds, adj_mean = ensemble(p, w)
    assert adj.tolist() == [[1, 0]] and adj_seeds[:, 0].tolist() == [[1, 0], [1, 0]]
    np.testing.assert_array_equal(adj_mean, mean)  # the probabilities themselves are untouched
    weak, _, _ = ensemble(p, prior_weights({0: 900, 1: 100}, 2, 0.1))  # a weak correction keeps it
    assert weak.tolist() == [[0, 0]]


def test_uncertainty_entropy_and_seed_disagreement():
    from crustwatch.infer import uncertainty

    C = 4
    sure = np.zeros((2, C, 1, 3), np.float32)
    sure[:, 1] = 1  # both seeds certain of class 1
    uniform = np.full((2, C, 1, 3), 1 / C, np.float32)
    split = np.zeros((2, C, 1, 3), np.float32)
    split[0, 0], split[1, 2] = 1, 1  # each seed certain, of a different class
    u = [uncertainty(p) for p in (sure, uniform, split)]
    assert u[0].shape == (2, 1, 3) and u[0].dtype == np.float32
    np.testing.assert_allclose(u[0], 0, atol=1e-6)
    np.testing.assert_allclose(u[1][0], np.log(C), rtol=1e-5)  # all uncertainty, none from the seeds
    np.testing.assert_allclose(u[1][1], 0, atol=1e-6)
    np.testing.assert_allclose(u[2], np.log(2), rtol=1e-5)  # all of it from the seeds disagreeing


class Neighbourhood(PerPixel):
    """A 3x3 convolution: tiles' borders matter, so blending must be done right."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        g = torch.Generator().manual_seed(seed + 100)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))


def whole_photo_reference(models, img, n_classes, patch, step_fraction):
    """The textbook algorithm: every tile's weighted softmax summed into full-size arrays, then divided."""
    _, h, w = img.shape
    weight = gaussian_weight(patch)
    acc = np.zeros((len(models), n_classes, h, w), np.float32)
    norm = np.zeros((h, w), np.float32)
    with torch.no_grad():
        for y, x in tile_coords(h, w, patch, step_fraction):
            tile = torch.from_numpy(img[None, :, y : y + patch, x : x + patch])
            for m, model in enumerate(models):
                acc[m, :, y : y + patch, x : x + patch] += torch.softmax(model(tile), 1)[0].numpy() * weight
            norm[y : y + patch, x : x + patch] += weight
    return acc / norm


@pytest.mark.parametrize("shape,step_fraction", [((200, 150), 0.5), ((97, 301), 0.3), ((64, 64), 1.0)])
def test_bands_match_the_whole_photo_algorithm(shape, step_fraction):
    img = np.random.default_rng(2).normal(size=(3, *shape)).astype(np.float32)
    models = [Neighbourhood(1).eval(), Neighbourhood(2).eval()]
    ref = whole_photo_reference(models, img, 4, 32, step_fraction)
    got = sliding_window_probs(models, img, 4, patch=32, step_fraction=step_fraction, batch_size=3)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # bands are disjoint, in order, and tile the height; each is at most about two patches high
    from crustwatch.infer import ArrayRows

    bands = [(y0, y1) for y0, y1, _ in probability_bands(models, ArrayRows(img), 4, 32, step_fraction)]
    assert bands[0][0] == 0 and bands[-1][1] == shape[0]
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
    assert max(y1 - y0 for y0, y1 in bands) <= 32


def test_predict_maps_from_a_file_equal_whole_photo_maps(tmp_path):
    from crustwatch.io import RasterRows, write_raster

    img = np.random.default_rng(3).normal(size=(3, 150, 190)).astype(np.float32)
    write_raster(tmp_path / "n.tif", img)
    models = [Neighbourhood(1).eval(), Neighbourhood(2).eval(), Neighbourhood(3).eval()]
    probs = sliding_window_probs(models, img, 4, patch=32)
    ens_ref, each_ref, _ = ensemble(probs)
    with RasterRows(tmp_path / "n.tif") as rows:
        out = predict_maps(models, rows, 4, patch=32, with_probabilities=True)
    np.testing.assert_array_equal(out["classes"], ens_ref)
    np.testing.assert_array_equal(out["seeds"], each_ref)
    np.testing.assert_allclose(out["uncertainty"], uncertainty(probs), rtol=1e-5, atol=1e-6)
    assert np.abs(out["probabilities"].astype(int) - np.rint(probs.mean(0) * 255)).max() <= 1


def test_bf16_autocast_keeps_float32_accumulation_and_nearly_all_labels():
    img = np.random.default_rng(4).normal(size=(3, 90, 120)).astype(np.float32)
    models = [Neighbourhood(1).eval(), Neighbourhood(2).eval()]
    from crustwatch.infer import ArrayRows

    fp32 = predict_maps(models, ArrayRows(img), 4, patch=32)
    bf16 = predict_maps(models, ArrayRows(img), 4, patch=32, bf16=True)
    assert bf16["uncertainty"].dtype == np.float32
    assert (bf16["classes"] == fp32["classes"]).mean() > 0.97
    assert np.abs(bf16["uncertainty"] - fp32["uncertainty"]).max() < 0.1


def test_training_class_pixels_come_from_the_card_or_its_auto_plan():
    from crustwatch.errors import CrustWatchError
    from crustwatch.steps.predict import training_class_pixels

    assert training_class_pixels({"class_pixels": [5, 0, 7]}, "c.json") == {0: 5, 1: 0, 2: 7}
    # a card from before the field: train.steps auto planned from the same counts (classes present only)
    assert training_class_pixels({"plan": {"steps": 9, "class_pixels": {"0": 5, "2": 7}}}, "c.json") == {0: 5, 2: 7}
    with pytest.raises(CrustWatchError, match="old.json.*prior_correction: 0"):
        training_class_pixels({"plan": {"steps": 200, "decided_by": "train.steps"}}, "old.json")


def test_region_sums_add_each_pixels_probabilities_to_its_region_for_ensemble_and_seeds():
    from crustwatch.infer import ArrayRows, region_probability_sums, undo_logit_adjustment

    img = np.random.default_rng(5).normal(size=(3, 70, 90)).astype(np.float32)
    models = [Neighbourhood(1).eval(), Neighbourhood(2).eval()]
    probs = sliding_window_probs(models, img, 4, patch=32)
    regions = np.random.default_rng(6).integers(0, 4, size=(70, 90)).astype(np.uint8)
    regions[:10] = 255  # outside the plot: never counted
    out = predict_maps(models, ArrayRows(img), 4, patch=32, regions=regions, n_regions=3)
    sums = out["region_sums"]
    assert sums.shape == (3, 3, 4)
    for r in range(3):
        sel = regions == r
        np.testing.assert_allclose(sums[r, 0], probs.mean(0)[:, sel].sum(1), rtol=1e-4)
        np.testing.assert_allclose(sums[r, 2], probs[1][:, sel].sum(1), rtol=1e-4)
        np.testing.assert_allclose(sums[r].sum(1), sel.sum(), rtol=1e-4)  # a pixel adds 1 in all
    # undoing a logit adjustment moves probability back to the frequent class, pixel by pixel renormalized
    w = undo_logit_adjustment([900, 50, 40, 10], 4, 0.5)
    assert w.argmax() == 0 and undo_logit_adjustment([900, 50, 40, 10], 4, 0) is None
    undone = region_probability_sums(probs, regions, 3, w)
    assert (undone[:, :, 0] > sums[:, :, 0]).all() and (undone[:, :, 3] < sums[:, :, 3]).all()
    np.testing.assert_allclose(undone.sum(2), sums.sum(2), rtol=1e-4)
    q = probs.mean(0) * w[:, None, None]
    q /= q.sum(0, keepdims=True)
    np.testing.assert_allclose(undone[1, 0], q[:, regions == 1].sum(1), rtol=1e-4)


def test_soft_regions_split_the_plot_by_truth_and_leave_the_rest_out():
    from crustwatch import metrics
    from crustwatch.steps.predict import soft_regions, soft_table

    classes = [{"id": 1, "name": "soil"}, {"id": 3, "name": "moss"}]
    truth = np.full((6, 8), 0, dtype=np.uint8)  # 0: the project's ignore value
    truth[:, :2], truth[:, 2:4] = 1, 3
    regions = soft_regions((6, 8), 2, metrics.channel_lut(classes), truth, "1,0,6,4")
    assert (regions[4:] == 255).all() and (regions[:, 0] == 255).all() and (regions[:, 6:] == 255).all()
    assert (regions[:4, 1] == 0).all() and (regions[:4, 2:4] == 1).all() and (regions[:4, 4:6] == 2).all()
    assert (soft_regions((6, 8), 2, metrics.channel_lut(classes), None, None) == 2).all()
    sums = np.zeros((3, 2, 2))
    sums[0, :, 0], sums[2, :, 1] = 4.0, 8.0  # no moss-truth pixel: that region is left out
    t = soft_table("p", sums, [7], metrics.id_lut(classes), 0.2)
    assert set(t["true"]) == {1, -1} and set(t["pred"]) == {1, 3} and set(t["model"]) == {"ensemble", "seed7"}
    assert t.loc[(t["true"] == -1) & (t["pred"] == 3), "prob_px"].tolist() == [8.0, 8.0]
