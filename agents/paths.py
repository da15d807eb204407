"""Where the tool keeps things on this machine: each root folder and what sits directly in it.

The bottom module: it imports nothing from agents, so any module can ask where a thing lives
without importing the module that writes it.

The roots follow the XDG Base Directory spec. Each variable names an absolute folder; one that is
unset, empty or relative is ignored and its default used:

  config   $XDG_CONFIG_HOME  (~/.config)        /coding-agents   config.toml, mcp-approvals.json
  data     $XDG_DATA_HOME    (~/.local/share)   /coding-agents   secrets/, history/
  state    $XDG_STATE_HOME   (~/.local/state)   /coding-agents   network/, bridges/, broker/,
                                                                 logins.lock, HELPER-NAME.log
  cache    $XDG_CACHE_HOME   (~/.cache)         /coding-agents   repos/, reports.json,
                                                                 engine-addresses.json, state-sizes.json
  runtime  $XDG_RUNTIME_DIR  (when it exists)   /coding-agents   sockets: a folder per session,
           else /tmp/coding-agents-<uid>                         and the broker's

The names inside those folders (a session's files in network/ or bridges/, the socket folders in
the runtime folder, the clones in repos/) belong to the module that owns the folder: netlog,
bridges, broker, remote, session.reports, engine_host, state_size.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # (pathlib is imported when a Path is made: connect-agent's fast path makes none)
if TYPE_CHECKING:
    from pathlib import Path

APP = "coding-agents"
CONFIG_VARIABLE = "CODING_AGENTS_CONFIG"  # names the config file instead (relative paths allowed)


def _path(*parts: str) -> Path:
    from pathlib import Path

    return Path(*parts)


def _xdg_location(variable: str, *default: str) -> str:
    value = os.environ.get(variable, "")
    if os.path.isabs(value):
        return os.path.join(value, APP)
    return os.path.join(os.path.expanduser("~"), *default, APP)


def _xdg(variable: str, *default: str) -> Path:
    return _path(_xdg_location(variable, *default))


# --- config: yours ---------------------------------------------------------------------------


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def config_file() -> Path:
    """$CODING_AGENTS_CONFIG when set, else config.toml in the config folder."""
    return _path(config_file_location())


def config_file_location() -> str:
    """config_file() as a string, for a reader that wants no pathlib (agents/engine_program.py)."""
    return os.environ.get(CONFIG_VARIABLE) or os.path.join(_xdg_location("XDG_CONFIG_HOME", ".config"), "config.toml")


def mcp_approvals_file() -> Path:
    """The hashes of the repository MCP servers you approved."""
    return config_dir() / "mcp-approvals.json"


# --- data: the secret store ------------------------------------------------------------------


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local", "share")


def secrets_dir() -> Path:
    return data_dir() / "secrets"


# --- state: logs and what the helpers decide from (outlives sessions) ------------------------


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local", "state")


def network_dir() -> Path:
    """netlog: NAME.log, every proxy decision of a session."""
    return state_dir() / "network"


def bridges_dir() -> Path:
    """bridges: NAME/ (a session's settings) and NAME.log (its audit log)."""
    return state_dir() / "bridges"


def broker_state_dir() -> Path:
    """broker: audit.log."""
    return state_dir() / "broker"


def history_dir() -> Path:
    """history: REPO-KEY/BRANCH.tar.gz, the agent state a removed session left, for --resume."""
    return data_dir() / "history"


def logins_lock() -> Path:
    """Held while refreshed logins replace the host's files."""
    return state_dir() / "logins.lock"


def pushed_reports_dir() -> Path:
    """session.reports: each running session's last health report as its stub pushed it through
    the relay (one file per session, written by its `_bridge` helper; display only)."""
    return state_dir() / "pushed-reports"


def helper_log(helper: str, name: str) -> Path:
    """The output of a detached helper: bridge-NAME.log, collect-NAME.log, reap-NAME.log, broker-broker.log."""
    return state_dir() / f"{helper}-{name}.log"


# --- cache: what can be made again -----------------------------------------------------------


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def repos_dir() -> Path:
    """remote: HOST/PATH, our clone of each repository given as a URL."""
    return cache_dir() / "repos"


def reports_file() -> Path:
    """session.reports: what each session last reported (list-agents' copy; display only)."""
    return cache_dir() / "reports.json"


def state_sizes_file() -> Path:
    """state_size: how much agent state each session last kept (list-agents' copy; display only)."""
    return cache_dir() / "state-sizes.json"


def engine_addresses_file() -> Path:
    """engine_host: each remote engine's host addresses, as its probe last found them."""
    return cache_dir() / "engine-addresses.json"


# --- runtime: sockets (short paths: a Unix socket path holds at most 107 bytes) ---------------


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/coding-agents, else /tmp/coding-agents-<uid> (0700, ours; made by its users)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(base) and os.path.isdir(base):
        return _path(base, APP)
    return _path("/tmp", f"{APP}-{os.geteuid()}")
