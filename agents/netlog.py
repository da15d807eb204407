"""Per-session network log on the host: every proxy decision, copied from the sidecar's output.

The file (JSON lines, one decision each) lives under ~/.local/state/coding-agents/network/ and
outlives the session. Collection is idempotent: each entry names the proxy container and the
line of its output it came from, so the log itself says how far it got (a collector stopped
between appending and noting it can never append the same line twice), and a recreated proxy
starts a fresh count.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agents import files, network, paths, runner
from agents.session import naming


def log_path(name: str) -> Path:
    return paths.network_dir() / f"{name}.log"


def _cursor_path(name: str) -> Path:
    """How far a log written before its entries named their proxy line got (only read now)."""
    return paths.network_dir() / f"{name}.cursor"


def collect(name: str) -> int:
    """Append new decisions from the proxy container's output; return how many were added.

    Several processes may collect at once (the background collector, `logs`, remove-agent):
    a lock file keeps them from appending the same lines twice.
    """
    import fcntl

    lock_path = paths.network_dir() / f"{name}.lock"
    with files.open_private(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _collect_locked(name)


def _collect_locked(name: str) -> int:
    proxy = naming.proxy_name(name)
    found = runner.run([runner.engine(), "inspect", "--format", "{{.Id}}", proxy], check=False)
    if not found.ok:
        return 0
    proxy_id = found.stdout.strip()[:12]
    text = runner.run([runner.engine(), "logs", proxy], check=False).stdout
    output = text.splitlines()
    if output and not text.endswith("\n"):
        output.pop()  # a line squid is still writing: next time, whole
    lines = []
    for number in range(_lines_done(name, proxy_id), len(output)):
        decision = network.parse_log_line(output[number])
        if decision is not None:
            lines.append(json.dumps({"session": name, **decision.as_dict(), "proxy": proxy_id, "line": number}) + "\n")
    if lines:
        path = log_path(name)
        with files.open_private(path, "a", encoding="utf-8") as log:
            log.write("".join(lines))  # one write: a reader never sees half a batch
    return len(lines)


def _lines_done(name: str, proxy_id: str) -> int:
    """How many lines of this proxy's output the log already holds (from its last entry)."""
    last = _last_entry(name)
    if last is not None and "line" in last:
        return int(last["line"]) + 1 if last.get("proxy") == proxy_id else 0
    cursor = _cursor_path(name)  # a log written before entries said where they came from
    if last is not None and cursor.exists():
        saved_id, _, count = cursor.read_text().partition(" ")
        if saved_id[:12] == proxy_id and count.strip().isdigit():
            return int(count)
    return 0


def _last_entry(name: str) -> dict | None:
    path = log_path(name)
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(log.tell() - 65536, 0))
            tail = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            return entry
    return None


def read_new(name: str, offset: int = 0) -> tuple[list[dict], int]:
    """Entries after byte `offset` of the log, and the offset after the last whole line read."""
    path = log_path(name)
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except OSError:
        return [], offset
    whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next look
    entries = []
    for line in whole.decode("utf-8", "replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries, offset + len(whole)


def read(name: str) -> list[dict]:
    return read_new(name)[0]


def decisions(name: str) -> list[network.Decision]:
    return [
        network.Decision(e["time"], e["method"], e["host"], e["port"], e["status"], e["bytes"], e["result"],
                         e["decision"] == "allowed")
        for e in read(name)
    ]


# How collect() writes a denial (json.dumps' separators). Inside a JSON string a quote is always
# escaped, so these bytes occur in a whole line only as its decision field.
_DENIED = b'"decision": "denied"'


def denied_count(name: str) -> int:
    """Denied requests in the log, counted in its bytes (list-agents asks this of every squid
    session: no line is parsed). A line still being written is left for the next look."""
    try:
        data = log_path(name).read_bytes()
    except OSError:
        return 0
    return data[: data.rfind(b"\n") + 1].count(_DENIED)


def format_entry(entry: dict) -> str:
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(entry["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{when}  {entry['decision']:7}  {entry['method']:7} {entry['host']}:{entry['port']}  "
            f"{entry['status']}  {entry['bytes']}B  {entry['result']}")
