"""The code's own checks: snakefmt on the rule files, ruff on the Python (settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("cmd", [["snakefmt", "--check", "."], ["ruff", "check", "."]], ids=["snakefmt", "ruff"])
def test_code_is_lint_clean(cmd):
    res = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
