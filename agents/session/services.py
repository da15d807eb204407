"""What runs beside a session: the host bridge, the logins, the MCP sidecar; restarting them.
"""

from __future__ import annotations

import json

from agents import (
    bridges,
    broker,
    catalog,
    docker,
    endpoints,
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


def ensure_running(info: model.SessionInfo, subnet_pool: str = network.DEFAULT_SUBNET_POOL) -> None:
    proxies.ensure_proxy(info, subnet_pool)
    if workspace.session_state(info.name) != "running":
        say(f"==> {info.name} had stopped; starting it again (its workspace is intact)")
        settings = bridges.find_settings(info.name)
        if settings is not None:
            bridges.prepare(settings)  # the socket folder is gone after a reboot; docker start mounts it
        docker.run("start", info.name)
        # tmpfs folders start empty again: logins and bridges are set up as at launch.
        agent = query.session_agent(info)
        if agent is not None:
            start_session_services(info.name, agent, settings, autonomy=info.autonomy,
                                   endpoint_plan=restart_endpoints(agent))


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
                           endpoint_plan: endpoints.Endpoints | None = None, helpers: list[int] | None = None) -> None:
    """After the container starts: the host bridge, the logins (with the endpoint variables, the
    MCP config and what the autonomy mode tells the CLI) the stub waits for, then the MCP
    sidecar with fresh capabilities. The pid of a bridge started here is added to helpers."""
    from agents import logins

    if bridge is not None and bridge.enabled:
        if not bridges.running(name):
            pid = daemons.spawn_internal("_bridge", name)
            if helpers is not None:
                helpers.append(pid)
        if not bridges.wait_for_sockets(bridge):
            raise AgentsError(f"the host bridge of {name} did not start",
                              hint=f"see {paths.helper_log('bridge', name)}")
    if planner.wants_logins(agent, endpoint_plan):
        use_host = bridge.host_logins if bridge is not None else False
        rendered = render.Rendered(**bridge.mcp_rendered) if bridge is not None and bridge.mcp_rendered else None
        line = logins.deliver(name, agent, use_host, rendered=rendered, autonomy=autonomy, endpoints=endpoint_plan)
        if line:
            say(f"==> {line}")
    if bridge is not None and bridge.mcp_sidecar:
        start_sidecar(name, bridge, sidecar_argv)


def start_sidecar(name: str, bridge: bridges.BridgeSettings, create_argv: list[str] | None) -> None:
    """Capabilities from the broker, the sidecar container, then its servers (through stdin)."""
    spec = bridge.mcp_sidecar or {}
    broker.ensure_running(lambda: daemons.spawn_internal("_broker", "broker"))
    answer = broker.call({
        "op": "issue", "session": name, "manifest": manifest.digest_of(bridge.manifest or {}),
        "servers": {server: list(servers.definition_secrets(definition)) for server, definition in spec.items()},
        "ttl": bridge.mcp_hours * 3600,
    })
    container = naming.sidecar_name(name)
    if create_argv is not None:
        runner.run(create_argv)
    elif workspace.session_state(container) != "running":
        runner.run(["docker", "start", container])
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
        runner.run(["docker", "rm", "--force", container], check=False)
    runner.run(["docker", "volume", "rm", "--force", naming.mcp_volume(name)], check=False)
    if broker.running():
        try:
            broker.call({"op": "revoke", "session": name})
        except (AgentsError, OSError):
            pass
