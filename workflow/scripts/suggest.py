"""Rule suggest: which unlabelled photos and regions to label next (crustwatch.steps.suggest)."""

import os
import sys

# this workflow's own library first, never another installed copy of crustwatch
# (snakemake sets __file__ to the original script's path)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crustwatch.smk import run  # noqa: E402
from crustwatch.steps.suggest import suggest_labels  # noqa: E402

p, o = snakemake.params, snakemake.output
run(
    snakemake,
    lambda: suggest_labels(
        list(p.candidates),
        list(p.labelled),
        list(p.train_masks),
        p.classes,
        p.patch_size,
        p.region_px,
        p.regions_per_photo,
        p.max_previews,
        {"photos": o.photos, "regions": o.regions, "previews": o.previews},
    ),
)
