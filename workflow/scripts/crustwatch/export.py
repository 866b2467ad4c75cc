"""Exports for the tools ecologists use: the ensemble's labels at points (CoralNet's CSV) and cover as
Darwin Core measurement rows.

**Points** (``results/export/coralnet_points.csv``): ``Name, Row, Column, Label`` as CoralNet imports
annotations, plus ``Confidence`` (the percentage of seeds whose own class map gives the ensemble's label at
that pixel: 100 when every seed agrees) and ``Truth`` (the point's own label, where it has one), for the
points of every sheet row with ``points`` and of ``export.points`` (a CSV of positions, CoralNet's points
export, for photos without labels; its ``Label`` column may be blank).

**Cover** (``results/export/dwc_cover.csv``): one Darwin Core MeasurementOrFact row per photo x class and
per plot x date x class: ``measurementType`` "relative cover", ``measurementUnit`` "%", the taxon as
``scientificName`` (the class name, or ``export.taxa``'s name for it), ``eventID`` / ``parentEventID``
(``site/plot/date/image_id`` under ``site/plot/date``), ``eventDate``, ``locationID`` (``site/plot``), the
interval in ``measurementAccuracy`` and, in ``measurementMethod``, the models by their ensemble card's sha256.
"""

from __future__ import annotations

import pandas as pd

#: Darwin Core MeasurementOrFact columns, in the export's order
DWC_COLUMNS = ["measurementID", "eventID", "parentEventID", "eventDate", "locationID", "scientificName",
               "measurementType", "measurementValue", "measurementUnit", "measurementAccuracy",
               "measurementMethod", "measurementRemarks"]


def point_labels(points: list[tuple[int, int, int | None]], ensemble_map, seed_maps, names: dict[int, str],
                 photo_name: str) -> list[dict]:
    """CoralNet rows of one photo's points: the ensemble's label, the seeds' agreement, the point's truth.

    Args:
        points: (row, column, class id or None when the point has no label).
        ensemble_map: the ensemble's class map (H, W), photo pixels.
        seed_maps: the seeds' class maps (S, H, W).
        names: class id -> name.
        photo_name: the photo's file name (CoralNet's ``Name``).
    """
    out = []
    for row, col, truth in points:
        label = int(ensemble_map[row, col])
        agree = float((seed_maps[:, row, col] == label).mean()) if len(seed_maps) else 1.0
        out.append({"Name": photo_name, "Row": row, "Column": col, "Label": names[label],
                    "Confidence": round(100 * agree, 1), "Truth": "" if truth is None else names[truth]})
    return out


def darwin_core(by_image: pd.DataFrame, by_plot_date: pd.DataFrame, taxa: dict[str, str] | None = None,
                method: str = "") -> pd.DataFrame:
    """Cover per photo and per plot and date as Darwin Core measurement rows (see the module's docstring)."""
    taxa = taxa or {}
    rows = []

    def add(r, event: str, parent: str, remarks: str) -> None:
        name = str(r["class"])
        rows.append({
            "measurementID": f"{event}:{name}",
            "eventID": event,
            "parentEventID": parent,
            "eventDate": str(r["date"]),
            "locationID": f"{r['site']}/{r['plot']}",
            "scientificName": taxa.get(name, name),
            "measurementType": "relative cover",
            "measurementValue": round(float(r["cover_pct"]), 4),
            "measurementUnit": "%",
            "measurementAccuracy": f"{_level(r)} interval {float(r['ci_low']):.4f}-{float(r['ci_high']):.4f} "
                                   f"({r['interval']})",
            "measurementMethod": f"{method}; models: ensemble card sha256 {r['ensemble_card_sha256']}",
            "measurementRemarks": remarks,
        })

    for _, r in by_plot_date.iterrows():
        add(r, f"{r['site']}/{r['plot']}/{r['date']}", f"{r['site']}/{r['plot']}",
            f"plot and date: mean of {int(r['n_images'])} photo(s)")
    for _, r in by_image.iterrows():
        add(r, f"{r['site']}/{r['plot']}/{r['date']}/{r['image_id']}", f"{r['site']}/{r['plot']}/{r['date']}",
            f"photo {r['image_id']}, camera {r['camera']}")
    return pd.DataFrame(rows, columns=DWC_COLUMNS)


def _level(r) -> str:
    """'95%' from an interval label such as ``calibrated95`` or ``seed_t95_uncalibrated``."""
    digits = "".join(ch for ch in str(r["interval"]).split("_uncalibrated")[0] if ch.isdigit())
    return f"{digits}%" if digits else "the"
