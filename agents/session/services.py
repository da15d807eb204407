"""What runs beside a session: the host bridge, the logins, the MCP sidecar; restarting them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agents import (
    bridges,
    broker,
    catalog,
    docker,
    endpoints,
    engine,
    files,
    manifest,
    network,
    paths,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.mcp import render, servers
from agents.output import say
from agents.session import daemons, facts, model, naming, planner, proxies, query

# The helper starts (a zipapp on a busy machine) and its exec reaches the container's end.
LINK_TIMEOUT = 20.0


def ensure_running(info: model.SessionInfo, subnet_pool: str = network.DEFAULT_SUBNET_POOL) -> None:
    proxies.ensure_proxy(info, subnet_pool)
    if workspace.session_state(info.name) != "running":
        say(f"==> {info.name} had stopped; starting it again (its workspace is intact)")
        settings = bridges.find_settings(info.name)
        if settings is not None:
            bridges.prepare(settings)  # the host sockets' folder is gone after a reboot
            files.write_private(starting_marker(info.name), b"")  # this start delivers the logins itself
        docker.run("start", info.name)
        # tmpfs folders start empty again: logins and bridges are set up as at launch.
        agent = query.session_agent(info)
        if agent is not None:
            start_session_services(info.name, agent, settings, autonomy=info.autonomy,
                                   endpoint_plan=restart_endpoints(agent))


# How long after our own `docker start` the session's helper leaves the logins to us.
OWN_START_SECONDS = 120.0


def starting_marker(name: str):
    return bridges.session_dir(name) / "starting"


def resume_after_restart(name: str) -> None:
    """The session's helper saw its container start again: when that was not ensure_running
    (`docker restart NAME`, a start by hand), its tmpfs folders are empty, so the logins go in
    again the way a start of ours gives them (the stub waits for them)."""
    import time

    marker = starting_marker(name)
    try:
        ours = time.time() - marker.stat().st_mtime < OWN_START_SECONDS
        marker.unlink()
    except OSError:
        ours = False
    if ours:
        return
    info = query.get_session(name)
    agent = query.session_agent(info)
    if agent is None:
        return
    print(f"{name} was started again from outside: delivering its logins", flush=True)
    endpoint_plan = restart_endpoints(agent)
    start_session_services(name, agent, bridges.find_settings(name), autonomy=info.autonomy,
                           endpoint_plan=endpoint_plan, sidecar=False)


def restart_endpoints(agent: catalog.Agent) -> endpoints.Endpoints | None:
    """The endpoint variables for a restarted session, from today's config (none if it broke)."""
    from agents.config import load_config

    try:
        return facts.session_endpoints(agent, load_config())
    except AgentsError as error:
        say(f"==> warning: {error.message}: the agent starts without its endpoint settings")
        return None


def start_session_services(name: str, agent: catalog.Agent, bridge: bridges.BridgeSettings | None,
                           sidecar_argv: list[str] | None = None, autonomy: str = catalog.DEFAULT_AUTONOMY,
                           endpoint_plan: endpoints.Endpoints | None = None, helpers: list[int] | None = None,
                           sidecar: bool = True, history_archive: str | None = None) -> None:
    """After the container starts: the host bridge and its relay link, the logins (with the
    endpoint variables, the MCP config and what the autonomy mode tells the CLI) the stub waits
    for, then the MCP sidecar with fresh capabilities. The pid of a bridge started here is added
    to helpers. A history archive (--resume) goes in first: the stub links the CLI's state once
    the logins are there."""
    from agents import history, logins

    if history_archive:
        count = history.deliver(name, Path(history_archive))
        say(f"==> history: {count} file(s) of the branch's last session, from {history_archive}")

    if bridges.needs_helper(bridge):
        if not bridges.running(name):
            pid = daemons.spawn_internal("_bridge", name)
            if helpers is not None:
                helpers.append(pid)
        if bridges.listeners(bridge) and not bridges.wait_for_link(name, name, timeout=LINK_TIMEOUT):
            raise AgentsError(f"the host bridge of {name} did not start",
                              hint=f"see {paths.helper_log('bridge', name)}")
    if planner.wants_logins(agent, endpoint_plan):
        use_host = bridge.host_logins if bridge is not None else False
        rendered = render.Rendered(**bridge.mcp_rendered) if bridge is not None and bridge.mcp_rendered else None
        line = logins.deliver(name, agent, use_host, rendered=rendered, autonomy=autonomy, endpoints=endpoint_plan,
                              carry=bridge.host_setup if bridge is not None else None)
        if line:
            say(f"==> {line}")
    if sidecar and bridge is not None and bridge.mcp_sidecar:
        start_sidecar(name, bridge, sidecar_argv)


def start_sidecar(name: str, bridge: bridges.BridgeSettings, create_argv: list[str] | None) -> None:
    """Capabilities from the broker, the sidecar container, then its servers (through stdin)."""
    spec = bridge.mcp_sidecar or {}
    broker.ensure_running(lambda: daemons.spawn_internal("_broker", "broker"))
    answer = broker.call({
        "op": "issue", "session": name, "manifest": manifest.digest_of(bridge.manifest or {}),
        "servers": {server: list(servers.definition_secrets(definition)) for server, definition in spec.items()},
        "ttl": bridge.mcp_hours * 3600,
        "engine": engine.reaching(engine.current(), os.environ),  # the broker may serve other engines' sessions too
    })
    container = naming.sidecar_name(name)
    if create_argv is not None:
        engine.refuse_host_mounts(create_argv)
        runner.run(create_argv)
    elif workspace.session_state(container) != "running":
        runner.run([runner.engine(), "start", container])
    if not bridges.wait_for_link(name, container, timeout=LINK_TIMEOUT):
        raise AgentsError(f"the broker's relay into {container} did not start",
                          hint=f"see {paths.helper_log('bridge', name)}")
    result = runner.run(naming.agent_exec(container, "ca-stub", "mcp-receive", stdin=True),
                        input=json.dumps({"servers": spec, "capabilities": answer["capabilities"]}), check=False)
    if not result.ok:
        raise AgentsError(f"the MCP sidecar of {name} did not take its servers: {runner.last_line(result.stderr)}",
                          hint=f"see `coding-agents logs {container}`")
    say(f"==> MCP sidecar {container} serves: {', '.join(sorted(spec))} (secrets stay out of {name})")


def remove_sidecar(name: str) -> None:
    """The sidecar, its socket volume and its capabilities (another session's are never touched)."""
    container = naming.sidecar_name(name)
    if proxies._container_owner(container) == [name, "mcp"]:
        runner.run(docker.remove_argv(container), check=False)
    runner.run([runner.engine(), "volume", "rm", "--force", naming.mcp_volume(name)], check=False)
    if broker.running():
        try:
            broker.call({"op": "revoke", "session": name})
        except (AgentsError, OSError):
            pass
