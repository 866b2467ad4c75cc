"""Jobs sharing a machine with several GPUs each claim a distinct one (real processes, real locks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from crustwatch import devices

LIB = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
# a job: claim one of 3 GPUs, report it, hold it until stdin closes
JOB = (f"import sys; sys.path.insert(0, {str(LIB)!r}); from crustwatch import devices; "
       "k, ex = devices.claim_gpu(3, __import__('pathlib').Path(sys.argv[1])); "
       "print(k, int(ex), flush=True); sys.stdin.read()")


def _start(where: Path):
    p = subprocess.Popen([sys.executable, "-c", JOB, str(where)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    k, ex = p.stdout.readline().split()
    return p, int(k), ex == "1"


def _end(p):
    p.stdin.close()
    p.wait(10)


def test_concurrent_jobs_get_distinct_gpus_and_a_killed_job_frees_its_own(tmp_path):
    jobs = [_start(tmp_path) for _ in range(3)]
    assert sorted(k for _, k, _ in jobs) == [0, 1, 2] and all(ex for _, _, ex in jobs)
    # a fourth job finds every GPU held: it shares one rather than waiting forever
    p4, k4, ex4 = _start(tmp_path)
    assert not ex4 and k4 == p4.pid % 3
    # the job on GPU 1 is killed: its GPU is free again for the next job
    victim = next(p for p, k, _ in jobs if k == 1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    p5, k5, ex5 = _start(tmp_path)
    assert (k5, ex5) == (1, True)
    for p in [p for p, _, _ in jobs if p is not victim] + [p4, p5]:
        _end(p)
    # all ended: the first GPU is free again
    p6, k6, _ = _start(tmp_path)
    _end(p6)
    assert k6 == 0


def test_one_process_keeps_its_gpu(tmp_path):
    k, exclusive = devices.claim_gpu(2, tmp_path)
    try:
        assert (k, exclusive) == (0, True)
        assert devices.claim_gpu(2, tmp_path) == (0, True)  # asking again changes nothing
        assert (tmp_path / "gpu0.lock").read_text().strip() == str(os.getpid())
    finally:
        devices.release_gpus()
