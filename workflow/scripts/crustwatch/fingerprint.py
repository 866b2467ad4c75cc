"""Content fingerprints of a project's photos and masks, so that content, not mtime, decides reruns.

Snakemake reruns a job when an input file is newer than its outputs, and not when a file was
replaced by another with an older modification time (``cp -p``, a restore from backup, a sync
tool). CrustWatch therefore gives its photo and mask inputs to Snakemake as ``ancient()`` (their
times never trigger anything) and passes each file's sha256 as a rule parameter instead: a
changed content changes the parameter, and Snakemake reruns exactly the jobs that read it, in
the same run; a file touched, copied or restored with the same content reruns nothing.

Hashing every photo at every planning would read the whole project each time, so digests are
cached (``.snakemake/crustwatch/fingerprints.json`` in the working directory) under the file's
size, modification and status-change times (ns) and inode. The status-change time changes
whenever the file is written and cannot be set back by users, so a file rewritten with its old
modification time is hashed again; an untouched file costs one ``stat``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .files import sha256_file

log = logging.getLogger("crustwatch")

CACHE = ".snakemake/crustwatch/fingerprints.json"
CACHE_VERSION = 1


def _key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def load_cache(cache: str | Path) -> dict:
    try:
        data = json.loads(Path(cache).read_text())
        if data.get("version") == CACHE_VERSION:
            return data
    except (OSError, ValueError):
        pass
    return {"version": CACHE_VERSION, "files": {}, "checked": {}}


def save_cache(cache: str | Path, data: dict) -> None:
    """Atomic: concurrent planners (cluster jobs) each leave a whole file; the last one stays."""
    path = Path(cache)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
    except OSError as e:  # a read-only working directory: hash again next time
        log.warning("cannot write the fingerprint cache %s (%s)", path, e)


def fingerprints(paths: list[str], cache: str | Path = CACHE) -> dict[str, str]:
    """sha256 of each file, hashing only files new or changed since the cache saw them."""
    data = load_cache(cache)
    files = data["files"]
    out, changed = {}, 0
    for p in dict.fromkeys(paths):
        if not p:
            continue
        key = os.path.abspath(p)
        try:
            st = os.stat(p)
        except OSError:
            continue  # the sheet check names missing files
        hit = files.get(key)
        if hit and hit[0] == _key(st):
            out[p] = hit[1]
            continue
        out[p] = sha256_file(p)
        files[key] = [_key(os.stat(p)), out[p]]
        changed += 1
    if changed:
        log.info("fingerprinted %d new or changed photo/mask files", changed)
        save_cache(cache, data)
    return out


def unchecked(rows: list[dict], digests: dict[str, str], settings: str, cache: str | Path = CACHE) -> list[dict]:
    """The sheet rows whose photo and mask contents have not passed the input check with these
    ``settings`` (a digest of class ids, ignore value and size limits) before."""
    done = load_cache(cache)["checked"]
    return [r for r in rows if done.get(_row_key(r, digests)) != settings]


def mark_checked(rows: list[dict], digests: dict[str, str], settings: str, cache: str | Path = CACHE) -> None:
    data = load_cache(cache)
    for r in rows:
        data["checked"][_row_key(r, digests)] = settings
    save_cache(cache, data)


def _row_key(r: dict, digests: dict[str, str]) -> str:
    """A row as the check sees it: its files' contents and the sheet values it checks."""
    files = f"{digests.get(r['image_path'], '')}:{digests.get(r.get('mask_path') or '', '')}"
    values = ":".join(str(r.get(k, "")) for k in ("reference", "area", "mm_per_px"))
    return f"{r['image_id']}:{files}:{values}"
