"""Executing sessions: launch (with rollback), find, connect, sync, finish and remove."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agents import bridges, broker, catalog, docker, endpoints, git, images, mcp, network, runner, sessions, workspace
from agents import manifest as manifest_module
from agents.config import Config
from agents.errors import AgentsError, UsageError


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LaunchOptions:
    agent: str
    path: str = "."
    branch: str | None = None
    use_current_branch: bool = False
    name: str | None = None
    no_push: bool = False
    prompt: str | None = None
    cpus: float | None = None
    memory: str | None = None
    include_uncommitted: bool = False
    network: str | None = None
    mode: str = "launch"  # or "run"
    allow_domains: tuple[str, ...] = ()
    learn: bool = False
    ssh_agent: bool = False
    host_logins: bool = True
    autonomy: str | None = None  # full | ask; None: [sessions] autonomy
    host_ports: tuple[str, ...] = ()  # --allow-host-port, as typed
    gpu: bool = False  # --gpu: the engine's GPUs, passed through


# --- finding sessions (one engine query for the list, one for the details) ----------------


def find_sessions(include_stopped: bool = True) -> list[sessions.SessionInfo]:
    """Sessions on the engine: two queries for containers, two for volumes, whatever their number.

    A session whose container was deleted by hand but whose volumes remain is reported as
    "orphaned", so its commits can still be synced and its volumes removed.
    """
    # --all even for running sessions only: a stopped proxy of a running session must be seen.
    argv = ["ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={sessions.SESSION}"]
    inspected = _inspect_all("container", docker.run(*argv).stdout.split())
    proxies = {labels.get(sessions.SESSION): (item.get("State") or {}).get("Status", "unknown")
               for item in inspected
               for labels in [(item.get("Config") or {}).get("Labels") or {}] if labels.get(sessions.ROLE) == "proxy"}
    found = [sessions.session_from_inspect(item) for item in inspected]
    # A squid session's proxy, as seen in the same query: "running", "exited" (it died), "missing".
    infos = [dataclasses.replace(info, proxy_state=proxies.get(info.name, "missing")) if info.network == "squid"
             else info for info in found if info]
    if not include_stopped:
        infos = [info for info in infos if info.running]
    if include_stopped:
        names = {info.name for info in infos}
        volume_names = docker.run("volume", "ls", "--quiet", "--filter", f"label={sessions.SESSION}").stdout.split()
        for volume in _inspect_all("volume", volume_names):
            orphan = sessions.session_from_volume(volume)
            if orphan and orphan.name not in names:
                names.add(orphan.name)
                infos.append(orphan)
    return sorted(infos, key=lambda info: info.created)


def _inspect_all(kind: str, ids: list[str]) -> list[dict]:
    if not ids:
        return []
    # Something removed between the two calls makes inspect exit 1 but still print the rest.
    argv = ["docker", "inspect", *ids] if kind == "container" else ["docker", "volume", "inspect", *ids]
    result = runner.run(argv, check=False)
    try:
        return json.loads(result.stdout or "[]")
    except ValueError as error:
        raise AgentsError(f"`docker {kind} inspect` printed something unexpected: {error}",
                          hint="rerun with --debug to see it; `coding-agents doctor` checks the engine") from error


def get_session(name: str) -> sessions.SessionInfo:
    for info in find_sessions():
        if info.name == name:
            return info
    raise AgentsError(f"no agent session named {name!r}", hint="`list-agents --all` shows the sessions there are")


def pick_session(name: str | None) -> sessions.SessionInfo:
    if name:
        return get_session(name)
    running = [info for info in find_sessions() if info.running]
    if len(running) == 1:
        return running[0]
    if not running:
        raise AgentsError("no agent is running", hint="start one with `launch-agent AGENT` (or see `list-agents --all`)")
    names = ", ".join(info.name for info in running)
    raise AgentsError(f"{len(running)} agents are running: {names}", hint="name one: connect-agent NAME")


# --- launch ------------------------------------------------------------------------------


def build_request(
    options: LaunchOptions, config: Config, find_existing: Callable[[], list[sessions.SessionInfo]]
) -> sessions.SessionRequest:
    """Check everything that can be checked before anything is created: the user's input first,
    then (through find_existing, which asks the engine) clashes with existing sessions."""
    agent = catalog.get_agent(options.agent, config.agents)
    network = options.network or config.sessions.network
    sessions.network_args(network)  # refuses unknown or unavailable modes
    autonomy = choose_autonomy(options, config, agent)
    if network == "restricted" and options.prompt is not None and agent.npm_package:
        # Measured: Codex retries "waiting for network" forever; the others fail after a while.
        raise AgentsError(f"--prompt with --network-proxy restricted: {agent.title} would have no network, so it "
                          "could not reach its model API", hint="use --network-proxy squid (the default; add your "
                          "endpoint with [agents.NAME] env or --allow-domain) or allow-all")
    host_ports = tuple(sorted({*config.network.host_ports,
                               *(parse_host_port(port, "--allow-host-port") for port in options.host_ports)}))
    repo = git.repo_root(options.path)
    head = git.head_commit(repo)
    existing = find_existing()
    if options.gpu:
        require_gpu()
    if options.branch and options.use_current_branch:
        raise UsageError("--branch and --use-current-branch cannot be combined", hint="pick one")
    if options.use_current_branch:
        current = git.current_branch(repo)
        if current is None:
            raise AgentsError("the host repository has a detached HEAD", hint="check out a branch or pass --branch")
        branch = sessions.agent_branch(agent.name, current)
    elif options.branch:
        git.validate_branch_name(options.branch)
        branch = sessions.agent_branch(agent.name, options.branch)
    else:
        taken = git.local_branches(repo, f"{agent.name}/session-*")
        taken += [info.branch for info in existing if info.repo == repo]
        branch = f"{agent.name}/session-{git.next_session_number(taken, agent.name)}"
    git.validate_branch_name(branch)
    clash = git.conflicting_branch(repo, branch)
    if clash:
        raise AgentsError(
            f"branch {branch} cannot exist next to the host's {clash} (git stores them as a file and a folder)",
            hint="pick another --branch",
        )
    validate_limits(options.cpus, options.memory)
    for info in existing:
        if info.repo == repo and info.branch == branch:
            raise AgentsError(
                f"{branch} is already being worked on by {info.name}",
                hint=f"connect to it (connect-agent {info.name}), or pick another --branch",
            )
    # Continue an existing agent branch; otherwise start from the host's HEAD.
    start = git.branch_sha(repo, branch) or head
    name = sessions.validate_name(options.name or sessions.default_name(agent.name, repo, branch))
    if any(info.name == name for info in existing):
        raise AgentsError(f"a session named {name} already exists", hint=f"pass --name, or remove-agent {name} first")
    if docker.run("inspect", "--type", "container", name, check=False).ok:
        raise AgentsError(f"a container named {name} already exists", hint="pass --name, or remove it first")
    uncommitted = git.snapshot_uncommitted(repo, head) if options.include_uncommitted else None
    if uncommitted and start != head:
        raise AgentsError(
            f"--include-uncommitted needs the session to start from HEAD, but {branch} already exists",
            hint="commit your changes, or use a new --branch",
        )
    hardening_extra = tuple(config.sessions.docker_args)
    endpoint_plan = session_endpoints(agent, config)
    mcp_plan = build_mcp(agent, repo, config)
    policy = None
    if network == "squid":
        closed = [port for port in endpoint_plan.host_alias_ports if port not in host_ports]
        if closed:
            raise AgentsError(f"{agent.name}'s endpoint is port {closed[0]} of this machine "
                              f"({endpoints.HOST_ALIAS}), but that port is not open to the session",
                              hint=f"add --allow-host-port {closed[0]} (or [network] host_ports)")
        extra = (*mcp_plan.domains, *(host for host in endpoint_plan.hosts if host != endpoints.HOST_ALIAS))
        policy = dataclasses.replace(build_policy(agent, options, config, extra, host_ports),
                                     endpoint_ports=endpoint_plan.host_ports)
    elif options.allow_domains or options.learn or options.host_ports:
        raise UsageError(
            "--allow-domain, --allow-host-port and --learn only apply to --network-proxy squid",
            hint=f"this session's network mode is {network}",
        )
    bridge = build_bridge(name, agent, repo, options, config, host_ports if network == "squid" else ())
    bridge = dataclasses.replace(
        bridge,
        mcp_rendered=dataclasses.asdict(mcp_plan.rendered) if mcp_plan.rendered else None,
        mcp_sidecar=mcp.sidecar_spec(mcp_plan.servers) or None,
        mcp_hours=config.mcp.capability_hours,
    )
    return sessions.SessionRequest(
        agent=agent,
        repo=repo,
        branch=branch,
        start_commit=start,
        name=name,
        image=images.image_ref(agent.image_name),
        mode=options.mode,
        network=network,
        prompt=options.prompt,
        uncommitted_commit=uncommitted,
        identity=git.identity(repo),
        cpus=options.cpus if options.cpus is not None else config.sessions.cpus,
        memory=options.memory or config.sessions.memory,
        pids_limit=config.sessions.pids_limit,
        auto_commit=config.sessions.auto_commit,
        no_push=options.no_push,
        extra_docker_args=hardening_extra,
        policy=policy,
        proxy_image=images.image_ref("proxy"),
        bridge=bridge,
        mcp_sidecar=bool(mcp_plan.sidecar_servers),
        autonomy=autonomy,
        endpoints=endpoint_plan,
        gpu=options.gpu,
    )


def require_gpu() -> None:
    """--gpu: refuse unless the engine can pass GPUs through (docker would fail at `run`, after the
    volumes and networks are made, with "could not select device driver")."""
    how = docker.gpu_runtime(docker.engine_info())
    if how is None:
        raise AgentsError("--gpu: the Docker engine has no GPU runtime (no nvidia runtime and no CDI GPU device "
                          "in its `docker info`), so it cannot pass a GPU to the agent",
                          hint="install the NVIDIA Container Toolkit where the engine runs (then `nvidia-ctk runtime "
                          "configure --runtime=docker` and restart the engine), or leave out --gpu; "
                          "`coding-agents doctor` shows the engine it talks to")


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


def session_endpoints(agent: catalog.Agent, config: Config) -> endpoints.Endpoints:
    home = Path(os.environ.get("HOME") or Path.home())
    return endpoints.plan(agent, config.env_for(agent), dict(os.environ), home)


def parse_host_port(text: str, where: str) -> int:
    from agents.config import parse_host_port as parse

    return parse(text, where)


def build_mcp(agent: catalog.Agent, repo: Path, config: Config) -> mcp.McpPlan:
    """The session's MCP servers; a repository's server that wants a secret needs your approval."""
    if not agent.mcp_format:
        return mcp.McpPlan()  # this agent reads no MCP config
    repo_config = mcp.load_repo_config(repo)
    approvals = mcp.load_approvals(repo) if repo_config else {}
    selection = mcp.select_servers(tuple(config.mcp_servers), config.mcp.enable, repo_config, approvals)
    if selection.unapproved:
        raise mcp.unapproved_error(selection.unapproved[0], repo)
    planned = mcp.plan(agent.mcp_format, selection, approvals)
    if planned.sidecar_servers and agent.mcp_format:
        from agents import secrets

        wanted = [name for server in planned.sidecar_servers for name in server.secrets]
        missing = sorted(set(wanted) - set(secrets.names()))
        if missing:
            users = ", ".join(server.name for server in planned.sidecar_servers if set(server.secrets) & set(missing))
            raise AgentsError(f"MCP server(s) {users} need the secret(s) {', '.join(missing)}, which are not set",
                              hint=f"coding-agents secrets set {missing[0]}")
        problem = bridges.unavailable_reason(need_socat=False)
        if problem:
            names = ", ".join(server.name for server in planned.sidecar_servers)
            raise AgentsError(f"MCP servers with secrets ({names}) need the host's secret broker, but {problem}",
                              hint="use a local engine, or drop those servers for this session")
    return planned


def build_bridge(
    name: str, agent: catalog.Agent, repo: Path, options: LaunchOptions, config: Config,
    host_ports: tuple[int, ...] = (),
) -> bridges.BridgeSettings:
    """What the session's host-side bridges will serve; refuses what cannot work."""
    from agents import credentials, logins, signing

    wanted = config.credentials
    use_logins = wanted.logins and options.host_logins
    home = Path(os.environ.get("HOME") or Path.home())
    hosts: tuple[str, ...] = ()
    if wanted.git_credentials:
        extra = tuple(credentials.normalize_host(rule) for rule in wanted.git_hosts)
        hosts = tuple(dict.fromkeys(credentials.remote_hosts(repo) + extra))
    signer = signing.host_signing(repo) if wanted.signing else None
    ssh_agent = None
    if options.ssh_agent or wanted.ssh_agent:
        ssh_agent = os.environ.get("SSH_AUTH_SOCK") or ""
        if not ssh_agent or not _is_socket(ssh_agent):
            raise AgentsError("--ssh-agent needs a running ssh-agent, but SSH_AUTH_SOCK " +
                              ("is not set" if not ssh_agent else f"({ssh_agent}) is not a socket"),
                              hint="start one (eval $(ssh-agent); ssh-add), or leave out --ssh-agent")
    settings = bridges.BridgeSettings(
        session=name,
        agent=agent.name,
        repo=str(repo),
        login_files=logins.returned_files(agent, home, dict(os.environ)) if use_logins else (),
        credential_hosts=hosts,
        signing=signer,
        ssh_agent=ssh_agent,
        save_new_logins=wanted.save_new_logins,
        host_logins=use_logins,
        host_ports=host_ports,
    )
    if not settings.enabled:
        return settings
    problem = bridges.unavailable_reason()
    if problem is None and signer is not None:
        program = "gpg" if signer.format == "openpgp" else "ssh-keygen"
        configured = signing.program(str(repo), "gpg.program" if program == "gpg" else "gpg.ssh.program", program)
        if runner.which(configured) is None:
            raise AgentsError(f"this repository signs commits (commit.gpgsign) but the signer `{configured}` "
                              "is not installed here", hint="install it, or set [credentials] signing = false")
    if problem is None:
        return settings
    if host_ports:
        raise AgentsError(f"--allow-host-port needs the session's host-side relay, but {problem}",
                          hint="install socat / use a local engine, or leave out --allow-host-port")
    if signer is not None or ssh_agent is not None:
        feature = "commit signing (commit.gpgsign is on)" if signer else "--ssh-agent"
        raise AgentsError(f"{feature} needs the session's host bridge, but {problem}",
                          hint="install socat / use a local engine, or set [credentials] signing = false"
                          if signer else "install socat / use a local engine, or leave out --ssh-agent")
    say(f"==> warning: {problem}: refreshed logins and git credentials will not reach {name}")
    return dataclasses.replace(settings, login_files=(), credential_hosts=())


def _is_socket(path: str) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def validate_limits(cpus: float | None, memory: str | None) -> None:
    import re

    if cpus is not None and not cpus > 0:
        raise AgentsError(f"--cpu must be a positive number of cores, not {cpus:g}", hint="e.g. --cpu 2 or --cpu 0.5")
    if memory is not None and not re.fullmatch(r"[1-9][0-9]*(\.[0-9]+)?[bkmgBKMG]?", memory):
        raise AgentsError(f"--memory {memory!r} is not a size", hint="e.g. --memory 4g or --memory 512m")


def build_policy(agent: catalog.Agent, options: LaunchOptions, config: Config,
                 extra: tuple[str, ...] = (), host_ports: tuple[int, ...] = ()) -> network.Policy:
    return network.build_policy(
        (*agent.allowed_domains, *extra),
        config.network.allow,
        tuple(options.allow_domains),
        block_private=config.network.block_private,
        learn=options.learn,
        request_max_mb=config.network.request_max_mb,
        reply_max_mb=config.network.reply_max_mb,
        host_ports=host_ports,
        host_addresses=engine_host_addresses(),
    )


def engine_host_addresses() -> tuple[str, ...]:
    """The engine host's own addresses, when the engine is this machine (a remote one's are not
    known here; its proxy still denies the private ranges)."""
    if bridges.unavailable_reason(need_socat=False) is not None:
        return ()
    try:
        fib_trie = Path("/proc/net/fib_trie").read_text()
        if_inet6 = Path("/proc/net/if_inet6").read_text() if Path("/proc/net/if_inet6").exists() else ""
    except OSError:
        return ()
    return tuple(network.local_addresses(fib_trie, if_inet6))


def launch(options: LaunchOptions, config: Config) -> sessions.SessionInfo:
    """Create the session; anything that stops it halfway (an error, Ctrl-C) removes what it made."""
    with launching(options, config) as info:
        return info


@contextlib.contextmanager
def launching(options: LaunchOptions, config: Config) -> Iterator[sessions.SessionInfo]:
    """launch, for a command with more to do before the launch counts as done (see the agent
    start, then report): a Ctrl-C inside its with-block also removes the new session. Ctrl-C
    is only noted while the launch runs, and acted on at safe points (runner.deferred_interrupts)."""
    options = clone_if_url(options, config)
    with runner.deferred_interrupts():
        info, undo = _launch(options, config)
        try:
            yield info
            runner.check_interrupt()
        except KeyboardInterrupt:
            undo.run()
            raise KeyboardInterrupt(f"the launch of {info.name} is undone; nothing of it is left") from None


def clone_if_url(options: LaunchOptions, config: Config) -> LaunchOptions:
    """A git URL instead of a folder: our clone of it on the host (made or fetched now) becomes the
    folder. Before any Ctrl-C deferral, as git may ask for a password on this terminal."""
    from agents import remote

    found = remote.parse(options.path)
    if found is None:
        return options
    catalog.get_agent(options.agent, config.agents)  # a typo is refused before any download
    clone = remote.ensure_clone(found)
    say(f"==> the agent works on {clone} (our clone of {found.shown}); its branch comes back there")
    return dataclasses.replace(options, path=str(clone))


def clone_note(info: sessions.SessionInfo) -> str | None:
    """Where the work is when the session's repository is our clone of a URL (None otherwise)."""
    from agents import remote

    origin = remote.origin_of(info.repo) if info.repo.is_dir() else None
    if origin is None:
        return None
    return f"{info.branch} is in {info.repo}, our clone of {remote.redact(origin)}: push or merge it from there"


@dataclass
class Undo:
    """What a launch has created, or is creating (noted before each step): removed again if it does
    not finish. No branch or commit exists yet, so nothing is lost."""

    name: str
    volumes: list[str] = dataclasses.field(default_factory=list)
    container: bool = False
    proxy: bool = False
    sidecar: bool = False
    helpers: list[int] = dataclasses.field(default_factory=list)  # detached _bridge/_collect (group leaders)

    def run(self) -> None:
        with runner.shielded():  # a second Ctrl-C must not leave half a rollback
            stop_helpers(self.helpers)
            if self.container:
                runner.run(["docker", "rm", "--force", self.name], check=False)
            if self.volumes:
                runner.run(["docker", "volume", "rm", "--force", *self.volumes], check=False)
            if self.proxy:
                remove_proxy(self.name)
            if self.sidecar:
                remove_sidecar(self.name)
            bridges.remove(self.name)


def stop_helpers(pids: list[int]) -> None:
    """End detached helpers this launch started, with their children (each leads its own group)."""
    import signal

    for pid in pids:
        try:
            if pid > 1 and os.getpgid(pid) == pid and pid != os.getpgrp():
                os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass  # already gone


def _launch(options: LaunchOptions, config: Config) -> tuple[sessions.SessionInfo, Undo]:
    def find_existing() -> list[sessions.SessionInfo]:
        docker.engine_version()  # a clear "engine down" error before the first real query
        return find_sessions()

    request = build_request(options, config, find_existing)
    if request.network == "restricted" and request.agent.npm_package:
        say(f"==> note: no network (restricted): {request.agent.title} cannot reach its model API in this session")
    images.ensure_image(request.agent.image_name, config.images)
    if request.policy is not None:
        images.ensure_image("proxy", config.images)
    manifest = manifest_module.build(request, config)
    request = dataclasses.replace(request, manifest=mcp.manifest_digest(manifest),
                                  bridge=dataclasses.replace(request.bridge, manifest=manifest))
    plan = sessions.plan_launch(request)
    for volume in (plan.workspace_volume, plan.home_volume, *([sessions.mcp_volume(plan.name)] if request.mcp_sidecar
                                                              else [])):
        if docker.run("volume", "inspect", volume, check=False).ok:
            # Never reuse (or, on rollback, delete) a volume we did not create: it may hold work.
            raise AgentsError(f"a volume named {volume} already exists", hint="pass --name to choose another name")
    undo = Undo(plan.name, sidecar=request.mcp_sidecar)
    try:
        if request.bridge:
            bridges.prepare(request.bridge)
        if plan.proxy:
            if workspace.session_state(plan.proxy.container) is not None:
                raise AgentsError(f"a container named {plan.proxy.container} already exists",
                                  hint="pass --name to choose another session name")
            undo.proxy = True
            gateway = start_proxy(plan.proxy, config.network.subnet_pool)
            if request.bridge and request.bridge.host_ports:
                request = dataclasses.replace(request, bridge=dataclasses.replace(request.bridge, host_gateway=gateway))
                bridges.prepare(request.bridge)
        for argv in plan.volume_argvs:
            undo.volumes.append(argv[-1])
            runner.run(list(argv))
        say(f"==> copying {request.start_commit[:10]} of {request.repo} into {plan.workspace_volume}")
        commits = [request.start_commit] + ([request.uncommitted_commit] if request.uncommitted_commit else [])
        workspace.populate(plan, request.repo, commits)
        undo.container = True
        runner.run(list(plan.create_argv))
        sidecar = sessions.sidecar_argv(request, str(broker.session_socket_dir(plan.name))) if request.mcp_sidecar \
            else None
        start_session_services(plan.name, request.agent, request.bridge, sidecar, request.autonomy, request.endpoints,
                               helpers=undo.helpers)
        if plan.proxy:
            undo.helpers.append(spawn_collector(plan.name))
        return get_session(plan.name), undo
    except BaseException as error:
        undo.run()
        if isinstance(error, KeyboardInterrupt):
            raise KeyboardInterrupt(f"the launch of {plan.name} is undone; nothing of it is left") from None
        raise


# --- the network proxy sidecar -----------------------------------------------------------


def create_networks(proxy: sessions.ProxyPlan, subnet_pool: str) -> dict[str, str]:
    """Both session networks, each on the first free small subnet of the pool: {network: subnet}.

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
                break
            if "overlap" not in result.stderr.lower():
                raise runner.CommandFailed(result)
        else:
            raise AgentsError(
                f"no free subnet left in {subnet_pool} for {argv[-1]}",
                hint="remove old sessions (list-agents --all), or set [network] subnet_pool to a larger range",
            )
    return chosen


def start_proxy(proxy: sessions.ProxyPlan, subnet_pool: str = network.DEFAULT_SUBNET_POOL,
                timeout: float = 20.0) -> str:
    """Networks, then squid; returns (once squid accepts connections) the egress gateway."""
    import time

    subnets = create_networks(proxy, subnet_pool)
    gateway = network.gateway_of(subnets[proxy.egress_network])
    runner.run(proxy.create_argv_for(gateway))
    runner.run(list(proxy.connect_argv))
    runner.run(list(proxy.start_argv))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runner.run(list(proxy.ready_argv), check=False).ok:
            return gateway
        time.sleep(0.2)
    logs = runner.run(["docker", "logs", "--tail", "20", proxy.container], check=False)
    raise AgentsError(
        f"the network proxy {proxy.container} did not start: {runner.last_line(logs.stderr or logs.stdout)}",
        hint=f"see `coding-agents logs {proxy.container}`",
    )


def egress_gateway(net: str, created: dict[str, str] | None = None) -> str | None:
    """The host's address on a session's egress network (just created, or asked of the engine)."""
    if created and net in created:
        return network.gateway_of(created[net])
    found = runner.run(["docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", net],
                       check=False)
    subnets = [subnet for subnet in found.stdout.split() if "." in subnet] if found.ok else []
    return network.gateway_of(subnets[0]) if subnets else None


def save_network_log(info: sessions.SessionInfo) -> None:
    from agents import netlog

    added = netlog.collect(info.name)
    if added or netlog.log_path(info.name).exists():
        say(f"==> network log kept at {netlog.log_path(info.name)}")


def _container_owner(container: str) -> list[str] | None:
    """[session, role] from a container's labels, or None when there is no such container."""
    label_format = (
        "{{index .Config.Labels \"" + sessions.SESSION + "\"}} {{index .Config.Labels \"" + sessions.ROLE + "\"}}"
    )
    found = runner.run(["docker", "inspect", "--format", label_format, container], check=False)
    return found.stdout.split() if found.ok else None


def _network_owner(net: str) -> str | None:
    """The session label of a network ('' when unlabelled), or None when there is no such network."""
    found = runner.run(
        ["docker", "network", "inspect", "--format", "{{index .Labels \"" + sessions.SESSION + "\"}}", net],
        check=False,
    )
    return found.stdout.strip() if found.ok else None


def remove_proxy(name: str) -> None:
    """The sidecar and both networks of a session (missing ones are fine; others' are never touched)."""
    if _container_owner(sessions.proxy_name(name)) == [name, "proxy"]:
        runner.run(["docker", "rm", "--force", sessions.proxy_name(name)], check=False)
    for net in (sessions.internal_network(name), sessions.egress_network(name)):
        if _network_owner(net) != name:
            continue
        # Our networks: containers someone attached to them (test servers...) are detached first.
        members = runner.run(["docker", "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", net],
                             check=False)
        if not members.ok:
            continue
        for member in members.stdout.split():
            runner.run(["docker", "network", "disconnect", "--force", net, member], check=False)
        runner.run(["docker", "network", "rm", net], check=False)


def ensure_proxy(info: sessions.SessionInfo, subnet_pool: str = network.DEFAULT_SUBNET_POOL) -> None:
    """Recreate a crashed or deleted proxy from the session's labels before the agent needs it."""
    if info.network != "squid":
        return
    container = sessions.proxy_name(info.name)
    owner = _container_owner(container)
    if owner is not None and owner != [info.name, "proxy"]:
        raise AgentsError(f"{container} exists but is not the proxy of {info.name}",
                          hint=f"remove or rename that container, then connect-agent {info.name} again")
    if owner is not None:
        if workspace.session_state(container) == "running":
            return
        if docker.run("start", container, check=False).ok:
            return
    say(f"==> recreating the network proxy of {info.name}")
    labels = tuple(sorted(info.labels.items()))
    proxy = sessions.plan_proxy(info.name, labels, sessions.policy_from_labels(info.labels), images.image_ref("proxy"))
    runner.run(["docker", "rm", "--force", proxy.container], check=False)
    missing = []
    for argv in proxy.network_argvs:
        net_owner = _network_owner(argv[-1])
        if net_owner is None:
            missing.append(argv)
        elif net_owner != info.name:
            raise AgentsError(f"network {argv[-1]} exists but belongs to another session",
                              hint=f"remove that session first (`coding-agents remove-agent {net_owner}`)" if net_owner
                              else "it was not made by coding-agents: remove or rename it (docker network rm), then try again")
    subnets = create_networks(dataclasses.replace(proxy, network_argvs=tuple(missing)), subnet_pool) if missing else {}
    # The gateway is the host too: denied like its other addresses (and the host ports' relay).
    runner.run(proxy.create_argv_for(egress_gateway(proxy.egress_network, subnets)))
    runner.run(list(proxy.connect_argv))
    runner.run(list(proxy.start_argv))


def attach_argv(name: str) -> list[str]:
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    return ["docker", "exec", *tty, "--user", "1000", "--env", f"TERM={os.environ.get('TERM', 'xterm-256color')}",
            name, "tmux", "attach-session", "-t", sessions.TMUX_SESSION]


def wait_ready(info: sessions.SessionInfo) -> None:
    """Until the agent's tmux session exists; if the agent is gone instead, say why."""
    name = info.name
    result = runner.run(["docker", "exec", "--user", "1000", name, "ca-stub", "wait-ready"], check=False)
    if result.ok:
        return
    # The stub may still be writing the last screen and auto-committing: give it a moment to end.
    if exited_at_start(name, grace=5.0) is not None:
        raise exited_error(info, exit_status(name))
    screen = last_screen(name)
    raise AgentsError(
        f"the agent in {name} did not start: {runner.last_line(result.stderr) or 'no tmux session appeared'}"
        + (f"; its last output: {screen.splitlines()[-1].strip()}" if screen.strip() else ""),
        hint=f"coding-agents logs {name} shows its output",
    )


def last_screen(name: str, lines: int = 60) -> str:
    """The container's last output: the agent's final screen, as ca-stub logged it."""
    logs = runner.run(["docker", "logs", "--tail", str(lines), name], check=False)
    return (logs.stdout + logs.stderr).rstrip()


def show_last_screen(name: str) -> None:
    screen = last_screen(name)
    if screen.strip():
        say(f"==> the last screen of {name}:")
        say("\n".join("    " + line for line in screen.splitlines()))


def cannot_reach_its_model(info: sessions.SessionInfo) -> bool:
    """A real CLI in a session without network: it cannot work, and will likely quit."""
    agent = session_agent(info)
    return info.network == "restricted" and agent is not None and bool(agent.npm_package)


def exited_error(info: sessions.SessionInfo, status: int) -> AgentsError:
    """Why the agent ended at once: its status, and the network mode when that is the likely cause."""
    agent = session_agent(info)
    show_last_screen(info.name)
    title = agent.title if agent else info.agent
    message = f"{title} in {info.name} exited at start with status {status}"
    if cannot_reach_its_model(info):
        return AgentsError(message + ": the session has no network (restricted), so the CLI cannot reach its model API",
                           hint="launch it with --network-proxy squid (the default; add your endpoint's host with "
                           "--allow-domain) or allow-all", exit_code=status or 1)
    return AgentsError(message, hint="its last screen is above; fix what it says, then launch again",
                       exit_code=status or 1)


def exited_at_start(name: str, grace: float = 1.0) -> int | None:
    """The agent's exit status when it ended within `grace` seconds of the launch, else None."""
    import time

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if workspace.session_state(name) != "running":
            return exit_status(name)
        time.sleep(0.2)
    return None


def remove_if_untouched(info: sessions.SessionInfo) -> bool:
    """Remove a session whose agent never did anything (no commit, no change): nothing to lose."""
    report = workspace.health(info)
    if report.get("unsynced") or report.get("dirty") or report.get("elsewhere"):
        return False
    remove(info, no_push=True, yes=True, auto_commit=False)
    return True


def ensure_running(info: sessions.SessionInfo, subnet_pool: str = network.DEFAULT_SUBNET_POOL) -> None:
    ensure_proxy(info, subnet_pool)
    if workspace.session_state(info.name) != "running":
        say(f"==> {info.name} had stopped; starting it again (its workspace is intact)")
        settings = bridges.find_settings(info.name)
        if settings is not None:
            bridges.prepare(settings)  # the socket folder is gone after a reboot; docker start mounts it
        docker.run("start", info.name)
        # tmpfs folders start empty again: logins and bridges are set up as at launch.
        agent = session_agent(info)
        if agent is not None:
            start_session_services(info.name, agent, settings, autonomy=info.autonomy,
                                   endpoint_plan=restart_endpoints(agent))


def restart_endpoints(agent: catalog.Agent) -> endpoints.Endpoints | None:
    """The endpoint variables for a restarted session, from today's config (none if it broke)."""
    from agents.config import load_config

    try:
        return session_endpoints(agent, load_config())
    except AgentsError as error:
        say(f"==> warning: {error.message}: the agent starts without its endpoint settings")
        return None


def session_agent(info: sessions.SessionInfo) -> catalog.Agent | None:
    """The session's agent row: built in, or the user's own from the config (if it still parses)."""
    found = catalog.find_agent(info.agent)
    if found is None:
        from agents.config import load_config

        try:
            found = catalog.find_agent(info.agent, load_config().agents)
        except AgentsError:
            return None
    return found


def start_session_services(name: str, agent: catalog.Agent, bridge: bridges.BridgeSettings | None,
                           sidecar_argv: list[str] | None = None, autonomy: str = catalog.DEFAULT_AUTONOMY,
                           endpoint_plan: endpoints.Endpoints | None = None, helpers: list[int] | None = None) -> None:
    """After the container starts: the host bridge, the logins (with the endpoint variables, the
    MCP config and what the autonomy mode tells the CLI) the stub waits for, then the MCP
    sidecar with fresh capabilities. The pid of a bridge started here is added to helpers."""
    from agents import logins

    if bridge is not None and bridge.enabled:
        if not bridges.running(name):
            pid = spawn_internal("_bridge", name)
            if helpers is not None:
                helpers.append(pid)
        if not bridges.wait_for_sockets(bridge):
            raise AgentsError(f"the host bridge of {name} did not start",
                              hint=f"see {bridges_log(name)}")
    if sessions.wants_logins(agent, endpoint_plan):
        use_host = bridge.host_logins if bridge is not None else False
        rendered = mcp.Rendered(**bridge.mcp_rendered) if bridge is not None and bridge.mcp_rendered else None
        line = logins.deliver(name, agent, use_host, rendered=rendered, autonomy=autonomy, endpoints=endpoint_plan)
        if line:
            say(f"==> {line}")
    if bridge is not None and bridge.mcp_sidecar:
        start_sidecar(name, bridge, sidecar_argv)


def start_sidecar(name: str, bridge: bridges.BridgeSettings, create_argv: list[str] | None) -> None:
    """Capabilities from the broker, the sidecar container, then its servers (through stdin)."""
    spec = bridge.mcp_sidecar or {}
    broker.ensure_running(lambda: spawn_internal("_broker", "broker"))
    answer = broker.call({
        "op": "issue", "session": name, "manifest": mcp.manifest_digest(bridge.manifest or {}),
        "servers": {server: list(mcp.definition_secrets(definition)) for server, definition in spec.items()},
        "ttl": bridge.mcp_hours * 3600,
    })
    container = sessions.sidecar_name(name)
    if create_argv is not None:
        runner.run(create_argv)
    elif workspace.session_state(container) != "running":
        runner.run(["docker", "start", container])
    result = runner.run(["docker", "exec", "-i", "--user", "1000", container, "ca-stub", "mcp-receive"],
                        input=json.dumps({"servers": spec, "capabilities": answer["capabilities"]}), check=False)
    if not result.ok:
        raise AgentsError(f"the MCP sidecar of {name} did not take its servers: {runner.last_line(result.stderr)}",
                          hint=f"see `coding-agents logs {container}`")
    say(f"==> MCP sidecar {container} serves: {', '.join(sorted(spec))} (secrets stay out of {name})")


def remove_sidecar(name: str) -> None:
    """The sidecar, its socket volume and its capabilities (another session's are never touched)."""
    container = sessions.sidecar_name(name)
    if _container_owner(container) == [name, "mcp"]:
        runner.run(["docker", "rm", "--force", container], check=False)
    runner.run(["docker", "volume", "rm", "--force", sessions.mcp_volume(name)], check=False)
    if broker.running():
        try:
            broker.call({"op": "revoke", "session": name})
        except (AgentsError, OSError):
            pass


def bridges_log(name: str) -> Path:
    return log_dir() / f"bridge-{name}.log"


def attach(info: sessions.SessionInfo) -> int:
    """Attach this terminal to the agent's tmux session until detach or exit."""
    name = info.name
    wait_ready(info)
    done = subprocess.run(attach_argv(name))  # noqa: S603 - argv built above; TTY must be ours
    return done.returncode


def agent_ended(name: str, wait: float = 10.0) -> bool:
    """After an attach returns: True if the agent exited (the container then stops within moments),
    False if the user only detached."""
    import time

    if workspace.session_state(name) != "running":
        return True
    alive = runner.run(["docker", "exec", "--user", "1000", name, "tmux", "has-session", "-t", sessions.TMUX_SESSION],
                       check=False)
    if alive.ok:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and workspace.session_state(name) == "running":
        time.sleep(0.2)
    return True


def exit_status(name: str) -> int:
    result = docker.run("inspect", "--format", "{{.State.ExitCode}}", name, check=False)
    try:
        return int(result.stdout.strip())
    except ValueError:
        return 1


def stream_until_exit(name: str) -> int:
    runner.run(["docker", "logs", "--follow", name], check=False, stream=True)
    result = docker.run("wait", name, check=False)
    try:
        return int(result.stdout.strip())
    except ValueError:
        return 1


def sync(info: sessions.SessionInfo) -> git.SyncOutcome:
    outcome = workspace.sync(info)
    say(f"==> {outcome.message}")
    return outcome


def remove(
    info: sessions.SessionInfo,
    no_push: bool = False,
    yes: bool = False,
    keep_branch: bool = False,
    auto_commit: bool = True,
) -> None:
    """Make the work safe (auto-commit, sync), then remove the container and its volumes.

    Refuses, removing nothing, when commits would be lost: a failed sync, or --no-push
    with commits the host lacks and no -y. (Auto-commit only touches the workspace.)
    """
    if auto_commit and workspace.autocommit(info):
        say(f"==> auto-committed uncommitted work in {info.name}")
    report = workspace.health(info)
    elsewhere = report.get("elsewhere") or []
    if elsewhere and not yes:
        places = ", ".join(f"{item['ref']} ({item['commits']} commit(s))" for item in elsewhere)
        raise AgentsError(
            f"{info.name} has commits outside {info.branch} that a sync would not bring home: {places}",
            hint=f"merge them into {info.branch} inside (connect-agent {info.name}), or add -y to discard them",
        )
    if no_push or info.no_push:
        tip, unsynced = report.get("tip"), report.get("unsynced") or 0
        host_has_it = bool(tip) and info.repo.is_dir() and git.is_ancestor(info.repo, tip, f"refs/heads/{info.branch}")
        if unsynced and not host_has_it and not yes:
            raise AgentsError(
                f"{info.name} has {unsynced} commit(s) that are not on the host; removing it without syncing loses them",
                hint=f"sync first (coding-agents sync {info.name}), or add -y to discard them",
            )
    else:
        sync(info)
        if not keep_branch:
            delete_branch_if_merged(info)
    if info.repo.is_dir():
        git.git(info.repo, "update-ref", "-d", git.SESSION_REF_PREFIX + info.name, check=False)
    if info.network == "squid":
        save_network_log(info)
    agent = session_agent(info)
    if agent is not None and agent.login_files and info.running:
        # A last copy-back of refreshed logins: `docker rm --force` gives the stub no time.
        runner.run(["docker", "exec", "--user", "1000", info.name, "ca-stub", "logins-push"], check=False, timeout=60)
    runner.run(["docker", "rm", "--force", info.name], check=False)
    settings = bridges.find_settings(info.name)
    if settings is not None and settings.mcp_sidecar:
        remove_sidecar(info.name)
    bridges.remove(info.name)
    remove_proxy(info.name)
    runner.run(["docker", "volume", "rm", "--force", info.workspace_volume, info.home_volume], check=False)
    say(f"==> removed {info.name}")


def delete_branch_if_merged(info: sessions.SessionInfo) -> None:
    """Drop the agent branch only when the host's HEAD already contains all of it."""
    tip = git.branch_sha(info.repo, info.branch)
    head = git.ref_sha(info.repo, "HEAD")
    if not tip or not head or tip == info.base or info.branch in git.checked_out_branches(info.repo):
        return
    if git.is_ancestor(info.repo, tip, head) and git.git(
        info.repo, "update-ref", "-d", f"refs/heads/{info.branch}", tip, check=False
    ).ok:
        say(f"==> deleted {info.branch}: it is fully merged into HEAD")


def spawn_reaper(name: str) -> None:
    """A detached host process that syncs and removes an ephemeral session once its agent exits."""
    spawn_internal("_reap", name)


def spawn_internal(command: str, name: str) -> int:
    """Run `coding-agents COMMAND NAME` detached from this terminal, logging to the state dir; its pid."""
    argv = [sys.executable, "-m", "agents", command, name]
    pex = os.environ.get("PEX")
    if pex:
        argv = [pex, command, name]
    log_dir().mkdir(parents=True, exist_ok=True)
    return runner.spawn_detached(argv, log_dir() / f"{command.strip('_')}-{name}.log",
                                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)} if not pex else None)


def log_dir() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "coding-agents"


def collect_while_alive(name: str, interval: float = 2.0) -> int:
    """Body of `_collect`: copy proxy decisions to the host log until the session is gone."""
    import time

    from agents import netlog

    while True:
        netlog.collect(name)
        if workspace.session_state(name) is None:
            return 0
        time.sleep(interval)


def reap(name: str, auto_commit: bool = True) -> int:
    docker.run("wait", name, check=False)
    info = get_session(name)
    remove(info, no_push=info.no_push, yes=False, auto_commit=auto_commit)
    return 0


def with_current_reports(infos: list[sessions.SessionInfo]) -> list[sessions.SessionInfo]:
    """Sessions whose engine data holds no current health report (stopped, orphaned, just started)
    get a fresh one from their workspace; where even that fails, tip, ahead and dirty stay unknown."""
    current = []
    for info in infos:
        if info.tip is None:
            try:
                report = workspace.health(info)
            except AgentsError:
                report = {}
            info = dataclasses.replace(info, tip=report.get("tip"), ahead=report.get("ahead"),
                                       dirty=report.get("dirty"))
        current.append(info)
    return current


def session_rows(infos: list[sessions.SessionInfo]) -> list[dict[str, object]]:
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
                "unsynced": workspace.unsynced_commits(info),
                "denied": denied_requests(info),
                "proxy": info.proxy_state,
            }
        )
    return rows


def denied_requests(info: sessions.SessionInfo) -> int | None:
    """Denied proxy requests so far, from the host-side log (squid sessions only)."""
    if info.network != "squid":
        return None
    from agents import netlog

    return netlog.denied_count(info.name)


def spawn_collector(name: str) -> int:
    """A detached host process that copies the proxy's decisions to the host log while the session lives."""
    return spawn_internal("_collect", name)


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
