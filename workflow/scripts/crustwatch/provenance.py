"""Provenance: versions, code version, machine facts, hashes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "segmentation-models-pytorch", "timm", "snakemake", "numpy", "rasterio", "pandas", "safetensors")


def versions() -> dict[str, str]:
    """Versions of Python, CrustWatch and the libraries that shape results."""
    from . import __version__

    out = {"python": platform.python_version(), "crustwatch": __version__}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


#: git's variables that point it at another repository than the folder it runs in (``make bench-real
#: GIT_DIR=...`` exports GIT_DIR to the benchmark, which would otherwise record the photos' repository)
GIT_REPO_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE")


def code_version(path: str | Path = ".") -> dict:
    """Git commit of the workflow and whether its tree had uncommitted changes: of the repository that holds
    ``path``, whatever ``GIT_DIR`` and the like say in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in GIT_REPO_VARS}
    try:
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, env=env)
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None, "path": str(Path(path).resolve())}
        status = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, env=env)
        return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip()),
                "path": str(Path(path).resolve())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None, "path": str(Path(path).resolve())}


def run_facts(history: dict, device) -> dict:
    """The facts of one training (or pretraining) run that shape nothing: duration, the step it resumed
    from, when, where, on what, and the code commit (its ``*_run.json``, never cited by outputs)."""
    import time

    return {
        "seconds": history["seconds"],
        "resumed_from_step": history["resumed_from_step"],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "device": device_info(device),
        "code": code_version(Path(__file__).resolve().parents[3]),
    }


def determinism_record(flags: dict, nondeterministic_ops: list[str], device) -> dict:
    """A card's ``determinism``: the flags set, the ops without a deterministic kernel, and whether a
    rebuild on this kind of device is bit-identical."""
    return {**flags, "nondeterministic_ops": nondeterministic_ops,
            "bit_reproducible": not nondeterministic_ops and (device.type == "cpu" or flags["cudnn_deterministic"])}


def bench_run(root: str | Path, argv: list[str], seconds: float | None = None) -> dict:
    """What a benchmark's results were made with: the code commit (and uncommitted changes), the
    command line, when, where, and the libraries' versions (a benchmark writes it as ``run.json``
    beside its results, so every table says which commit produced it)."""
    import time

    return {
        "code": code_version(root),
        "command": " ".join(argv),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": None if seconds is None else round(seconds, 1),
        "host": platform.node(),
        "cpu": cpu_model(),
        "versions": versions(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device) -> dict:
    import torch

    info = {"device": str(device), "cpu": cpu_model(), "machine": platform.machine()}
    if getattr(device, "type", str(device)) == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def digest(obj) -> str:
    """sha256 of an object's canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def training_run(card_path) -> dict:
    """The training run record beside a model card (``training_run.json``); {} when absent."""
    from .files import read_json

    p = Path(card_path).with_name("training_run.json")
    return read_json(p) if p.is_file() else {}
