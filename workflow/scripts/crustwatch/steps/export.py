"""Step ``export``: the ensemble's labels at points as CoralNet's CSV, and cover as Darwin Core rows."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import files, io, points
from ..export import darwin_core, point_labels

log = logging.getLogger("crustwatch")


def export(by_image_tsv: str, by_plot_date_tsv: str, ensemble_json: str, photos: list[dict], classes: list[dict],
           labels: dict[str, str], taxa: dict[str, str], version: str, out_points: str, out_dwc: str) -> None:
    """Write both exports (:mod:`crustwatch.export`).

    ``photos``: per photo with points, ``image_id``, ``name`` (its file name), ``points`` (the CSV),
    ``labelled`` (whether its labels are the row's training labels, or positions to predict),
    ``prediction`` and ``seeds`` (its class maps).
    """
    names = {int(c["id"]): c["name"] for c in classes}
    by_name = {c["name"]: int(c["id"]) for c in classes}
    rows = []
    for ph in photos:
        ens = io.read_raster(ph["prediction"])[0][0]  # in the photo's own pixels
        pts = points.read_points(ph["points"], ph["name"], by_name, labels, shape=ens.shape, image_id=ph["image_id"],
                                 require_labels=ph["labelled"])
        rows += point_labels(pts, ens, io.read_raster(ph["seeds"])[0], names, ph["name"])
    with files.atomic_path(out_points) as tmp:
        points.write_points(tmp, rows, extra=["Confidence", "Truth"])
    ens_card = files.read_json(ensemble_json)
    method = (f"CrustWatch {version}: class maps of an ensemble of {len(ens_card['seeds'])} "
              f"{ens_card['model']['arch']}-{ens_card['model']['encoder']} models (model version "
              f"{ens_card.get('version', 'unversioned')}, seeds "
              f"{', '.join(map(str, ens_card['seeds']))}); cover = class pixels / plot-area pixels per photo, "
              "adjusted for the models' error rates where the validation photos support it, plot values the "
              "mean of its photos")
    by_image = pd.read_csv(by_image_tsv, sep="\t", dtype={"image_id": str, "site": str, "plot": str, "date": str})
    by_plot = pd.read_csv(by_plot_date_tsv, sep="\t", dtype={"site": str, "plot": str, "date": str})
    dwc = darwin_core(by_image, by_plot, taxa, method)
    with files.atomic_path(out_dwc) as tmp:
        dwc.to_csv(tmp, index=False, float_format="%.10g")
    scored = [r["Label"] == r["Truth"] for r in rows if r["Truth"]]
    log.info("exported %d points of %d photos%s and %d Darwin Core cover rows", len(rows), len(photos),
             f" (ensemble = point label at {100 * np.mean(scored):.1f}%)" if scored else "", len(dwc))
