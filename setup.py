"""The console scripts, derived from the agents table: pyproject.toml lists `scripts` as dynamic.

Everything else about the package is in pyproject.toml.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the build backend does not put the source tree there

from agents.cli import PROG, shim_names  # noqa: E402

ENTRY = "agents.cli:entry"  # one entry: it reads the name it was started under


def console_scripts() -> list[str]:
    return [f"{name} = {ENTRY}" for name in (PROG, *shim_names())]


if __name__ == "__main__":
    setup(entry_points={"console_scripts": console_scripts()})
