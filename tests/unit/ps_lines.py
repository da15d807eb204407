"""What `docker ps --format listing.PS_FORMAT` prints, for tests that fake the engine's listing."""

from __future__ import annotations

import json

from agents.session import naming
from agents.session.listing import PS_FORMAT, VOLUME_FORMAT


def ps_argv(*filters: str) -> list[str]:
    """find_sessions' one container query (filters: more --filter arguments)."""
    return ["docker", "ps", "--all", "--no-trunc", "--filter", f"label={naming.SESSION}", *filters,
            "--format", PS_FORMAT]


def ps_line(container_id: str, state: str = "running", labels: dict[str, str] | None = None,
            status: str | None = None) -> str:
    """One container's line: each of naming.LABELS by name ("" when it has none)."""
    labels = labels or {}
    shown = status or ("Up 2 hours (healthy)" if state == "running" else "Exited (0) 2 hours ago")
    return json.dumps({"Id": container_id, "State": state, "Status": shown,
                       "Labels": [labels.get(label, "") for label in naming.LABELS]}) + "\n"


def ps_output(items: list[dict]) -> str:
    """ps lines for inspect-shaped items ({"Id", "State": {"Status"}, "Config": {"Labels"}})."""
    return "".join(ps_line(item["Id"], (item.get("State") or {}).get("Status", "running"),
                           (item.get("Config") or {}).get("Labels") or {}) for item in items)


def volume_ls_argv(*filters: str) -> list[str]:
    """find_sessions' one volume query, for orphaned sessions (filters: more --filter arguments)."""
    return ["docker", "volume", "ls", "--filter", f"label={naming.SESSION}", *filters, "--format", VOLUME_FORMAT]


def volume_lines(volumes: list[dict]) -> str:
    """What that query prints of volumes shaped as `docker volume inspect` gives them."""
    return "".join(json.dumps({"Name": volume["Name"],
                               "Labels": [(volume.get("Labels") or {}).get(label, "") for label in naming.LABELS]})
                   + "\n" for volume in volumes)
