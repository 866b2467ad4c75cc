"""The bad-input corpus: every case is either refused with a message naming the sheet line, the file and
the problem, or accepted through a documented conversion (docs/input.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image, ImageOps

from crustwatch import io
from crustwatch import sheet as cw_sheet
from crustwatch.errors import InputError, InputErrors
from crustwatch.steps.ingest import check_inputs

CLASS_IDS = [0, 1, 2]
RGB = (np.random.default_rng(0).random((40, 64, 3)) * 255).astype(np.uint8)
# smooth and asymmetric (a bright corner, gradients): JPEG decoders agree on it, and every turn shows
_y, _x = np.mgrid[0:40, 0:64]
SMOOTH = np.stack([_x * 4, _y * 6, np.where((_x < 16) & (_y < 10), 250, 60)], -1).astype(np.uint8)


def write_tif(path, arr: np.ndarray) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                       dtype=arr.dtype.name) as ds:
        ds.write(arr)
    return str(path)


def check_one(tmp_path, photo, mask=None, max_megapixels=None) -> InputError | None:
    """check_inputs on a one-row sheet (line 2); the error it raises, or None."""
    rows = [{"line": 2, "image_id": "p1", "image_path": str(photo), "mask_path": str(mask) if mask else ""}]
    try:
        check_inputs(rows, CLASS_IDS, 255, str(tmp_path / "checked.tsv"), max_megapixels)
    except InputErrors as e:
        assert len(e.errors) == 1
        return e.errors[0]
    return None


def assert_names_all(err: InputError | None, path, *words: str) -> None:
    assert err is not None, "accepted, but should have been refused"
    text = str(err)
    assert "sheet line 2" in text and "image_id 'p1'" in text and str(path) in text, text
    for w in words:
        assert w in text, (w, text)


# ---------------------------------------------------------------- broken files


def test_truncated_png_is_refused_before_any_work(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    # GDAL alone would read it without complaint, the missing rows as zeros
    with rasterio.open(tmp_path / "cut.png") as ds:
        assert ds.read().shape == (3, 40, 64)
    assert_names_all(check_one(tmp_path, tmp_path / "cut.png"), tmp_path / "cut.png", "truncated or corrupt")
    with pytest.raises(InputError, match="truncated or corrupt"):
        io.read_photo(tmp_path / "cut.png", 2, "p1")


def test_truncated_jpeg_is_refused_when_read(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "ok.jpg", quality=90)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        io.read_photo(tmp_path / "cut.jpg", 2, "p1")
    assert_names_all(e.value, tmp_path / "cut.jpg", "truncated or corrupt")


@pytest.mark.parametrize("content,problem", [(b"", "empty (0 bytes)"),
                                             (b"this is a note, not a photo\n", "cannot be read as a raster")])
def test_empty_and_text_files_named_jpg(tmp_path, content, problem):
    (tmp_path / "p.jpg").write_bytes(content)
    assert_names_all(check_one(tmp_path, tmp_path / "p.jpg"), tmp_path / "p.jpg", problem)


def test_missing_photo(tmp_path):
    assert_names_all(check_one(tmp_path, tmp_path / "nowhere.jpg"), tmp_path / "nowhere.jpg", "does not exist")


# ---------------------------------------------------------------- conversions


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.fromarray(SMOOTH).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert check_one(tmp_path, tmp_path / "cmyk.jpg") is None
    arr, _ = io.read_photo(tmp_path / "cmyk.jpg")
    want = np.asarray(Image.open(tmp_path / "cmyk.jpg").convert("RGB")).transpose(2, 0, 1)
    assert arr.shape == (3, 40, 64) and np.abs(arr.astype(int) - want).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_the_photo_as_viewers_show_it(tmp_path, orientation):
    im = Image.fromarray(SMOOTH)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    arr, geo = io.read_photo(tmp_path / "phone.jpg")
    shown = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg"))).transpose(2, 0, 1)
    assert arr.shape == shown.shape
    # the same pixels, up to the two JPEG decoders' rounding
    assert np.abs(arr.astype(int) - shown).mean() < 2  # a wrong turn would differ by tens of levels
    bands, h, w = io.raster_shape(tmp_path / "phone.jpg")
    assert (h, w) == arr.shape[1:]


def test_mask_follows_the_turned_photo_and_a_raw_oriented_mask_is_explained(tmp_path):
    im = Image.fromarray(RGB)
    exif = im.getexif()
    exif[0x0112] = 6  # stored 64 wide x 40 high, shown 40 wide x 64 high
    im.save(tmp_path / "phone.jpg", exif=exif)
    Image.fromarray(np.zeros((64, 40), np.uint8)).save(tmp_path / "shown.png")
    assert check_one(tmp_path, tmp_path / "phone.jpg", tmp_path / "shown.png") is None
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(tmp_path / "raw.png")
    err = check_one(tmp_path, tmp_path / "phone.jpg", tmp_path / "raw.png")
    assert_names_all(err, tmp_path / "raw.png", "mask is 64x40 pixels", "EXIF orientation")


def test_band_counts(tmp_path):
    grey = RGB[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(grey).convert("LA").save(tmp_path / "grey_alpha.png")
    Image.fromarray(RGB).convert("RGBA").save(tmp_path / "rgba.png")
    for name in ("grey.png", "grey_alpha.png"):
        assert check_one(tmp_path, tmp_path / name) is None, name
        arr, _ = io.read_photo(tmp_path / name)
        assert arr.shape == (3, 40, 64) and (arr == grey[None]).all(), name
    arr, _ = io.read_photo(tmp_path / "rgba.png")
    assert (arr == RGB.transpose(2, 0, 1)).all()  # alpha dropped
    five = write_tif(tmp_path / "five.tif", np.zeros((5, 8, 8), np.uint8))
    assert_names_all(check_one(tmp_path, five), five, "5 bands")


def test_16_bit_and_float_photos(tmp_path):
    chw = RGB.transpose(2, 0, 1)
    u16 = write_tif(tmp_path / "u16.tif", chw.astype(np.uint16) * 257)
    arr, _ = io.read_photo(u16)
    assert (arr == chw).all()
    f32 = write_tif(tmp_path / "f32.tif", chw.astype(np.float32) / 255)
    arr, _ = io.read_photo(f32)
    assert (arr == chw).all()
    nan = chw.astype(np.float32) / 255
    nan[0, :2, :3] = np.nan
    path = write_tif(tmp_path / "nan.tif", nan)
    with pytest.raises(InputError) as e:
        io.read_photo(path, 2, "p1")
    assert_names_all(e.value, path, "6 NaN or infinite")
    path = write_tif(tmp_path / "big.tif", chw.astype(np.float32))
    with pytest.raises(InputError) as e:
        io.read_photo(path, 2, "p1")
    assert_names_all(e.value, path, "expected 0..1")
    path = write_tif(tmp_path / "i16.tif", chw.astype(np.int16))
    with pytest.raises(InputError) as e:
        io.read_photo(path, 2, "p1")
    assert_names_all(e.value, path, "data type int16")


def test_photo_beyond_the_pixel_limit(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "p.png")
    err = check_one(tmp_path, tmp_path / "p.png", max_megapixels=0.002)  # 64 x 40 = 2560 px > 2000
    assert_names_all(err, tmp_path / "p.png", "0.0 megapixels", "ingest.max_megapixels")
    assert check_one(tmp_path, tmp_path / "p.png", max_megapixels=0.003) is None


# ---------------------------------------------------------------- masks


def test_mask_of_another_size_and_with_unknown_values(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "p.png")
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(tmp_path / "small.png")
    assert_names_all(check_one(tmp_path, tmp_path / "p.png", tmp_path / "small.png"), tmp_path / "small.png",
                     "mask is 60x40 pixels", "64x40")
    m = np.zeros((40, 64), np.uint8)
    m[0, 0], m[1, 1] = 7, 255
    Image.fromarray(m).save(tmp_path / "odd.png")
    assert_names_all(check_one(tmp_path, tmp_path / "p.png", tmp_path / "odd.png"), tmp_path / "odd.png",
                     "value(s) [7]")
    Image.fromarray(RGB).save(tmp_path / "rgb_mask.png")
    assert_names_all(check_one(tmp_path, tmp_path / "p.png", tmp_path / "rgb_mask.png"),
                     tmp_path / "rgb_mask.png", "mask has 3 bands")


# ---------------------------------------------------------------- the sheet


HEADER = "image_id\tsite\tplot\tdate\timage\tmask\tsplit\n"


def sheet_error(tmp_path, content: bytes) -> str:
    (tmp_path / "images.tsv").write_bytes(content)
    with pytest.raises((InputError, InputErrors)) as e:
        cw_sheet.load_sheet(tmp_path / "images.tsv")
    return str(e.value)


def test_sheet_problems_name_line_and_problem(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(tmp_path / "m.png")
    ok = "a\tmesa\tP1\t2020-05-01\ta.png\tm.png\ttrain\n"
    text = sheet_error(tmp_path, (HEADER + ok + "b\tm\u00e9sa\tP2\t2020-05-01\ta.png\t\t\n").encode("latin-1"))
    assert "line 3" in text and "not UTF-8" in text
    text = sheet_error(tmp_path, b"image_id\tsite\tdate\timage\na\tmesa\t2020-05-01\ta.png\n")
    assert "line 1" in text and "['plot']" in text
    text = sheet_error(tmp_path, (HEADER + ok + ok).encode())
    assert "sheet line 3" in text and "duplicate image_id" in text and "line 2" in text
    text = sheet_error(tmp_path, (HEADER + ok + "b\tmesa\tP1\t05/01/2020\ta.png\t\t\n"
                                  + "c\tmesa\tP1\t2020-02-30\ta.png\t\t\n").encode())
    assert "sheet line 3" in text and "'05/01/2020'" in text and "sheet line 4" in text and "'2020-02-30'" in text
    text = sheet_error(tmp_path, HEADER.replace("\t", ",").encode() + ok.replace("\t", ",").encode())
    assert "comma" in text
    assert "empty" in sheet_error(tmp_path, b"")


def test_ids_and_files_that_would_share_an_output_are_refused(tmp_path):
    for name in ("a", "b", "c"):
        Image.fromarray(RGB).save(tmp_path / f"{name}.png")
        Image.fromarray(np.zeros((40, 64), np.uint8)).save(tmp_path / f"m{name}.png")
    row = "{}\tmesa\tP1\t2020-05-01\t{}.png\tm{}.png\ttrain\n"
    # another id plus `_seeds` would overwrite its seed maps
    text = sheet_error(tmp_path, (HEADER + row.format("a", "a", "a") + row.format("a_seeds", "b", "b")).encode())
    assert "sheet line 3" in text and "'a_seeds' and 'a' (sheet line 2)" in text and "a_seeds.tif" in text
    # ids differing only in case are one file on macOS and Windows
    text = sheet_error(tmp_path, (HEADER + row.format("P1", "a", "a") + row.format("p1", "b", "b")).encode())
    assert "'p1' and 'P1'" in text and "ignoring case" in text
    # `..` (or any leading dot) would write outside the photo's folder
    text = sheet_error(tmp_path, (HEADER + row.format("..", "a", "a")).encode())
    assert "image_id '..' starts with '.'" in text
    text = sheet_error(tmp_path, (HEADER + row.format("x" * 245, "a", "a")).encode())
    assert "245 characters" in text
    # one photo under two ids; one row's photo as another's mask
    text = sheet_error(tmp_path, (HEADER + row.format("a", "a", "a") + row.format("b", "a", "b")).encode())
    assert "sheet line 3" in text and "photo is also the photo of sheet line 2 (image_id 'a')" in text
    text = sheet_error(tmp_path, (HEADER + row.format("a", "a", "a")
                                  + "b\tmesa\tP1\t2020-05-01\tb.png\ta.png\ttrain\n").encode())
    assert "mask is also the photo of sheet line 2" in text
    cw_sheet.load_sheet(_write(tmp_path, HEADER + row.format("a", "a", "a") + row.format("b", "b", "b")))


def _write(tmp_path, text: str):
    (tmp_path / "images.tsv").write_text(text)
    return tmp_path / "images.tsv"


def test_paths_with_spaces_and_non_ascii_names_are_accepted(tmp_path):
    folder = tmp_path / "Feld fotos 2020"
    folder.mkdir()
    Image.fromarray(RGB).save(folder / "Parzelle ü 1.png")
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(folder / "Maske ü 1.png")
    (tmp_path / "images.tsv").write_text(
        HEADER + "a\tDünen Süd 砂丘\tP 1\t2020-05-01\tFeld fotos 2020/Parzelle ü 1.png\t"
        "Feld fotos 2020/Maske ü 1.png\ttrain\n", encoding="utf-8")
    df = cw_sheet.load_sheet(tmp_path / "images.tsv")
    assert df.loc["a", "site"] == "Dünen Süd 砂丘"
    rows = [{"line": 2, "image_id": "a", "image_path": df.loc["a", "image_path"], "mask_path": df.loc["a", "mask_path"]}]
    check_inputs(rows, CLASS_IDS, 255, str(tmp_path / "checked.tsv"))
    assert pd.read_csv(tmp_path / "checked.tsv", sep="\t")["width"].tolist() == [64]


# ---------------------------------------------------------------- config mistakes


def _config(**over) -> dict:
    from crustwatch import demo

    cfg = {"images": "images.tsv", "classes": demo.demo_classes(), "ignore_index": 255, "seeds": [0, 1]}
    cfg.update(over)
    return cfg


@pytest.mark.parametrize("seeds, words", [
    (3, ["seeds", "not a list"]), ([], ["seeds", "empty"]), ([0, 0], ["seeds", "[0] listed more than once"]),
    ([-1, 0], ["seeds", "[-1]", "0..2**63-1"]), ([2**70], ["seeds", "0..2**63-1"]),
    ({"start": 0}, ["seeds", "integer start and count"]),
])
def test_bad_seeds_are_named_in_one_line(seeds, words):
    from crustwatch.project import config_problems

    problems = config_problems(_config(seeds=seeds))
    assert len(problems) == 1 and all(w in problems[0] for w in words), problems


def test_config_mistakes_are_all_reported_at_once():
    from crustwatch.project import config_problems

    classes = [{"id": 0, "name": "moss"}, {"id": 1, "name": "moss"}, {"id": 1, "name": "soil"}]
    problems = config_problems(_config(classes=classes, ignore_index=0, ignore_indx=0,
                                       train={"patch_size": 4096, "stesp": 3},
                                       model={"encoder_depth": 5}))
    text = "\n".join(problems)
    for words in (["name moss", "more than one class"], ["id 1", "more than one class"],
                  ["ignore_index", "0 is also the id"], ["'ignore_indx' was unexpected", "typo"],
                  ["'stesp' was unexpected"], ["model.decoder_channels", "encoder_depth 5", "[128, 64, 32, 16, 8]"],
                  ["train.patch_size 4096", "GiB"]):
        assert all(w in text for w in words), (words, text)
    assert len(problems) == 7 and all(len(p) < 250 for p in problems)
    assert config_problems(_config()) == []
    # a partial config: the missing key is named, nothing crashes
    assert any("'classes' is a required property" in p for p in config_problems({"images": "x.tsv"}))


def test_workflow_and_check_refuse_a_bad_config_in_a_few_lines(tiny_project, repo):
    import subprocess
    import sys

    import yaml

    bad = _config(seeds=3, classes=[{"id": 0, "name": "a"}, {"id": 1, "name": "a"}], train={"stesp": 1})
    (tiny_project / "bad.yaml").write_text(yaml.safe_dump(bad))
    bin_ = f"{sys.executable.rsplit('/', 1)[0]}"
    res = subprocess.run([f"{bin_}/snakemake", "-n", "--snakefile", str(repo / "Snakefile"), "--directory",
                          str(tiny_project), "--configfile", str(tiny_project / "bad.yaml")],
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "3 problem(s)" in out and "config key seeds" in out and "name a" in out and "'stesp'" in out, out
    assert "setdefault" not in out and len(out.splitlines()) < 40, out
    res = subprocess.run([f"{bin_}/crustwatch", "check", "--config", "bad.yaml"], cwd=tiny_project,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "3 problem(s)" in res.stderr and "config key seeds" in res.stderr, res.stderr


def test_class_maps_with_colours_write_without_gdal_errors(tmp_path, caplog):
    """A colour table is set when the file is created: GDAL then never complains, in every predict
    log, that it 'Cannot modify tag PhotometricInterpretation while writing'."""
    import logging

    import rasterio

    arr = np.random.default_rng(0).integers(0, 3, (300, 300)).astype(np.uint8)
    with caplog.at_level(logging.INFO, logger="rasterio"):
        for cog in (None, "nearest"):
            io.write_raster(tmp_path / f"m{cog}.tif", arr, colormap={0: (255, 0, 0), 1: (0, 255, 0)}, cog=cog,
                            tags={"classes": "0=a,1=b"}, band_descriptions=["class"])
            with rasterio.open(tmp_path / f"m{cog}.tif") as ds:
                assert ds.colormap(1)[1] == (0, 255, 0, 255) and (ds.read(1) == arr).all()
                assert ds.tags()["classes"] == "0=a,1=b" and ds.descriptions == ("class",)
    assert "GDAL signalled an error" not in caplog.text, caplog.text


def test_unit_slips_in_mm_per_px_and_sizes_after_resampling(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")  # 64 x 40

    def check(gsd, target, max_mp=None):
        rows = [{"line": 2, "image_id": "p1", "image_path": str(tmp_path / "a.png"), "mask_path": "",
                 "mm_per_px": gsd}]
        try:
            check_inputs(rows, CLASS_IDS, 255, None, max_mp, target)
        except InputErrors as e:
            return str(e.errors[0])
        return None

    # a unit typo (0.001: metres?) is refused before it shrinks the photo to one pixel
    assert "mm_per_px 0.001 is outside the plausible" in check(0.001, 1.0)
    assert "metres or cm" in check(250, 1.0)
    text = check(0.5, 1.0)  # 32 x 20 pixels after resampling
    assert "would be 32x20 pixels, too small" in text and "sheet line 2" in text
    # the pixel limit holds for the photo as resampled, not only as read
    assert "would be 640x400 = 0.3 megapixels, over ingest.max_megapixels = 0.1" in check(10, 1.0, max_mp=0.1)
    assert check(1.0, 1.0, max_mp=0.1) is None and check("", 1.0) is None and check(2.0, None) is None


def test_palette_photos_gifs_and_multi_image_files(tmp_path, caplog):
    """A palette PNG or GIF photo is read through its colour table (with a warning), not as grey
    indices; a TIFF of several pages is refused; a palette mask is read as its indices (class ids)."""
    import logging

    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
    idx = (np.arange(40 * 64).reshape(40, 64) % 3).astype(np.uint8)
    pal = Image.fromarray(idx, mode="P")
    pal.putpalette(colours.ravel().tolist() + [0] * (768 - 9))
    for name in ("pal.png", "pal.gif"):
        pal.save(tmp_path / name)
        with caplog.at_level(logging.WARNING, logger="crustwatch"):
            arr, _ = io.read_photo(tmp_path / name, 2, "p1")
        assert (np.moveaxis(arr, 0, -1) == colours[idx]).all(), name
        assert "indexed-colour" in caplog.text and "colour table" in caplog.text
        assert check_one(tmp_path, tmp_path / name) is None
    # a palette mask: the indices are the class ids
    pal.save(tmp_path / "mask.png")
    assert (io.read_mask(tmp_path / "mask.png") == idx).all()
    # several pages in one TIFF: only the first would be read
    Image.fromarray(RGB).save(tmp_path / "pages.tif", save_all=True, append_images=[Image.fromarray(RGB[::-1])])
    err = check_one(tmp_path, tmp_path / "pages.tif")
    assert_names_all(err, tmp_path / "pages.tif", "holds 2 images", "one image per file")


def test_missing_files_give_a_hint_and_a_short_list(tmp_path, monkeypatch):
    (tmp_path / "sheets").mkdir()
    (tmp_path / "photos").mkdir()
    Image.fromarray(RGB).save(tmp_path / "photos" / "a.png")
    rows = "".join(f"p{k}\tmesa\tP1\t2020-05-01\tphotos/a.png\t\t\n" for k in range(30))
    (tmp_path / "sheets" / "images.tsv").write_text(HEADER + rows)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputErrors) as e:
        cw_sheet.load_sheet("sheets/images.tsv")
    text = str(e.value)
    # 30 missing photos (plus the 29 repeats of one file): a dozen listed, the rest counted, and why
    assert text.count("\n  - ") == 12 and "more of the same kinds" in text
    assert "relative to the sheet's own folder 'sheets'" in text and "'photos/a.png' exists relative to" in text


def test_the_demo_sheet_without_its_photos_says_how_to_make_them(tmp_path, monkeypatch):
    rows = "".join(f"p{k}\tmesa\tP1\t2020-05-01\tdata/demo/photos/p{k}.png\t\t\n" for k in range(3))
    (tmp_path / "images.tsv").write_text(HEADER + rows)
    monkeypatch.setattr(cw_sheet, "DEMO_SHEET", (tmp_path / "images.tsv").resolve())
    with pytest.raises(InputErrors) as e:
        cw_sheet.load_sheet(tmp_path / "images.tsv")
    assert "bundled demo's sheet" in str(e.value) and "make demo" in str(e.value) and "--configfile" in str(e.value)


def test_mm_per_px_that_contradicts_the_georeference_is_refused(tmp_path, caplog):
    import logging

    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=40, count=3, dtype="uint8",
                       crs=CRS.from_epsg(32612), transform=from_origin(500000, 4200000, 0.0005, 0.0005)) as ds:
        ds.write(np.moveaxis(RGB, -1, 0))
    assert io.georeferenced_mm_per_px(path) == pytest.approx(0.5)

    def check(gsd):
        rows = [{"line": 2, "image_id": "p1", "image_path": str(path), "mask_path": "", "mm_per_px": gsd}]
        try:
            check_inputs(rows, CLASS_IDS, 255, None, None, None)
        except InputErrors as e:
            return str(e.errors[0])
        return None

    assert "mm_per_px 5 disagrees with the photo's georeference, 0.5 mm per pixel" in check(5)
    assert check(0.52) is None
    with caplog.at_level(logging.WARNING, logger="crustwatch"):
        assert check("") is None
    assert "georeference says 0.5 mm per pixel" in caplog.text
    Image.fromarray(RGB).save(tmp_path / "plain.png")
    assert io.georeferenced_mm_per_px(tmp_path / "plain.png") is None


def test_check_lists_config_and_sheet_problems_in_one_run(tmp_path, capsys):
    from crustwatch import cli

    (tmp_path / "bad.tsv").write_text("image_id\tsite\tplot\tdate\timage\nx\tm\tP1\t2020-13-01\tnope.png\n")
    (tmp_path / "bad.yaml").write_text(f"images: {tmp_path / 'bad.tsv'}\nclasses: [{{id: 0, name: a}}, "
                                       "{id: 1, name: a}]\nseeds: 3\n")
    assert cli.main(["check", "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "config key seeds" in err and "name a given to more than one class" in err
    assert "'2020-13-01' is not a real date" in err and "photo file does not exist" in err
