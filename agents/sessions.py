"""Agent sessions as data: names, labels, volumes and the argv that create them (no I/O here).

A session is one container plus two named volumes (workspace and home). The volumes outlive
the container, so a crash, `docker kill` or an engine restart loses no commit.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import bridges, hardening, logins, network
from agents.catalog import Agent
from agents.endpoints import Endpoints
from agents.errors import AgentsError, UsageError

LABEL = "coding-agents"
MANAGED = f"{LABEL}.managed"
SESSION = f"{LABEL}.session"
AGENT = f"{LABEL}.agent"
REPO = f"{LABEL}.repo"
BRANCH = f"{LABEL}.branch"
BASE = f"{LABEL}.base"
NETWORK = f"{LABEL}.network"
MODE = f"{LABEL}.mode"
IMAGE = f"{LABEL}.image-ref"
NO_PUSH = f"{LABEL}.no-push"
CREATED = f"{LABEL}.created"
INTERACTIVE = f"{LABEL}.interactive"
ALLOW = f"{LABEL}.allow"  # the session's allowlist, space-separated (squid mode)
LEARN = f"{LABEL}.learn"
LIMITS = f"{LABEL}.proxy-limits"  # "request_mb reply_mb"
BLOCK_PRIVATE = f"{LABEL}.block-private"
ROLE = f"{LABEL}.role"  # agent | proxy | mcp
MANIFEST = f"{LABEL}.manifest"
AUTONOMY = f"{LABEL}.autonomy"  # full | ask: what the agent's CLI was told
HOST_PORTS = f"{LABEL}.host-ports"  # loopback ports of this machine the proxy lets through
HOST_ADDRESSES = f"{LABEL}.host-addresses"  # the engine host's own addresses, denied by the proxy
ENDPOINT_PORTS = f"{LABEL}.endpoint-ports"  # host:port of model endpoints off 80/443
MCP_DIR = "/run/coding-agents-mcp"
BROKER_DIR = "/run/coding-agents-broker"

WORKSPACE = "/workspace"
HOME = "/home/agent"
TMUX_SESSION = "agent"
NETWORK_MODES = ("restricted", "squid", "allow-all")
_NAME_OK = re.compile(r"[^a-zA-Z0-9_.-]+")


def sanitize(text: str) -> str:
    """Docker-safe name part: runs of other characters become '-'."""
    return _NAME_OK.sub("-", text).strip("-.") or "x"


def default_name(agent: str, repo: Path, branch: str) -> str:
    """<agent>-<repo>-<branch without the agent prefix>, e.g. claude-api-session-1."""
    short = branch[len(agent) + 1 :] if branch.startswith(agent + "/") else branch
    return sanitize(f"{agent}-{repo.name}-{short}")[:120]


def validate_name(name: str) -> str:
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name) or len(name) > 120:
        raise UsageError(f"{name!r} is not a valid container name",
                         hint="use letters, digits, '_', '.' and '-' (at most 120), starting with a letter or digit")
    return name


def agent_branch(agent: str, branch: str) -> str:
    """--branch api -> claude/api (already-prefixed names are kept)."""
    return branch if branch.startswith(agent + "/") else f"{agent}/{branch}"


@dataclass(frozen=True)
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
    uncommitted_commit: str | None = None
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
    autonomy: str = "full"
    endpoints: Endpoints | None = None  # variables and provider settings, delivered with the logins
    gpu: bool = False  # --gpus all (the engine was seen to have a GPU runtime)
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


@dataclass(frozen=True)
class LaunchPlan:
    name: str
    workspace_volume: str
    home_volume: str
    labels: tuple[tuple[str, str], ...]
    volume_argvs: tuple[tuple[str, ...], ...]
    populate_argv: tuple[str, ...]  # reads a git pack on stdin
    create_argv: tuple[str, ...]
    proxy: ProxyPlan | None = None


def labels_for(request: SessionRequest) -> tuple[tuple[str, str], ...]:
    return (
        (MANAGED, "true"),
        (SESSION, request.name),
        (AGENT, request.agent.name),
        (REPO, str(request.repo)),
        (BRANCH, request.branch),
        (BASE, request.start_commit),
        (NETWORK, request.network),
        (MODE, request.mode),
        (IMAGE, request.image),
        (NO_PUSH, "true" if request.no_push else "false"),
        (CREATED, request.created),
        (INTERACTIVE, "false" if request.prompt is not None else "true"),
        (ROLE, "agent"),
        (AUTONOMY, request.autonomy),
        *(((MANIFEST, request.manifest),) if request.manifest else ()),
    ) + policy_labels(request.policy)


def policy_labels(policy: network.Policy | None) -> tuple[tuple[str, str], ...]:
    if policy is None:
        return ()
    return (
        (ALLOW, " ".join(policy.allow)),
        (LEARN, "true" if policy.learn else "false"),
        (BLOCK_PRIVATE, "true" if policy.block_private else "false"),
        (LIMITS, f"{policy.request_max_mb} {policy.reply_max_mb}"),
        *(((HOST_PORTS, " ".join(str(port) for port in policy.host_ports)),) if policy.host_ports else ()),
        *(((HOST_ADDRESSES, " ".join(policy.host_addresses)),) if policy.host_addresses else ()),
        *(((ENDPOINT_PORTS, " ".join(f"{host}:{port}" for host, port in policy.endpoint_ports)),)
          if policy.endpoint_ports else ()),
    )


def policy_from_labels(labels: dict[str, str]) -> network.Policy:
    limits = labels.get(LIMITS, "").split()
    sizes = (int(limits[0]), int(limits[1])) if len(limits) == 2 and all(x.isdigit() for x in limits) else (100, 2048)
    return network.Policy(
        allow=tuple(labels.get(ALLOW, "").split()),
        block_private=labels.get(BLOCK_PRIVATE, "true") == "true",
        learn=labels.get(LEARN) == "true",
        request_max_mb=sizes[0],
        reply_max_mb=sizes[1],
        host_ports=tuple(int(port) for port in labels.get(HOST_PORTS, "").split() if port.isdigit()),
        host_addresses=tuple(labels.get(HOST_ADDRESSES, "").split()),
        endpoint_ports=tuple((host, int(port)) for host, _, port in
                             (item.rpartition(":") for item in labels.get(ENDPOINT_PORTS, "").split())
                             if host and port.isdigit()),
    )


def label_args(labels: tuple[tuple[str, str], ...]) -> list[str]:
    args: list[str] = []
    for key, value in labels:
        args += ["--label", f"{key}={value}"]
    return args


def network_args(mode: str, name: str = "") -> list[str]:
    """How the agent container is attached: no network, the session's internal network, or bridge."""
    if mode == "restricted":
        return ["--network", "none"]
    if mode == "allow-all":
        return ["--network", "bridge"]
    if mode == "squid":
        # Only `proxy` resolves here; fail other lookups in ~2 s instead of Docker's ~20 s.
        return ["--network", internal_network(name), "--dns-option", "timeout:1", "--dns-option", "attempts:1"]
    raise AgentsError(f"unknown network mode {mode!r}", hint="choose restricted, squid or allow-all")


def internal_network(name: str) -> str:
    """Agent and proxy only; Docker gives it no route out (--internal)."""
    return f"{name}-internal"


def egress_network(name: str) -> str:
    """Only the proxy sits here; this is the way out."""
    return f"{name}-egress"


def proxy_name(name: str) -> str:
    return f"{name}-proxy"


@dataclass(frozen=True)
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

    def create_argv_for(self, egress_gateway: str | None) -> list[str]:
        """create_argv once the egress network exists: its gateway is the host too (denied like
        the host's other addresses), and with opened host ports, the host's name for the proxy,
        where the session's host-side relay listens."""
        argv = list(self.create_argv)
        if egress_gateway and self.policy is not None:
            policy = dataclasses.replace(self.policy, host_addresses=network.collapse(
                (*self.policy.host_addresses, egress_gateway)))
            argv[argv.index(f"SQUID_CONF={network.squid_config(self.policy)}")] = \
                f"SQUID_CONF={network.squid_config(policy)}"
        if self.host_ports and egress_gateway:
            argv[-1:-1] = ["--add-host", f"{network.HOST_ALIAS}:{egress_gateway}"]
        return argv


def plan_proxy(name: str, labels: tuple[tuple[str, str], ...], policy: network.Policy, image: str) -> ProxyPlan:
    """The squid sidecar: on the internal network as `proxy`, and the only member of the egress one."""
    internal, egress = internal_network(name), egress_network(name)
    proxy_labels = tuple((k, v) for k, v in labels if k != ROLE) + ((ROLE, "proxy"),)
    network_argvs = (
        # --internal drops traffic beyond the host, and inhibit_ipv4 keeps the host itself (its
        # bridge addresses and services) off this network too.
        ("docker", "network", "create", "--internal", "--opt", "com.docker.network.bridge.inhibit_ipv4=true",
         *label_args(proxy_labels), internal),
        ("docker", "network", "create", *label_args(proxy_labels), egress),
    )
    container = proxy_name(name)
    create_argv = (
        "docker", "create", "--name", container, "--hostname", "proxy",
        *label_args(proxy_labels),
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pids-limit", "256",
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "--init",
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
        connect_argv=("docker", "network", "connect", egress, container),
        start_argv=("docker", "start", container),
        ready_argv=("docker", "exec", container, "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{network.PROXY_PORT}"),
        host_ports=policy.host_ports,
        policy=policy,
    )


# Runs inside a throwaway container as the agent user, with the pack on stdin.
# $1 name, $2 email, $3 start commit, $4 branch, $5 commit with host's uncommitted changes (or "").
# The pack holds no history, so the start commit is always a shallow boundary.
POPULATE_SCRIPT = """\
set -eu
cd /workspace
if [ -e .git ]; then echo "workspace volume is not empty" >&2; exit 1; fi
git init -q
git config user.name "$1"
git config user.email "$2"
git index-pack --stdin >/dev/null
printf '%s\\n' "$3" > .git/shallow
git update-ref "refs/heads/$4" "$3"
git symbolic-ref HEAD "refs/heads/$4"
git reset -q --hard
if [ -n "$5" ]; then git read-tree -m -u HEAD "$5"; git reset -q; fi
"""


def helper_run_args(workspace_volume: str, image: str, pids_limit: int) -> list[str]:
    """A throwaway, network-less container on the session's workspace volume."""
    return [
        "docker", "run", "--rm", "-i", "--network", "none", "--env", "HOME=/tmp",
        *hardening.hardening_args(pids_limit),
        "--volume", f"{workspace_volume}:{WORKSPACE}", "--workdir", WORKSPACE,
        image,
    ]


def agent_command(request: SessionRequest) -> list[str]:
    """The CLI's command line, with what its autonomy mode tells it after the program."""
    agent = request.agent
    if request.prompt is None:
        return agent.with_told(agent.command, request.autonomy)
    command = agent.with_told(agent.prompt_command, request.autonomy)
    return [part.replace("{prompt}", request.prompt) for part in command]


def wants_logins(agent: Agent, endpoints: Endpoints | None = None) -> bool:
    """Whether the stub waits for a login bundle (logins, answers, variables) before the agent starts."""
    return bool(agent.login_files or agent.login_env or agent.first_run or agent.told("full").settings
                or (endpoints is not None and endpoints.env))


def plan_launch(request: SessionRequest) -> LaunchPlan:
    """Everything `launch-agent`/`run-agent` will create, as argv lists."""
    name = validate_name(request.name)
    workspace_volume = f"{name}-workspace"
    home_volume = f"{name}-home"
    labels = labels_for(request)
    volumes = (workspace_volume, home_volume, *((mcp_volume(name),) if request.mcp_sidecar else ()))
    volume_argvs = tuple(("docker", "volume", "create", *label_args(labels),
                          *(MCP_VOLUME_OPTIONS if volume == mcp_volume(name) else ()), volume) for volume in volumes)
    populate_argv = (
        *helper_run_args(workspace_volume, request.image, request.pids_limit),
        "sh", "-c", POPULATE_SCRIPT, "populate",
        request.identity[0], request.identity[1], request.start_commit, request.branch,
        request.uncommitted_commit or "",
    )
    limits: list[str] = []
    if request.cpus:
        limits += ["--cpus", f"{request.cpus:g}"]
    if request.memory:
        limits += ["--memory", request.memory]
    mode = "prompt" if request.prompt is not None else "interactive"
    create_argv = (
        "docker", "run", "--detach", "--name", name, "--hostname", name[:63],
        *label_args(labels),
        *hardening.hardening_args(request.pids_limit),
        *network_args(request.network, name),
        *limits,
        *(["--gpus", "all"] if request.gpu else []),
        "--volume", f"{workspace_volume}:{WORKSPACE}",
        "--volume", f"{home_volume}:{HOME}",
        *(["--volume", f"{mcp_volume(name)}:{MCP_DIR}"] if request.mcp_sidecar else []),
        "--workdir", WORKSPACE,
        "--env", "TERM=xterm-256color",
        "--env", f"CODING_AGENTS_SESSION={name}",
        "--env", f"CODING_AGENTS_BRANCH={request.branch}",
        "--env", f"CODING_AGENTS_BASE={request.start_commit}",
        "--env", f"CODING_AGENTS_AUTO_COMMIT={'1' if request.auto_commit else '0'}",
        *[arg for key, value in (*request.agent.env, *request.agent.told(request.autonomy).env)
          for arg in ("--env", f"{key}={value}")],
        *[arg for key, value in (network.proxy_env() if request.network == "squid" else [])
          for arg in ("--env", f"{key}={value}")],
        "--health-cmd", "ca-stub health", "--health-interval", "5s", "--health-timeout", "10s", "--health-retries", "3",
        *logins.tmpfs_args(request.agent),
        *(["--env", "CODING_AGENTS_WAIT_LOGINS=1"] if wants_logins(request.agent, request.endpoints) else []),
        *(bridges.container_args(request.bridge) if request.bridge else []),
        *hardening.check_extra_docker_args(request.extra_docker_args),
        request.image,
        "ca-stub", "session", "--mode", mode, "--", *agent_command(request),
    )
    proxy = None
    if request.network == "squid":
        if request.policy is None:
            raise AgentsError("squid mode needs a network policy",
                              hint="this is a bug: please report it (with --debug output)")
        proxy = plan_proxy(name, labels, request.policy, request.proxy_image)
    return LaunchPlan(
        name, workspace_volume, home_volume, labels, volume_argvs, tuple(populate_argv), create_argv, proxy
    )


def mcp_volume(name: str) -> str:
    """Only the MCP sockets: shared by the agent (clients) and its sidecar (servers)."""
    return f"{name}-mcp"


# The MCP socket folder is a tmpfs of the engine's local driver: a real mount, so nosuid, nodev
# and noexec hold in both containers (a plain volume is a bind mount, and Docker has no way to
# set those on one). It is mounted while either container runs; the sidecar makes its sockets
# anew each time it starts.
MCP_VOLUME_OPTIONS = ("--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt",
                      f"o=nosuid,nodev,noexec,size=1m,uid={hardening.AGENT_UID},gid={hardening.AGENT_UID},mode=0700")


def sidecar_name(name: str) -> str:
    return f"{name}-mcp"


def sidecar_argv(request: SessionRequest, broker_socket_dir: str) -> list[str]:
    """The MCP sidecar: the agent's image and hardening, its network policy, plus the broker socket."""
    name = request.name
    labels = tuple((k, v) for k, v in labels_for(request) if k != ROLE) + ((ROLE, "mcp"),)
    return [
        "docker", "run", "--detach", "--name", sidecar_name(name), "--hostname", "mcp",
        *label_args(labels),
        *hardening.hardening_args(256),
        *network_args(request.network, name),
        *[arg for key, value in (network.proxy_env() if request.network == "squid" else [])
          for arg in ("--env", f"{key}={value}")],
        "--volume", f"{mcp_volume(name)}:{MCP_DIR}",
        "--mount", f"type=bind,source={broker_socket_dir},target={BROKER_DIR},readonly",
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
        argv = ["docker", "exec", "-i", "--user", str(hardening.AGENT_UID), name]
    else:
        argv = helper_run_args(workspace_volume, image, pids_limit)
    for part in argv:
        if " " in part or "%" in part:
            raise AgentsError(f"cannot use {part!r} in a git transport command",
                              hint="rename the session or image so it has no spaces or '%'")
    return "ext::" + " ".join(argv + ["%S", WORKSPACE])


# --- sessions as found on the engine -------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    name: str
    agent: str
    repo: Path
    branch: str
    base: str
    network: str
    mode: str
    image: str
    no_push: bool
    created: str
    state: str  # running, exited, created, ...
    container_id: str
    interactive: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    autonomy: str = "full"
    proxy_state: str | None = None  # squid sessions: the proxy container's state ("missing": gone)
    tip: str | None = None  # from the last health report
    ahead: int | None = None
    dirty: bool | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def proxy_down(self) -> bool:
        """A squid session whose proxy is not running: the agent has no network until it is back."""
        return self.network == "squid" and self.proxy_state not in (None, "running", "restarting")

    @property
    def workspace_volume(self) -> str:
        return f"{self.name}-workspace"

    @property
    def home_volume(self) -> str:
        return f"{self.name}-home"


def parse_health(inspect: dict[str, Any]) -> dict[str, Any]:
    """The newest `ca-stub health` JSON from a container's inspect data, or {} when it has none that
    is current: a stopped container's last report predates the stub's auto-commit on the way out,
    and reports from before a restart describe an earlier run."""
    import json

    state = inspect.get("State") or {}
    if state.get("Status") != "running":
        return {}
    started = _docker_time(state.get("StartedAt"))
    logs = (state.get("Health") or {}).get("Log") or []
    for entry in reversed(logs):
        when = _docker_time(entry.get("Start"))
        if started is not None and when is not None and when < started:
            return {}
        try:
            report = json.loads(entry.get("Output") or "")
        except (ValueError, TypeError):
            continue
        if isinstance(report, dict):
            return report
    return {}


def _docker_time(text: Any) -> float | None:
    """Docker's RFC 3339 times ('2026-01-02T03:04:05.123456789Z', any number of digits) as seconds."""
    if not isinstance(text, str) or not text.endswith("Z") or text.startswith("0001-"):
        return None
    whole, _, fraction = text[:-1].partition(".")
    try:
        seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return seconds + (float("0." + fraction) if fraction.isdigit() else 0.0)


def session_from_inspect(inspect: dict[str, Any]) -> SessionInfo | None:
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    if SESSION not in labels or labels.get(ROLE, "agent") != "agent":
        return None
    health = parse_health(inspect)
    return SessionInfo(
        name=labels[SESSION],
        agent=labels.get(AGENT, "?"),
        repo=Path(labels.get(REPO, "/")),
        branch=labels.get(BRANCH, "?"),
        base=labels.get(BASE, ""),
        network=labels.get(NETWORK, "?"),
        mode=labels.get(MODE, "?"),
        image=labels.get(IMAGE, ""),
        no_push=labels.get(NO_PUSH) == "true",
        created=labels.get(CREATED, ""),
        state=(inspect.get("State") or {}).get("Status", "unknown"),
        container_id=inspect.get("Id", ""),
        interactive=labels.get(INTERACTIVE, "true") == "true",
        labels=dict(labels),
        autonomy=labels.get(AUTONOMY, "full"),
        tip=health.get("tip"),
        ahead=health.get("ahead"),
        dirty=health.get("dirty"),
    )


def session_from_volume(volume: dict[str, Any]) -> SessionInfo | None:
    """A session known only from its workspace volume (its container is gone)."""
    labels = volume.get("Labels") or {}
    name = labels.get(SESSION)
    if not name or volume.get("Name") != f"{name}-workspace":
        return None
    fake = {"Config": {"Labels": labels}, "State": {"Status": "orphaned"}, "Id": ""}
    return session_from_inspect(fake)
