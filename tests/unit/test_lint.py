"""The tree passes ruff with the project's settings (pyproject.toml [tool.ruff]): CI runs this."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def ruff() -> str:
    found = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(found).is_file():
        pytest.fail("ruff is not installed (scripts/test.sh installs scripts/test-requirements.txt): pip install ruff",
                    pytrace=False)
    return found


def test_the_tree_passes_ruff():
    done = subprocess.run([ruff(), "check", "--no-cache", "agents", "stub", "tests", "bench", "scripts", "build_zipapp.py"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
