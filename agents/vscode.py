"""VS Code attach: the Dev Containers "attached container" URI and its per-image config."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from agents.session import naming

EXTENSION_ID = "ms-vscode-remote.remote-containers"
AGENT_USER = "agent"


# The Dev Containers extension runs `docker` unless this user setting names another CLI.
DOCKER_PATH_SETTING = "dev.containers.dockerPath"
SETTINGS_FILE = "settings.json"


def attach_uri(container: str, folder: str = naming.WORKSPACE) -> str:
    """vscode-remote://attached-container+<hex of {"containerName":NAME}><folder>, NAME as the engine's
    inspect reports it (the extension inspects that name): Docker's "/NAME"; Podman's "NAME", whose
    CLI finds no container called "/NAME"."""
    target = json.dumps({"containerName": container}, separators=(",", ":"))
    return f"vscode-remote://attached-container+{target.encode().hex()}{folder}"


def docker_path_needed(kind: str, program: str, user_dir: Path | None = None) -> str | None:
    """The dockerPath value the extension needs to reach this engine, when the user's settings do
    not already say it: None under Docker (the extension's default) or when they do."""
    if kind == "docker" or os.path.basename(program) == "docker":  # (podman-docker's `docker` too)
        return None
    return None if configured_docker_path(user_dir) in (program, os.path.basename(program)) else program


def configured_docker_path(user_dir: Path | None = None) -> str | None:
    """The user's dev.containers.dockerPath, read from settings.json (JSON with comments, so by
    pattern, never rewritten: the file is the user's)."""
    path = (user_dir or code_user_dir()) / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r'"' + re.escape(DOCKER_PATH_SETTING) + r'"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    return json.loads(f'"{found.group(1)}"') if found else None


def code_user_dir(edition: str = "Code") -> Path:
    """Where VS Code keeps user data on Linux (and inside WSL when VS Code runs there)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / edition / "User"


def image_config_path(image: str, user_dir: Path | None = None) -> Path:
    """The extension's per-image attach config: imageConfigs/<url-encoded lower-case image>.json."""
    name = quote(image.lower(), safe="").lower()
    return (user_dir or code_user_dir()) / "globalStorage" / EXTENSION_ID / "imageConfigs" / f"{name}.json"


def image_config(existing: dict | None = None) -> dict:
    """Keep whatever the user set; make VS Code connect as the agent user in /workspace."""
    merged = dict(existing or {})
    merged["remoteUser"] = AGENT_USER
    merged["workspaceFolder"] = naming.WORKSPACE
    return merged


def write_image_config(image: str, user_dir: Path | None = None) -> Path:
    path = image_config_path(image, user_dir)
    existing = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            existing = {}  # the extension's files allow comments; we rewrite ours plainly
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(image_config(existing), indent=2) + "\n", encoding="utf-8")
    return path
