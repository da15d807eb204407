"""Your approvals of a repository's MCP servers: per repository, server name -> the SHA-256 of
the exact definition you approved (Server.digest). Kept in one 0600 JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from agents import paths
from agents.errors import AgentsError


def load(repo: Path) -> dict[str, str]:
    """The approvals for one repository (name -> digest); none when the file is absent."""
    try:
        data = json.loads(paths.mcp_approvals_file().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise AgentsError(f"cannot read {paths.mcp_approvals_file()}: {error}", hint="fix or remove it") from error
    found = data.get(str(repo), {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def save(repo: Path, name: str, digest: str | None) -> None:
    """Record (digest) or revoke (None) an approval."""
    from agents import files

    store = paths.mcp_approvals_file()
    try:
        data = json.loads(store.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as error:
        raise AgentsError(f"cannot read {store}: {error}", hint="fix or remove it") from error
    if not isinstance(data, dict) or not isinstance(data.get(str(repo), {}), dict):
        raise AgentsError(f"{store} is damaged", hint="fix or remove it (approvals are then asked again)")
    entries = data.setdefault(str(repo), {})
    if digest is None:
        entries.pop(name, None)
    else:
        entries[name] = digest
    if not entries:
        data.pop(str(repo), None)
    files.write_private(store, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
