"""Glue for rule scripts: logging to the rule's log file, clear errors on the console."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from .errors import CrustWatchError


def run(snakemake, step: Callable[[], None]) -> None:
    """Run ``step`` with stderr, warnings, tqdm and logging sent to the rule's log.

    A :class:`CrustWatchError` (bad input, mismatched settings) is also printed on
    the console, so users see the sheet row, file and problem without opening logs.
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
    except CrustWatchError as e:
        logging.getLogger("crustwatch").error("%s", e)
        print(f"\nCrustWatch: rule {snakemake.rule} failed:\n{e}\n", file=sys.__stderr__, flush=True)
        sys.exit(1)
    except Exception:
        traceback.print_exc(file=stream)
        raise
    finally:
        stream.flush()
