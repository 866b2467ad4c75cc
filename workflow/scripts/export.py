"""Rule export: points as CoralNet's CSV, cover as Darwin Core measurement rows."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import __version__  # noqa: E402
from crustwatch.smk import run  # noqa: E402
from crustwatch.steps import export  # noqa: E402

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(
    snakemake,
    lambda: export.export(
        i.by_image,
        i.by_plot_date,
        i.ensemble,
        p.photos,
        p.classes,
        p.labels,
        p.taxa,
        __version__,
        o.points,
        o.dwc,
    ),
)
