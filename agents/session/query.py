"""Finding sessions on the engine, and the rows `list-agents` shows.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agents import (
    docker,
    git,
    netmodes,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.session import model, naming

if TYPE_CHECKING:
    from agents import catalog


def find_sessions(include_stopped: bool = True, repo: Path | None = None) -> list[model.SessionInfo]:
    """Sessions on the engine: two queries for containers, two for volumes, whatever their number
    (the volume queries run while the containers are inspected). With repo, only that repository's
    sessions (a label filter: the engine does the choosing, so the cost stays flat).

    A session whose container was deleted by hand but whose volumes remain is reported as
    "orphaned", so its commits can still be synced and its volumes removed.
    """
    filters = ["--filter", f"label={naming.SESSION}", *(["--filter", f"label={naming.REPO}={repo}"] if repo else [])]
    volumes = _in_background(_orphan_volumes, filters) if include_stopped else None
    # --all even for running sessions only: a stopped proxy of a running session must be seen.
    inspected = _inspect_all("container", docker.run("ps", "--all", "--quiet", "--no-trunc", *filters).stdout.split())
    infos = _sessions_of(inspected)
    if not include_stopped:
        infos = [info for info in infos if info.running]
    if volumes is not None:
        names = {info.name for info in infos}
        for volume in volumes():
            orphan = model.session_from_volume(volume)
            if orphan and orphan.name not in names:
                names.add(orphan.name)
                infos.append(orphan)
    return sorted(infos, key=lambda info: info.created)


def _orphan_volumes(filters: list[str]) -> list[dict]:
    return _inspect_all("volume", docker.run("volume", "ls", "--quiet", *filters).stdout.split())


def _in_background(function, *args):
    """Start function(*args) in a thread; the returned callable waits for it and gives its result
    (or raises its error). Engine queries that do not depend on each other overlap this way."""
    import threading

    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # handed to the caller
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()

    def result():
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return result


def inspect_volumes(names: list[str]) -> list[dict]:
    """`docker volume inspect` of these volumes in one call: the ones that exist."""
    return _inspect_all("volume", names)


def _sessions_of(inspected: list[dict]) -> list[model.SessionInfo]:
    """The agent sessions among inspected containers; a squid session's proxy state from the same
    data: "running", "exited" (it died), "missing"."""
    proxy_states = {labels.get(naming.SESSION): (item.get("State") or {}).get("Status", "unknown")
                    for item in inspected
                    for labels in [(item.get("Config") or {}).get("Labels") or {}]
                    if labels.get(naming.ROLE) == "proxy"}
    found = [model.session_from_inspect(item) for item in inspected]
    return [dataclasses.replace(info, proxy_state=proxy_states.get(info.name, "missing")) if netmodes.is_proxied(info.network)
            else info for info in found if info]


# What a session is read from, one JSON object a line: the id, the state (with the health reports)
# and the labels. A sixth of the full inspect's bytes (its HostConfig, mounts, networks...), which
# the docker CLI would indent and we would parse, for every session on the engine.
CONTAINER_FORMAT = '{"Id":{{json .Id}},"State":{{json .State}},"Config":{"Labels":{{json .Config.Labels}}}}'


def _inspect_all(kind: str, ids: list[str], kind_flag: bool = False) -> list[dict]:
    """`docker inspect` of these containers (or volumes) in one call; missing ones are left out.
    kind_flag: ask for containers only (names given by the user may also be images or networks).
    Containers come as CONTAINER_FORMAT's subset of the inspect data; volumes whole."""
    if not ids:
        return []
    # Something removed between the two calls makes inspect exit 1 but still print the rest.
    argv = (["docker", "inspect", *(["--type", "container"] if kind_flag else []), "--format", CONTAINER_FORMAT, *ids]
            if kind == "container" else ["docker", "volume", "inspect", *ids])
    result = runner.run(argv, check=False)
    if not result.ok and not result.stdout.strip().strip("[]").strip():
        explained = docker.explain(runner.CommandFailed(result))
        if not isinstance(explained, runner.CommandFailed):
            raise explained  # the engine is down (not: a name is missing)
    try:
        if kind == "container":
            return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        return json.loads(result.stdout or "[]")
    except ValueError as error:
        raise AgentsError(f"`docker {kind} inspect` printed something unexpected: {error}",
                          hint="rerun with --debug to see it; `coding-agents doctor` checks the engine") from error


def get_session(name: str) -> model.SessionInfo:
    info = find_session(name)
    if info is None:
        raise AgentsError(f"no agent session named {name!r}", hint="`list-agents --all` shows the sessions there are")
    return info


def find_session(name: str) -> model.SessionInfo | None:
    """The session named `name`, reported as find_sessions would (a squid session's proxy state; an
    orphaned session from its volume), from one `docker inspect` of its container and its proxy
    (plus one of its workspace volume when the container is gone): no listing of every session."""
    inspected = _inspect_all("container", [name, naming.proxy_name(name)], kind_flag=True)
    mine = [item for item in inspected
            if ((item.get("Config") or {}).get("Labels") or {}).get(naming.SESSION) == name]
    for info in _sessions_of(mine):
        if info.name == name:
            return info
    for volume in _inspect_all("volume", [f"{name}-workspace"]):
        orphan = model.session_from_volume(volume)
        if orphan is not None and orphan.name == name:
            return orphan
    return None


def pick_session(name: str | None) -> model.SessionInfo:
    if name:
        return get_session(name)
    running = find_sessions(include_stopped=False)  # an orphaned session is never running
    if len(running) == 1:
        return running[0]
    if not running:
        raise AgentsError("no agent is running", hint="start one with `launch-agent AGENT` (or see `list-agents --all`)")
    names = ", ".join(info.name for info in running)
    raise AgentsError(f"{len(running)} agents are running: {names}", hint="name one: connect-agent NAME")


def with_current_reports(infos: list[model.SessionInfo]) -> list[model.SessionInfo]:
    """Sessions whose engine data holds no current health report (stopped, orphaned, just started)
    get a fresh one from their workspace, all at once; where even that fails, tip, ahead and dirty
    stay unknown. Sessions with a current report cost nothing here."""
    def current(info: model.SessionInfo) -> model.SessionInfo:
        if info.tip is not None:
            return info
        try:
            report = workspace.health(info, state=info.state)  # just inspected: no second look
        except AgentsError:
            report = {}
        return dataclasses.replace(info, tip=report.get("tip"), ahead=report.get("ahead"), dirty=report.get("dirty"))

    stale = [info for info in infos if info.tip is None]
    if len(stale) < 2:
        return [current(info) for info in infos]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(stale), 8)) as pool:
        return list(pool.map(current, infos))


def synced_refs(infos: list[model.SessionInfo]) -> dict[Path, dict[str, str]]:
    """Each repository's refs/coding-agents/sessions/* ({ref: sha}), one `git for-each-ref` per
    repository (not one lookup per session); repositories that are gone are left out."""
    found: dict[Path, dict[str, str]] = {}
    for repo in {info.repo for info in infos if info.tip is not None and info.ahead is not None}:
        if not repo.is_dir():
            continue
        result = runner.run(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)",
                             git.SESSION_REF_PREFIX], check=False)
        if result.ok:
            found[repo] = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    return found


def session_rows(infos: list[model.SessionInfo]) -> list[dict[str, object]]:
    refs = synced_refs(infos)
    rows = []
    for info in infos:
        rows.append(
            {
                "name": info.name,
                "agent": info.agent,
                "repo": str(info.repo),
                "branch": info.branch,
                "state": info.state + (" (dirty)" if info.dirty else "")
                + (" (proxy down)" if info.running and info.proxy_down else ""),
                "network": info.network,
                "created": info.created,
                "age": age(info.created),
                "unsynced": workspace.unsynced_commits(info, refs.get(info.repo)),
                "denied": denied_requests(info),
                "proxy": info.proxy_state,
            }
        )
    return rows


def denied_requests(info: model.SessionInfo) -> int | None:
    """Denied proxy requests so far, from the host-side log (squid sessions only)."""
    if not netmodes.is_proxied(info.network):
        return None
    from agents import netlog

    return netlog.denied_count(info.name)


def age(created: str, now: datetime | None = None) -> str:
    """'2026-11-27T03:12:28Z' -> '5m' (or '' when unknown)."""
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = max(int(((now or datetime.now(UTC)) - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def session_agent(info: model.SessionInfo) -> catalog.Agent | None:
    """The session's agent row: built in, or the user's own from the config (if it still parses)."""
    from agents import catalog

    found = catalog.find_agent(info.agent)
    if found is None:
        from agents.config import load_config

        try:
            found = catalog.find_agent(info.agent, load_config().agents)
        except AgentsError:
            return None
    return found
