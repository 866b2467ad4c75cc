"""Step ``change``: the cover tables in, the change tables out (see :mod:`crustwatch.change`)."""

from __future__ import annotations

import logging

import pandas as pd

from .. import change, files

log = logging.getLogger("crustwatch")

_TEXT = {"site": str, "plot": str, "date": str, "camera": str, "split": str, "image_id": str}


def change_tables(by_plot_date_tsv: str, by_image_tsv: str, out: dict[str, str], level: float = 0.95,
                  fdr: float = 0.05, pairs=()) -> None:
    """Write ``out["by_plot"]``, ``out["by_site"]`` and ``out["trend"]`` from the cover tables.

    ``by_image_tsv`` gives each photo's camera (to flag pairs across a camera change) and split (photos that
    trained the model are marked: their cover is in-sample).
    """
    plot_date = pd.read_csv(by_plot_date_tsv, sep="\t", dtype=_TEXT, keep_default_na=False, na_values=[""])
    photos = pd.read_csv(by_image_tsv, sep="\t", dtype=_TEXT, keep_default_na=False, na_values=[""],
                         usecols=["image_id", "site", "plot", "date", "camera", "split"]).drop_duplicates("image_id")
    by_plot = change.plot_changes(plot_date, photos, pairs, level, training=photos[photos["split"] == "train"])
    by_site = change.site_changes(by_plot, level, fdr)
    trend = change.trends(plot_date, level)
    for name, table in (("by_plot", by_plot), ("by_site", by_site), ("trend", trend)):
        files.write_tsv(table, out[name])
    tested = by_site["p_value"].notna()
    log.info("%d plot changes, %d site changes (%d tested, %d with q <= %g), %d trends",
             by_plot["change_pp"].notna().sum(), len(by_site), tested.sum(), by_site["significant"].sum(), fdr,
             trend["slope_pp_per_year"].notna().sum())
    for text in by_site.loc[by_site["significant"], "summary"]:
        log.info("  %s", text)
    untested = by_site[~tested]
    if len(untested):
        log.warning("%d site rows have no test: %s", len(untested),
                    "; ".join(sorted(set(n.split(";")[0] for n in untested["note"] if n))))
