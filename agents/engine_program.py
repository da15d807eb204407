"""Which CLI drives containers: the engine's program, chosen once per process from
CODING_AGENTS_ENGINE, else the config's [engine] command, else whichever of docker and podman is
installed. Light on purpose (os, errors and paths; no pathlib, re or shutil): connect-agent's fast
path asks it before anything else is imported; runner.engine() is the way everything else asks.
"""

from __future__ import annotations

import os

from agents.errors import AgentsError

PROGRAMS = ("docker", "podman")
VARIABLE = "CODING_AGENTS_ENGINE"  # helpers inherit their command's engine through it
_chosen: str | None = None


def chosen(installed=None) -> str:
    """The engine's program (argv[0] of every engine call): "docker", "podman", or a path to one.
    installed(name) -> bool tells which programs are on PATH (default: _on_path; runner passes its
    which, the one the tests fake)."""
    global _chosen
    if _chosen is None:
        from agents import paths

        _chosen = pick(os.environ.get(VARIABLE, ""), configured(paths.config_file_location()), installed or _on_path)
    return _chosen


def set_chosen(program: str | None) -> None:
    """Use program for every later engine call (None: choose again on the next one)."""
    global _chosen
    _chosen = program


def find_on_path(name: str) -> str | None:
    """Where an executable file of that name is: in a folder of PATH for a bare name, else that
    path itself (shutil.which's answer on POSIX, without shutil's imports: bz2, lzma, fnmatch)."""
    if os.path.dirname(name):
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        found = os.path.join(folder, name)
        if folder and os.path.isfile(found) and os.access(found, os.X_OK):
            return found
    return None


def _on_path(name: str) -> bool:
    return find_on_path(name) is not None


def check(value: str, where: str) -> str:
    """An [engine] command (or CODING_AGENTS_ENGINE) names docker or podman, or a path to one."""
    if os.path.basename(value) not in PROGRAMS:
        raise AgentsError(f"{where} = {value!r} is not an engine this tool drives",
                          hint='use "docker" or "podman" (or a full path to one of them)')
    return value


def configured(config_path: str) -> str | None:
    """The config file's [engine] command, read without the rest of the config (a fast path like
    connect-agent's must not load it all); None when the file or the key is absent, or the file is
    not TOML (the commands that load the config say so)."""
    try:
        with open(config_path, "rb") as config:
            data = config.read()
    except OSError:
        return None
    if b"engine" not in data:  # most configs: no [engine] table, and tomllib's import is ~8 ms
        return None
    import tomllib

    try:
        found = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    section = found.get("engine")
    value = section.get("command") if isinstance(section, dict) else None
    return value if isinstance(value, str) else None


def pick(from_env: str, from_config: str | None, installed) -> str:
    """Pure: the engine's program: CODING_AGENTS_ENGINE, else [engine] command, else docker when it
    is installed, else podman when only it is (installed(name) -> bool), else docker (whose absence
    is then the error)."""
    if from_env:
        return check(from_env, VARIABLE)
    if from_config:
        return check(from_config, "[engine] command")
    for program in PROGRAMS:
        if installed(program):
            return program
    return "docker"
