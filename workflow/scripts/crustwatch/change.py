"""Change between dates: per permanent plot, per site (plots as paired replicates) and as a trend.

The question a monitoring project asks is "did moss cover at this site rise between two dates, and by
how much?". Permanent plots answer it as a paired design: the plots are the replicates, each is measured
again at every date, and a change is the difference within a plot. On top of the plots' own variation the
segmentation adds a measurement error (each photo's cover interval), and a new camera can move cover by
itself. This module works on tables (the plot x date cover table and the cameras of each plot and date);
:mod:`crustwatch.stats` holds the distributions.

Date pairs (per site, from the dates its photos have): consecutive dates; the first date to each later one
(so first -> last is always there, and a new date only adds pairs); and the pairs ``change.pairs`` names.

Per plot (``by_plot``): ``change_pp = cover_to - cover_from``, the plot's mean cover at each date (a plot
photographed twice on one date is the mean of its photos, as in ``by_plot_date``). Its interval carries
each date's cover interval: a half-width ``h`` of a ``level`` interval is taken as ``z * se``, and the
change gets ``change +- z * sqrt(se_from^2 + se_to^2)`` (the two dates' measurement errors taken as
independent: different days, often different cameras).

Per site (``by_site``): the mean of the plots' changes, with an interval and a paired t test of "no change"
that use the plots as replicates and add the measurement error the plots may share
(:func:`crustwatch.stats.replicate_mean`); ``q_value`` is the Benjamini-Hochberg adjusted p-value over
every test in the table (all sites, classes and date pairs), ``mdc_pp`` the minimum detectable change: the
smallest mean change whose interval excludes zero, given the plots' spread and the measurement error.

Trend (``trend``): per plot, the least-squares slope of cover on time in pp per year, its standard error
the larger of the one the photos' cover intervals give and the one the residuals about the line give (that
one needs three dates); per site, the mean of the plots' slopes as above.

Rows that cannot be computed stay in the tables with the reason in ``note``: a plot not photographed on one
of the dates, a date pair that no plot of the site shares, a site with one plot (its change, no test).
"""

from __future__ import annotations

import math
from datetime import date as _date

import numpy as np
import pandas as pd

from .stats import bh_qvalues, replicate_mean, t_quantile, t_two_sided_p

#: columns users and checks rely on (more follow them)
BY_PLOT_COLUMNS = ["site", "plot", "class", "date_from", "date_to", "cover_from", "cover_to", "change_pp",
                   "ci_low", "ci_high", "camera_changed"]
BY_SITE_COLUMNS = ["site", "class", "date_from", "date_to", "n_plots", "change_pp", "ci_low", "ci_high",
                   "p_value", "q_value", "mdc_pp"]
TREND_COLUMNS = ["site", "plot", "class", "slope_pp_per_year", "ci_low", "ci_high"]
DAYS_PER_YEAR = 365.25


def as_date_text(value) -> str:
    """A date from the config (YAML reads an unquoted 2019-05-14 as a date) or the sheet, as ``YYYY-MM-DD``."""
    if isinstance(value, _date):
        return value.isoformat()
    return str(value).strip()


def date_pairs(dates, named=()) -> list[tuple[str, str, str]]:
    """``(date_from, date_to, kind)`` for one site's dates: consecutive ones, the first to each later one and
    the ``named`` pairs among these dates; ``kind`` lists every reason a pair is there (``consecutive``,
    ``since_first``, ``named``), joined by ``+``. Sorted by ``date_to``, then ``date_from``."""
    ds = sorted(set(map(as_date_text, dates)))
    kinds: dict[tuple[str, str], list[str]] = {}
    for a, b in zip(ds, ds[1:]):
        kinds.setdefault((a, b), []).append("consecutive")
    for b in ds[1:]:
        kinds.setdefault((ds[0], b), []).append("since_first")
    for a, b in named:
        a, b = as_date_text(a), as_date_text(b)
        if a in ds and b in ds and a != b:
            a, b = min(a, b), max(a, b)
            kinds.setdefault((a, b), []).append("named")
    return [(a, b, "+".join(k)) for (a, b), k in sorted(kinds.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def half_width(cover, low, high) -> np.ndarray:
    """The half-width of a cover interval: the larger side, so an interval clipped at 0 or 100 % keeps its
    unclipped width."""
    cover, low, high = (np.asarray(x, dtype=np.float64) for x in (cover, low, high))
    return np.maximum(high - cover, cover - low)


def _with_se(plot_date: pd.DataFrame, z: float) -> pd.DataFrame:
    """The plot x date table with text keys, each cover's measurement se (its interval's half-width / ``z``)
    and a ``true_cover_pct`` column (NaN where no mask)."""
    df = plot_date.copy()
    for c in ("site", "plot", "date"):
        df[c] = df[c].astype(str)
    df["se"] = half_width(df["cover_pct"], df["ci_low"], df["ci_high"]) / z
    if "true_cover_pct" not in df:
        df["true_cover_pct"] = np.nan
    return df


def years_between(a: str, b: str) -> float:
    return (pd.Timestamp(b) - pd.Timestamp(a)).days / DAYS_PER_YEAR


def _cards(*values) -> str:
    out = set()
    for v in values:
        if isinstance(v, str) and v:
            out.update(v.split(";"))
    return ";".join(sorted(out))


#: the columns naming what made a row: the ensemble card(s) and the model version(s) of the cover it comes from
MADE_BY = ("ensemble_card_sha256", "model_version")


def _made_by(rows) -> dict[str, str]:
    """The ensemble cards and model versions of cover rows (records or a table), each ';'-joined."""
    if isinstance(rows, pd.DataFrame):
        return {c: _cards(*rows.get(c, pd.Series(dtype=str))) for c in MADE_BY}
    return {c: _cards(*(getattr(r, c, "") for r in rows)) for c in MADE_BY}


def plot_changes(plot_date: pd.DataFrame, cameras: pd.DataFrame | None = None, named=(),
                 level: float = 0.95, training: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per plot, class and date pair of the plot's site: the change and its interval (see the module).

    Args:
        plot_date: the ``by_plot_date`` cover table (``site plot date class cover_pct ci_low ci_high
            n_images``; ``true_cover_pct``, ``interval``, ``ensemble_card_sha256`` and ``model_version`` are used
            when present).
        cameras: ``site plot date camera``, one row per photo (cameras of the plot's photos on each date).
        named: extra date pairs (``change.pairs``).
        level: the level of the cover intervals (their half-width is ``z(level) * se``).
        training: ``site plot date`` of photos that trained the model (their cover is in-sample), if any.
    """
    z = t_quantile(0.5 + level / 2, math.inf)
    df = _with_se(plot_date, z)
    cam_of: dict[tuple[str, str, str], str] = {}
    if cameras is not None and len(cameras):
        cams = cameras.astype(str).groupby(["site", "plot", "date"])["camera"].agg(lambda v: ";".join(sorted(set(v))))
        cam_of = cams.to_dict()
    trained = set()
    if training is not None and len(training):
        trained = set(map(tuple, training[["site", "plot", "date"]].astype(str).to_numpy()))
    classes = list(dict.fromkeys(df["class"]))
    rows = []
    for site, sdf in df.groupby("site", sort=False):
        plots = list(dict.fromkeys(sdf["plot"]))
        by_key = {(p, d, c): r for p, d, c, r in zip(sdf["plot"], sdf["date"], sdf["class"], sdf.itertuples())}
        for d_from, d_to, kind in date_pairs(sdf["date"].unique(), named):
            years = years_between(d_from, d_to)
            for plot in plots:
                for cls in classes:
                    a, b = by_key.get((plot, d_from, cls)), by_key.get((plot, d_to, cls))
                    cam_a, cam_b = cam_of.get((site, plot, d_from), ""), cam_of.get((site, plot, d_to), "")
                    notes = []
                    for d, r in ((d_from, a), (d_to, b)):
                        if r is None:
                            notes.append(f"plot not photographed on {d}")
                        elif r.n_images > 1:
                            notes.append(f"{r.n_images} photos on {d}, their mean")
                    row = {"site": site, "plot": plot, "class": cls, "date_from": d_from, "date_to": d_to,
                           "pair": kind, "years": round(years, 6), "cover_from": np.nan, "cover_to": np.nan,
                           "change_pp": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se_pp": np.nan,
                           "camera_from": cam_a, "camera_to": cam_b,
                           "camera_changed": bool(cam_a and cam_b and cam_a != cam_b),
                           "true_change_pp": np.nan, "interval": "", **dict.fromkeys(MADE_BY, "")}
                    if a is not None and b is not None:
                        change = b.cover_pct - a.cover_pct
                        se = math.hypot(a.se, b.se)
                        row.update(cover_from=a.cover_pct, cover_to=b.cover_pct, change_pp=change,
                                   ci_low=change - z * se, ci_high=change + z * se, se_pp=se,
                                   true_change_pp=b.true_cover_pct - a.true_cover_pct,
                                   interval="+".join(sorted({str(getattr(r, "interval", "")) for r in (a, b)})),
                                   **_made_by((a, b)))
                        if row["camera_changed"]:
                            notes.append(f"camera changed ({cam_a} -> {cam_b}): a new camera can move cover by itself")
                        for d in (d_from, d_to):
                            if (site, plot, d) in trained:
                                notes.append(f"photos of {d} trained the model: their cover is in-sample")
                    row["note"] = "; ".join(notes)
                    rows.append(row)
    cols = BY_PLOT_COLUMNS + ["pair", "years", "se_pp", "camera_from", "camera_to", "true_change_pp", "interval",
                              "note", *MADE_BY]
    return pd.DataFrame(rows, columns=cols)


def site_changes(by_plot: pd.DataFrame, level: float = 0.95, fdr: float = 0.05) -> pd.DataFrame:
    """Per site, class and date pair: the mean of the plots' changes, its interval, a paired test, the
    Benjamini-Hochberg q-value over the whole table and the minimum detectable change (see the module)."""
    rows = []
    for (site, cls, d_from, d_to), g in by_plot.groupby(["site", "class", "date_from", "date_to"], sort=False):
        ok = g[g["change_pp"].notna()]
        r = replicate_mean(ok["change_pp"], ok["se_pp"], level)
        n_cam = int(ok["camera_changed"].astype(bool).sum())
        notes = []
        if r["n"] == 0:
            notes.append("no plot of the site was photographed on both dates")
        elif r["n"] == 1:
            notes.append("one plot: plots are the replicates, so no test (its change and measurement interval)")
        if n_cam:
            notes.append(f"camera changed on {n_cam} of {r['n']} plots: a new camera can move cover by itself")
        rows.append({"site": site, "class": cls, "date_from": d_from, "date_to": d_to, "pair": g["pair"].iloc[0],
                     "years": g["years"].iloc[0], "n_plots": r["n"], "change_pp": r["mean"], "ci_low": r["ci_low"],
                     "ci_high": r["ci_high"], "p_value": r["p_value"], "mdc_pp": r["mdc"], "se_pp": r["se"],
                     "df": r["df"], "test": "paired t, plots as replicates, shared measurement error"
                     if r["n"] >= 2 else "",
                     "plot_sd_pp": float(ok["change_pp"].std(ddof=1)) if r["n"] >= 2 else np.nan,
                     "measurement_se_pp": r["shared_se"],
                     "camera_changed": bool(n_cam), "n_plots_camera_changed": n_cam,
                     "true_change_pp": float(ok["true_change_pp"].mean())
                     if r["n"] and ok["true_change_pp"].notna().all() else np.nan,
                     "note": "; ".join(notes),
                     **_made_by(ok)})
    out = pd.DataFrame(rows, columns=BY_SITE_COLUMNS + [
        "significant", "pair", "years", "se_pp", "df", "test", "plot_sd_pp", "measurement_se_pp", "camera_changed",
        "n_plots_camera_changed", "true_change_pp", "summary", "note", *MADE_BY])
    out["q_value"] = bh_qvalues(out["p_value"].to_numpy(dtype=float))
    out["significant"] = out["q_value"] <= fdr
    out["summary"] = [summary_sentence(r, fdr) for r in out.to_dict("records")]
    return out


def summary_sentence(r: dict, fdr: float = 0.05) -> str:
    """One site row in plain words, e.g. "moss rose by 6.1 pp (+2.0 to +10.2) from 2019-05-14 to 2020-05-12
    over 8 plots, q = 0.01"."""
    cls, n = r["class"], r["n_plots"]
    span = f"from {r['date_from']} to {r['date_to']}"
    if n == 0:
        return f"{cls}: no plot photographed on both dates ({span})"
    ci = f"({r['ci_low']:+.1f} to {r['ci_high']:+.1f})"
    cam = f"; camera changed on {r['n_plots_camera_changed']} of {n} plots" if r["n_plots_camera_changed"] else ""
    if n == 1:
        return f"{cls}: {r['change_pp']:+.1f} pp {ci} {span} on its one plot, no test{cam}"
    if r["q_value"] <= fdr:
        verb = "rose" if r["change_pp"] > 0 else "fell"
        return f"{cls} {verb} by {abs(r['change_pp']):.1f} pp {ci} {span} over {n} plots, q = {r['q_value']:.2g}{cam}"
    return (f"{cls}: no change shown {span} over {n} plots: {r['change_pp']:+.1f} pp {ci}, q = {r['q_value']:.2g}; "
            f"changes under {r['mdc_pp']:.1f} pp cannot be told from zero here{cam}")


def _slope(t: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope of ``y`` on ``t``, its standard error (the larger of the measurement one and the
    residual one) and that error's degrees of freedom (``inf`` when the measurement error is the larger)."""
    tc = t - t.mean()
    sxx = float((tc * tc).sum())
    w = tc / sxx
    b = float((w * y).sum())
    se_m = float(np.sqrt(((w * se) ** 2).sum()))
    if len(t) >= 3:
        resid = y - (y.mean() + b * tc)
        se_r = float(np.sqrt((resid * resid).sum() / (len(t) - 2) / sxx))
        if se_r > se_m:
            return b, se_r, float(len(t) - 2)
    return b, se_m, math.inf


def trends(plot_date: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Slope of cover over all dates in pp per year, per plot and per site (``plot`` blank), per class."""
    df = _with_se(plot_date, t_quantile(0.5 + level / 2, math.inf))
    classes = list(dict.fromkeys(df["class"]))
    rows = []
    for site, sdf in df.groupby("site", sort=False):
        first = min(sdf["date"])
        site_rows = {cls: [] for cls in classes}
        for plot, pdf in sdf.groupby("plot", sort=False):
            for cls in classes:
                g = pdf[pdf["class"] == cls].sort_values("date")
                base = {"site": site, "plot": plot, "class": cls, "n_dates": len(g),
                        "first_date": g["date"].min() if len(g) else "", "last_date": g["date"].max() if len(g) else "",
                        **_made_by(g)}
                if len(g) < 2:
                    rows.append({**base, "note": "photographed on one date: no trend"})
                    site_rows[cls].append((np.nan, np.nan, np.nan))
                    continue
                t = np.array([years_between(first, d) for d in g["date"]])
                b, se, dof = _slope(t, g["cover_pct"].to_numpy(float), g["se"].to_numpy(float))
                tq = t_quantile(0.5 + level / 2, dof)
                true_b = np.nan
                if g["true_cover_pct"].notna().all():
                    true_b = _slope(t, g["true_cover_pct"].to_numpy(float), np.zeros(len(t)))[0]
                rows.append({**base, "slope_pp_per_year": b, "ci_low": b - tq * se, "ci_high": b + tq * se, "se_pp": se,
                             "p_value": float("nan") if se == 0 else t_two_sided_p(b / se, dof),
                             "true_slope_pp_per_year": true_b,
                             "note": "two dates: the slope is their change per year" if len(g) == 2 else ""})
                site_rows[cls].append((b, se, true_b))
        for cls in classes:
            vals = np.array(site_rows[cls], dtype=float).reshape(-1, 3)
            r = replicate_mean(vals[:, 0], vals[:, 1], level)
            ok = vals[~np.isnan(vals[:, 0])]
            note = ("no plot photographed on two dates" if r["n"] == 0 else
                    "one plot: plots are the replicates, so no test" if r["n"] == 1 else "")
            rows.append({"site": site, "plot": "", "class": cls, "n_dates": int(sdf["date"].nunique()),
                         "n_plots": r["n"], "first_date": first, "last_date": max(sdf["date"]),
                         "slope_pp_per_year": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "se_pp": r["se"], "p_value": r["p_value"],
                         "true_slope_pp_per_year": float(ok[:, 2].mean()) if len(ok) and not np.isnan(ok[:, 2]).any()
                         else np.nan, "note": note, **_made_by(sdf)})
    cols = TREND_COLUMNS + ["se_pp", "p_value", "n_dates", "n_plots", "first_date", "last_date",
                            "true_slope_pp_per_year", "note", *MADE_BY]
    out = pd.DataFrame(rows, columns=cols)
    out["n_plots"] = out["n_plots"].astype("Int64")
    return out
