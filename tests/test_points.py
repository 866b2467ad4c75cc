"""Point annotations (CoralNet CSV): read and written back, checked with line-level messages, and made
sparse training targets (crustwatch.points); a sheet row may give points instead of a mask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crustwatch import sheet as cw_sheet
from crustwatch.errors import InputError, InputErrors
from crustwatch.points import binomial_interval, point_scores, rasterize, read_points, write_points

CLASSES = {"soil": 0, "moss": 1, "lichen": 2}


def test_coralnet_csv_round_trip_keeps_each_photos_points(tmp_path):
    rows = [{"Name": "a.jpg", "Row": 3, "Column": 4, "Label": "moss"},
            {"Name": "b.jpg", "Row": 0, "Column": 0, "Label": "soil"},
            {"Name": "a.jpg", "Row": 10, "Column": 2, "Label": "LICH"}]
    path = tmp_path / "annotations.csv"
    write_points(path, rows)
    assert path.read_text().splitlines()[0] == "Name,Row,Column,Label"
    got = read_points(path, "a.jpg", CLASSES, {"LICH": "lichen"}, shape=(20, 20))
    assert got == [(3, 4, 1), (10, 2, 2)]  # (row, column, class id), another photo's rows left out
    assert read_points(path, "b.jpg", CLASSES, {"LICH": "lichen"}) == [(0, 0, 0)]
    # written again with a confidence column (an export), read back the same
    write_points(tmp_path / "again.csv", [{**r, "Confidence": 0.9} for r in rows])
    assert read_points(tmp_path / "again.csv", "a.jpg", CLASSES, {"LICH": "lichen"}) == got


def test_bad_points_name_the_file_the_csv_line_and_the_problem(tmp_path):
    path = tmp_path / "p.csv"
    write_points(path, [{"Name": "a.jpg", "Row": 3, "Column": 40, "Label": "moss"},
                        {"Name": "a.jpg", "Row": 1, "Column": 1, "Label": "grass"},
                        {"Name": "a.jpg", "Row": "x", "Column": 1, "Label": "moss"}])
    with pytest.raises(InputError) as e:
        read_points(path, "a.jpg", CLASSES, shape=(20, 20), line=7, image_id="a")
    msg = str(e.value)
    assert "sheet line 7" in msg and "p.csv" in msg and "3 problem(s)" in msg
    assert "CSV line 2: point (row 3, column 40) lies outside of the 20x20 photo" in msg
    assert "CSV line 3: label 'grass'" in msg and "CSV line 4: Row 'x'" in msg
    with pytest.raises(InputError, match="no point of the photo 'c.jpg'.*a.jpg"):
        read_points(path, "c.jpg", CLASSES)
    (tmp_path / "q.csv").write_text("image,x,y,label\na.jpg,1,1,moss\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['Name', 'Row', 'Column', 'Label'\]"):
        read_points(tmp_path / "q.csv", "a.jpg", CLASSES)


def test_points_become_disks_and_read_back_as_their_labels():
    pts = [(5, 5, 1), (5, 9, 2), (15, 15, 0), (0, 0, 2)]
    m = rasterize(pts, (20, 20), 2, 255)
    for r, c, k in pts:  # every point's own pixel carries its class
        assert m[r, c] == k
    assert (m == 0).sum() == 13  # a full disk of radius 2
    assert (m == 2).sum() < 2 * 13  # the corner point's disk is clipped (and may meet its neighbour)
    # where two disks of different classes meet, nothing is claimed
    assert m[5, 7] == 255 and (m != 255).sum() < 4 * 13
    assert np.array_equal(rasterize(pts, (20, 20), 0, 255) != 255, np.isin(np.arange(400).reshape(20, 20),
                                                                            [r * 20 + c for r, c, _ in pts]))


def test_point_count_cover_has_a_binomial_interval():
    lo, hi = binomial_interval(10, 100)
    assert lo == pytest.approx(0.0552, abs=1e-4) and hi == pytest.approx(0.1744, abs=1e-4)
    assert binomial_interval(0, 50)[0] == 0.0 and binomial_interval(50, 50)[1] == 1.0
    assert binomial_interval(5, 200)[1] - binomial_interval(5, 200)[0] < binomial_interval(5, 20)[1]


def _edit(project, fn):
    path = project / "images.tsv"
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    fn(df).to_csv(path, sep="\t", index=False)
    return path


def test_sheet_rows_give_a_mask_or_points_and_may_share_one_export(tiny_project):
    write_points(tiny_project / "points.csv", [{"Name": "x.png", "Row": 1, "Column": 1, "Label": "moss"}])

    def use_points(df):
        df.loc[[0, 1], "mask"] = ""
        df["points"] = ""
        df.loc[[0, 1], "points"] = "points.csv"  # one export for two rows
        return df

    df = cw_sheet.load_sheet(_edit(tiny_project, use_points))
    assert list(df["label_kind"][:3]) == ["points", "points", "mask"]
    assert df["mask_path"].iloc[0].endswith("points.csv")

    def both(df):
        df.loc[2, "points"] = "points.csv"
        return df

    with pytest.raises(InputErrors, match="sheet line 4.*both a mask and points"):
        cw_sheet.load_sheet(_edit(tiny_project, both))


def test_point_scores_give_accuracy_and_the_point_counts_own_interval():
    """40 points on one photo (30 moss, 10 soil); the ensemble calls 36 of them right."""
    rows = ([{"Name": "a.jpg", "Label": "moss", "Truth": "moss"}] * 28 + [{"Name": "a.jpg", "Label": "soil",
            "Truth": "moss"}] * 2 + [{"Name": "a.jpg", "Label": "soil", "Truth": "soil"}] * 8
            + [{"Name": "a.jpg", "Label": "moss", "Truth": "soil"}] * 2
            + [{"Name": "b.jpg", "Label": "moss", "Truth": ""}] * 5)  # positions only: not scored
    out = {r["class"]: r for r in point_scores(rows, {"a.jpg": "plot_a"}, {"plot_a": "test"},
                                               ["soil", "moss", "lichen"])}
    assert set(out) == {"soil", "moss", "lichen"} and {r["image_id"] for r in out.values()} == {"plot_a"}
    moss = out["moss"]
    assert moss["points"] == 40 and moss["split"] == "test" and moss["point_accuracy"] == pytest.approx(36 / 40)
    assert moss["point_cover_pct"] == pytest.approx(75) and moss["predicted_point_cover_pct"] == pytest.approx(75)
    lo, hi = binomial_interval(30, 40)
    assert (moss["point_ci_low"], moss["point_ci_high"]) == pytest.approx((100 * lo, 100 * hi)) and moss["inside"]
    assert out["lichen"]["point_cover_pct"] == 0 and out["lichen"]["point_ci_low"] == pytest.approx(0, abs=1e-9)
    assert 0 < out["lichen"]["point_ci_high"] < 10  # no lichen among 40 points: under 9% at 95%
    # an ensemble far off the points' cover falls outside the count's interval
    wrong = [{"Name": "a.jpg", "Label": "soil", "Truth": r["Truth"]} for r in rows if r["Truth"]]
    far = {r["class"]: r for r in point_scores(wrong, {}, {}, ["soil", "moss"])}
    assert not far["moss"]["inside"] and far["moss"]["image_id"] == "a.jpg"
