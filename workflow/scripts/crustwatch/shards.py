"""Per-photo work in shards of one site and one monitoring date.

A project of 10,000 photos would be some 40,000 Snakemake jobs if every photo had
its own ingest, normalize, predict and cover job, and Snakemake needs minutes just
to plan that many. So each of those stages runs one job per *shard*: the photos of
one site on one date. The outputs stay per photo, at the paths of
:func:`crustwatch.paths.photo` (the data contract); each shard job also writes a manifest
(``results/<stage>/shards/<shard>.json``) naming every per-photo file it wrote with
its sha256, and the next stage depends on the manifest.

A new monitoring date is a new shard at every site, so it adds jobs and never
reruns an old one. Each per-photo file is written to a temporary name and renamed
into place; the manifest comes last, so a shard killed half way has no manifest and
Snakemake reruns all of it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from . import files
from .paths import photo
from .sheet import path_key

log = logging.getLogger("crustwatch")

def site_key(site: str) -> str:
    """A path-safe key for a site name (the name itself when it is safe)."""
    return path_key(site, "site")


def shard_of(site: str, date: str) -> str:
    """The shard of a photo: ``<site key>_<YYYY-MM-DD>``."""
    return f"{site_key(site)}_{date}"


def run_shard(shard: str, image_ids: list[str], outputs: list[str], step: Callable[[str, dict], None],
              out_manifest: str) -> None:
    """Run ``step(image_id, paths)`` for each photo of a shard, then write the manifest.

    ``outputs`` are the keys of :func:`crustwatch.paths.photo` the step writes (a key whose file
    the step did not make, such as ``mask`` for an unlabelled photo, is left out).
    """
    photos = {}
    for k, iid in enumerate(image_ids, 1):
        paths = photo(iid)
        step(iid, paths)
        photos[iid] = {name: {"path": paths[name], "sha256": files.sha256_file(paths[name])}
                       for name in outputs if Path(paths[name]).is_file()}
        log.info("shard %s: %d/%d photos done (%s)", shard, k, len(image_ids), iid)
    files.write_json(out_manifest, {"shard": shard, "photos": photos})
