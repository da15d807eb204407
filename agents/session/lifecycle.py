"""Stopping a session and starting it again, keeping everything (`stop`, `start`).
"""

from __future__ import annotations

from agents import netmodes, runner, workspace
from agents.errors import AgentsError
from agents.output import say
from agents.session import model, naming, reports


def refuse_unstoppable(info: model.SessionInfo, verb: str) -> None:
    if not info.container_id:
        raise AgentsError(f"{info.name} has no container any more (only its volumes are left)",
                          hint=f"bring its work home with remove-agent {info.name}, then launch again with --branch")
    if info.mode == "run" and verb == "stop":
        raise AgentsError(f"{info.name} was started by run-agent, which removes the session when its agent stops",
                          hint=f"detach (Ctrl-b d) and leave it running, or finish it: remove-agent {info.name}")


def stop(info: model.SessionInfo) -> None:
    """`docker stop` of the agent (the stub auto-commits on SIGTERM), its MCP sidecar and proxy."""
    refuse_unstoppable(info, "stop")
    containers = [info.name, naming.sidecar_name(info.name)]
    proxy = [naming.proxy_name(info.name)] if netmodes.is_proxied(info.network) else []
    present = [name for name in containers + proxy if workspace.session_state(name) == "running"]
    if not present:
        say(f"==> {info.name} is already stopped")
        return
    try:
        # The agent first, with docker's grace for the stub's auto-commit; then the proxy, which
        # holds nothing and whose squid would use the whole grace to close its connections.
        agent_side = [name for name in present if name in containers]
        if agent_side:
            runner.run([runner.engine(), "stop", *agent_side])
        if [name for name in present if name in proxy]:
            runner.run([runner.engine(), "stop", "--time", "1", *proxy])
    finally:
        reports.touch(info.name)
    say(f"==> stopped {info.name}; its workspace, home and branch {info.branch} are kept "
        f"(start {info.name} or connect-agent {info.name} resumes it)")


def start(info: model.SessionInfo) -> None:
    """What connect-agent does before it attaches: the proxy, the container, logins, bridges, sidecar."""
    from agents.config import load_config
    from agents.session import services

    refuse_unstoppable(info, "start")
    if info.running and not info.proxy_down:
        say(f"==> {info.name} is already running")
        return
    services.ensure_running(info, load_config().network.subnet_pool)
    reports.touch(info.name)
    say(f"==> started {info.name}" + (f"; connect-agent {info.name} attaches" if info.interactive else ""))
