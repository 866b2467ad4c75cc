"""Change between dates: the statistics against hand-computed cases, and the odd designs a project has."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crustwatch.change import date_pairs, plot_changes, site_changes, trends
from crustwatch.stats import bh_qvalues, replicate_mean, t_quantile, t_two_sided_p

Z = 1.959963984540054


def plot_date(rows, level_z: float = Z) -> pd.DataFrame:
    """A by_plot_date table from ``(site, plot, date, class, cover, se[, n_images, true])``."""
    out = []
    for r in rows:
        site, plot, date, cls, cover, se = r[:6]
        n = r[6] if len(r) > 6 else 1
        true = r[7] if len(r) > 7 else np.nan
        out.append({"site": site, "plot": plot, "date": date, "class": cls, "cover_pct": cover,
                    "ci_low": cover - level_z * se, "ci_high": cover + level_z * se, "n_images": n,
                    "true_cover_pct": true, "interval": "calibrated95", "ensemble_card_sha256": "abc"})
    return pd.DataFrame(out)


def test_t_distribution_and_normal_match_tables_and_closed_forms():
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-6)
    assert t_quantile(0.975, math.inf) == pytest.approx(Z, abs=1e-9)
    assert t_quantile(0.975, 2.5) == pytest.approx(3.574655, abs=1e-5)  # scipy.stats.t.ppf(0.975, 2.5)
    assert t_two_sided_p(1.0, 1) == pytest.approx(1 - 2 / math.pi * math.atan(1.0), abs=1e-12)  # Cauchy
    assert t_two_sided_p(3.0, 2) == pytest.approx(1 - 3 / math.sqrt(2 + 9), abs=1e-12)  # closed form for df 2
    assert t_two_sided_p(Z, math.inf) == pytest.approx(0.05, abs=1e-9)
    assert t_two_sided_p(0.0, 7) == pytest.approx(1.0)


def test_benjamini_hochberg_by_hand():
    q = bh_qvalues([0.01, 0.04, 0.03, np.nan, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533, 0.5 -> running minimum from the top
    assert q[:3] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3])
    assert np.isnan(q[3]) and q[4] == pytest.approx(0.5)
    assert np.isnan(bh_qvalues([np.nan])).all()


def test_date_pairs_consecutive_since_first_and_named():
    pairs = date_pairs(["2021-05-01", "2019-05-01", "2020-05-01"], named=[("2020-05-01", "2019-05-01")])
    assert pairs == [("2019-05-01", "2020-05-01", "consecutive+since_first+named"),
                     ("2019-05-01", "2021-05-01", "since_first"),
                     ("2020-05-01", "2021-05-01", "consecutive")]
    # a new date only adds pairs: the old ones stay, with the same kinds
    more = date_pairs(["2021-05-01", "2019-05-01", "2020-05-01", "2022-05-01"], named=[("2020-05-01", "2019-05-01")])
    assert more[:3] == pairs and len(more) == 5
    import datetime

    assert date_pairs(["2019-05-01", "2020-05-01"], named=[(datetime.date(2019, 5, 1), "2020-05-01")])[0][2] == \
        "consecutive+since_first+named"  # YAML dates are dates


def test_plot_change_interval_carries_both_dates_errors():
    pdt = plot_date([("s", "P1", "2019-05-01", "moss", 10.0, 1.0, 1, 9.0), ("s", "P1", "2020-05-01", "moss", 15.0, 2.0, 1, 16.0)])
    cams = pd.DataFrame({"site": ["s", "s"], "plot": ["P1", "P1"], "date": ["2019-05-01", "2020-05-01"],
                         "camera": ["A", "B"]})
    r = plot_changes(pdt, cams).iloc[0]
    assert r["change_pp"] == pytest.approx(5.0) and r["se_pp"] == pytest.approx(math.sqrt(5))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((5 - Z * math.sqrt(5), 5 + Z * math.sqrt(5)))
    assert r["true_change_pp"] == pytest.approx(7.0)
    assert r["camera_changed"] and "camera changed (A -> B)" in r["note"]
    # an interval clipped at 0 % keeps its unclipped half-width
    low = plot_date([("s", "P1", "2019-05-01", "moss", 0.5, 1.0), ("s", "P1", "2020-05-01", "moss", 0.5, 1.0)])
    low.loc[:, "ci_low"] = 0.0
    assert plot_changes(low).iloc[0]["se_pp"] == pytest.approx(math.sqrt(2))


def test_paired_test_finds_a_change_an_unpaired_one_misses():
    """Four plots of very different cover all rise by about 2 pp: paired, that is clear; compared as two
    unpaired groups of covers, the plot-to-plot spread (sd about 26 pp) hides it."""
    base = [10.0, 30.0, 50.0, 70.0]
    rise = [2.0, 2.2, 1.8, 2.0]
    se = 0.05
    rows = [("s", f"P{i}", "2019-05-01", "moss", b, se) for i, b in enumerate(base)]
    rows += [("s", f"P{i}", "2020-05-01", "moss", b + d, se) for i, (b, d) in enumerate(zip(base, rise))]
    site = site_changes(plot_changes(plot_date(rows))).iloc[0]
    d = np.array(rise)
    meas = math.sqrt(2) * se  # each plot's change: both dates' errors
    var = d.var(ddof=1) / 4 + meas**2
    assert site["n_plots"] == 4 and site["change_pp"] == pytest.approx(2.0)
    assert site["se_pp"] == pytest.approx(math.sqrt(var))
    df = 3 * (var / (d.var(ddof=1) / 4)) ** 2  # Welch-Satterthwaite with the measurement part known
    assert site["df"] == pytest.approx(df)
    assert site["p_value"] == pytest.approx(t_two_sided_p(2.0 / math.sqrt(var), df)) and site["p_value"] < 1e-4
    assert site["mdc_pp"] == pytest.approx(t_quantile(0.975, df) * math.sqrt(var))
    assert site["significant"] and site["summary"].startswith("moss rose by 2.0 pp")
    # the unpaired (Welch) test on the same numbers
    a, b = np.array(base), np.array(base) + d
    se_u = math.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 4)
    assert t_two_sided_p((b.mean() - a.mean()) / se_u, 6) > 0.9


def test_shared_measurement_error_is_never_averaged_away():
    """Every plot moves by the same 1 pp (a camera shift): the spread is zero, the measurement error is not."""
    rows = [("s", f"P{i}", "2019-05-01", "rock", 10.0 + i, 0.8) for i in range(6)]
    rows += [("s", f"P{i}", "2020-05-01", "rock", 11.0 + i, 0.8) for i in range(6)]
    site = site_changes(plot_changes(plot_date(rows))).iloc[0]
    assert site["se_pp"] == pytest.approx(0.8 * math.sqrt(2)) and math.isinf(site["df"])
    assert site["p_value"] > 0.3 and not site["significant"]
    assert "no change shown" in site["summary"] and "cannot be told from zero" in site["summary"]


def test_replicate_mean_with_fewer_than_two_replicates():
    r = replicate_mean([3.0], [1.0])
    assert r["n"] == 1 and r["mean"] == 3.0 and np.isnan(r["p_value"])
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((3 - Z, 3 + Z))
    assert replicate_mean([np.nan], [1.0])["n"] == 0


def test_odd_designs_give_rows_with_reasons():
    """A site with one plot, a plot photographed once, a date pair no plot shares, two photos of a plot on one
    date: each gives a row that says why, none a crash or a dropped row."""
    rows = [
        # site "solo": one plot, two dates
        ("solo", "P1", "2019-05-01", "moss", 10.0, 1.0), ("solo", "P1", "2020-05-01", "moss", 14.0, 1.0),
        # site "gaps": P1 on 2019 and 2021 (two photos in 2021), P2 on 2020 only, P3 on 2019 and 2021
        ("gaps", "P1", "2019-05-01", "moss", 10.0, 1.0), ("gaps", "P1", "2021-05-01", "moss", 12.0, 1.0, 2),
        ("gaps", "P2", "2020-05-01", "moss", 11.0, 1.0),
        ("gaps", "P3", "2019-05-01", "moss", 20.0, 1.0), ("gaps", "P3", "2021-05-01", "moss", 21.0, 1.0),
    ]
    by_plot = plot_changes(plot_date(rows))
    by_site = site_changes(by_plot)
    solo = by_site[by_site["site"] == "solo"].iloc[0]
    assert solo["n_plots"] == 1 and solo["change_pp"] == pytest.approx(4.0) and np.isnan(solo["p_value"])
    assert "one plot" in solo["note"] and "no test" in solo["summary"]
    gaps = by_site[by_site["site"] == "gaps"].set_index(["date_from", "date_to"])
    # 2019 -> 2020: only P2 has 2020 and it lacks 2019; no plot shares the pair
    assert gaps.loc[("2019-05-01", "2020-05-01"), "n_plots"] == 0
    assert "no plot" in gaps.loc[("2019-05-01", "2020-05-01"), "note"]
    assert gaps.loc[("2019-05-01", "2021-05-01"), "n_plots"] == 2
    p2 = by_plot[(by_plot["site"] == "gaps") & (by_plot["plot"] == "P2")]
    assert len(p2) == 3 and p2["change_pp"].isna().all()
    assert all("plot not photographed on" in n for n in p2["note"])
    p1 = by_plot[(by_plot["plot"] == "P1") & (by_plot["site"] == "gaps") & (by_plot["date_to"] == "2021-05-01")
                 & (by_plot["date_from"] == "2019-05-01")].iloc[0]
    assert "2 photos on 2021-05-01, their mean" in p1["note"]
    # the FDR family is the whole table: q uses every test of every site
    tested = by_site["p_value"].notna()
    assert tested.sum() == 1 and by_site.loc[tested, "q_value"].iloc[0] == pytest.approx(by_site.loc[tested, "p_value"].iloc[0])
    tr = trends(plot_date(rows))
    p2t = tr[(tr["site"] == "gaps") & (tr["plot"] == "P2")].iloc[0]
    assert np.isnan(p2t["slope_pp_per_year"]) and "one date" in p2t["note"]
    solo_site = tr[(tr["site"] == "solo") & (tr["plot"] == "")].iloc[0]
    assert solo_site["n_plots"] == 1 and "one plot" in solo_site["note"]


def test_trend_slope_and_its_error():
    dates = ["2019-01-01", "2020-01-01", "2021-01-01", "2022-01-01"]
    t = np.array([(pd.Timestamp(d) - pd.Timestamp(dates[0])).days / 365.25 for d in dates])
    y = 10 + 3 * t + np.array([0.0, 0.5, -0.5, 0.0])
    rows = [("s", "P1", d, "moss", v, 0.01, 1, 10 + 3 * tt) for d, v, tt in zip(dates, y, t)]
    rows += [("s", "P2", d, "moss", 20 + 2 * tt, 0.01, 1, 20 + 2 * tt) for d, tt in zip(dates, t)]
    tr = trends(plot_date(rows)).set_index("plot")
    tc = t - t.mean()
    b = (tc * y).sum() / (tc * tc).sum()
    resid = y - (y.mean() + b * tc)
    se_r = math.sqrt((resid**2).sum() / 2 / (tc * tc).sum())
    p1 = tr.loc["P1"]
    assert p1["slope_pp_per_year"] == pytest.approx(b) and p1["se_pp"] == pytest.approx(se_r)  # residuals dominate
    assert p1["ci_high"] - p1["slope_pp_per_year"] == pytest.approx(t_quantile(0.975, 2) * se_r)
    assert p1["true_slope_pp_per_year"] == pytest.approx(3.0)
    p2 = tr.loc["P2"]
    se_m = 0.01 * math.sqrt(((tc / (tc * tc).sum()) ** 2).sum())
    assert p2["slope_pp_per_year"] == pytest.approx(2.0) and p2["se_pp"] == pytest.approx(se_m)  # exact line
    site = tr.loc[""]
    assert site["slope_pp_per_year"] == pytest.approx((b + 2.0) / 2) and site["n_plots"] == 2
    assert site["true_slope_pp_per_year"] == pytest.approx(2.5)


def test_named_pairs_are_checked_with_the_config():
    import datetime

    from crustwatch.project import config_problems

    base = {"images": "x.tsv", "classes": [{"id": 0, "name": "soil"}, {"id": 1, "name": "moss"}]}
    ok = config_problems({**base, "change": {"pairs": [[datetime.date(2019, 5, 14), "2022-05-10"]]}})
    assert ok == []
    bad = config_problems({**base, "change": {"pairs": [["2019-13-01", "2022-05-10"], ["2020-01-01", "2020-01-01"],
                                                        ["2020-01-01"]]}})
    assert any("change.pairs.0: '2019-13-01' is not a date" in p for p in bad)
    assert any("change.pairs.1: both dates are 2020-01-01" in p for p in bad)
    assert any(p.startswith("config key change.pairs.2") for p in bad)  # the schema: two dates
