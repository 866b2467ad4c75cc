"""Glue for rule scripts: logging to the rule's log file, clear errors on the console."""

from __future__ import annotations

import errno
import logging
import sys
import traceback
from typing import Callable

from .errors import CrustWatchError, InputError


def _with_sheet_line(e: InputError, snakemake) -> InputError:
    """An error about a photo that names its image_id but not its sheet line gets the line, looked up in the
    sheet only now (so that line numbers never become a rule's parameter)."""
    if e.row is not None or not e.image_id:
        return e
    try:
        from .sheet import read_sheet

        df = read_sheet(snakemake.config["images"])
        hits = df.index[df["image_id"].str.strip() == e.image_id]
        if len(hits):
            return InputError(e.problem, e.file, int(hits[0]) + 2, e.image_id)
    except Exception:  # the sheet is only read to say where; the original error stands
        pass
    return e


def _disk_full(e: BaseException) -> bool:
    """Whether an exception (or one it came from) says the disk or the quota is full."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _fail(snakemake, message: str) -> None:
    """Say why on the console and in the log (when the log can still be written), then exit 1."""
    try:
        logging.getLogger("crustwatch").error("%s", message)
    except Exception:  # the log may sit on a full disk
        pass
    print(f"\nCrustWatch: rule {snakemake.rule} failed:\n{message}\n", file=sys.__stderr__, flush=True)
    sys.exit(1)


def run(snakemake, step: Callable[[], None]) -> None:
    """Run ``step`` with stderr, warnings, tqdm and logging sent to the rule's log.

    A :class:`CrustWatchError` (bad input, mismatched settings) is also printed on
    the console, so users see the sheet row, file and problem without opening logs;
    so is a full disk, with what to do about it.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    stream = open(log_path, "w", buffering=1) if log_path else sys.stderr
    sys.stderr = stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        step()
    except InputError as e:
        _fail(snakemake, str(_with_sheet_line(e, snakemake)))
    except CrustWatchError as e:
        _fail(snakemake, str(e))
    except Exception as e:
        if not _disk_full(e):
            traceback.print_exc(file=stream)
            raise
        filename = getattr(e, "filename", None)
        where = f" while writing '{filename}'" if filename else ""
        _fail(snakemake, f"the disk is full{where} ({e}). Nothing half-written was kept: every output is written "
                         "under a temporary name and renamed only when complete. Free some space (or move results/ "
                         "to a bigger disk) and run the same command again; finished jobs are not redone.")
    finally:
        try:
            stream.flush()
        except OSError:
            pass
