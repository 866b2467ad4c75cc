"""Step ``split``: the persisted split table."""

from __future__ import annotations

import logging

import pandas as pd

from .. import files

log = logging.getLogger("crustwatch")


def write_splits(splits: pd.DataFrame, out_tsv: str) -> None:
    files.write_tsv(splits, out_tsv)
