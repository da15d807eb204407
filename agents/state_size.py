"""How much agent state a session keeps, against [sessions] state_size (docs/agent-state.md#size).

The state is on the session's home volume, which Docker cannot cap (a local volume's only size
option is a tmpfs one's, and a tmpfs is what the state must not be on), so the limit is a line the
user is shown, never a wall that would make the CLI's writes fail: `list-agents`, `inspect` and
connect-agent's start of a session measure the store (`du` in the running container; `inspect`
and connect-agent also in a throwaway one on the home volume of a stopped one, which a listing
never starts) and say when it has grown past the limit.
"""

from __future__ import annotations

import json
import time

from agents import files, paths, runner
from agents.errors import AgentsError
from agents.output import say
from agents.records import record
from agents.session import model, naming

# Built-in agents with no CLI folder (the agents table's rows without `state`): a listing of only
# these imports neither the table nor the config.
STATELESS = ("shell",)
FRESH = 60.0  # seconds a running session's measure is shown before it is taken again
MEASURE_TIMEOUT = 30.0  # seconds; `du` of a few GB of transcripts takes about one
FORGOTTEN = 7 * 86400.0  # entries of containers no listing has seen for this long are dropped
# The store's disk usage ("0" before the CLI wrote any), then df's line for the file system that
# holds the home volume (the engine's disk).
SCRIPT = 'if [ -d "$1" ]; then du -s -B1 "$1" | cut -f1; else echo 0; fi; df -P -B1 "$2" | tail -n 1'


@record(frozen=True)
class StateSize:
    used: int  # bytes the kept state takes on the home volume
    limit: int  # [sessions] state_size
    free: int | None = None  # bytes left on the engine's disk, where the volume is

    @property
    def over(self) -> bool:
        return self.used > self.limit

    @property
    def shown(self) -> str:
        """'312M/8G', and '(over)' past the limit: list-agents' HISTORY."""
        return f"{short(self.used)}/{short(self.limit)}" + (" (over)" if self.over else "")

    def as_json(self) -> dict:
        return {"used": self.used, "limit": self.limit, "free": self.free, "over": self.over}


def short(count: int) -> str:
    """Bytes in the units of a size setting (powers of 1024): 0, 12K, 312M, 1.5G, 8G."""
    for unit, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if count >= scale:
            value = count / scale
            return (f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")) + unit
    return str(count)


def warn(name: str, size: StateSize) -> None:
    """What the user is told, wherever it is measured, when a session's state is past the limit."""
    say(f"warning: {name} keeps {short(size.used)} of agent state (transcripts, history), over "
        f"[sessions] state_size ({short(size.limit)}); nothing is cut off, the engine's disk is the limit"
        + (f" ({short(size.free)} free)" if size.free is not None else ""))
    say(f"hint: export it (coding-agents history export {name} FILE) and start afresh on a new branch, "
        "or raise state_size in the config file")


def current_limit() -> int:
    """[sessions] state_size as the config file says now (a changed limit applies to every session)."""
    from agents.config import load_config

    try:
        return load_config().sessions.state_size
    except AgentsError:  # a broken config file is reported by the commands that need it
        from agents import history  # (not before: list-agents' path does without it and its hashlib)

        return history.DEFAULT_STATE_SIZE


def keeps_state(info: model.SessionInfo) -> bool:
    """Whether the session's agent has a CLI folder whose state is kept (the shell has none)."""
    if info.agent in STATELESS:
        return False
    from agents.session import query

    agent = query.session_agent(info)
    return bool(agent is not None and agent.state)


def measure_argv(info: model.SessionInfo) -> list[str]:
    from agents import hardening

    if info.running:
        return naming.agent_exec(info.name, "sh", "-c", SCRIPT, "state-size", naming.STATE_STORE, naming.HOME)
    # Stopped: a network-less throwaway container reads the home volume (read only); an image that
    # is gone by now is not pulled for it (the measure is then unknown).
    return [runner.engine(), "run", "--rm", "--pull", "never", "--network", "none", *hardening.hardening_args(64),
            "--volume", f"{info.home_volume}:{naming.HOME}:ro", info.image,
            "sh", "-c", SCRIPT, "state-size", naming.STATE_STORE, naming.HOME]


def parse(output: str, limit: int) -> StateSize | None:
    lines = output.strip().splitlines()
    if not lines or not lines[0].strip().isdigit():
        return None
    free = None
    if len(lines) > 1:
        fields = lines[-1].split()
        free = int(fields[3]) if len(fields) >= 4 and fields[3].isdigit() else None
    return StateSize(int(lines[0].strip()), limit, free)


def measure(info: model.SessionInfo, limit: int) -> StateSize | None:
    """The session's kept state now (None when the engine would not say); the host's copy keeps it
    for list-agents (which shows a stopped session's from it)."""
    size = _measured(info, limit)
    if size is not None:
        now = time.time()
        _keep({info.container_id: _entry(info, size, now)}, now)
    return size


def _measured(info: model.SessionInfo, limit: int) -> StateSize | None:
    if not info.container_id:
        return None  # orphaned: its home volume may be gone, and a `docker run -v` would make one
    try:
        result = runner.run(measure_argv(info), check=False, timeout=MEASURE_TIMEOUT)
    except AgentsError:  # it did not finish in time: unknown, and the listing goes on
        return None
    return parse(result.stdout, limit) if result.ok else None


def sizes(infos: list[model.SessionInfo], limit: int | None = None, now: float | None = None) -> dict[str, StateSize]:
    """Each listed session's kept state (those whose agent keeps any), against limit (default:
    current_limit()), for display only. A running session's is measured inside it (all at once)
    when the host's copy is older than FRESH; a stopped session's is the last measure there is (its
    state changes only while it runs; the CLI's last writes as it stopped may be missing): a
    listing never starts a container for it, only `inspect` and connect-agent measure a stopped one."""
    now = time.time() if now is None else now
    wanted = [info for info in infos if info.container_id and keeps_state(info)]
    if not wanted:
        return {}
    limit = current_limit() if limit is None else limit
    cache = _load()
    found: dict[str, StateSize] = {}
    ask = []
    for info in wanted:
        entry = cache.get(info.container_id)
        if entry is not None and (not info.running or (entry.get("state") == info.state
                                                       and 0 <= now - entry["at"] <= FRESH)):
            found[info.name] = StateSize(entry["used"], limit, entry.get("free"))
        elif info.running:
            ask.append(info)
    if not ask:
        return found
    if len(ask) == 1:
        measured = [_measured(ask[0], limit)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(len(ask), 8)) as pool:
            measured = list(pool.map(lambda info: _measured(info, limit), ask))
    updates = {}
    for info, size in zip(ask, measured, strict=True):
        if size is not None:
            found[info.name] = size
            updates[info.container_id] = _entry(info, size, now)
    _keep(updates, now)
    return found


def _entry(info: model.SessionInfo, size: StateSize, now: float) -> dict:
    return {"used": size.used, "free": size.free, "state": info.state, "at": now}


def _keep(updates: dict[str, dict], now: float) -> None:
    """Merge measures into the host's copy, dropping entries no one measured for FORGOTTEN."""
    cache = {**_load(), **updates}
    _save({key: entry for key, entry in cache.items() if now - entry["at"] < FORGOTTEN})


def _load() -> dict[str, dict]:
    try:
        found = json.loads(paths.state_sizes_file().read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {key: entry for key, entry in found.items() if isinstance(entry, dict)
            and type(entry.get("used")) is int and isinstance(entry.get("at"), (int, float))
            and isinstance(entry.get("state"), str)}


def _save(cache: dict[str, dict]) -> None:
    try:  # a copy that cannot be written is only a slower next listing
        files.write_private(paths.state_sizes_file(), json.dumps(cache, sort_keys=True).encode())
    except OSError:
        pass
