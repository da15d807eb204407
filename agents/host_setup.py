"""Your agent setup, carried in: a CLI's instructions (CLAUDE.md, AGENTS.md, GEMINI.md), custom
commands, agents and skills, and the non-secret keys of its settings, read from the host and put
into the session with its logins (agents/logins.py: plan_bundle), under what the launch tells the
CLI. Read only: nothing carried ever goes back (only login files do), and none of it is kept in the
session's state (agents/history.py: never_kept), so each start brings your current setup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agents.catalog import Agent
from agents.errors import AgentsError
from agents.records import record

MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MAX_FILES = 2000


@record(frozen=True)
class Carried:
    files: tuple[tuple[str, bytes, int], ...] = ()  # (container path relative to the home, data, mtime_ns)
    settings: tuple[tuple[str, dict], ...] = ()  # (container settings file, the host's chosen keys)
    skipped: tuple[str, ...] = ()  # host paths left out (too large, a token in it, too many)


def entry_refusal(agent: Agent, entry: str) -> str | None:
    """Why an entry of [agents.NAME] carry cannot be carried (None: it can)."""
    parts = entry.rstrip("/").split("/")
    if entry.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "is not a plain path relative to your home"
    if not any(entry.startswith(folder + "/") and len(parts) > 1 for folder in agent.login_dirs):
        return "is not inside " + " or ".join(f"~/{folder}/" for folder in agent.login_dirs) if agent.login_dirs \
            else "cannot be carried: this agent has no folder of its own"
    if entry.rstrip("/") in {login.container for login in agent.login_files} | set(agent.config_paths):
        return "is a login or a file the launch writes"
    return None


def host_folder(agent: Agent, folder: str, home: Path, environ: dict[str, str]) -> Path:
    """Where the host keeps the CLI's folder: ~/.codex, or $CODEX_HOME when set (as its logins)."""
    for login in agent.login_files:
        tail = login.host[len(folder) + 1:] if login.host.startswith(folder + "/") else None
        if tail and login.host_moved_by and environ.get(login.host_moved_by[0]) \
                and login.host_moved_by[1].endswith(tail):
            base = login.host_moved_by[1][: -len(tail)].rstrip("/")
            return Path(environ[login.host_moved_by[0]]) / base if base else Path(environ[login.host_moved_by[0]])
    return home / folder


def _host_path(agent: Agent, entry: str, home: Path, environ: dict[str, str]) -> tuple[Path, str]:
    folder = next(folder for folder in agent.login_dirs if entry.startswith(folder + "/"))
    return host_folder(agent, folder, home, environ) / entry[len(folder) + 1:].rstrip("/"), folder


def read(agent: Agent, entries: tuple[str, ...], home: Path, environ: dict[str, str]) -> Carried:
    """The host's files of these entries (a folder: every plain file in it), and the chosen settings."""
    from agents import history

    found: list[tuple[str, bytes, int]] = []
    skipped: list[str] = []
    total = 0
    for entry in entries:
        if entry_refusal(agent, entry):
            continue
        source, folder = _host_path(agent, entry, home, environ)
        target = entry.rstrip("/")
        if source.is_dir():
            walked = sorted((Path(root) / name for root, _dirs, names in os.walk(source) for name in names))
            pairs = [(path, f"{target}/{path.relative_to(source).as_posix()}") for path in walked]
        elif source.is_file():
            pairs = [(source, target)]
        else:
            continue
        for path, container in pairs:
            try:
                size = path.stat().st_size
                if size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES or len(found) >= MAX_FILES:
                    skipped.append(str(path))
                    continue
                data = path.read_bytes()
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            if history.looks_secret(data):
                skipped.append(str(path))
                continue
            found.append((container, data, mtime))
            total += size
    settings = []
    chosen = read_settings(agent, home, environ)
    if chosen:
        settings.append((agent.host_setup.settings, chosen))
    return Carried(tuple(found), tuple(settings), tuple(skipped))


def read_settings(agent: Agent, home: Path, environ: dict[str, str]) -> dict:
    """The chosen top-level keys of the host's settings file (nothing that runs a command or holds a secret)."""
    setup = agent.host_setup
    if not setup.settings or not setup.settings_keys:
        return {}
    folder = next((folder for folder in agent.login_dirs if setup.settings.startswith(folder + "/")), None)
    if folder is None:
        return {}
    path = host_folder(agent, folder, home, environ) / setup.settings[len(folder) + 1:]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: data[key] for key in setup.settings_keys if key in data}


def check_entries(agent: Agent, entries: tuple[str, ...], where: str) -> tuple[str, ...]:
    for entry in entries:
        why = entry_refusal(agent, entry)
        if why:
            raise AgentsError(f"{where}: {entry!r} {why}",
                              hint=f"e.g. carry = {json.dumps(list(agent.host_setup.carry[:2]))}")
    return entries
