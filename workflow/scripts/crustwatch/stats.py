"""Small statistics on plain numbers: Student's t and the normal distribution, Benjamini-Hochberg q-values.

numpy/math only (no scipy in the product's environment). The t distribution is computed from the
regularized incomplete beta function, ``P(|T| > t) = I_{df / (df + t^2)}(df / 2, 1 / 2)``, evaluated by
its continued fraction; it takes any real ``df > 0`` (Welch-Satterthwaite degrees of freedom are not
whole numbers) and ``df = inf`` for the normal distribution.
"""

from __future__ import annotations

import math

import numpy as np


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom (``inf``: the normal distribution)."""
    t = abs(float(t))
    if math.isnan(t) or not df > 0:
        return float("nan")
    if math.isinf(df):
        return math.erfc(t / math.sqrt(2.0))
    if math.isinf(t):
        return 0.0
    return min(1.0, betainc(df / 2.0, 0.5, df / (df + t * t)))


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)``."""
    tail = t_two_sided_p(t, df) / 2.0
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (``df = inf``: the normal distribution), by bisection on :func:`t_cdf`."""
    if not 0.0 < p < 1.0 or not df > 0:
        return float("nan")
    if p == 0.5:
        return 0.0
    target = max(p, 1.0 - p)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < target:
        lo, hi = hi, hi * 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    q = (lo + hi) / 2.0
    return q if p > 0.5 else -q


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg q-values (adjusted p-values) of ``p``; NaN entries are no test and stay NaN.

    ``q_(i) = min over j >= i of m * p_(j) / j`` with the p-values sorted ascending and ``m`` the number
    of tests; a test is a discovery at false discovery rate ``alpha`` when its q-value is ``<= alpha``.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok], kind="stable")
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def replicate_mean(values, meas_se, level: float = 0.95) -> dict:
    """Mean of per-replicate values (plots) with an interval and a test against zero.

    ``values`` are the replicates' estimates (a plot's change, or its slope), ``meas_se`` the standard error
    of each from its measurement alone (the photos' cover intervals). The variance of the mean is
    ``s^2 / n + u^2``: ``s`` the spread of the values over the replicates (which holds the true
    plot-to-plot differences and the part of the measurement error that differs between plots) and
    ``u`` the mean measurement standard error, the part of the error all plots may share (one model, one
    camera, one day's light) and that averaging over plots does not remove. With errors independent
    between plots ``u^2`` counts them twice, so the interval is conservative then; with errors shared it
    is what they need. Degrees of freedom: Welch-Satterthwaite, ``u`` taken as known (``n - 1`` when
    ``u`` is 0, the normal distribution when ``s`` is 0).

    Returns:
        ``n``, ``mean``, ``se``, ``df``, ``ci_low``, ``ci_high``, ``p_value`` (two-sided, H0: mean 0)
        ``mdc`` (the smallest mean whose interval excludes zero: ``t(level, df) * se``) and ``shared_se``
        (``u``, NaN without replicates). Fewer than
        two replicates: no test (``p_value``, ``df`` NaN); one replicate keeps its own measurement interval.
    """
    v = np.asarray(values, dtype=np.float64)
    se_m = np.asarray(meas_se, dtype=np.float64)
    keep = ~np.isnan(v)
    v, se_m = v[keep], se_m[keep]
    n = int(v.size)
    nan = float("nan")
    out = {"n": n, "mean": nan, "se": nan, "df": nan, "ci_low": nan, "ci_high": nan, "p_value": nan, "mdc": nan,
           "shared_se": nan}
    if n == 0:
        return out
    u = float(np.nanmean(se_m)) if np.isfinite(se_m).any() else 0.0
    out["shared_se"] = u
    mean = float(v.mean())
    if n == 1:
        z = t_quantile(0.5 + level / 2, math.inf)
        return {**out, "mean": mean, "se": u, "ci_low": mean - z * u, "ci_high": mean + z * u, "mdc": z * u}
    between = float(v.var(ddof=1)) / n
    var = between + u * u
    if var <= 0:
        df = math.inf
        return {**out, "mean": mean, "se": 0.0, "df": df, "ci_low": mean, "ci_high": mean,
                "p_value": 0.0 if mean != 0 else 1.0, "mdc": 0.0}
    df = math.inf if between == 0 else (n - 1) * (var / between) ** 2
    se = math.sqrt(var)
    tq = t_quantile(0.5 + level / 2, df)
    return {**out, "mean": mean, "se": se, "df": df, "ci_low": mean - tq * se, "ci_high": mean + tq * se,
            "p_value": t_two_sided_p(mean / se, df), "mdc": tq * se}
