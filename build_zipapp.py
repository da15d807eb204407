#!/usr/bin/env python3
"""Build dist/coding-agents.pyz: the stdlib-only core plus vendored `cryptography`, with pex.
Also dist/shell/: the shims and shell completion under every shim name of the agents table.

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


SHELL_DIR = ROOT / "shell"
SHIM = "run-agent"  # the one shim (and run-agent.ps1 for PowerShell): it reads the name it runs under
BASH_REGISTRATION = "complete -F _coding_agents "
ZSH_REGISTRATION = "#compdef "


def completed_programs() -> list[str]:
    """Every name the completion answers for: the program, the zipapp, every shim."""
    from agents.cli import PROG, shim_names

    return [PROG, f"{PROG}.pyz", *shim_names()]


def register_programs(text: str, prefix: str, programs: list[str]) -> str:
    """text with its one registration line (starting with prefix) naming programs."""
    lines = text.splitlines(keepends=True)
    at = [number for number, line in enumerate(lines) if line.startswith(prefix)]
    if len(at) != 1:
        raise SystemExit(f"error: expected one line starting {prefix!r} in a completion script, found {len(at)}")
    lines[at[0]] = prefix + " ".join(programs) + "\n"
    return "".join(lines)


def write_shims(target: Path) -> list[str]:
    """shell/ as installed: the one shim copied under every shim name (bash and PowerShell), the
    PowerShell helpers, and completion scripts registered for every name. Returns the shim names."""
    from agents.cli import shim_names

    if target.exists():
        shutil.rmtree(target)
    (target / "completion").mkdir(parents=True)
    names = shim_names()
    for name in names:
        shutil.copy2(SHELL_DIR / SHIM, target / name)
        shutil.copy2(SHELL_DIR / f"{SHIM}.ps1", target / f"{name}.ps1")
    for helper in ("coding-agents.ps1", "_coding-agents-wsl.ps1"):
        shutil.copy2(SHELL_DIR / helper, target / helper)
    programs = completed_programs()
    for script, prefix in (("coding-agents.bash", BASH_REGISTRATION), ("_coding-agents", ZSH_REGISTRATION)):
        text = (SHELL_DIR / "completion" / script).read_text()
        (target / "completion" / script).write_text(register_programs(text, prefix, programs))
    return names


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
        # The /bin/sh boot looks for that venv under this root; pex's own default follows
        # XDG_CACHE_HOME, so without a fixed root a user who sets it never took the fast path.
        "--runtime-pex-root", "~/.cache/pex",
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
    parser.add_argument("--shims-only", action="store_true", help="only write the shims (shell/ next to the output)")
    args = parser.parse_args()
    output = Path(args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    shims = write_shims(output.parent / "shell")
    print(f"wrote {output.parent / 'shell'}: {', '.join(shims)}")
    if args.shims_only:
        return 0
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
