"""Finding sessions on the engine, and the rows `list-agents` shows.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from agents import (
    docker,
    git,
    netmodes,
    records,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.session import listing, model, naming

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from agents import catalog


def find_sessions(include_stopped: bool = True, repo: Path | None = None) -> list[model.SessionInfo]:
    """Sessions on the engine: one `docker ps` for containers, two queries for volumes, whatever
    their number (the volume queries run beside the ps). With repo, only that repository's
    sessions (a label filter: the engine does the choosing, so the cost stays flat).

    Their labels are ours only (naming.LABELS, the ones with a value): `docker ps` prints no label
    map. get_session gives a session's whole inspect data (every label).

    A session whose container was deleted by hand but whose volumes remain is reported as
    "orphaned", so its commits can still be synced and its volumes removed.
    """
    return _listed(include_stopped, repo)[0]


def _listed(include_stopped: bool, repo: Path | None = None) -> tuple[list[model.SessionInfo], dict[str, str]]:
    """find_sessions, and `docker ps`'s Status of each container ({id: "Up 3 seconds (healthy)"})."""
    volumes = runner.in_background(_orphan_volumes, repo) if include_stopped else None
    listed = _parse_ps(docker.run(*listing.ps_args(repo)).stdout)
    infos = _sessions_of(listed)
    if not include_stopped:
        infos = [info for info in infos if info.running]
    if volumes is not None:
        names = {info.name for info in infos}
        for volume in volumes():
            orphan = model.session_from_volume(volume)
            if orphan and orphan.name not in names:
                names.add(orphan.name)
                infos.append(orphan)
    return sorted(infos, key=lambda info: info.created), {item["Id"]: item["Status"] for item in listed}


def _labels_by_name(values: object) -> dict[str, str]:
    """A format's label values, in naming.LABELS' order (or podman's label map), as {label: value}
    (ours that are set only)."""
    if isinstance(values, dict) or values is None:
        return {key: value for key, value in (values or {}).items()
                if key in naming.LABELS and isinstance(value, str) and value}
    if not isinstance(values, list) or len(values) != len(naming.LABELS):
        raise ValueError(f"{len(values) if isinstance(values, list) else 'no'} labels where "
                         f"{len(naming.LABELS)} were asked for")
    return {key: value for key, value in zip(naming.LABELS, values, strict=True) if isinstance(value, str) and value}


def _parse_listing(text: str, command: str, shape) -> list[dict]:
    """One JSON object a line (listing.PS_FORMAT, listing.VOLUME_FORMAT), each reshaped; a clear error otherwise."""
    try:
        return [shape(json.loads(line)) for line in text.splitlines() if line.strip()]
    except (ValueError, KeyError, TypeError) as error:
        raise AgentsError(f"`docker {command}` printed something unexpected: {error}",
                          hint="rerun with --debug to see it; `coding-agents doctor` checks the engine") from error


def _parse_ps(text: str) -> list[dict]:
    """listing.PS_FORMAT's lines as the subset of inspect data model.session_from_inspect reads (the id,
    State.Status, the labels that have a value), plus "Status"."""
    return _parse_listing(text, "ps", lambda item: {
        "Id": str(item["Id"]), "State": {"Status": str(item["State"])}, "Status": str(item["Status"]),
        "Config": {"Labels": _labels_by_name(item["Labels"])}})


def _orphan_volumes(repo: Path | None) -> list[dict]:
    """The listing's volumes as model.session_from_volume reads them, from one `docker volume ls`."""
    listed = docker.run(*listing.volume_args(repo)).stdout
    return _parse_listing(listed, "volume ls", lambda item: {"Name": str(item["Name"]),
                                                             "Labels": _labels_by_name(item["Labels"])})


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
    return [records.replace(info, proxy_state=proxy_states.get(info.name, "missing")) if netmodes.is_proxied(info.network)
            else info for info in found if info]


# What a session is read from, one JSON object a line: the id, the state (with the health reports),
# the labels and the health check (its interval says how long a report stays current). A sixth of the full inspect's bytes (its HostConfig, mounts, networks...), which
# the docker CLI would indent and we would parse, for every session on the engine.
CONTAINER_FORMAT = ('{"Id":{{json .Id}},"State":{{json .State}},'
                    '"Config":{"Labels":{{json .Config.Labels}},"Healthcheck":{{json .Config.Healthcheck}}}}')
PODMAN_CONTAINER_FORMAT = CONTAINER_FORMAT.replace("{{json .Id}}", "{{json .ID}}")  # its Go field's name


def container_format() -> str:
    return PODMAN_CONTAINER_FORMAT if runner.engine_kind() == "podman" else CONTAINER_FORMAT


def _inspect_all(kind: str, ids: list[str], kind_flag: bool = False) -> list[dict]:
    """`docker inspect` of these containers (or volumes) in one call; missing ones are left out.
    kind_flag: ask for containers only (names given by the user may also be images or networks).
    Containers come as CONTAINER_FORMAT's subset of the inspect data; volumes whole."""
    if not ids:
        return []
    # Something removed between the two calls makes inspect exit 1 but still print the rest.
    argv = ([runner.engine(), "inspect", *(["--type", "container"] if kind_flag else []), "--format", container_format(), *ids]
            if kind == "container" else [runner.engine(), "volume", "inspect", *ids])
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
    for volume in _inspect_all("volume", [naming.workspace_volume(name)]):
        orphan = model.session_from_volume(volume)
        if orphan is not None and orphan.name == name:
            return orphan
    return None


def pick_session(name: str | None) -> model.SessionInfo:
    """The named session, or the one running session; as get_session reports it (every label)."""
    if name:
        return get_session(name)
    running = find_sessions(include_stopped=False)  # an orphaned session is never running
    if len(running) == 1:
        return get_session(running[0].name)
    if not running:
        raise AgentsError("no agent is running", hint="start one with `launch-agent AGENT` (or see `list-agents --all`)")
    names = ", ".join(info.name for info in running)
    raise AgentsError(f"{len(running)} agents are running: {names}", hint="name one: connect-agent NAME")


def listed_with_reports(include_stopped: bool) -> list[model.SessionInfo]:
    """find_sessions, each session with its latest health report (tip, ahead, dirty): for display
    (list-agents), never for a decision that can lose work (those ask the workspace).

    Reports come from what the stub pushed through the relay, or from the host's copy
    (session.reports), while they are as current as the engine's;
    the rest are asked of the engine in one `docker inspect` (a running session's newest health
    check; a stopped container's StartedAt and FinishedAt, which say whether its copy still holds);
    where neither has one (stopped, orphaned, just started) the workspace is asked, all at once.
    Where even that fails, tip, ahead and dirty stay unknown. With every copy current, the
    engine is asked once: the `docker ps`.
    """
    import time

    from agents.session import reports

    infos, statuses = _listed(include_stopped)
    cache = reports.load()
    now = time.time()
    found: dict[str, dict] = {}  # session name -> report
    ask: list[model.SessionInfo] = []  # of the engine
    for info in infos:
        if info.running:
            status = statuses.get(info.container_id, "")
            uptime = _uptime(status)
            report = reports.pushed_report(reports.load_pushed(info.name), info.container_id, uptime,
                                           cache["touched"].get(info.name), now) if status.startswith("Up ") else None
            if report is None:
                report = reports.running_report(cache, info.container_id, uptime, now)
        elif not info.container_id:  # orphaned: only our tools touch its workspace
            report = reports.kept_report(cache, reports.volume_key(info.workspace_volume), [info.created])
        else:
            report = None  # stopped: is the copy of the same stop? FinishedAt says
        if report is not None:
            found[info.name] = report
        elif info.container_id:
            ask.append(info)
    updates: dict[str, dict] = {}
    fresh: list[tuple[model.SessionInfo, list[str] | None]] = []  # of the workspace, with the copy's mark
    inspected = {item.get("Id"): item for item in _inspect_all("container", [info.container_id for info in ask])}
    for info in ask:
        item = inspected.get(info.container_id)
        if item is None:
            continue  # gone since the ps
        state = item.get("State") or {}
        if info.running:
            report, at = model.newest_report(item)
            interval = model.health_interval(item)
            if report:
                found[info.name] = report
                if at is not None and interval is not None:
                    updates[reports.container_key(info.container_id)] = reports.running_entry(
                        info.name, report, at, interval, now)
            else:
                fresh.append((info, None))
            continue
        mark = [str(state.get("StartedAt", "")), str(state.get("FinishedAt", ""))]
        report = reports.kept_report(cache, reports.container_key(info.container_id), mark)
        if report is not None:
            found[info.name] = report
        else:
            fresh.append((info, mark))
    fresh += [(info, [info.created]) for info in infos
              if not info.running and not info.container_id and info.name not in found]

    def ask_workspace(job: tuple[model.SessionInfo, list[str] | None]) -> None:
        info, mark = job
        asked = time.time()
        try:
            report = workspace.health(info, state=info.state)  # just listed: no second look
        except AgentsError:
            return
        if not isinstance(report, dict):
            return
        found[info.name] = report
        if mark is not None:
            key = reports.container_key(info.container_id) if info.container_id else reports.volume_key(info.workspace_volume)
            updates[key] = reports.kept_entry(info.name, report, mark, asked)

    if len(fresh) < 2:
        for job in fresh:
            ask_workspace(job)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(len(fresh), 8)) as pool:
            list(pool.map(ask_workspace, fresh))
    if updates or (include_stopped and len(cache["entries"]) > len(infos)):
        # A whole listing (--all) says which entries can go: those of containers and volumes that are gone.
        keep = ({reports.container_key(info.container_id) if info.container_id else reports.volume_key(info.workspace_volume)
                 for info in infos} if include_stopped else None)
        reports.save(updates, keep=keep)
    return [records.replace(info, tip=report.get("tip"), ahead=report.get("ahead"), dirty=report.get("dirty"),
                                screen=model.screen_of(report))
            if (report := found.get(info.name)) is not None else info for info in infos]


def _uptime(status: str) -> float | None:
    """Seconds a running container has been up, when `docker ps`'s Status says so to the second
    ("Up 7 seconds (healthy)": under a minute); None otherwise."""
    import re

    match = re.match(r"Up (?:(Less than a second)|(\d+) seconds?)\b", status)
    if match is None:
        return None
    return 0.0 if match.group(1) else float(match.group(2))


def synced_refs(infos: list[model.SessionInfo]) -> dict[Path, dict[str, str]]:
    """Each repository's refs/coding-agents/sessions/* ({ref: sha}), one `git for-each-ref` per
    repository (not one lookup per session), and only where some session needs its ref
    (workspace.needs_synced_ref); repositories that are gone are left out."""
    found: dict[Path, dict[str, str]] = {}
    for repo in {info.repo for info in infos if info.ahead is not None and workspace.needs_synced_ref(info)}:
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
    seconds = model.seconds_since(created, now)
    if seconds is None:
        return ""
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
