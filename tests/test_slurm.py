"""The tiny workflow on a real single-node SLURM cluster, started and stopped here.

Needs Debian's slurm-wlm and munge (``.ci/slurm-cluster install``) and root (the
daemons run as root). Without them the test is skipped, except where
``CRUSTWATCH_REQUIRE_SLURM=1`` (set by ``.ci/run``): then it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from test_workflow import BIN, REPO, tiny_config

pytestmark = pytest.mark.workflow
CLUSTER = REPO / ".ci" / "slurm-cluster"


def _missing() -> str | None:
    if not shutil.which("slurmctld") or not shutil.which("munged"):
        return "slurm-wlm and munge are not installed (.ci/slurm-cluster install)"
    if os.geteuid() != 0:
        return "the test cluster's daemons run as root"
    return None


@pytest.fixture
def slurm_cluster(tmp_path):
    why = _missing()
    if why:
        if os.environ.get("CRUSTWATCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"CRUSTWATCH_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    d = tmp_path / "slurm"
    res = subprocess.run([str(CLUSTER), "start", str(d)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    env = {**os.environ, "SLURM_CONF": str(d / "slurm.conf"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        yield env
    finally:
        subprocess.run([str(CLUSTER), "stop", str(d)], capture_output=True, timeout=120)


def test_tiny_workflow_runs_through_slurm(slurm_cluster, tiny_project, tmp_path):
    env = slurm_cluster
    tiny_config(tiny_project)
    # the shipped profile, with the settings of a test cluster: no GPU, no accounting
    # database (poll with squeue), no account to guess, quick status checks
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile.update({
        "set-resources": {"train": {"gpu": 0}},
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 1,
        "slurm-no-account": True,
        "latency-wait": 5,
        "jobs": 4,
    })
    pdir = tmp_path / "profile"
    pdir.mkdir()
    (pdir / "config.yaml").write_text(yaml.safe_dump(profile))
    cmd = [str(BIN / "snakemake"), "--profile", str(pdir), "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tiny_project), "--configfile", str(tiny_project / "config.yaml")]
    # SIGINT, not SIGTERM, stops a snakemake that waits on SLURM: only used on timeout
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"snakemake on SLURM did not finish in 15 min:\n{out[-6000:]}")
    assert proc.returncode == 0, out[-8000:]
    assert "Nothing to be done" not in out
    # every output of the workflow is there
    cov = tiny_project / "results" / "coverage" / "by_image.tsv"
    assert len(pd.read_csv(cov, sep="\t")) == 8 * 7
    assert (tiny_project / "results" / "eval" / "metrics.tsv").exists()
    # the jobs ran as SLURM jobs, with the resources the rules ask for
    ids = sorted(set(re.findall(r"SLURM (?:run ID|jobid)[^0-9]*(\d+)", out)) | set(
        re.findall(r"external jobid '?(\d+)", out)), key=int)
    jobs = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%C|%m|%k"], capture_output=True,
                          text=True, env=env, check=True).stdout.split("\n")
    jobs = [j.split("|") for j in jobs if j]
    assert jobs and all(j[2] == "COMPLETED" for j in jobs), jobs
    n_rule_jobs = len(re.findall(r"^rule \w+:", out, flags=re.M)) or len(jobs)
    assert len(jobs) >= n_rule_jobs - 1, (len(jobs), n_rule_jobs)  # `all` is a local rule
    comments = {j[5] for j in jobs}
    train = [j for j in jobs if "train" in j[5]]
    assert len(train) == 2, comments  # one job per seed
    assert all(j[3] == "2" and j[4] == "8000M" for j in train), train  # cpus_per_task, mem_mb x attempt 1
    other = [j for j in jobs if "rule_ingest_" in j[5]]
    assert other and all(j[3] == "1" and j[4] == "1000M" for j in other), other
    assert ids or jobs  # the log names the SLURM jobs, or squeue lists them
    print(f"{len(jobs)} SLURM jobs", file=sys.stderr)
