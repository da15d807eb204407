"""Every container path and variable name the stub uses, in one place.

The host's side of this contract is agents/session/naming.py (and agents/bridges.py for the
bridge folder); tests/unit/test_contract.py checks that the two agree. Imports nothing of ours.
"""
import os

# The stub's own folder in the image: /usr/local/lib/coding-agents/stub (images/base/Dockerfile).
STUB_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
TMUX_CONF = os.path.join(STUB_DIR, "tmux.conf")
# The programs an image may carry and how each tells its version: written from the host's agents
# table (agents/catalog.py: stub_data) when the image is built, so the stub holds no list of CLIs.
PROGRAMS_FILE = os.path.join(STUB_DIR, "programs.json")

WORKSPACE = "/workspace"
# Written last by the fill of a new session's workspace (workspace.fill, from what the host sends).
WORKSPACE_FILLED = WORKSPACE + "/.git/coding-agents-filled"
# On the container's output (what the host's attached run reads): one line when the stub starts
# waiting for the fill (the container runs), one with the fill's outcome.
FILL_WAITING = "ca-stub: fill: waiting"
FILL_DONE = "ca-stub: fill: done"
FILL_FAILED = "ca-stub: fill: failed: "
HOME = os.path.expanduser("~")
TMUX_SESSION = "agent"
AGENT_PANE = TMUX_SESSION + ":0.0"
# tmux 3.3 often cannot tell how a pane's process ended, so a wrapper shell writes it down.
EXIT_STATUS_FILE = "/tmp/.coding-agents-agent-exit"
STATE_DIR = "/tmp/.coding-agents"  # tmpfs; 0700, the agent user's
# Login variables sit in a 0600 file, so they never appear on a command line.
LOGIN_ENV_FILE = STATE_DIR + "/login.env"
LOGINS_READY = STATE_DIR + "/logins-ready"
LOGINS_WATCH = STATE_DIR + "/logins-watch.json"
MCP_SPEC = STATE_DIR + "/mcp.json"  # the sidecar's servers and capabilities, until it reads them
MCP_READY = STATE_DIR + "/mcp-ready"
SSH_KEYGEN = "/usr/bin/ssh-keygen"

# The session's host sockets, mounted read-only (agents/bridges.py serves them).
BRIDGE_DIR = os.environ.get("CODING_AGENTS_BRIDGE_DIR", "/run/coding-agents")
LOGINS_SOCKET = "logins.sock"
CREDENTIAL_SOCKET = "git-credential.sock"
SIGN_SOCKET = "sign.sock"
# Served in the host's relay process itself (agents/relay.py: take_report): the health reports.
REPORT_SOCKET = os.path.join("/run/coding-agents", "report.sock")
# The MCP volume shared by the agent (clients) and its sidecar (servers), and the broker's socket.
MCP_SOCKETS = os.environ.get("CODING_AGENTS_MCP_DIR", "/run/coding-agents-mcp")
BROKER_SOCKET = os.environ.get("CODING_AGENTS_BROKER_SOCKET", "/run/coding-agents-broker/broker.sock")

# Variables the launch (agents/session/planner.py) or the host's health call sets.
VAR_PREFIX = "CODING_AGENTS_"  # none of these reach an MCP server's environment
BRANCH_VAR = "CODING_AGENTS_BRANCH"
BASE_VAR = "CODING_AGENTS_BASE"
WAIT_LOGINS_VAR = "CODING_AGENTS_WAIT_LOGINS"
WAIT_WORKSPACE_VAR = "CODING_AGENTS_WAIT_WORKSPACE"
AUTO_COMMIT_VAR = "CODING_AGENTS_AUTO_COMMIT"
# The agent's state layout (JSON; agents/history.py: layout_spec): what of its folder is kept, where.
STATE_VAR = "CODING_AGENTS_STATE"


def mcp_socket(server):
    """Where the sidecar serves one MCP server and the agent's relay connects."""
    return os.path.join(MCP_SOCKETS, server + ".sock")
