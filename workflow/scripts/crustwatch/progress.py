"""Progress of long steps: a bar on a terminal, one line per update in job logs and on the console.

tqdm redraws its bar with carriage returns: in a log file that is one endless line, and a
Snakemake console (whose jobs write to log files) shows nothing for minutes. Where stderr is
not a terminal, :class:`LineProgress` writes a plain line instead, at most every ``every_s``
seconds and at each tenth of the work: to the log (``crustwatch`` logger) and, shorter, to the
console the workflow was started from (``sys.__stderr__``), so one sees which job is at which step.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("crustwatch")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


class LineProgress:
    """tqdm's interface (``update``, ``set_postfix``, ``close``, a context manager), in lines."""

    def __init__(self, total: int, desc: str, initial: int = 0, every_s: float = 30.0, console=None,
                 clock=time.monotonic) -> None:
        self.total, self.desc, self.n = int(total), desc, int(initial)
        self.every_s, self.clock = every_s, clock
        self.console = sys.__stderr__ if console is None else console
        self.start_n, self.t0 = self.n, clock()
        self.last_t, self.last_tenth = self.t0, self._tenth()
        self.postfix = ""
        self.lines: list[str] = []

    def _tenth(self) -> int:
        return int(10 * self.n / self.total) if self.total else 10

    def set_postfix(self, **kw) -> None:
        self.postfix = " ".join(f"{k} {v}" for k, v in kw.items())

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = self.clock()
        if self._tenth() > self.last_tenth or now - self.last_t >= self.every_s or self.n >= self.total:
            self.last_t, self.last_tenth = now, self._tenth()
            self._say(now)

    def _say(self, now: float) -> None:
        done = self.n - self.start_n
        spent = now - self.t0
        left = spent / done * (self.total - self.n) if done > 0 else float("nan")
        pct = 100 * self.n / self.total if self.total else 100.0
        eta = f", about {_minutes(left)} left" if done > 0 and self.n < self.total else ""
        line = f"{self.desc}: {self.n}/{self.total} ({pct:.0f}%) in {_minutes(spent)}{eta}"
        if self.postfix:
            line += f" [{self.postfix}]"
        self.lines.append(line)
        log.info("%s", line)
        if self.console is not None:
            try:
                print(f"  crustwatch {line}", file=self.console, flush=True)
            except (OSError, ValueError):  # a closed console is no reason to stop the work
                pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int, desc: str, initial: int = 0, enabled: bool = True):
    """A tqdm bar on a terminal; :class:`LineProgress` elsewhere (log files, pipes); nothing when off."""
    from tqdm import tqdm

    if not enabled:
        return tqdm(total=total, initial=initial, disable=True)
    if getattr(sys.stderr, "isatty", lambda: False)():
        return tqdm(total=total, initial=initial, desc=desc, mininterval=2.0, ascii=True)
    return LineProgress(total, desc, initial)
