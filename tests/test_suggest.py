"""What to label next: the ranking and the regions, on hand-made disagreement maps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crustwatch import suggest


def candidates(mi_maps: dict[str, np.ndarray], classmaps: dict[str, np.ndarray], shares, labelled, meta):
    rows = []
    for iid, mi in mi_maps.items():
        s = suggest.photo_scores(mi, classmaps[iid], np.ones(mi.shape, bool), [0, 1, 2], shares)
        nov, _ = suggest.novelty(meta[iid], labelled)
        rows.append({"image_id": iid, "information": s["information"], "rarity": s["rarity"], "novelty": nov})
    return suggest.rank(pd.DataFrame(rows))


def test_a_photo_whose_seeds_agree_ranks_below_one_where_they_disagree():
    agree = np.zeros((40, 40))
    disagree = np.zeros((40, 40))
    disagree[10:20, 5:15] = 0.6
    cm = np.zeros((40, 40), np.uint8)
    shares = suggest.class_shares({0: 800, 1: 150, 2: 50}, [0, 1, 2])
    labelled = pd.DataFrame({"site": ["s"], "date": ["2020-01-01"], "camera": ["A"]})
    meta = {i: {"site": "s", "date": "2020-01-01", "camera": "A"} for i in ("a_agree", "b_disagree")}
    r = candidates({"a_agree": agree, "b_disagree": disagree}, {"a_agree": cm, "b_disagree": cm}, shares, labelled, meta)
    assert list(r["image_id"]) == ["b_disagree", "a_agree"] and list(r["rank"]) == [1, 2]
    assert r.loc[1, "score"] == 0.0
    # the same maps give the same ranking, whatever order they come in
    again = candidates({"b_disagree": disagree, "a_agree": agree}, {"a_agree": cm, "b_disagree": cm}, shares, labelled,
                       meta)
    pd.testing.assert_frame_equal(r, again)


def test_rare_classes_and_unseen_cameras_raise_the_score():
    shares = suggest.class_shares({0: 900, 1: 100, 2: 0}, [0, 1, 2])
    assert shares[2] == pytest.approx(1 / 30)  # floored: a class no mask holds
    common, rare = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    assert suggest.rarity(rare, shares) > 1 > suggest.rarity(common, shares)
    assert suggest.rarity(common, shares) == pytest.approx(math.log(1 / 0.9) / math.log(3))
    labelled = pd.DataFrame({"site": ["s"], "date": ["2020-01-01"], "camera": ["A"]})
    assert suggest.novelty({"site": "s", "date": "2020-01-01", "camera": "A"}, labelled) == (1.0, [])
    f, new = suggest.novelty({"site": "t", "date": "2021-01-01", "camera": "B"}, labelled)
    assert f == pytest.approx(2.0) and new == ["camera B", "date 2021-01-01", "site t"]


def test_regions_lie_inside_the_photo_on_the_disagreeing_pixels():
    rng = np.random.default_rng(0)
    mi = rng.uniform(0, 0.01, size=(50, 70))
    mi[5:15, 50:62] = 0.8  # one hot spot near the right edge
    mi[35:45, 3:13] = 0.5  # another, weaker
    boxes = suggest.regions(mi, np.ones(mi.shape, bool), box=12, top=3)
    assert len(boxes) == 3
    for x0, y0, x1, y1, _ in boxes:
        assert 0 <= x0 < x1 <= 70 and 0 <= y0 < y1 <= 50 and x1 - x0 == 12 and y1 - y0 == 12
    (x0, y0, x1, y1, s1), (a0, b0, a1, b1, s2) = boxes[:2]
    assert mi[y0:y1, x0:x1].mean() == pytest.approx(s1) and s1 > s2 > boxes[2][4]
    assert x0 >= 44 and y0 <= 9  # on the strongest spot
    assert a0 <= 9 and b0 >= 29  # then the weaker one
    for i in range(3):  # never overlapping
        for j in range(i):
            p, q = boxes[i], boxes[j]
            assert p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1]
    # outside the plot area nothing counts: a hot spot there is never suggested
    valid = np.ones(mi.shape, bool)
    valid[:, 45:] = False
    x0, y0, x1, y1, _ = suggest.regions(mi, valid, box=12, top=1)[0]
    assert x0 <= 9 and y0 >= 29
    # and boxes stay inside the area: none reaches the frame around it
    assert all(b[2] <= 45 for b in suggest.regions(mi, valid, box=12, top=5))
    big = suggest.regions(mi, np.ones(mi.shape, bool), box=500, top=2)  # a box larger than the photo: its side
    assert [b[:4] for b in big] == [(20, 0, 70, 50)]  # shrinks to the photo's, holding the hot spot; one fits


def test_rarity_weighted_disagreement_favours_boxes_over_rare_classes():
    shares = suggest.class_shares({0: 900, 1: 90, 2: 10}, [0, 1, 2])
    mi = np.full((40, 80), 0.2)
    cm = np.zeros((40, 80), np.uint8)
    cm[:, 40:] = 2  # the right half is predicted as the rarest class
    mi[:, 40:] = 0.15  # where the seeds disagree a little less
    w = suggest.rarity_weighted(mi, cm, [0, 1, 2], shares)
    assert w[0, 0] == pytest.approx(0.2 * (1 + math.log(1 / 0.9) / math.log(3)))
    assert w[0, 79] == pytest.approx(0.15 * (1 + math.log(30) / math.log(3)))  # the share floored at 1 / 30
    valid = np.ones(mi.shape, bool)
    assert suggest.regions(mi, valid, box=20, top=1)[0][0] < 40  # by disagreement alone: the common half
    assert suggest.regions(w, valid, box=20, top=1)[0][0] >= 40  # weighted: the rare half
    assert (suggest.rarity_weighted(np.zeros_like(mi), cm, [0, 1, 2], shares) == 0).all()  # agreement stays 0
