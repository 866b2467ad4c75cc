"""One GPU per job when several jobs share a machine with several GPUs.

Snakemake's ``--resources gpu=N`` caps how many GPU jobs run at once, but does not
say which GPU each should use: every job would start on ``cuda:0``. A job that
wants CUDA here claims the lowest-numbered free GPU by taking an exclusive lock
on a per-GPU file in a machine-local folder. The lock is held for the life of the
process and released by the kernel when it ends, even when it is killed, so a
crashed job never leaves a GPU marked busy.

Under SLURM each job sees only the GPUs it was given (``CUDA_VISIBLE_DEVICES``):
with one visible device there is nothing to choose.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("crustwatch")

#: open lock files of the GPUs this process holds (kept open: closing releases the lock)
_HELD: dict[int, object] = {}


def lock_dir() -> Path:
    """Machine-local folder of the GPU lock files (``CRUSTWATCH_GPU_LOCK_DIR`` overrides)."""
    d = os.environ.get("CRUSTWATCH_GPU_LOCK_DIR") or os.path.join(
        tempfile.gettempdir(), f"crustwatch-gpu-locks-{os.getuid()}"
    )
    Path(d).mkdir(parents=True, exist_ok=True)
    return Path(d)


def claim_gpu(n_devices: int, where: Path | None = None) -> tuple[int, bool]:
    """Claim a GPU index in ``0..n_devices-1`` for this process.

    Returns:
        (index, exclusive). ``exclusive`` is False when every GPU is already held by
        another process (more CUDA jobs than GPUs, for instance predictions without
        ``--resources gpu=N``): the job then shares GPU ``pid % n_devices``.
    """
    if n_devices < 1:
        raise ValueError("no GPU to claim")
    if _HELD:
        return next(iter(_HELD)), True
    where = where or lock_dir()
    for k in range(n_devices):
        f = open(where / f"gpu{k}.lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _HELD[k] = f
        return k, True
    k = os.getpid() % n_devices
    log.warning("all %d GPUs are held by other jobs; sharing cuda:%d (limit GPU jobs with --resources gpu=%d)",
                n_devices, k, n_devices)
    return k, False


def release_gpus() -> None:
    """Release the GPUs this process holds (done anyway when it exits)."""
    for f in _HELD.values():
        f.close()
    _HELD.clear()
