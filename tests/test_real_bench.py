"""The real-photo learning curve's scores (bench/real/curve.py): the three cover estimates it compares, on a
model whose probabilities are known everywhere (a 1x1 convolution with zero weights: its softmax is that of
its bias at every pixel)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "real"))

import curve  # noqa: E402
import real  # noqa: E402


def constant_model(bias: list[float]) -> torch.nn.Module:
    net = torch.nn.Conv2d(3, len(bias), 1)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor(bias))
    return net.eval()


def test_map_soft_and_prior_corrected_cover_errors():
    n = 3
    probs = torch.softmax(torch.tensor([1.0, 0.5, 0.0]), 0).numpy().astype(np.float64)
    mask = np.full((32, 32), real.IGNORE, dtype=np.uint8)
    mask[:, :12] = 0  # labelled: 12 columns of class 0, 4 of class 1 -> true cover 75 / 25 / 0 %
    mask[:, 12:16] = 1
    data = {"a": (None, np.zeros((3, 32, 32), np.float32), mask, None)}
    true = np.array([75.0, 25.0, 0.0])
    prior = np.array([0.5, 0.3, 0.2])
    with torch.inference_mode():
        s = curve.score_photos([constant_model([1.0, 0.5, 0.0])], data, ["a"], n, 16, "cpu", prior=prior)
    # every pixel is mapped to class 0: classify and count says 100 / 0 / 0 %
    assert s["map_cover_abs_error_pp"] == pytest.approx(np.mean(np.abs(true - [100, 0, 0])))
    assert s["overall_accuracy"] == pytest.approx(0.75)
    # the mean probability is the softmax of the bias everywhere
    assert s["soft_cover_abs_error_pp"] == pytest.approx(np.mean(np.abs(true - 100 * probs)), abs=1e-4)
    q = probs * prior / (probs * prior).sum()
    assert s["soft_prior_cover_abs_error_pp"] == pytest.approx(np.mean(np.abs(true - 100 * q)), abs=1e-4)
    # without a prior (a plain loss) the prior-corrected estimate is not reported
    with torch.inference_mode():
        s0 = curve.score_photos([constant_model([1.0, 0.5, 0.0])], data, ["a"], n, 16, "cpu")
    assert "soft_prior_cover_abs_error_pp" not in s0
    assert s0["soft_cover_abs_error_pp"] == pytest.approx(s["soft_cover_abs_error_pp"])


def test_scaled_intervals_are_narrower_where_errors_grow_with_cover():
    """Errors proportional to the binomial scale: the scaled interval holds as many pairs at a fraction of
    the one-width interval's mean width, which must stretch over the large classes' errors for the small ones."""
    import pandas as pd

    import intervals

    rng = np.random.default_rng(0)
    rows = []
    for fold in range(4):
        for k in range(30):
            cover = [1.0, 2.0, 40.0, 50.0][k % 4]
            scale = np.sqrt(cover * (100 - cover)) / 10
            err = scale * rng.choice([-1, 1]) * (1 + 0.01 * k)
            rows.append({"fold": fold, "class": f"c{k % 4}", "cover_pct": cover, "true_cover_pct": cover + err,
                         "ci_low": cover - 1, "ci_high": cover + 1})
    x = pd.DataFrame(rows).assign(abs_error=lambda t: (t["cover_pct"] - t["true_cover_pct"]).abs())
    cov_one, width_one = intervals.cross_fold(x, False)
    cov_scaled, width_scaled = intervals.cross_fold(x, False, scale=intervals.SCALES["binomial"])
    assert cov_scaled >= cov_one and cov_scaled >= 0.85
    assert width_scaled < 0.8 * width_one
    # the one-width interval is as wide for a 1% class as for a 50% one; the scaled one is 5 times narrower there
    assert intervals.SCALES["binomial"](x.iloc[:1]).iloc[0] == pytest.approx(np.sqrt(99) / 10)


def gaussian_posteriors(rng: np.random.Generator, shares: list[float], m: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes of ``m`` pixels drawn with ``shares`` and their exact posteriors under equal class shares
    (three unit Gaussians one unit apart in 3-D): (classes, classes x pixels)."""
    y = rng.choice(3, m, p=shares)
    x = rng.normal(np.eye(3)[y], 1.0)
    like = np.exp(-0.5 * ((x[:, None, :] - np.eye(3)[None]) ** 2).sum(2))
    return y, (like / like.sum(1, keepdims=True)).T


def test_em_recovers_shifted_shares_and_calibration_undoes_overconfidence():
    rng = np.random.default_rng(0)
    _, post = gaussian_posteriors(rng, [0.1, 0.2, 0.7], 40_000)
    # the mean posterior leans towards the training shares (uniform); EM recovers the photo's own
    assert np.abs(post.mean(1) - [0.1, 0.2, 0.7]).max() > 0.1
    np.testing.assert_allclose(curve.em_priors(post, np.full(3, 1 / 3)), [0.1, 0.2, 0.7], atol=0.02)
    # overconfident posteriors (cubed) made on other shares: the temperature comes back near 3, and EM from the
    # calibration pixels' shares recovers the test pixels' shares, which it cannot from the raw posteriors
    yv, pv = gaussian_posteriors(rng, [0.5, 0.3, 0.2], 40_000)
    over = lambda p: p**3 / (p**3).sum(0, keepdims=True)  # noqa: E731
    t, b, source = curve.fit_calibration(over(pv), yv)
    assert t == pytest.approx(3.0, rel=0.05)
    np.testing.assert_allclose(source, [0.5, 0.3, 0.2], atol=0.01)
    shifted = curve.em_priors(curve.calibrate(over(post), t, b), source)
    np.testing.assert_allclose(shifted, [0.1, 0.2, 0.7], atol=0.02)
    assert np.abs(curve.em_priors(over(post), np.full(3, 1 / 3)) - [0.1, 0.2, 0.7]).max() > 0.05


def test_plausible_range_spans_doubtful_pixels_and_decision_at_tau_is_the_models_map():
    import posteriors

    # 10 pixels, 2 classes: 4 sure of class 0, 4 sure of class 1, 2 in doubt (0.6 / 0.4)
    q = np.array([[0.99] * 4 + [0.01] * 4 + [0.6, 0.6], [0.01] * 4 + [0.99] * 4 + [0.4, 0.4]])
    low, high = posteriors.plausible_range(q, 0.3)
    assert low.tolist() == [40.0, 40.0] and high.tolist() == [60.0, 60.0]  # the doubtful 20% go either way
    low, high = posteriors.plausible_range(q, 0.45)  # class 1's doubt (0.4) is no longer plausible
    assert high[1] == pytest.approx(q[1].mean() * 100) and low[1] == 40.0
    # tau-undone posteriors q of a model whose own (balanced) posteriors are p: q ~ p * prior ** tau
    rng = np.random.default_rng(0)
    prior = np.array([0.7, 0.2, 0.1])
    p = rng.dirichlet(np.ones(3), size=500).T
    q = p * prior[:, None] ** 0.2
    q /= q.sum(0, keepdims=True)
    assert (posteriors.decision_map(q, prior, 0.2) == p.argmax(0)).all()
    assert (posteriors.decision_map(q, prior, 0.0) == q.argmax(0)).all()
