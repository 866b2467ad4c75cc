"""Rule camera_report: per-camera drift statistics and correction curves."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch import files  # noqa: E402
from crustwatch.report import camera_corrections, camera_table, cameras_figure  # noqa: E402
from crustwatch.smk import run  # noqa: E402


def main():
    method = snakemake.params.method
    cameras = camera_corrections(list(snakemake.input), method)
    files.write_tsv(camera_table(cameras, method, dict(snakemake.params.photos)), snakemake.output.table)
    cameras_figure(cameras, method, snakemake.output.plot)


run(snakemake, main)
