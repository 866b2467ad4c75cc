"""Exports: the ensemble's labels at points (CoralNet CSV, with the seeds' agreement) and cover as Darwin
Core measurement rows (crustwatch.export)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crustwatch.export import DWC_COLUMNS, darwin_core, point_labels
from crustwatch.points import read_points, write_points

NAMES = {0: "soil", 1: "moss"}


def test_point_labels_carry_the_ensembles_label_and_the_seeds_agreement(tmp_path):
    ens = np.array([[0, 1], [1, 1]], np.uint8)
    seeds = np.array([[[0, 1], [1, 0]], [[0, 0], [1, 0]], [[1, 1], [1, 0]]], np.uint8)
    rows = point_labels([(0, 0, 0), (0, 1, None), (1, 1, 0)], ens, seeds, NAMES, "a.jpg")
    assert [(r["Row"], r["Column"], r["Label"], r["Confidence"], r["Truth"]) for r in rows] == [
        (0, 0, "soil", 66.7, "soil"), (0, 1, "moss", 66.7, ""), (1, 1, "moss", 0.0, "soil")]
    # what CoralNet imports: the file reads back as labelled points
    write_points(tmp_path / "out.csv", rows, extra=["Confidence", "Truth"])
    assert read_points(tmp_path / "out.csv", "a.jpg", {"soil": 0, "moss": 1}) == [(0, 0, 0), (0, 1, 1), (1, 1, 1)]


def test_darwin_core_rows_per_photo_and_per_plot_date():
    common = {"site": "mesa", "plot": "P1", "date": "2020-05-12", "interval": "calibrated95",
              "ensemble_card_sha256": "ab" * 32}
    by_image = pd.DataFrame([{**common, "image_id": "x1", "camera": "cam-A", "class": c, "cover_pct": v,
                              "ci_low": v - 1, "ci_high": v + 1} for c, v in (("soil", 60.0), ("moss", 40.0))])
    by_plot = pd.DataFrame([{**common, "class": c, "cover_pct": v, "ci_low": v - 2, "ci_high": v + 2, "n_images": 1}
                            for c, v in (("soil", 60.0), ("moss", 40.0))])
    dwc = darwin_core(by_image, by_plot, {"moss": "Syntrichia caninervis"}, "CrustWatch 0.1.0")
    assert list(dwc.columns) == DWC_COLUMNS and len(dwc) == 4
    assert set(dwc["measurementType"]) == {"relative cover"} and set(dwc["measurementUnit"]) == {"%"}
    plot_moss = dwc[(dwc["eventID"] == "mesa/P1/2020-05-12") & (dwc["scientificName"] == "Syntrichia caninervis")]
    assert len(plot_moss) == 1 and plot_moss["measurementValue"].iloc[0] == 40.0
    photo = dwc[dwc["eventID"] == "mesa/P1/2020-05-12/x1"]
    assert set(photo["parentEventID"]) == {"mesa/P1/2020-05-12"} and set(photo["locationID"]) == {"mesa/P1"}
    assert photo["measurementAccuracy"].iloc[0] == "95% interval 59.0000-61.0000 (calibrated95)"
    assert ("ab" * 32) in photo["measurementMethod"].iloc[0] and dwc["measurementID"].is_unique
