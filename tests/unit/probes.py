"""A fresh interpreter for tests that look at what a code path imports (sys.modules is per process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def fresh_python(code: str, *args: str) -> str:
    """What code prints (stripped), run by a new Python from the repository's root; args become
    sys.argv[1:]. A failure raises with its output."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          cwd=str(REPO_ROOT)).stdout.strip()
