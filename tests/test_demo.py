"""The demo generator: seeded, field-like, exact masks, and the bundled sheet matches it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crustwatch import demo
from crustwatch.files import sha256_file
from crustwatch.io import read_mask, read_photo


def test_tiny_project_files_are_real_rasters(tiny_project_master):
    sheet = pd.read_csv(tiny_project_master / "images.tsv", sep="\t", dtype=str)
    assert len(sheet) == 2 * 2 * 2
    suffixes = {p.rsplit(".", 1)[1] for p in sheet["image"]}
    assert suffixes == {"png", "jpg"}
    for _, r in sheet.iterrows():
        img, _ = read_photo(tiny_project_master / r["image"])
        m = read_mask(tiny_project_master / r["mask"])
        assert img.shape[1:] == m.shape
        assert 255 in m  # the plot frame is the ignore region
        assert set(np.unique(m)) <= {c["id"] for c in demo.CLASSES} | {255}


def test_generation_is_seeded(tmp_path):
    spec = demo.DemoSpec(seed=3, plots_per_site=1, dates=demo.DEFAULT_DATES[:2], plot_mm=40, frame_mm=4)
    demo.generate(tmp_path / "a", spec)
    demo.generate(tmp_path / "b", spec)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file() and p.name != "images.tsv")
    assert len(files) > 4
    for f in files:
        assert sha256_file(tmp_path / "a" / f) == sha256_file(tmp_path / "b" / f), f
    demo.generate(tmp_path / "c", demo.DemoSpec(seed=4, plots_per_site=1, dates=demo.DEFAULT_DATES[:2], plot_mm=40, frame_mm=4))
    mask = next(f for f in files if f.parts[0] == "masks")
    assert sha256_file(tmp_path / "a" / mask) != sha256_file(tmp_path / "c" / mask)


def test_scene_is_the_same_ground_at_any_resolution():
    spec = demo.DemoSpec(seed=1, plot_mm=60, frame_mm=6)
    cam_a, cam_b = demo.DEFAULT_CAMERAS[0], demo.DEFAULT_CAMERAS[2]
    _, ma, ca = demo.render(spec, "mesa", 1, 0, cam_a)
    _, mb, cb = demo.render(spec, "mesa", 1, 0, cam_b)
    assert ma.shape != mb.shape
    for k in ca:
        assert abs(ca[k] - cb[k]) < 4.0  # same cover within resampling and a few mm of camera offset


def test_demo_has_taxa_trends_and_drift():
    spec = demo.DemoSpec()
    names = [c["name"] for c in demo.CLASSES]
    assert len([n for n in names if n != "bare_soil"]) >= 5
    assert len(spec.sites) == 2 and spec.plots_per_site >= 3 and len(spec.dates) >= 4
    # moss expands at the mesa site
    small = demo.DemoSpec(plot_mm=120, frame_mm=10)
    first = demo.render(small, "mesa", 1, 0, spec.cameras[0])[2]["moss"]
    last = demo.render(small, "mesa", 1, 3, spec.cameras[0])[2]["moss"]
    assert last > first + 10
    # later dates use drifted cameras that differ in scale, colour and file format
    cams = [spec.cameras[min(t, len(spec.cameras) - 1)] for t in range(len(spec.dates))]
    assert len({c.mm_per_px for c in cams}) == len(cams)
    assert len({c.wb for c in cams}) == len(cams)
    assert {c.fmt for c in cams} >= {"png", "jpg", "tif"}


def test_bundled_sheet_matches_the_generator(repo):
    rows = demo.sheet_rows(demo.DemoSpec(), repo / "data" / "demo", repo / "config" / "images.tsv")
    expected = pd.DataFrame(rows).to_csv(sep="\t", index=False)
    assert (repo / "config" / "images.tsv").read_text() == expected
