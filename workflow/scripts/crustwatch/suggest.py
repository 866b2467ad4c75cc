"""What to label next: rank unlabelled photos, and regions within them, by how much a label would help.

The seed ensemble already measures where it is unsure in a way a label can fix: the mutual information
between the seeds' predictions (``mutual_information``, band 2 of each photo's uncertainty raster) is high
where the seeds disagree, which is epistemic uncertainty, the part more training data reduces (Beluch et
al., CVPR 2018: deep ensembles select better than MC-dropout). Per candidate photo (a photo without a mask):

    score = information x (1 + rarity) x novelty

- ``information``: the mean mutual information over the photo's plot area, nats;
- ``rarity``: how much of the photo the ensemble gives to classes the labelled training masks hold little of,
  ``sum_c f_c log(1 / q_c) / log(K)``, with ``f_c`` the photo's predicted fraction of class ``c``, ``q_c``
  the class's share of the labelled training pixels (at least ``1 / (10 K)``) and ``K`` the classes;
- ``novelty``: ``1 + 0.5`` if no labelled photo has the photo's camera, ``+ 0.25`` if none has its date,
  ``+ 0.25`` if none has its site: labels where the model has seen nothing like it yet.

Regions: per photo, square boxes of ``region_px`` photo pixels on a grid with half-box steps, scored by their
mean rarity-weighted mutual information (``rarity_weighted``: each pixel's mutual information times
``1 + log(1 / q_c) / log(K)`` of its predicted class ``c``, so disagreement over a class the masks barely hold
counts more); the best boxes that do not overlap, in photo pixels (``x0 y0 x1 y1``, ends exclusive), so an
annotator can label just those (a partial mask, ignore elsewhere, trains as it is).
Everything is deterministic for given maps: ties are broken by image id and box position.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: novelty bonus for a camera, date and site that no labelled photo has
NOVELTY = {"camera": 0.5, "date": 0.25, "site": 0.25}


def class_shares(class_pixels: dict[int, int], class_ids: list[int]) -> np.ndarray:
    """Each class's share of the labelled training pixels, floored at ``1 / (10 K)``."""
    k = len(class_ids)
    counts = np.array([float(class_pixels.get(c, 0)) for c in class_ids])
    total = counts.sum()
    share = counts / total if total > 0 else np.full(k, 1.0 / k)
    return np.maximum(share, 1.0 / (10 * k))


def class_rarity(shares: np.ndarray) -> np.ndarray:
    """Each class's rarity ``log(1 / q_c) / log(K)`` from its share ``q_c`` of the labelled training pixels
    (:func:`class_shares`); all 0 with fewer than two classes."""
    shares = np.asarray(shares, dtype=np.float64)
    if len(shares) < 2:
        return np.zeros(len(shares))
    return np.log(1.0 / shares) / math.log(len(shares))


def rarity(fractions: np.ndarray, shares: np.ndarray) -> float:
    """``sum_c f_c log(1 / q_c) / log(K)``: 0 for a photo of one class that fills the training masks,
    about 1 and more for a photo of classes the masks barely hold."""
    return float((np.asarray(fractions) * class_rarity(shares)).sum())


def novelty(meta: dict, labelled: pd.DataFrame) -> tuple[float, list[str]]:
    """The novelty factor of a photo and what is new about it (camera, date, site)."""
    factor, new = 1.0, []
    for key, bonus in NOVELTY.items():
        if str(meta[key]) not in set(labelled[key].astype(str)):
            factor += bonus
            new.append(f"{key} {meta[key]}")
    return factor, new


def photo_scores(photo_mi: np.ndarray, classmap: np.ndarray, valid: np.ndarray, class_ids: list[int],
                 shares: np.ndarray) -> dict:
    """``information`` (mean mutual information over ``valid``), the predicted class fractions and ``rarity``."""
    v = valid.astype(bool)
    n = int(v.sum())
    info = float(photo_mi[v].mean()) if n else 0.0
    index = {c: k for k, c in enumerate(class_ids)}
    counts = np.zeros(len(class_ids))
    ids, cnt = np.unique(classmap[v], return_counts=True)
    for c, m in zip(ids, cnt):
        if int(c) in index:
            counts[index[int(c)]] = m
    fractions = counts / counts.sum() if counts.sum() else counts
    return {"information": info, "fractions": fractions, "rarity": rarity(fractions, shares)}


def rarity_weighted(mi: np.ndarray, classmap: np.ndarray, class_ids: list[int], shares: np.ndarray) -> np.ndarray:
    """The mutual information of each pixel times ``1 + log(1 / q_c) / log(K)`` of its predicted class ``c``
    (``q_c`` its share of the labelled training pixels, :func:`class_shares`): disagreement over a class the
    masks barely hold counts more than over one they are full of. Pixels of a class not in ``class_ids``
    keep their mutual information."""
    lut = np.zeros(max(max(class_ids), int(classmap.max(initial=0))) + 1)
    lut[np.asarray(class_ids)] = class_rarity(shares)
    return mi * (1.0 + lut[classmap])


def regions(mi: np.ndarray, valid: np.ndarray, box: int, top: int) -> list[tuple[int, int, int, int, float]]:
    """The ``top`` non-overlapping square boxes of side ``box`` (clipped to the bounding box of the ``valid``
    pixels, the plot area) with the highest mean mutual information over their valid pixels, on a grid with
    half-box steps inside that bounding box; ``(x0, y0, x1, y1, score)``."""
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return []
    # boxes stay inside the plot area's bounding box (never on a frame around it)
    ty, by, tx, bx = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    box = max(1, min(int(box), by - ty, bx - tx))
    step = max(1, box // 2)
    m = np.where(valid, mi, 0.0).astype(np.float64)
    cnt = valid.astype(np.float64)
    # integral images: the sum over any box in O(1)
    S = np.pad(m, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    C = np.pad(cnt, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    ys = sorted(set(list(range(ty, by - box + 1, step)) + [by - box]))
    xs = sorted(set(list(range(tx, bx - box + 1, step)) + [bx - box]))
    cands = []
    for y in ys:
        for x in xs:
            s = S[y + box, x + box] - S[y, x + box] - S[y + box, x] + S[y, x]
            c = C[y + box, x + box] - C[y, x + box] - C[y + box, x] + C[y, x]
            if c > 0:
                cands.append((-(s / c), y, x))
    cands.sort()
    chosen: list[tuple[int, int, int, int, float]] = []
    for neg, y, x in cands:
        if len(chosen) >= top:
            break
        if all(x + box <= a or b <= x or y + box <= c0 or d <= y for a, c0, b, d, _ in chosen):
            chosen.append((x, y, x + box, y + box, -neg))
    return chosen


def rank(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` (``image_id information rarity novelty ...``) with ``score`` and ``rank`` (1 = label
    first), sorted; ties broken by image id."""
    out = candidates.copy()
    out["score"] = out["information"] * (1.0 + out["rarity"]) * out["novelty"]
    out = out.sort_values(["score", "image_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
