#!/usr/bin/env python3
"""Build dist/coding-agents.pyz: the stdlib-only core plus vendored `cryptography`, with pex.

The Dockerfiles (images/) and in-container code (stub/) ride inside the package as
agents/_data/, where agents.resources finds them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CRYPTOGRAPHY = "cryptography==50.0.2"
# (full version, abi tag). Abbreviated platforms need the full version for cryptography's markers.
PYTHONS = (("3.11.0", "cp311"), ("3.12.0", "cp312"), ("3.13.0", "cp313"), ("3.14.0", "cp314"))
ARCHES = ("x86_64", "aarch64")
# manylinux2014 (glibc 2.17) wheels exist for cryptography and cffi on both arches.
PLATFORMS = tuple(f"manylinux2014_{arch}-cp-{version}-{abi}" for arch in ARCHES for version, abi in PYTHONS)


def stage_sources(staging: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "agents", staging / "agents", ignore=ignore)
    data = staging / "agents" / "_data"
    shutil.copytree(ROOT / "images", data / "images", ignore=ignore)
    shutil.copytree(ROOT / "stub", data / "stub", ignore=ignore)


def pex_argv(staging: Path, output: Path, platforms: tuple[str, ...]) -> list[str]:
    argv = [
        sys.executable, "-m", "pex",
        CRYPTOGRAPHY,
        "--sources-directory", str(staging),
        "--entry-point", "agents.cli:entry",
        "--output-file", str(output),
        # A venv installed once under ~/.cache/pex, booted by /bin/sh: ~30 ms warm starts
        # instead of ~600 ms for unzip-and-resolve on every run.
        "--venv", "prepend",
        "--sh-boot",
        "--interpreter-constraint", "CPython>=3.11",
        "--no-strip-pex-env",
        "--no-emit-warnings",
    ]
    for platform in platforms:
        argv += ["--platform", platform]
    return argv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "dist" / "coding-agents.pyz"), help="where to write the zipapp")
    parser.add_argument(
        "--host-only", action="store_true", help="vendor cryptography for this machine only (faster, not portable)"
    )
    args = parser.parse_args()
    output = Path(args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coding-agents-zipapp-") as tmp:
        staging = Path(tmp) / "src"
        stage_sources(staging)
        platforms = ("current",) if args.host_only else PLATFORMS
        argv = pex_argv(staging, output, platforms)
        try:
            subprocess.run(argv, check=True)
        except FileNotFoundError:
            print("error: pex is not installed\nhint: pip install pex", file=sys.stderr)
            return 1
        except subprocess.CalledProcessError as error:
            print(f"error: pex failed with exit code {error.returncode}", file=sys.stderr)
            print("hint: pip install pex; the resolve needs PyPI (or a local index) for cryptography", file=sys.stderr)
            return 1
    size_mb = output.stat().st_size / 1e6
    print(f"built {output} ({size_mb:.1f} MB) in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
