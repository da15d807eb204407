"""The host's copy of what sessions last reported (`ca-stub health`: tip, ahead, dirty), so that
`list-agents` need not ask the engine for every session on every run. For display only: nothing
that can lose work (remove-agent, sync, the end of a launch) reads it; they ask the workspace.

One JSON file (paths.reports_file()), replaced atomically under a lock (several list-agents, and
the tools that write into workspaces, run at once); unreadable or odd content counts as empty.
Its entries, keyed "container:ID" or "volume:NAME":

- a running container's newest engine health report: good while it is at most one health interval
  old by the engine's time of the report (what `docker inspect` would give is up to one interval
  old too), and while we asked at most one interval ago (that bounds a clock skew with a remote
  engine), and while the container has not started again since (`docker ps`'s "Up N seconds");
- a stopped container's report from its workspace (a throwaway container made it): good while the
  container's StartedAt and FinishedAt (one `docker inspect`, asked beside the others) are the
  ones the entry was made for: a container that ran again has another FinishedAt;
- an orphaned session's report (its container is gone): good while the workspace volume is the
  same one (its CreatedAt).

Beside the copy, a running session's stub pushes each report it makes through its relay link
(`report.sock`, served inside the `_bridge` helper: agents/relay.py). Each lands in its own file
(paths.pushed_reports_dir(), named by the session the link belongs to, never by anything in the
report) with the host's time of arrival and the id of the container the link runs in. A pushed
report is shown while it came from the container `docker ps` shows now, that container has not
started again since it arrived, and it arrived at most one health interval (and PUSH_SLACK) ago by
this machine's clock, or the longer gap seen between that container's last two pushes, as on an
engine too busy to start each check on time (pushed_report, expected_gap): then the `docker ps` is
list-agents' only engine call. It comes from inside the sandbox like the engine's health report:
checked, shown, never acted on.

A stopped session's workspace changes only when something runs on it: the container (then it has
another FinishedAt), or our own tools while it is stopped (workspace.autocommit): those call
touch(NAME), and every report of that session asked before the touch is dropped, also one that a
list-agents running at that moment writes afterwards. A hand-made `docker run -v NAME-workspace:...`
on a stopped session is not seen (`list-agents --all` then shows its report from before).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agents import files, paths
from agents.session import naming

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from typing import Any

VERSION = 1
KEEP_TOUCHES = 86400.0  # a touch only matters to a list-agents that started before it


# A pushed report: at most this many bytes, and only these keys (ca-stub health's report).
MAX_PUSHED = 16 * 1024
PUSHED_KEYS = frozenset({"tip", "ahead", "dirty", "elsewhere", "screen", "filling"})
# Beyond one health interval: the health check's own run (git status on a big workspace) and the
# relay's hops, before the next report replaces this one.
PUSH_SLACK = 2.0
# The engine starts a check one interval after the last one ended, so on a busy engine (many
# sessions on few cores) reports come further apart than the interval: a push is expected again
# after the gap seen between the container's last two, up to this many intervals.
MAX_CADENCE_INTERVALS = 3


def container_key(container_id: str) -> str:
    return f"container:{container_id}"


def volume_key(volume: str) -> str:
    return f"volume:{volume}"


def load() -> dict[str, Any]:
    """{"entries": {key: entry}, "touched": {session: host time}}; empty when missing or unreadable."""
    try:
        found = json.loads(paths.reports_file().read_bytes())
    except (OSError, ValueError):
        return {"entries": {}, "touched": {}}
    if not isinstance(found, dict) or found.get("version") != VERSION:
        return {"entries": {}, "touched": {}}
    entries = found.get("entries")
    touched = found.get("touched")
    return {"entries": {key: value for key, value in entries.items()
                        if isinstance(value, dict) and isinstance(value.get("session"), str)}
            if isinstance(entries, dict) else {},
            "touched": {key: value for key, value in touched.items() if isinstance(value, (int, float))}
            if isinstance(touched, dict) else {}}


def report_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's report ({"tip", "ahead", "dirty"}), or None when it holds none that is usable."""
    report = entry.get("report")
    return report if isinstance(report, dict) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def running_report(cache: dict[str, Any], container_id: str, uptime: float | None,
                   now: float | None = None) -> dict[str, Any] | None:
    """A running container's cached report if it is still as fresh as the engine's (see above).
    uptime: seconds since the container started, when `docker ps` says so exactly (under a minute)."""
    entry = cache["entries"].get(container_key(container_id))
    if entry is None or entry.get("kind") != "running":
        return None
    now = time.time() if now is None else now
    at, seen, interval = _number(entry.get("at")), _number(entry.get("seen")), _number(entry.get("interval"))
    if at is None or seen is None or interval is None or interval <= 0:
        return None
    if now - at > interval or not 0 <= now - seen <= interval:
        return None
    if uptime is not None and now - uptime - 1.0 > seen:  # started again after we asked
        return None
    touched = _number(cache["touched"].get(entry["session"]))
    if touched is not None and touched >= seen:
        return None
    return report_of(entry)


def kept_report(cache: dict[str, Any], key: str, mark: list[str]) -> dict[str, Any] | None:
    """A stopped container's or orphaned session's cached report, if it was made for the same
    mark (StartedAt and FinishedAt; a volume's CreatedAt) and no tool of ours touched the
    workspace since it was asked for."""
    entry = cache["entries"].get(key)
    if entry is None or entry.get("kind") != "kept" or entry.get("mark") != mark:
        return None
    asked = _number(entry.get("asked"))
    touched = _number(cache["touched"].get(entry["session"]))
    if asked is None or (touched is not None and touched >= asked):
        return None
    return report_of(entry)


def running_entry(session: str, report: dict[str, Any], at: float, interval: float, now: float | None = None) -> dict:
    return {"kind": "running", "session": session, "report": report, "at": at, "interval": interval,
            "seen": time.time() if now is None else now}


def kept_entry(session: str, report: dict[str, Any], mark: list[str], asked: float) -> dict:
    """asked: the host time before the workspace was asked (a touch after it drops the entry)."""
    return {"kind": "kept", "session": session, "report": report, "mark": mark, "asked": asked}


def _locked():
    import fcntl

    held = files.open_private(paths.reports_file().with_name(paths.reports_file().name + ".lock"), "a")
    fcntl.flock(held, fcntl.LOCK_EX)
    return held


def _write(cache: dict[str, Any]) -> None:
    files.write_private(paths.reports_file(), json.dumps({"version": VERSION, **cache}, sort_keys=True).encode())


def save(updates: dict[str, dict], keep: set[str] | None = None) -> None:
    """Merge these entries in (an entry of a session touched after its report was asked for is
    left out); keep: when given, every other entry is dropped (the engine has none of them now).
    A cache that cannot be written is only a slower next run."""
    try:
        with _locked():
            cache = load()
            now = time.time()
            touched = {name: when for name, when in cache["touched"].items() if now - when < KEEP_TOUCHES}
            entries = cache["entries"] if keep is None else {
                key: value for key, value in cache["entries"].items() if key in keep}
            for key, entry in updates.items():
                when = touched.get(entry.get("session"))
                asked = entry.get("asked", entry.get("seen"))
                if when is not None and isinstance(asked, (int, float)) and when >= asked:
                    continue
                entries[key] = entry
            _write({"entries": entries, "touched": touched})
    except OSError:
        pass


def touch(session: str) -> None:
    """Our tools changed this session's workspace: forget its reports, and any asked for before now."""
    try:
        with _locked():
            cache = load()
            entries = {key: value for key, value in cache["entries"].items() if value.get("session") != session}
            _write({"entries": entries, "touched": {**cache["touched"], session: time.time()}})
    except OSError:
        pass


# --- reports pushed by the stub through the relay ----------------------------------------------


def pushed_path(session: str) -> Path:
    return paths.pushed_reports_dir() / f"{session}.json"


def _pushed_shape(found: Any) -> dict[str, Any] | None:
    """A pushed report with ca-stub health's shape (checked like the engine's), else None."""
    from agents.session import model

    if not isinstance(found, dict) or not set(found) <= PUSHED_KEYS:
        return None
    elsewhere = found.get("elsewhere", [])
    if not isinstance(elsewhere, list) or not all(
            isinstance(item, dict) and set(item) == {"ref", "commits"} and isinstance(item["ref"], str)
            and type(item["commits"]) is int for item in elsewhere):
        return None
    if not isinstance(found.get("screen"), (str, type(None))) or found.get("filling", True) is not True:
        return None
    return model.checked_report(found)


def receive(session: str, container_id: str, data: bytes, now: float | None = None) -> str | None:
    """Keep one report pushed through session's link to container_id (the link says whose it is);
    why it was refused, or None when kept."""
    if len(data) > MAX_PUSHED:
        return f"a report over {MAX_PUSHED} bytes"
    if not container_id:
        return "the link's container id is unknown"
    try:
        report = _pushed_shape(json.loads(data.decode()))
    except (UnicodeDecodeError, ValueError):
        report = None
    if report is None:
        return "not a health report"
    arrived = time.time() if now is None else now
    entry = {"container": container_id, "arrived": arrived, "report": report}
    previous = load_pushed(session)
    before = _number(previous.get("arrived")) if previous and previous.get("container") == container_id else None
    if before is not None and 0 < arrived - before:
        entry["gap"] = arrived - before  # the cadence pushed_report expects the next one at
    try:
        files.write_private(pushed_path(session), json.dumps(entry, sort_keys=True).encode())
    except OSError as error:
        return f"it could not be written: {error}"
    return None


def load_pushed(session: str) -> dict[str, Any] | None:
    try:
        found = json.loads(pushed_path(session).read_bytes())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def pushed_report(entry: dict[str, Any] | None, container_id: str, uptime: float | None, touched: float | None = None,
                  now: float | None = None, interval: float = naming.HEALTH_INTERVAL) -> dict[str, Any] | None:
    """A pushed report (load_pushed) that still says what the engine's newest report would: pushed
    by the container ps shows (container_id), since its current start (uptime: seconds up by
    ps, when it says so exactly; None means a minute or more), at most one cadence (expected_gap)
    and PUSH_SLACK ago by this clock, and not before a tool of ours touched the workspace."""
    if entry is None or entry.get("container") != container_id or not container_id:
        return None
    arrived = _number(entry.get("arrived"))
    now = time.time() if now is None else now
    if arrived is None or not 0 <= now - arrived <= expected_gap(entry, interval) + PUSH_SLACK:
        return None
    # ps said "Up N seconds" (truncated) when asked, before now: the start was at now - N or earlier.
    if uptime is not None and arrived < now - uptime:
        return None
    if touched is not None and touched >= arrived:
        return None
    report = _pushed_shape(entry.get("report"))
    return report


def expected_gap(entry: dict[str, Any], interval: float = naming.HEALTH_INTERVAL) -> float:
    """Seconds until the container's next report: the gap seen between its last two pushes (receive),
    at least one interval and at most MAX_CADENCE_INTERVALS of them; one interval before a second."""
    gap = _number(entry.get("gap"))
    return interval if gap is None else min(max(gap, interval), MAX_CADENCE_INTERVALS * interval)
