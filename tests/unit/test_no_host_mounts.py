"""No container we create mounts a path of this machine (issue #14): every step of a launch's plan
(what --dry-run shows, agents/session/preview.py), for every network mode, agent and option."""

from __future__ import annotations

import itertools

import pytest

from agents import bridges, catalog, engine, netmodes, network
from agents.session import planner, preview
from tests.unit.test_session_planner import make_request

SIGNING = (bridges.Signing("openpgp", "0123456789ABCDEF"),
           bridges.Signing("ssh", "~/.ssh/id_ed25519", "ssh-ed25519 AAAAC3Nza me@host"))


def every_bridge(name: str, agent: catalog.Agent, squid: bool) -> list[bridges.BridgeSettings | None]:
    """No bridge, each bridge alone, all of them at once, each with and without the MCP sidecar."""
    logins = tuple((f"/home/agent/{login.container}", f"/home/me/{login.host}") for login in agent.login_files)
    parts = {"login_files": logins, "credential_hosts": ("github.com",), "signing": SIGNING[0],
             "ssh_agent": "/tmp/ssh-x/agent.1", **({"host_ports": (11434,), "host_gateway": "172.30.0.1"} if squid else {})}
    found: list[bridges.BridgeSettings | None] = [None]
    for chosen in [{}, *({key: value} for key, value in parts.items()), parts, {"signing": SIGNING[1]}]:
        for sidecar in (None, {"github": {"command": ["github-mcp"], "args": [], "env": {"T": "${GITHUB_TOKEN}"}}}):
            found.append(bridges.BridgeSettings(session=name, agent=agent.name, repo="/home/me/src/api",
                                                mcp_sidecar=sidecar, **chosen))
    return found


def requests():
    for mode, agent in itertools.product(netmodes.NAMES, catalog.AGENTS):
        squid = netmodes.is_proxied(mode)
        name = f"{agent.name}-api-session-1"
        for bridge in every_bridge(name, agent, squid):
            yield pytest.param(make_request(
                agent=agent, name=name, branch=f"{agent.name}/session-1", image=f"coding-agents-{agent.name}:1",
                network=mode, policy=network.Policy(allow=("pypi.org",), host_ports=bridge.host_ports if bridge else ())
                if squid else None, proxy_image="coding-agents-proxy:1", bridge=bridge,
                mcp_sidecar=bool(bridge and bridge.mcp_sidecar), manifest="f" * 64, cpus=2.0, memory="4g",
                gpu=True, prompt="fix it" if agent.prompt_command else None, uncommitted_commit="b" * 40,
                extra_docker_args=("--volume", "caches:/home/agent/.cache", "--mount", "type=tmpfs,target=/scratch"),
            ), id=f"{mode}-{agent.name}-{bridge_id(bridge)}")


def bridge_id(bridge: bridges.BridgeSettings | None) -> str:
    if bridge is None:
        return "nobridge"
    parts = [key for key in ("login_files", "credential_hosts", "signing", "ssh_agent", "host_ports")
             if getattr(bridge, key)]
    return "+".join(parts or ["empty"]) + ("+mcp" if bridge.mcp_sidecar else "") + (
        "-ssh" if bridge.signing and bridge.signing.format == "ssh" else "")


def host_paths(argv: list[str]) -> list[str]:
    """Host paths argv mounts: bind mounts and `--volume /path:...` (engine.host_mounts), and any
    `--mount` or `--volume` whose text names a bind at all (e.g. a volume driver's o=bind)."""
    found = list(engine.host_mounts(argv))
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in ("--mount", "--volume", "-v", "--opt") and "bind" in value:
            found.append(value)
    return found


@pytest.mark.parametrize("request_", list(requests()))
def test_no_step_of_a_launch_mounts_a_host_path(request_):
    plan = planner.plan_launch(request_)
    steps = preview.launch_steps(request_, plan)
    argvs = [step["argv"] for step in steps]
    if plan.proxy:
        argvs.append(plan.proxy.create_argv_for("172.30.0.1"))  # as the launch runs it, with the gateway

    assert "agent container" in {step["step"] for step in steps}
    assert [(argv[:3], host_paths(argv)) for argv in argvs if host_paths(argv)] == []
    if bridges.link_plans(request_.bridge) if request_.bridge else False:
        (helper,) = [step for step in steps if step["step"] == "host bridge"]
        assert [link[:3] for link in helper["relay"]] == [["docker", "exec", "-i"]] * len(helper["relay"])


def test_the_check_itself_finds_a_bind_mount():
    """Positive control: the plans of the previous version mounted the bridge and broker sockets so."""
    assert host_paths(["docker", "run", "--mount", "type=bind,source=/run/user/1000/x,target=/run/coding-agents,readonly"])
    assert host_paths(["docker", "run", "--volume", "/home/me:/workspace"])
    assert host_paths(["docker", "volume", "create", "--opt", "o=bind", "--opt", "device=/srv"])
