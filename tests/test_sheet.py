"""Image sheet validation: every problem names the sheet line, the image_id or file, and the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from crustwatch import sheet as cw_sheet
from crustwatch.errors import InputError, InputErrors
from crustwatch.steps.ingest import check_inputs


def _edit(project, fn):
    path = project / "images.tsv"
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, sep="\t", index=False)
    return path


def test_valid_sheet_loads_with_resolved_paths(tiny_project):
    df = cw_sheet.load_sheet(tiny_project / "images.tsv")
    assert len(df) == 8
    assert df.index.is_unique
    assert all((tiny_project / "data" / "photos").as_posix() in p.replace("\\", "/") or p for p in df["image_path"])
    assert df["line"].tolist() == list(range(2, 10))
    assert set(df["camera"]) == {"cam-A", "cam-B"}


def _one_error(path, **kw) -> InputError:
    with pytest.raises(InputErrors) as e:
        cw_sheet.load_sheet(path, **kw)
    assert len(e.value.errors) >= 1
    return e.value.errors[0], str(e.value)


def test_missing_photo_names_line_and_file(tiny_project):
    path = _edit(tiny_project, lambda d: d.assign(image=d["image"].where(d.index != 2, "data/photos/nope.png")))
    err, msg = _one_error(path)
    assert err.row == 4 and "nope.png" in msg and "does not exist" in msg


def test_duplicate_image_id(tiny_project):
    def dup(d):
        d.loc[3, "image_id"] = d.loc[0, "image_id"]
        return d

    err, msg = _one_error(_edit(tiny_project, dup))
    assert err.row == 5 and "duplicate image_id" in msg and "line 2" in msg


@pytest.mark.parametrize("bad", ["2020-13-01", "20-05-01", "2020/05/01", "yesterday"])
def test_malformed_date(tiny_project, bad):
    err, msg = _one_error(_edit(tiny_project, lambda d: d.assign(date=d["date"].where(d.index != 1, bad))))
    assert err.row == 3 and bad in msg and "YYYY-MM-DD" in msg


def test_missing_required_column(tiny_project):
    path = _edit(tiny_project, lambda d: d.drop(columns=["plot"]))
    with pytest.raises(InputError) as e:
        cw_sheet.load_sheet(path)
    assert "plot" in str(e.value) and "images.tsv" in str(e.value) and "line 1" in str(e.value)


def test_all_problems_reported_together(tiny_project):
    def many(d):
        d.loc[0, "date"] = "2020-02-30"
        d.loc[1, "split"] = "training"
        d.loc[2, "mm_per_px"] = "-1"
        d.loc[3, "image_id"] = "has space"
        return d

    with pytest.raises(InputErrors) as e:
        cw_sheet.load_sheet(_edit(tiny_project, many))
    assert [x.row for x in e.value.errors] == [2, 3, 4, 5]


def test_non_utf8_sheet(tiny_project):
    path = tiny_project / "images.tsv"
    path.write_bytes(path.read_bytes().replace(b"mesa", "mésa".encode("latin-1"), 1))
    with pytest.raises(InputError, match="not UTF-8"):
        cw_sheet.load_sheet(path)


def _rows(project):
    df = cw_sheet.load_sheet(project / "images.tsv")
    return df[["line", "image_id", "image_path", "mask_path"]].to_dict("records"), df


def test_mask_of_another_size_is_refused(tiny_project, tmp_path):
    from crustwatch.io import read_mask, write_image_file

    rows, df = _rows(tiny_project)
    m = read_mask(rows[1]["mask_path"])
    write_image_file(rows[1]["mask_path"], m[:-3, :][None])
    with pytest.raises(InputErrors) as e:
        check_inputs(rows, list(range(7)), 255, str(tmp_path / "c.tsv"))
    msg = str(e.value)
    assert "sheet line 3" in msg and rows[1]["mask_path"] in msg and "width and height" in msg
    assert not (tmp_path / "c.tsv").exists()


def test_unknown_mask_value_is_refused(tiny_project, tmp_path):
    from crustwatch.io import read_mask, write_image_file

    rows, df = _rows(tiny_project)
    m = read_mask(rows[0]["mask_path"])
    m[5, 5] = 42
    write_image_file(rows[0]["mask_path"], m[None])
    with pytest.raises(InputErrors) as e:
        check_inputs(rows, list(range(7)), 255, str(tmp_path / "c.tsv"))
    msg = str(e.value)
    assert "sheet line 2" in msg and "[42]" in msg and "ignore_index 255" in msg


def test_check_inputs_passes_on_good_data(tiny_project, tmp_path):
    rows, df = _rows(tiny_project)
    check_inputs(rows, list(range(7)), 255, str(tmp_path / "c.tsv"))
    out = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert len(out) == len(rows) and out["mask"].all()


def test_auto_split_is_by_plot_and_stable():
    rows = []
    for site in ("a", "b"):
        for p in range(5):
            for date in ("2020-01-01", "2021-01-01"):
                rows.append({"image_id": f"{site}{p}{date}", "site": site, "plot": str(p), "date": date,
                             "camera": "c", "mask_path": "m.png", "split": ""})
    df = pd.DataFrame(rows)
    s = cw_sheet.assign_splits(df, seed=1, val_fraction=0.2, test_fraction=0.2)
    # all photos of a plot share one split
    assert (s.groupby(["site", "plot"])["split"].nunique() == 1).all()
    counts = s.drop_duplicates(["site", "plot"])["split"].value_counts()
    assert counts["val"] == 2 and counts["test"] == 2 and counts["train"] == 6
    assert (s["source"] == "auto").all()
    # adding a new date keeps every plot's split
    more = pd.concat([df, df.assign(date="2022-01-01", image_id=df["image_id"] + "x")], ignore_index=True)
    s2 = cw_sheet.assign_splits(more, seed=1, val_fraction=0.2, test_fraction=0.2)
    assert s2.iloc[: len(s)]["split"].tolist() == s["split"].tolist()
    # another split seed gives another assignment
    s3 = cw_sheet.assign_splits(df, seed=2, val_fraction=0.2, test_fraction=0.2)
    assert s3["split"].tolist() != s["split"].tolist()


def test_sheet_split_wins_and_blank_rows_are_predicted_only():
    df = pd.DataFrame([
        {"image_id": "a", "site": "s", "plot": "1", "date": "2020-01-01", "camera": "c", "mask_path": "m", "split": "train"},
        {"image_id": "b", "site": "s", "plot": "2", "date": "2020-01-01", "camera": "c", "mask_path": "", "split": ""},
    ])
    s = cw_sheet.assign_splits(df)
    assert s["split"].tolist() == ["train", "predict"] and (s["source"] == "sheet").all()


def test_camera_key_is_path_safe():
    assert cw_sheet.camera_key("cam-A") == "cam-A"
    k = cw_sheet.camera_key("Canon EOS 5D; rm -rf /")
    assert cw_sheet.ID_PATTERN.match(k) and k != cw_sheet.camera_key("Canon EOS 5D  rm -rf")


@pytest.mark.parametrize("box, problem", [("1,2,3", "four whole pixel numbers"), ("10,2,5,8", "x0 < x1")])
def test_malformed_reference_box(tiny_project, box, problem):
    path = _edit(tiny_project, lambda df: df.assign(reference=[box] + list(df["reference"][1:])))
    err, msg = _one_error(path)
    assert err.row == 2 and "reference" in msg and problem in msg


def test_reference_box_outside_the_photo_is_refused(tiny_project, tmp_path):
    _edit(tiny_project, lambda df: df.assign(reference=["0,0,5000,10"] + list(df["reference"][1:])))
    df = cw_sheet.load_sheet(tiny_project / "images.tsv")
    rows = df[["line", "image_id", "image_path", "mask_path", "reference"]].to_dict("records")
    with pytest.raises(InputErrors) as e:
        check_inputs(rows, list(range(7)), 255, str(tmp_path / "c.tsv"))
    assert "sheet line 2" in str(e.value) and "reaches outside" in str(e.value)


def test_project_checks_need_a_training_photo_and_every_reference_box(tiny_project):
    """The sheet checks the workflow runs at parse time and ``crustwatch check`` runs too, without Snakemake."""
    from crustwatch.project import sheet_problems, with_defaults

    cfg = with_defaults({"images": str(tiny_project / "images.tsv"), "classes": [{"id": 0, "name": "a"},
                                                                                 {"id": 1, "name": "b"}]})
    df = cw_sheet.load_sheet(cfg["images"])
    splits = cw_sheet.assign_splits(df, **cfg["split"])
    split_of = dict(zip(splits["image_id"], splits["split"]))
    assert sheet_problems(cfg, df, split_of) == []
    none_train = {i: ("test" if s == "train" else s) for i, s in split_of.items()}
    assert any("no photo is for training" in p for p in sheet_problems(cfg, df, none_train))
    cfg["normalize"]["method"] = "reference"
    assert sheet_problems(cfg, df, split_of) == []  # the tiny sheet gives every row a box
    df.loc[df.index[[1, 4]], "reference"] = ""
    (problem,) = sheet_problems(cfg, df, split_of)
    assert "sheet line(s) 3, 6" in problem and "no `reference` box" in problem
