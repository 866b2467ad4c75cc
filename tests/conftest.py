"""Shared fixtures: tiny generated projects (real PNG/JPEG/GeoTIFF files), repo paths."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from crustwatch import demo  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_project_master(tmp_path_factory) -> Path:
    """A tiny demo project generated once per session (do not modify; copy it)."""
    root = tmp_path_factory.mktemp("tiny_master")
    demo.generate(root / "data", demo.tiny_spec(), root / "images.tsv")
    return root


@pytest.fixture
def tiny_project(tiny_project_master, tmp_path) -> Path:
    """A private copy of the tiny project that a test may change."""
    dst = tmp_path / "project"
    shutil.copytree(tiny_project_master, dst)
    return dst
