"""A squid session's proxy: its networks, start, readiness, restart, and removal.
"""

from __future__ import annotations

import threading

from agents import (
    docker,
    images,
    netmodes,
    network,
    records,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.output import say
from agents.session import model, naming, planner


def start_proxy(proxy: planner.ProxyPlan, subnet_pool: str = network.DEFAULT_SUBNET_POOL,
                timeout: float = 20.0, stop: threading.Event | None = None,
                networks_ready: threading.Event | None = None) -> str:
    """Networks, then squid; returns (once squid accepts connections) the egress gateway.

    stop (set by a launch that failed meanwhile, when this runs beside it) ends the wait early;
    networks_ready is set once the internal network exists (the agent's container, which is on it
    alone, may be started then, while the egress network is made)."""
    import time

    def made(net: str) -> None:
        if net == proxy.internal_network and networks_ready is not None:
            networks_ready.set()

    # The engine host's addresses (a remote engine is asked, unless it was lately) while the
    # networks are made.
    learned = runner.in_background(host_addresses, proxy)
    subnets = create_networks(proxy, subnet_pool, made)
    gateway = network.gateway_of(subnets[proxy.egress_network])
    runner.run(proxy.create_argv_for(gateway, learned()))
    runner.run(list(proxy.connect_argv))
    runner.run(list(proxy.start_argv))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            raise AgentsError(f"the start of {proxy.container} was abandoned",
                              hint="the launch failed meanwhile; its error says why")
        if runner.run(list(proxy.ready_argv), check=False).ok:
            return gateway
        time.sleep(0.05)
    logs = runner.run([runner.engine(), "logs", "--tail", "20", proxy.container], check=False)
    raise AgentsError(
        f"the network proxy {proxy.container} did not start: {runner.last_line(logs.stderr or logs.stdout)}",
        hint=f"see `coding-agents logs {proxy.container}`",
    )


def host_addresses(proxy: planner.ProxyPlan, fresh: bool = False) -> tuple[str, ...]:
    """The engine host's own addresses for a session's proxy to deny (agents/engine_host.py); a
    warning, and none added, when a remote engine cannot tell (its proxy still denies its gateway)."""
    from agents import engine_host

    found = engine_host.learn(proxy.image, fresh=fresh)
    if found is None:
        say(f"==> warning: the engine did not tell its host's addresses; {proxy.container} denies only "
            "the session's gateway and the private ranges there (see docs/network-proxy.md)")
        return ()
    return found


def egress_gateway(net: str, created: dict[str, str] | None = None) -> str | None:
    """The host's address on a session's egress network (just created, or asked of the engine)."""
    if created and net in created:
        return network.gateway_of(created[net])
    subnets_format = ("{{range .Subnets}}{{.Subnet}} {{end}}" if runner.engine_kind() == "podman"
                      else "{{range .IPAM.Config}}{{.Subnet}} {{end}}")
    found = runner.run([runner.engine(), "network", "inspect", "--format", subnets_format, net], check=False)
    subnets = [subnet for subnet in found.stdout.split() if "." in subnet] if found.ok else []
    return network.gateway_of(subnets[0]) if subnets else None


def save_network_log(info: model.SessionInfo) -> None:
    from agents import netlog

    added = netlog.collect(info.name)
    if added or netlog.log_path(info.name).exists():
        say(f"==> network log kept at {netlog.log_path(info.name)}")


def _container_owner(container: str) -> list[str] | None:
    """[session, role] from a container's labels, or None when there is no such container."""
    label_format = (
        "{{index .Config.Labels \"" + naming.SESSION + "\"}} {{index .Config.Labels \"" + naming.ROLE + "\"}}"
    )
    found = runner.run([runner.engine(), "inspect", "--format", label_format, container], check=False)
    return found.stdout.split() if found.ok else None


def _network_owner(net: str) -> str | None:
    """The session label of a network ('' when unlabelled), or None when there is no such network."""
    found = runner.run(
        [runner.engine(), "network", "inspect", "--format", "{{index .Labels \"" + naming.SESSION + "\"}}", net],
        check=False,
    )
    return found.stdout.strip() if found.ok else None


def network_members_argv(net: str) -> list[str]:
    """What lists the containers attached to a network (podman's network inspect does not)."""
    if runner.engine_kind() == "podman":
        return [runner.engine(), "ps", "--all", "--filter", f"network={net}", "--format", "{{.Names}}"]
    return [runner.engine(), "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", net]


def remove_proxy(name: str) -> None:
    """The sidecar and both networks of a session (missing ones are fine; others' are never touched)."""
    if _container_owner(naming.proxy_name(name)) == [name, "proxy"]:
        runner.run(docker.remove_argv(naming.proxy_name(name)), check=False)
    for net in (naming.internal_network(name), naming.egress_network(name)):
        if _network_owner(net) != name:
            continue
        # Our networks: containers someone attached to them (test servers...) are detached first.
        members = runner.run(network_members_argv(net), check=False)
        if not members.ok:
            continue
        for member in members.stdout.split():
            runner.run([runner.engine(), "network", "disconnect", "--force", net, member], check=False)
        runner.run([runner.engine(), "network", "rm", net], check=False)


def ensure_proxy(info: model.SessionInfo, subnet_pool: str = network.DEFAULT_SUBNET_POOL) -> None:
    """Recreate a crashed or deleted proxy from the session's labels before the agent needs it."""
    if not netmodes.is_proxied(info.network):
        return
    container = naming.proxy_name(info.name)
    owner = _container_owner(container)
    if owner is not None and owner != [info.name, "proxy"]:
        raise AgentsError(f"{container} exists but is not the proxy of {info.name}",
                          hint=f"remove or rename that container, then connect-agent {info.name} again")
    labels = tuple(sorted(info.labels.items()))
    proxy = planner.plan_proxy(info.name, labels, model.policy_from_labels(info.labels), images.image_ref("proxy"))
    if owner is not None and workspace.session_state(container) == "running":
        return
    # Started again: the host may have other addresses by now (asked anew; the cache too).
    fresh = host_addresses(proxy, fresh=True)
    if owner is not None:
        if not fresh or set(network.collapse(fresh)) <= set(_denied_host_addresses(container)):
            if docker.run("start", container, check=False).ok:
                return
            say(f"==> recreating the network proxy of {info.name}")
        else:
            say(f"==> the engine host has new addresses; recreating the network proxy of {info.name}")
    else:
        say(f"==> recreating the network proxy of {info.name}")
    runner.run(docker.remove_argv(proxy.container), check=False)
    missing = []
    for argv in proxy.network_argvs:
        net_owner = _network_owner(argv[-1])
        if net_owner is None:
            missing.append(argv)
        elif net_owner != info.name:
            raise AgentsError(f"network {argv[-1]} exists but belongs to another session",
                              hint=f"remove that session first (`coding-agents remove-agent {net_owner}`)" if net_owner
                              else "it was not made by coding-agents: remove or rename it (docker network rm), then try again")
    subnets = create_networks(records.replace(proxy, network_argvs=tuple(missing)), subnet_pool) if missing else {}
    # The gateway is the host too: denied like its other addresses (and the host ports' relay).
    runner.run(proxy.create_argv_for(egress_gateway(proxy.egress_network, subnets), fresh))
    runner.run(list(proxy.connect_argv))
    runner.run(list(proxy.start_argv))


def _denied_host_addresses(container: str) -> tuple[str, ...]:
    """The host addresses a proxy container was made to deny (its label)."""
    found = runner.run([runner.engine(), "inspect", "--format",
                        "{{index .Config.Labels \"" + naming.HOST_ADDRESSES + "\"}}", container], check=False)
    return tuple(found.stdout.split()) if found.ok else ()


def create_networks(proxy: planner.ProxyPlan, subnet_pool: str, made=None) -> dict[str, str]:
    """Both session networks, each on the first free small subnet of the pool: {network: subnet}.
    made(network) is called as each one exists.

    The gateway is given, not left to the engine: the host-port relay listens on it.
    """
    candidates = network.candidate_subnets(subnet_pool, proxy.container)
    chosen: dict[str, str] = {}
    for argv in proxy.network_argvs:
        for subnet in candidates:
            result = runner.run([*argv[:-1], "--subnet", subnet, "--gateway", network.gateway_of(subnet), argv[-1]],
                                check=False)
            if result.ok:
                candidates.remove(subnet)
                chosen[argv[-1]] = subnet
                if made is not None:
                    made(argv[-1])
                break
            if "overlap" not in result.stderr.lower():
                raise runner.CommandFailed(result)
        else:
            raise AgentsError(
                f"no free subnet left in {subnet_pool} for {argv[-1]}",
                hint="remove old sessions (list-agents --all), or set [network] subnet_pool to a larger range",
            )
    return chosen
