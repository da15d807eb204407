"""The argv that create a session, its proxy and its sidecar, from a checked request (no I/O).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agents import (
    bridges,
    hardening,
    history,
    logins,
    netmodes,
    network,
    records,
    relay,
    runner,
)
from agents.catalog import Agent
from agents.endpoints import Endpoints
from agents.errors import AgentsError
from agents.records import field, record
from agents.session import naming


@record(frozen=True)
class SessionRequest:
    agent: Agent
    repo: Path
    branch: str  # the agent branch, e.g. claude/api
    start_commit: str
    name: str
    image: str
    mode: str  # "run" (ephemeral) or "launch" (persistent)
    network: str = "restricted"
    prompt: str | None = None
    include_uncommitted: bool = False  # the host has changes to carry in (seen, not yet snapshotted)
    uncommitted_commit: str | None = None  # their snapshot, made when the launch runs
    identity: tuple[str, str] = ("coding-agents", "coding-agents@localhost")
    cpus: float | None = None
    memory: str | None = None
    pids_limit: int = 1024
    auto_commit: bool = True
    no_push: bool = False
    extra_docker_args: tuple[str, ...] = ()
    policy: network.Policy | None = None  # squid mode only
    proxy_image: str = ""
    bridge: bridges.BridgeSettings | None = None
    mcp_sidecar: bool = False  # secret-using MCP servers: a sidecar and a shared socket volume
    manifest: str = ""  # SHA-256 of the session manifest (a label the broker checks)
    image_ids: tuple[tuple[str, str | None], ...] = ()  # (ref, id) as the checks found them; None: to build
    autonomy: str = "full"
    endpoints: Endpoints | None = None  # variables and provider settings, delivered with the logins
    gpu: bool = False  # --gpus all (the engine was seen to have a GPU runtime)
    warnings: tuple[str, ...] = ()  # said before the launch goes ahead (e.g. no bridge: no login copy-back)
    state_size: int = history.DEFAULT_STATE_SIZE  # [sessions] state_size: when the agent's state warns
    resume: str | None = None  # the history archive the CLI starts from (--resume)
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


@record(frozen=True)
class LaunchPlan:
    name: str
    workspace_volume: str
    home_volume: str
    labels: tuple[tuple[str, str], ...]
    volume_argvs: tuple[tuple[str, ...], ...]
    create_argv: tuple[str, ...]  # attached: its stdin takes the fill's header and a git pack to the stub
    proxy: ProxyPlan | None = None
    volumes: tuple[str, ...] = ()  # every volume the launch makes (volume_argvs' and create_argv's)
    fill_header: str = ""  # JSON: identity, start commit, branch, the uncommitted changes' commit

    @property
    def volumes_made_first(self) -> tuple[str, ...]:
        """The volumes volume_argvs make before the container."""
        return tuple(argv[-1] for argv in self.volume_argvs)

    @property
    def volumes_made_by_run(self) -> tuple[str, ...]:
        """The volumes the agent's run makes (its --mount ... volume-label=...)."""
        return tuple(volume for volume in self.volumes if volume not in self.volumes_made_first)


def labels_for(request: SessionRequest) -> tuple[tuple[str, str], ...]:
    return (
        (naming.MANAGED, "true"),
        (naming.SESSION, request.name),
        (naming.AGENT, request.agent.name),
        (naming.REPO, str(request.repo)),
        (naming.BRANCH, request.branch),
        (naming.BASE, request.start_commit),
        (naming.NETWORK, request.network),
        (naming.MODE, request.mode),
        (naming.IMAGE, request.image),
        (naming.NO_PUSH, "true" if request.no_push else "false"),
        (naming.CREATED, request.created),
        (naming.INTERACTIVE, "false" if request.prompt is not None else "true"),
        (naming.ROLE, "agent"),
        (naming.AUTONOMY, request.autonomy),
        *(((naming.MANIFEST, request.manifest),) if request.manifest else ()),
    ) + policy_labels(request.policy)


def policy_labels(policy: network.Policy | None) -> tuple[tuple[str, str], ...]:
    if policy is None:
        return ()
    return (
        (naming.ALLOW, " ".join(policy.allow)),
        (naming.LEARN, "true" if policy.learn else "false"),
        (naming.BLOCK_PRIVATE, "true" if policy.block_private else "false"),
        (naming.LIMITS, f"{policy.request_max_mb} {policy.reply_max_mb}"),
        *(((naming.HOST_PORTS, " ".join(str(port) for port in policy.host_ports)),) if policy.host_ports else ()),
        *(((naming.HOST_ADDRESSES, " ".join(policy.host_addresses)),) if policy.host_addresses else ()),
        *(((naming.ENDPOINT_PORTS, " ".join(f"{host}:{port}" for host, port in policy.endpoint_ports)),)
          if policy.endpoint_ports else ()),
    )


def label_args(labels: tuple[tuple[str, str], ...]) -> list[str]:
    args: list[str] = []
    for key, value in labels:
        args += ["--label", f"{key}={value}"]
    return args


def network_args(mode: str, name: str = "") -> list[str]:
    """How the agent container is attached: no network, the session's internal network, or bridge."""
    found = netmodes.MODES.get(mode)
    if found is None:
        raise AgentsError(f"unknown network mode {mode!r}", hint="choose " + ", ".join(netmodes.NAMES))
    if found.docker_network is not None:
        return ["--network", found.docker_network]
    # Only `proxy` resolves here; fail other lookups in ~2 s instead of Docker's ~20 s.
    return ["--network", naming.internal_network(name), "--dns-option", "timeout:1", "--dns-option", "attempts:1"]


@record(frozen=True)
class ProxyPlan:
    container: str
    internal_network: str
    egress_network: str
    network_argvs: tuple[tuple[str, ...], ...]
    create_argv: tuple[str, ...]
    connect_argv: tuple[str, ...]
    start_argv: tuple[str, ...]
    ready_argv: tuple[str, ...]
    host_ports: tuple[int, ...] = ()
    policy: network.Policy | None = None
    image: str = ""  # squid's (also what asks a remote engine for its host's addresses)

    def create_argv_for(self, egress_gateway: str | None, host_addresses: tuple[str, ...] = ()) -> list[str]:
        """create_argv once the egress network exists: its gateway is the host too (denied like
        the host's other addresses, and those learned since the plan), and with opened host
        ports, the host's name for the proxy, where the session's host-side relay listens. The
        proxy's label records the host's addresses it denies (the gateway aside)."""
        argv = list(self.create_argv)
        if self.policy is not None:
            learned = network.collapse((*self.policy.host_addresses, *host_addresses))
            denied = network.collapse((*learned, *((egress_gateway,) if egress_gateway else ())))
            policy = records.replace(self.policy, host_addresses=denied)
            argv[argv.index(f"SQUID_CONF={network.squid_config(self.policy)}")] = \
                f"SQUID_CONF={network.squid_config(policy)}"
            # The plan's label gives way to what this proxy is made to deny.
            label = f"{naming.HOST_ADDRESSES}="
            argv = [arg for index, arg in enumerate(argv)
                    if not (arg.startswith(label) or (arg == "--label" and argv[index + 1].startswith(label)))]
            if learned:
                argv[argv.index("--cap-drop"):argv.index("--cap-drop")] = ["--label", label + " ".join(learned)]
        if self.host_ports and egress_gateway:
            argv[-1:-1] = ["--add-host", f"{network.HOST_ALIAS}:{egress_gateway}"]
        return argv


def plan_proxy(name: str, labels: tuple[tuple[str, str], ...], policy: network.Policy, image: str) -> ProxyPlan:
    """The squid sidecar: on the internal network as `proxy`, and the only member of the egress one."""
    internal, egress = naming.internal_network(name), naming.egress_network(name)
    proxy_labels = tuple((k, v) for k, v in labels if k != naming.ROLE) + ((naming.ROLE, "proxy"),)
    network_argvs = (
        # --internal drops traffic beyond the host, and inhibit_ipv4 keeps the host itself (its
        # bridge addresses and services) off this network too. Podman (netavark) has no such
        # option: its bridge holds the gateway, where aardvark-dns answers names (docs/podman.md).
        (runner.engine(), "network", "create", "--internal",
         *(("--opt", "com.docker.network.bridge.inhibit_ipv4=true") if runner.engine_kind() == "docker" else ()),
         *label_args(proxy_labels), internal),
        (runner.engine(), "network", "create", *label_args(proxy_labels), egress),
    )
    container = naming.proxy_name(name)
    create_argv = (
        runner.engine(), "create", "--name", container, "--hostname", "proxy",
        *label_args(proxy_labels),
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pids-limit", "256",
        *hardening.read_only_args(), "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "--init",
        # Always back after a crash or an engine restart, however often (a spent on-failure budget
        # left the session without network until someone noticed).
        "--restart", "unless-stopped",
        "--network", internal, "--network-alias", network.PROXY_ALIAS,
        "--env", f"SQUID_CONF={network.squid_config(policy)}",
        image,
    )
    return ProxyPlan(
        container=container,
        internal_network=internal,
        egress_network=egress,
        network_argvs=network_argvs,
        create_argv=create_argv,
        connect_argv=(runner.engine(), "network", "connect", egress, container),
        start_argv=(runner.engine(), "start", container),
        ready_argv=(runner.engine(), "exec", container, "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{network.PROXY_PORT}"),
        host_ports=policy.host_ports,
        policy=policy,
        image=image,
    )


def helper_run_args(workspace_volume: str, image: str, pids_limit: int) -> list[str]:
    """A throwaway, network-less container on the session's workspace volume."""
    return [
        runner.engine(), "run", "--rm", "-i", "--network", "none", "--env", "HOME=/tmp",
        *hardening.hardening_args(pids_limit),
        "--volume", f"{workspace_volume}:{naming.WORKSPACE}", "--workdir", naming.WORKSPACE,
        image,
    ]


def agent_command(request: SessionRequest) -> list[str]:
    """The CLI's command line, with what its autonomy mode tells it after the program."""
    agent = request.agent
    if request.prompt is None:
        # --resume: the CLI continues its last conversation (its history arrives before it starts).
        resumed = list(agent.resume_args) if request.resume and agent.command[0] == agent.executable else []
        return agent.with_told(agent.command, request.autonomy) + resumed
    command = agent.with_told(agent.prompt_command, request.autonomy)
    return [part.replace("{prompt}", request.prompt) for part in command]


def wants_logins(agent: Agent, endpoints: Endpoints | None = None) -> bool:
    """Whether the stub waits for a login bundle (logins, answers, variables) before the agent starts."""
    return bool(agent.login_files or agent.login_env or agent.first_run or agent.told("full").settings
                or (endpoints is not None and endpoints.env))


def plan_launch(request: SessionRequest) -> LaunchPlan:
    """Everything `launch-agent`/`run-agent` will create, as argv lists."""
    name = naming.validate_name(request.name)
    workspace_volume = naming.workspace_volume(name)
    home_volume = naming.home_volume(name)
    labels = labels_for(request)
    volumes = (workspace_volume, home_volume, *((naming.mcp_volume(name),) if request.mcp_sidecar else ()))
    # The MCP sockets' tmpfs volume (its driver options) is always made first.
    made_by_run = (workspace_volume, home_volume) if run_makes_volumes() else ()
    volume_argvs = tuple((runner.engine(), "volume", "create", *label_args(labels),
                          *(mcp_volume_options() if volume == naming.mcp_volume(name) else ()), volume)
                         for volume in volumes if volume not in made_by_run)
    # To the agent container's stub, through its run, which holds the CLI until the fill's last step.
    fill_header = json.dumps({"identity": list(request.identity), "commit": request.start_commit,
                              "branch": request.branch, "uncommitted": request.uncommitted_commit or ""})
    limits: list[str] = []
    if request.cpus:
        limits += ["--cpus", f"{request.cpus:g}"]
    if request.memory:
        limits += ["--memory", request.memory]
    mode = "prompt" if request.prompt is not None else "interactive"
    create_argv = (
        # Attached (no --detach), its stdin open: the fill goes to the stub through the run itself
        # (no exec or attach after it). The client is ended once the stub has answered; without
        # --sig-proxy nothing of that reaches the container.
        runner.engine(), "run", "--interactive", "--sig-proxy=false", "--name", name, "--hostname", name[:63],
        *label_args(labels),
        *hardening.hardening_args(request.pids_limit),
        *network_args(request.network, name),
        *limits,
        *(["--gpus", "all"] if request.gpu else []),
        *volume_mount_args(workspace_volume, naming.WORKSPACE, labels if workspace_volume in made_by_run else None),
        *volume_mount_args(home_volume, naming.HOME, labels if home_volume in made_by_run else None),
        *(["--volume", f"{naming.mcp_volume(name)}:{naming.MCP_DIR}"] if request.mcp_sidecar else []),
        "--workdir", naming.WORKSPACE,
        "--env", "TERM=xterm-256color",
        "--env", f"CODING_AGENTS_SESSION={name}",
        "--env", f"CODING_AGENTS_BRANCH={request.branch}",
        "--env", f"CODING_AGENTS_BASE={request.start_commit}",
        "--env", f"CODING_AGENTS_AUTO_COMMIT={'1' if request.auto_commit else '0'}",
        "--env", f"{naming.WAIT_WORKSPACE_VAR}=1",
        *[arg for key, value in (*request.agent.env, *request.agent.told(request.autonomy).env)
          for arg in ("--env", f"{key}={value}")],
        *[arg for key, value in (network.proxy_env() if netmodes.is_proxied(request.network) else [])
          for arg in ("--env", f"{key}={value}")],
        "--health-cmd", "ca-stub health", "--health-interval", f"{naming.HEALTH_INTERVAL}s", "--health-timeout", "10s", "--health-retries", "3",
        *logins.tmpfs_args(request.agent),
        *history.state_env(request.agent, request.state_size),
        *(["--env", "CODING_AGENTS_WAIT_LOGINS=1"] if wants_logins(request.agent, request.endpoints) else []),
        *(bridges.container_args(request.bridge) if request.bridge else []),
        *hardening.check_extra_docker_args(request.extra_docker_args),
        request.image,
        "ca-stub", "session", "--mode", mode, "--", *agent_command(request),
    )
    proxy = None
    if netmodes.is_proxied(request.network):
        if request.policy is None:
            raise AgentsError("squid mode needs a network policy",
                              hint="this is a bug: please report it (with --debug output)")
        proxy = plan_proxy(name, labels, request.policy, request.proxy_image)
    return LaunchPlan(
        name, workspace_volume, home_volume, labels, volume_argvs, create_argv, proxy, volumes,
        fill_header,
    )


def run_makes_volumes() -> bool:
    """Whether the agent's `run` makes its workspace and home volumes, labelled (two engine calls
    fewer before it): Docker's --mount takes volume-label; Podman's has none, so they are made first."""
    return runner.engine_kind() != "podman"


def volume_mount_args(volume: str, target: str, labels: tuple[tuple[str, str], ...] | None) -> list[str]:
    """A named volume at target; with labels, the engine makes it (labelled so) when it is missing."""
    if labels is None:
        return ["--volume", f"{volume}:{target}"]
    fields = ["type=volume", f"src={volume}", f"dst={target}", *(f"volume-label={key}={value}" for key, value in labels)]
    return ["--mount", ",".join(runner.csv_field(field) for field in fields)]


# The MCP socket folder is a tmpfs of the engine's local driver: a real mount, so nosuid, nodev
# and noexec hold in both containers (a plain volume is a bind mount, and Docker has no way to
# set those on one). It is mounted while either container runs; the sidecar makes its sockets
# anew each time it starts.
MCP_VOLUME_OPTIONS = ("--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt",
                      f"o=nosuid,nodev,noexec,size=1m,uid={naming.AGENT_UID},gid={naming.AGENT_UID},mode=0700")


def mcp_volume_options() -> tuple[str, ...]:
    """Podman's local volumes refuse size= ("Filesystem does not support Project Quota" on
    overlay): the same tmpfs, unbounded but for the container's memory."""
    if runner.engine_kind() == "podman":
        return tuple(option.replace("size=1m,", "") for option in MCP_VOLUME_OPTIONS)
    return MCP_VOLUME_OPTIONS


def sidecar_argv(request: SessionRequest) -> list[str]:
    """The MCP sidecar: the agent's image and hardening, its network policy, plus the folder where
    the relay serves the broker's socket (agents/relay.py)."""
    name = request.name
    labels = tuple((k, v) for k, v in labels_for(request) if k != naming.ROLE) + ((naming.ROLE, "mcp"),)
    return [
        runner.engine(), "run", "--detach", "--name", naming.sidecar_name(name), "--hostname", "mcp",
        *label_args(labels),
        *hardening.hardening_args(256),
        *network_args(request.network, name),
        *[arg for key, value in (network.proxy_env() if netmodes.is_proxied(request.network) else [])
          for arg in ("--env", f"{key}={value}")],
        "--volume", f"{naming.mcp_volume(name)}:{naming.MCP_DIR}",
        *relay.tmpfs_args(naming.BROKER_DIR),
        "--env", "HOME=/tmp",  # servers keep caches; the image's home is read-only here
        "--workdir", "/tmp",
        request.image,
        "ca-stub", "mcp-sidecar",
    ]


def upload_pack_url(name: str, running: bool, workspace_volume: str, image: str, pids_limit: int = 1024) -> str:
    """A git `ext::` URL whose transport is a docker stream into the session's workspace.

    Works the same with a remote engine (DOCKER_HOST=ssh://...): no host path is involved.
    """
    if running:
        argv = naming.agent_exec(name, stdin=True)
    else:
        argv = helper_run_args(workspace_volume, image, pids_limit)
    for part in argv:
        if " " in part or "%" in part:
            raise AgentsError(f"cannot use {part!r} in a git transport command",
                              hint="rename the session or image so it has no spaces or '%'")
    return "ext::" + " ".join(argv + ["%S", naming.WORKSPACE])
