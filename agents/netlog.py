"""Per-session network log on the host: every proxy decision, copied from the sidecar's output.

The file (JSON lines, one decision each) lives under ~/.local/state/coding-agents/network/ and
outlives the session. Collection is idempotent: a cursor remembers how many lines of which
proxy container were already copied, so a recreated proxy starts a fresh count.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agents import network, runner, sessions


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "coding-agents"


def log_path(name: str) -> Path:
    return state_dir() / "network" / f"{name}.log"


def _cursor_path(name: str) -> Path:
    return state_dir() / "network" / f"{name}.cursor"


def collect(name: str) -> int:
    """Append new decisions from the proxy container's output; return how many were added.

    Several processes may collect at once (the background collector, `logs`, remove-agent):
    a lock file keeps them from appending the same lines twice.
    """
    import fcntl

    lock_path = _cursor_path(name).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _collect_locked(name)


def _collect_locked(name: str) -> int:
    proxy = sessions.proxy_name(name)
    found = runner.run(["docker", "inspect", "--format", "{{.Id}}", proxy], check=False)
    if not found.ok:
        return 0
    proxy_id = found.stdout.strip()
    output = runner.run(["docker", "logs", proxy], check=False).stdout.splitlines()
    cursor = _cursor_path(name)
    done = 0
    if cursor.exists():
        saved_id, _, count = cursor.read_text().partition(" ")
        if saved_id == proxy_id and count.strip().isdigit():
            done = int(count)
    new_lines = output[done:]
    added = 0
    path = log_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        for line in new_lines:
            decision = network.parse_log_line(line)
            if decision is None:
                continue
            log.write(json.dumps({"session": name, **decision.as_dict()}) + "\n")
            added += 1
    cursor.write_text(f"{proxy_id} {len(output)}")
    return added


def read(name: str) -> list[dict]:
    path = log_path(name)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def decisions(name: str) -> list[network.Decision]:
    return [
        network.Decision(e["time"], e["method"], e["host"], e["port"], e["status"], e["bytes"], e["result"],
                         e["decision"] == "allowed")
        for e in read(name)
    ]


def denied_count(name: str) -> int:
    return sum(1 for entry in read(name) if entry.get("decision") == "denied")


def format_entry(entry: dict) -> str:
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(entry["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{when}  {entry['decision']:7}  {entry['method']:7} {entry['host']}:{entry['port']}  "
            f"{entry['status']}  {entry['bytes']}B  {entry['result']}")
