"""Names that are a contract with the code inside containers: labels, resource names, container
paths, the tmux session. The stub (stub/ca_stub/paths.py) agrees with these; a unit test checks it.
"""

from __future__ import annotations

from agents.errors import UsageError

TYPE_CHECKING = False  # (on connect-agent's fast path: pathlib only for type checkers)
if TYPE_CHECKING:
    from pathlib import Path

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
# Every label above: what `docker ps` is asked for (it prints no label map, listing.PS_FORMAT).
LABELS = (MANAGED, SESSION, AGENT, REPO, BRANCH, BASE, NETWORK, MODE, IMAGE, NO_PUSH, CREATED, INTERACTIVE, ALLOW,
          LEARN, LIMITS, BLOCK_PRIVATE, ROLE, MANIFEST, AUTONOMY, HOST_PORTS, HOST_ADDRESSES, ENDPOINT_PORTS)
MCP_DIR = "/run/coding-agents-mcp"
BROKER_DIR = "/run/coding-agents-broker"
WORKSPACE = "/workspace"
# The launch fills the workspace through the agent container's run: its stub (the main process)
# reads the repository on its stdin (the attached `docker run --interactive`, no exec) and holds the
# CLI until this file exists, the fill's last step. On the container's output, one line when it
# starts waiting (the container runs) and one that says how the fill went.
WORKSPACE_FILLED = WORKSPACE + "/.git/coding-agents-filled"
FILL_WAITING = "ca-stub: fill: waiting"
FILL_DONE = "ca-stub: fill: done"
FILL_FAILED = "ca-stub: fill: failed: "
WAIT_WORKSPACE_VAR = "CODING_AGENTS_WAIT_WORKSPACE"
HOME = "/home/agent"
TMUX_SESSION = "agent"
# What a CLI keeps beside its login (transcripts, history) lives here, on the home volume
# (agents/history.py); the stub reads the layout from this variable.
STATE_STORE = HOME + "/.coding-agents-state"
STATE_VAR = "CODING_AGENTS_STATE"
AGENT_UID = 1000  # the image's "agent" user (images/base/Dockerfile); the stub runs everything as it
# The relay's own uid inside containers (no user of the image has it): its socket folders belong
# to it, so the agent's user can neither replace a socket there nor signal or trace the relay.
RELAY_UID = 1001
HEALTH_INTERVAL = 5  # seconds between a session's `ca-stub health` runs (the engine's health check)


def agent_exec(container: str, *command: str, stdin: bool = False) -> list[str]:
    """`docker exec` of command in a session's container, as the agent user."""
    from agents import runner

    return [runner.engine(), "exec", *(["-i"] if stdin else []), "--user", str(AGENT_UID), container, *command]


def sanitize(text: str) -> str:
    """Docker-safe name part: runs of other characters become '-'."""
    import re  # (here: connect-agent's fast path imports this module and wants no re)

    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.") or "x"


def default_name(agent: str, repo: Path, branch: str) -> str:
    """<agent>-<repo>-<branch without the agent prefix>, e.g. claude-api-session-1."""
    short = branch[len(agent) + 1 :] if branch.startswith(agent + "/") else branch
    return sanitize(f"{agent}-{repo.name}-{short}")[:120]


def validate_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name) or len(name) > 120:
        raise UsageError(f"{name!r} is not a valid container name",
                         hint="use letters, digits, '_', '.' and '-' (at most 120), starting with a letter or digit")
    return name


def agent_branch(agent: str, branch: str) -> str:
    """--branch api -> claude/api (already-prefixed names are kept)."""
    return branch if branch.startswith(agent + "/") else f"{agent}/{branch}"


def internal_network(name: str) -> str:
    """Agent and proxy only; Docker gives it no route out (--internal)."""
    return f"{name}-internal"


def egress_network(name: str) -> str:
    """Only the proxy sits here; this is the way out."""
    return f"{name}-egress"


def proxy_name(name: str) -> str:
    return f"{name}-proxy"


def workspace_volume(name: str) -> str:
    """The session's checkout and its .git: the work itself."""
    return f"{name}-workspace"


def home_volume(name: str) -> str:
    """The agent's home: its CLI's settings and state."""
    return f"{name}-home"


def mcp_volume(name: str) -> str:
    """Only the MCP sockets: shared by the agent (clients) and its sidecar (servers)."""
    return f"{name}-mcp"


def sidecar_name(name: str) -> str:
    return f"{name}-mcp"
