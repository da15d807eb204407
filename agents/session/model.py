"""A session as data, parsed from what the engine says about its container or volumes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from agents import netmodes
from agents.records import field, record
from agents.session import naming

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from typing import Any

    from agents import network


def policy_from_labels(labels: dict[str, str]) -> network.Policy:
    from agents import network  # not for listing: a launch or restart reads the policy back

    limits = labels.get(naming.LIMITS, "").split()
    sizes = (int(limits[0]), int(limits[1])) if len(limits) == 2 and all(x.isdigit() for x in limits) else (100, 2048)
    return network.Policy(
        allow=tuple(labels.get(naming.ALLOW, "").split()),
        block_private=labels.get(naming.BLOCK_PRIVATE, "true") == "true",
        learn=labels.get(naming.LEARN) == "true",
        request_max_mb=sizes[0],
        reply_max_mb=sizes[1],
        host_ports=tuple(int(port) for port in labels.get(naming.HOST_PORTS, "").split() if port.isdigit()),
        host_addresses=tuple(labels.get(naming.HOST_ADDRESSES, "").split()),
        endpoint_ports=tuple((host, int(port)) for host, _, port in
                             (item.rpartition(":") for item in labels.get(naming.ENDPOINT_PORTS, "").split())
                             if host and port.isdigit()),
    )


@record(frozen=True)
class SessionInfo:
    name: str
    agent: str
    repo: Path
    branch: str
    base: str
    network: str
    mode: str
    image: str
    no_push: bool
    created: str
    state: str  # running, exited, created, ...
    container_id: str
    interactive: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    autonomy: str = "full"
    proxy_state: str | None = None  # squid sessions: the proxy container's state ("missing": gone)
    tip: str | None = None  # from the last health report
    ahead: int | None = None
    dirty: bool | None = None
    screen: str | None = None  # from the last health report: "LAST DEAD NOW" of the agent's tmux window

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def proxy_down(self) -> bool:
        """A squid session whose proxy is not running: the agent has no network until it is back."""
        return netmodes.is_proxied(self.network) and self.proxy_state not in (None, "running", "restarting")

    @property
    def workspace_volume(self) -> str:
        return naming.workspace_volume(self.name)

    @property
    def home_volume(self) -> str:
        return naming.home_volume(self.name)


def parse_health(inspect: dict[str, Any]) -> dict[str, Any]:
    """The newest `ca-stub health` JSON from a container's inspect data, or {} when it has none that
    is current: a stopped container's last report predates the stub's auto-commit on the way out,
    and reports from before a restart describe an earlier run."""
    return newest_report(inspect)[0]


def newest_report(inspect: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """parse_health's report and the engine's time (seconds) when that health check started (None
    when unknown): how old the report is, for the host's copy of it (session.reports)."""
    import json

    state = inspect.get("State") or {}
    if state.get("Status") != "running":
        return {}, None
    started = _docker_time(state.get("StartedAt"))
    logs = (state.get("Health") or {}).get("Log") or []
    for entry in reversed(logs):
        when = _docker_time(entry.get("Start"))
        if started is not None and when is not None and when < started:
            return {}, None
        try:
            report = json.loads(entry.get("Output") or "")
        except (ValueError, TypeError):
            continue
        if isinstance(report, dict):
            return checked_report(report), when
    return {}, None


_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def checked_report(report: dict[str, Any]) -> dict[str, Any]:
    """A health report as the host takes it: it comes from inside the sandbox, so a tip that is not
    a commit id, an ahead that is not a count or a dirty that is not a yes/no is unknown (None)."""
    tip, ahead, dirty = report.get("tip"), report.get("ahead"), report.get("dirty")
    return {**report,
            "tip": tip if isinstance(tip, str) and _COMMIT.fullmatch(tip) else None,
            "ahead": ahead if type(ahead) is int and ahead >= 0 else None,
            "dirty": dirty if isinstance(dirty, bool) else None}


def health_interval(inspect: dict[str, Any]) -> float | None:
    """Seconds between a container's health checks (its Config.Healthcheck), None without one."""
    check = (inspect.get("Config") or {}).get("Healthcheck") or {}
    interval = check.get("Interval") if isinstance(check, dict) else None
    if not check or check.get("Test") in (None, [], ["NONE"]):
        return None
    return interval / 1e9 if isinstance(interval, int) and interval > 0 else 30.0  # docker's default


def _docker_time(text: Any) -> float | None:
    """Docker's RFC 3339 times ('2026-01-02T03:04:05.123456789Z', any number of digits) as seconds."""
    if not isinstance(text, str) or not text.endswith("Z") or text.startswith("0001-"):
        return None
    whole, _, fraction = text[:-1].partition(".")
    then = utc_time(whole)
    if then is None:
        return None
    return then.timestamp() + (float("0." + fraction) if fraction.isdigit() else 0.0)


def seconds_since(text: str, now: datetime | None = None) -> int | None:
    """Whole seconds from one of our labels' times (utc_time) to now, at least 0; None when the
    text is not such a time."""
    then = utc_time(text)
    if then is None:
        return None
    return max(int(((now or datetime.now(UTC)) - then).total_seconds()), 0)


def utc_time(text: str) -> datetime | None:
    """'2026-11-27T03:12:28' (or with a final Z: our labels' times) as a UTC time; None when it is
    not one. (fromisoformat, not strptime: strptime's regular expressions cost every command ~5 ms.)"""
    whole = text[:-1] if isinstance(text, str) and text.endswith("Z") else text
    if not isinstance(whole, str) or len(whole) != 19 or whole[4] + whole[7] + whole[10] + whole[13] + whole[16] != "--T::":
        return None
    try:
        return datetime.fromisoformat(whole).replace(tzinfo=UTC)
    except ValueError:
        return None


def session_from_inspect(inspect: dict[str, Any]) -> SessionInfo | None:
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    if naming.SESSION not in labels or labels.get(naming.ROLE, "agent") != "agent":
        return None
    health = parse_health(inspect)
    return SessionInfo(
        name=labels[naming.SESSION],
        agent=labels.get(naming.AGENT, "?"),
        repo=Path(labels.get(naming.REPO, "/")),
        branch=labels.get(naming.BRANCH, "?"),
        base=labels.get(naming.BASE, ""),
        network=labels.get(naming.NETWORK, "?"),
        mode=labels.get(naming.MODE, "?"),
        image=labels.get(naming.IMAGE, ""),
        no_push=labels.get(naming.NO_PUSH) == "true",
        created=labels.get(naming.CREATED, ""),
        state=(inspect.get("State") or {}).get("Status", "unknown"),
        container_id=inspect.get("Id", ""),
        interactive=labels.get(naming.INTERACTIVE, "true") == "true",
        labels=dict(labels),
        autonomy=labels.get(naming.AUTONOMY, "full"),
        tip=health.get("tip"),
        ahead=health.get("ahead"),
        dirty=health.get("dirty"),
        screen=screen_of(health),
    )


def screen_of(report: dict[str, Any]) -> str | None:
    """A health report's "screen" (see activity.activity), when it is one."""
    screen = report.get("screen")
    return screen if isinstance(screen, str) else None


def session_from_volume(volume: dict[str, Any]) -> SessionInfo | None:
    """A session known only from its workspace volume (its container is gone)."""
    labels = volume.get("Labels") or {}
    name = labels.get(naming.SESSION)
    if not name or volume.get("Name") != naming.workspace_volume(name):
        return None
    fake = {"Config": {"Labels": labels}, "State": {"Status": "orphaned"}, "Id": ""}
    return session_from_inspect(fake)
