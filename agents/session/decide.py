"""Deciding a launch: from (options, config, facts) to the session request, every refusal
included. Pure: no subprocess, no file, no engine; agents/session/facts.py asked those already.

The order of the refusals is the user's: what they typed first (check_input, before anything is
asked), then what the repository and the engine say (session_request).
"""

from __future__ import annotations

import re
from pathlib import Path

from agents import bridges, catalog, endpoints, images, netmodes, network, records
from agents.config import Config
from agents.errors import AgentsError, UsageError
from agents.mcp import render, servers
from agents.session import model, naming, planner
from agents.session.options import LaunchOptions

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from agents.session.facts import LaunchFacts, RepoFacts


def check_input(options: LaunchOptions, config: Config) -> tuple[catalog.Agent, str, str, tuple[int, ...]]:
    """(agent, network mode, autonomy, host ports) from what the user typed and configured alone."""
    agent = catalog.get_agent(options.agent, config.agents)
    network_mode = options.network or config.sessions.network
    planner.network_args(network_mode)  # refuses unknown modes
    autonomy = choose_autonomy(options, config, agent)
    if netmodes.is_offline(network_mode) and options.prompt is not None and agent.npm_package:
        # Measured: Codex retries "waiting for network" forever; the others fail after a while.
        raise AgentsError(f"--prompt with --network-proxy restricted: {agent.title} would have no network, so it "
                          "could not reach its model API", hint="use --network-proxy squid (the default; add your "
                          "endpoint with [agents.NAME] env or --allow-domain) or allow-all")
    from agents.config import parse_host_port

    host_ports = tuple(sorted({*config.network.host_ports,
                               *(parse_host_port(port, "--allow-host-port") for port in options.host_ports)}))
    if options.branch and options.use_current_branch:
        raise UsageError("--branch and --use-current-branch cannot be combined", hint="pick one")
    validate_limits(options.cpus, options.memory)
    if not netmodes.is_proxied(network_mode) and (options.allow_domains or options.learn or options.host_ports):
        raise UsageError(
            "--allow-domain, --allow-host-port and --learn only apply to --network-proxy squid",
            hint=f"this session's network mode is {network_mode}",
        )
    return agent, network_mode, autonomy, host_ports


def choose_autonomy(options: LaunchOptions, config: Config, agent: catalog.Agent | None = None) -> str:
    """--ask / --autonomy, else [sessions] autonomy; "ask" needs someone to answer the prompts."""
    mode = options.autonomy or config.sessions.autonomy
    if mode not in catalog.AUTONOMY_MODES:
        raise AgentsError(f"--autonomy {mode!r} is not a mode", hint="choose full or ask")
    if mode == "ask" and options.prompt is not None:
        where = "--ask" if options.autonomy else "[sessions] autonomy = \"ask\""
        raise UsageError(f"{where} keeps the agent's approval prompts, but with --prompt nobody is there to answer them",
                         hint="run it interactively, or pass --autonomy full for this prompt")
    row = dict(agent.autonomy).get(mode) if agent is not None else None
    if row is not None and row.refused:
        where = f"--autonomy {mode}" if options.autonomy else f'[sessions] autonomy = "{mode}"'
        raise UsageError(f"{where} for {agent.title}: {row.refused}",
                         hint="use --autonomy full (the container is the boundary), or --ask with another agent")
    return mode


def validate_limits(cpus: float | None, memory: str | None) -> None:
    if cpus is not None and not cpus > 0:
        raise AgentsError(f"--cpu must be a positive number of cores, not {cpus:g}", hint="e.g. --cpu 2 or --cpu 0.5")
    if memory is not None and not re.fullmatch(r"[1-9][0-9]*(\.[0-9]+)?[bkmgBKMG]?", memory):
        raise AgentsError(f"--memory {memory!r} is not a size", hint="e.g. --memory 4g or --memory 512m")


def choose_branch(options: LaunchOptions, agent: catalog.Agent, repo: RepoFacts, existing: tuple[model.SessionInfo, ...]) -> str:
    """The agent branch: the one named, the host's current one, or the next free <agent>/session-N."""
    from agents import git

    if options.use_current_branch:
        if repo.current_branch is None:
            raise AgentsError("the host repository has a detached HEAD", hint="check out a branch or pass --branch")
        return naming.agent_branch(agent.name, repo.current_branch)
    if options.branch:
        return naming.agent_branch(agent.name, options.branch)
    taken = [branch for branch in repo.branches if branch.startswith(f"{agent.name}/session-")]
    taken += [info.branch for info in existing if info.repo == repo.root]
    return f"{agent.name}/session-{git.next_session_number(taken, agent.name)}"


def choose_name(options: LaunchOptions, agent: catalog.Agent, repo: Path, branch: str) -> str:
    return naming.validate_name(options.name or naming.default_name(agent.name, repo, branch))


def early_branch(options: LaunchOptions, agent: catalog.Agent) -> str | None:
    """The agent branch when the options alone decide it (--branch), else None (choose_branch)."""
    return naming.agent_branch(agent.name, options.branch) if options.branch and not options.use_current_branch else None


def branches_to_check(options: LaunchOptions, branch: str | None) -> tuple[str, ...]:
    """The branch names git must accept (facts.branch_name_ok): the one typed and the agent's. None
    for a branch choose_branch numbered, <agent>/session-N: valid by construction, as agent names
    are [a-z0-9][a-z0-9_-]* (catalog)."""
    numbered = not options.branch and not options.use_current_branch
    return () if numbered else tuple(dict.fromkeys(name for name in (options.branch, branch) if name))


def name_known_early(options: LaunchOptions, agent: catalog.Agent, repo: Path) -> str | None:
    """The session's name when --name or --branch decides it, before the repository's sessions are
    listed (the engine can be asked about it meanwhile); None when choose_name needs them, or
    refuses it (its refusal comes later, in order)."""
    branch = early_branch(options, agent)
    if not options.name and branch is None:
        return None
    try:
        return choose_name(options, agent, repo, branch or "")
    except UsageError:
        return None


def conflicting_branch(branches: dict[str, str], branch: str) -> str | None:
    """A host branch that makes `branch` impossible: a/b blocks a/b/c, and a/b/c blocks a/b."""
    parts = branch.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in branches:
            return prefix
    return next((name for name in sorted(branches) if name.startswith(branch + "/")), None)


def session_request(options: LaunchOptions, config: Config, facts: LaunchFacts) -> planner.SessionRequest:
    """The whole request, or the first refusal, from the facts gathered for these options."""
    agent, network_mode, autonomy, host_ports = check_input(options, config)
    repo, branch, name = facts.repo, facts.branch, facts.name
    host_ports, port_warnings = host_ports_on_engine(host_ports, options, network_mode, facts.engine_remote, name)
    if facts.host_on_network and netmodes.is_proxied(network_mode) and not config.network.allow_host_gateway:
        raise AgentsError(f"--network-proxy {network_mode}: {facts.host_on_network}",
                          hint="use --network-proxy restricted, rootless Podman or Docker; or accept it: "
                               "[network] allow_host_gateway = true (docs/podman.md)")
    if options.gpu and facts.gpu_runtime is None:
        raise AgentsError("--gpu: the Docker engine has no GPU runtime (no nvidia runtime and no CDI GPU device "
                          "in its `docker info`), so it cannot pass a GPU to the agent",
                          hint="install the NVIDIA Container Toolkit where the engine runs (then `nvidia-ctk runtime "
                          "configure --runtime=docker` and restart the engine), or leave out --gpu; "
                          "`coding-agents doctor` shows the engine it talks to")
    if facts.invalid_branch is not None:
        raise UsageError(f"{facts.invalid_branch!r} is not a valid branch name",
                         hint="use letters, digits, '-', '_', '.' and '/'")
    clash = conflicting_branch(repo.branches, branch)
    if clash:
        raise AgentsError(
            f"branch {branch} cannot exist next to the host's {clash} (git stores them as a file and a folder)",
            hint="pick another --branch",
        )
    for info in facts.existing:
        if info.repo == repo.root and info.branch == branch:
            raise AgentsError(
                f"{branch} is already being worked on by {info.name}",
                hint=f"connect to it (connect-agent {info.name}), or pick another --branch",
            )
    # Continue an existing agent branch; otherwise start from the host's HEAD.
    start = repo.branches.get(branch) or repo.head
    if any(info.name == name for info in facts.existing) or facts.name_owner == name:
        raise AgentsError(f"a session named {name} already exists", hint=f"pass --name, or remove-agent {name} first")
    if facts.name_owner is not None:
        raise AgentsError(f"a container named {name} already exists", hint="pass --name, or remove it first")
    if facts.engine_kind == "podman":
        refuse_podman_label_values(repo.root, branch)
    if facts.proxy_name_taken and netmodes.is_proxied(network_mode):  # e.g. a session named NAME-proxy
        raise AgentsError(f"a container named {naming.proxy_name(name)} already exists",
                          hint="pass --name to choose another session name")
    if repo.uncommitted and start != repo.head:
        raise AgentsError(
            f"--include-uncommitted needs the session to start from HEAD, but {branch} already exists",
            hint="commit your changes, or use a new --branch",
        )
    if options.resume and not agent.state:
        raise UsageError(f"--resume: {agent.title} keeps no history to resume", hint="leave out --resume")
    if options.resume and facts.resume_archive is None:
        raise AgentsError(f"--resume: this repository has no history of {branch} to start from",
                          hint="a session's history is kept when remove-agent removes it, or comes from "
                          "`coding-agents history import FILE`; leave out --resume to start afresh")
    endpoint_plan = facts.endpoints
    mcp_plan = mcp_request(facts.mcp, facts.mcp_refusal, facts.secret_names)
    policy = None
    if netmodes.is_proxied(network_mode):
        closed = [port for port in endpoint_plan.host_alias_ports if port not in host_ports]
        if closed:
            raise AgentsError(f"{agent.name}'s endpoint is port {closed[0]} of this machine "
                              f"({endpoints.HOST_ALIAS}), but that port is not open to the session",
                              hint=f"add --allow-host-port {closed[0]} (or [network] host_ports)")
        extra = (*mcp_plan.domains, *(host for host in endpoint_plan.hosts if host != endpoints.HOST_ALIAS))
        policy = records.replace(session_policy(agent, options, config, extra, host_ports, facts.host_addresses),
                                     endpoint_ports=endpoint_plan.host_ports)
    bridge, warnings = bridge_request(name, agent, repo.root, facts.bridge, config,
                                      host_ports if netmodes.is_proxied(network_mode) else ())
    bridge = records.replace(
        bridge,
        mcp_rendered=records.asdict(mcp_plan.rendered) if mcp_plan.rendered else None,
        mcp_sidecar=servers.sidecar_spec(mcp_plan.servers) or None,
        mcp_hours=config.mcp.capability_hours,
        host_setup=config.carry_for(agent) if options.host_setup else None,
    )
    refuse_volumes_in_use(name, facts.volume_owners, mcp_sidecar=bool(mcp_plan.sidecar_servers))
    return planner.SessionRequest(
        agent=agent,
        repo=repo.root,
        branch=branch,
        start_commit=start,
        name=name,
        image=images.image_ref(agent.image_name),
        mode=options.mode,
        network=network_mode,
        prompt=options.prompt,
        include_uncommitted=repo.uncommitted,
        identity=repo.identity,
        cpus=options.cpus if options.cpus is not None else config.sessions.cpus,
        memory=options.memory or config.sessions.memory,
        pids_limit=config.sessions.pids_limit,
        auto_commit=config.sessions.auto_commit,
        no_push=options.no_push,
        extra_docker_args=tuple(config.sessions.docker_args),
        policy=policy,
        proxy_image=images.image_ref("proxy"),
        image_ids=facts.image_ids,
        bridge=bridge,
        mcp_sidecar=bool(mcp_plan.sidecar_servers),
        autonomy=autonomy,
        endpoints=endpoint_plan,
        gpu=options.gpu,
        warnings=(*port_warnings, *warnings),
        state_size=config.sessions.state_size,
        resume=facts.resume_archive if options.resume else None,
    )


def refuse_podman_label_values(repo: Path, branch: str) -> None:
    """Podman reads some --label values (its volumes') and every --filter value as a CSV record:
    a comma or a double quote in the repository's path or the branch would split or break the
    session's labels, and its sessions could not be found by them."""
    for what, value in (("the repository's path", str(repo)), ("the branch", branch)):
        if "," in value or '"' in value:
            raise AgentsError(f"under Podman, {what} cannot hold a comma or a double quote ({value}): "
                              "Podman reads the session's labels as comma-separated values",
                              hint="use a path and a branch without them (a symlink to the repository "
                                   "works), or a Docker engine")


def refuse_volumes_in_use(name: str, volume_owners: tuple[tuple[str, str], ...], mcp_sidecar: bool) -> None:
    """Never reuse (or, on rollback, delete) a volume we did not create: it may hold work. An
    orphaned session of that name (only its volumes are left) is named as such. The MCP sockets'
    volume counts only for a session that makes one."""
    wanted = {naming.workspace_volume(name), naming.home_volume(name), *([naming.mcp_volume(name)] if mcp_sidecar else [])}
    for volume, owner in volume_owners:
        if volume not in wanted:
            continue
        if volume == naming.workspace_volume(name) and owner == name:
            raise AgentsError(f"a session named {name} already exists", hint=f"pass --name, or remove-agent {name} first")
        raise AgentsError(f"a volume named {volume} already exists", hint="pass --name to choose another name")


def host_ports_on_engine(host_ports: tuple[int, ...], options: LaunchOptions, network_mode: str,
                         engine_remote: str | None, name: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The host ports a session gets on this engine. Their relay listens on the session's egress
    gateway, an address of the engine's machine: a remote engine gets none. Asked for on the
    command line, that refuses; from [network] host_ports (every session's), it is a warning."""
    if not (host_ports and engine_remote and netmodes.is_proxied(network_mode)):
        return host_ports, ()
    if options.host_ports:
        raise AgentsError(f"--allow-host-port needs the engine on this machine (the relay listens on the "
                          f"session's network gateway, which is where the engine runs), but {engine_remote}",
                          hint="use a local engine for this session, or leave out --allow-host-port")
    shown = ", ".join(str(port) for port in host_ports)
    return (), (f"warning: {engine_remote}: [network] host_ports ({shown}) are not offered to {name}",)


def mcp_request(planned: render.McpPlan, refusal: Exception | None, secret_names: frozenset[str]) -> render.McpPlan:
    """The session's MCP servers; a repository's server that wants a secret needs your approval,
    and servers with secrets need them set. (The broker serves any engine, through the relay.)"""
    if refusal is not None:
        raise refusal
    if planned.sidecar_servers:
        wanted = [name for server in planned.sidecar_servers for name in server.secrets]
        missing = sorted(set(wanted) - secret_names)
        if missing:
            users = ", ".join(server.name for server in planned.sidecar_servers if set(server.secrets) & set(missing))
            raise AgentsError(f"MCP server(s) {users} need the secret(s) {', '.join(missing)}, which are not set",
                              hint=f"coding-agents secrets set {missing[0]}")
    return planned


def session_policy(agent: catalog.Agent, options: LaunchOptions, config: Config, extra: tuple[str, ...],
                   host_ports: tuple[int, ...], host_addresses: tuple[str, ...]) -> network.Policy:
    return network.build_policy(
        (*agent.allowed_domains, *extra),
        config.network.allow,
        tuple(options.allow_domains),
        block_private=config.network.block_private,
        learn=options.learn,
        request_max_mb=config.network.request_max_mb,
        reply_max_mb=config.network.reply_max_mb,
        host_ports=host_ports,
        host_addresses=host_addresses,
    )


def bridge_request(name: str, agent: catalog.Agent, repo: Path, found, config: Config,
                   host_ports: tuple[int, ...] = ()) -> tuple[bridges.BridgeSettings, tuple[str, ...]]:
    """What the session's host-side bridges will serve, and warnings; refuses what cannot work."""
    if found.ssh_agent is not None and not found.ssh_agent_is_socket:
        raise AgentsError("--ssh-agent needs a running ssh-agent, but SSH_AUTH_SOCK " +
                          ("is not set" if not found.ssh_agent else f"({found.ssh_agent}) is not a socket"),
                          hint="start one (eval $(ssh-agent); ssh-add), or leave out --ssh-agent")
    settings = bridges.BridgeSettings(
        session=name,
        agent=agent.name,
        repo=str(repo),
        login_files=found.login_files,
        credential_hosts=found.credential_hosts,
        signing=found.signing,
        ssh_agent=found.ssh_agent or None,
        save_new_logins=config.credentials.save_new_logins,
        host_logins=found.host_logins,
        host_ports=host_ports,
    )
    if not settings.enabled:
        return settings, ()
    problem = found.problem
    if problem is None and found.signing is not None and not found.signer_installed:
        raise AgentsError(f"this repository signs commits (commit.gpgsign) but the signer `{found.signer}` "
                          "is not installed here", hint="install it, or set [credentials] signing = false")
    if problem is None:
        return settings, ()
    if host_ports:
        raise AgentsError(f"--allow-host-port needs the session's host-side relay, but {problem}",
                          hint="install socat, or leave out --allow-host-port")
    if found.signing is not None or found.ssh_agent:
        feature = "commit signing (commit.gpgsign is on)" if found.signing else "--ssh-agent"
        raise AgentsError(f"{feature} needs the session's host bridge, but {problem}",
                          hint="install socat, or set [credentials] signing = false"
                          if found.signing else "install socat, or leave out --ssh-agent")
    warning = f"warning: {problem}: refreshed logins and git credentials will not reach {name}"
    return records.replace(settings, login_files=(), credential_hosts=()), (warning,)
