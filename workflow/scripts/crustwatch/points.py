"""Point annotations (point-intercept labels) in CoralNet's CSV format, and how they become training targets.

Ecologists have scored cover by point-intercept for decades, and CoralNet trains on points: a CSV of
``Name, Row, Column, Label`` (the photo's file name, the point's pixel row and column counted from 0 at
the top-left corner, as CoralNet exports them since it moved from 1-based positions, and the label's
short code). A sheet row's ``points`` file may hold the points of many photos (a whole CoralNet export):
the rows whose ``Name`` is the photo's file name are its points. A label is a class name unless the
config maps codes to class names (``points.labels``).

**A point becomes a training target** as a disk of radius ``points.radius_px`` photo pixels centred on it,
labelled with the point's class, and every other pixel is the ignore value: the mask of a points photo is
a sparse mask, and training, evaluation and cover treat it as any partial mask (its labelled pixels are
the truth; the rest is unlabelled). Pixels that disks of different classes both claim are ignored. With
radius 0 a point labels its own pixel only. The disk is scaled with the photo to
``normalize.target_mm_per_px`` (nearest neighbour, as masks are). The truth's cover of a points photo is
then its disks' class fractions, within a hair of the point count's (disks clipped at the photo's edge or
by a neighbour weigh a little less); :func:`binomial_interval` gives the point count's own uncertainty.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .errors import InputError

COLUMNS = ("Name", "Row", "Column", "Label")


def read_points(path: str | Path, photo_name: str, classes: dict[str, int], labels: dict[str, str] | None = None,
                shape: tuple[int, int] | None = None, line: int | None = None,
                image_id: str | None = None, require_labels: bool = True) -> list[tuple[int, int, int | None]]:
    """The points of one photo, as (row, column, class id); with ``require_labels`` False a blank
    ``Label`` gives class None (positions to predict, such as CoralNet's points export).

    Args:
        path: a CoralNet-style CSV (``Name, Row, Column, Label``; other columns are ignored).
        photo_name: the photo's file name; rows with another ``Name`` are other photos' points.
        classes: class name -> class id.
        labels: label code -> class name (``points.labels``); a label not in it must be a class name.
        shape: the photo's (height, width): points outside it are refused.
        line, image_id: the sheet row, for the messages.

    Raises:
        InputError: naming the file, the CSV line and the problem (all of them at once).
    """
    path = Path(path)
    labels = labels or {}

    def fail(msg: str) -> InputError:
        return InputError(msg, str(path), line, image_id)

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail("points file is not UTF-8 text (CoralNet exports UTF-8 CSV)") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise fail(f"points file lacks column(s) {missing}; it has {header} (CoralNet's export: Name, Row, "
                   "Column, Label)")
    out, problems, names = [], [], set()
    for k, raw in enumerate(reader, start=2):
        r = {key.strip(): (v or "").strip() for key, v in raw.items() if key is not None}
        names.add(r["Name"])
        if r["Name"] != photo_name:
            continue
        try:
            row, col = int(r["Row"]), int(r["Column"])
        except ValueError:
            problems.append(f"CSV line {k}: Row '{r['Row']}' and Column '{r['Column']}' must be whole pixel numbers")
            continue
        if not r["Label"] and not require_labels:
            name = None
        else:
            name = labels.get(r["Label"], r["Label"])
        if name is not None and name not in classes:
            known = sorted(classes) + sorted(labels)
            problems.append(f"CSV line {k}: label '{r['Label']}' is neither a class name nor a code of "
                            f"points.labels (known: {', '.join(known)})")
            continue
        if row < 0 or col < 0 or (shape and (row >= shape[0] or col >= shape[1])):
            where = f" of the {shape[1]}x{shape[0]} photo" if shape else ""
            problems.append(f"CSV line {k}: point (row {row}, column {col}) lies outside{where} (rows and "
                            "columns count from 0 at the top-left; files exported by CoralNet before its move to "
                            "0-based positions need 1 subtracted)")
            continue
        out.append((row, col, None if name is None else classes[name]))
    if problems:
        raise fail(f"{len(problems)} problem(s): " + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
    if not out:
        others = ", ".join(sorted(names)[:3])
        raise fail(f"no point of the photo '{photo_name}' (the file's Name column holds {others or 'nothing'}); "
                   "Name must be the photo's file name")
    return out


def rasterize(points: list[tuple[int, int, int]], shape: tuple[int, int], radius: int, ignore: int) -> np.ndarray:
    """The sparse mask of ``points``: a disk of ``radius`` pixels per point with its class, ``ignore``
    elsewhere and where disks of different classes meet."""
    h, w = shape
    mask = np.full((h, w), ignore, dtype=np.uint8)
    clash = np.zeros((h, w), dtype=bool)
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = dy**2 + dx**2 <= radius**2
    offsets = np.stack([dy[disk], dx[disk]], 1)
    for row, col, cls in points:
        ys, xs = row + offsets[:, 0], col + offsets[:, 1]
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        ys, xs = ys[inside], xs[inside]
        here = mask[ys, xs]
        clash[ys[(here != ignore) & (here != cls)], xs[(here != ignore) & (here != cls)]] = True
        mask[ys, xs] = cls
    mask[clash] = ignore
    return mask


def write_points(path: str | Path, rows: list[dict], extra: list[str] | None = None) -> None:
    """A CoralNet-style CSV: ``Name, Row, Column, Label`` and then ``extra`` columns (default: the further
    keys of ``rows``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if extra is None:
        extra = [k for k in (rows[0] if rows else {}) if k not in COLUMNS]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra])
        writer.writeheader()
        writer.writerows(rows)


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (cover from a point count), as fractions."""
    if n <= 0:
        return (math.nan, math.nan)
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def photo_names(path: str | Path) -> set[str]:
    """The photo file names a points CSV holds points of (its ``Name`` column)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        return {(r.get("Name") or "").strip() for r in csv.DictReader(f)} - {""}


#: the columns of the point evaluation (``results/eval/points.tsv``)
SCORE_COLUMNS = ["image_id", "split", "class", "points", "point_cover_pct", "point_ci_low", "point_ci_high",
                 "predicted_point_cover_pct", "inside", "point_accuracy"]


def point_scores(rows: list[dict], image_of: dict[str, str], split_of: dict[str, str], class_names: list[str],
                 level: float = 0.95) -> list[dict]:
    """How the ensemble fares at the labelled points of each photo, and the cover the points themselves say.

    ``rows``: CoralNet rows with ``Name``, ``Label`` (the ensemble's) and ``Truth`` (the point's own label;
    rows without one are positions to predict and are left out). Per photo and class: the points, the
    truth's cover from the point count with its Wilson interval at ``level`` (the uncertainty of point
    counting itself), the ensemble's cover at the same points and whether it lies inside that interval;
    per photo the point accuracy (the share of points whose ensemble label is their own).
    """
    by_photo: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("Truth"):
            by_photo.setdefault(r["Name"], []).append(r)
    out = []
    for name, pts in sorted(by_photo.items()):
        iid = image_of.get(name, name)
        n = len(pts)
        accuracy = sum(r["Label"] == r["Truth"] for r in pts) / n
        for c in class_names:
            k = sum(r["Truth"] == c for r in pts)
            lo, hi = binomial_interval(k, n, level)
            predicted = 100 * sum(r["Label"] == c for r in pts) / n
            out.append({"image_id": iid, "split": split_of.get(iid, ""), "class": c, "points": n,
                        "point_cover_pct": 100 * k / n, "point_ci_low": 100 * lo, "point_ci_high": 100 * hi,
                        "predicted_point_cover_pct": predicted,
                        "inside": bool(100 * lo - 1e-9 <= predicted <= 100 * hi + 1e-9), "point_accuracy": accuracy})
    return out
