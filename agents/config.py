"""User configuration: ~/.config/coding-agents/config.toml (trusted, written by the user)."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path

from agents import netmodes, paths
from agents.catalog import AUTONOMY_MODES, DEFAULT_AUTONOMY, Agent, custom_agent, find_agent
from agents.errors import AgentsError
from agents.mcp import servers as mcp_servers
from agents.records import field, record

# Known keys per section, with their types; anything else is a typo we report.
_SCHEMA: dict[str, dict[str, type]] = {
    "images": {
        "registry": str,  # pull <registry>/coding-agents-<name>:<version> before building
        "base_image": str,  # FROM for the base and proxy images
        "ca_cert": str,  # extra CA bundle added to every image
        "npm_registry": str,
        "debian_mirror": str,  # for `images bootstrap-base`
    },
    "network": {
        "allow": list,  # allowlist rules added for every session (squid mode)
        "block_private": bool,  # deny private, loopback, link-local and metadata addresses
        "request_max_mb": int,
        "reply_max_mb": int,
        "subnet_pool": str,  # where squid sessions' small networks are carved from
        "host_ports": list,  # ports on this machine's loopback that every squid session may reach
        "allow_host_gateway": bool,  # squid sessions where this machine is on their network (rootful Podman)
    },
    "sessions": {
        "network": str,  # default --network-proxy mode
        "auto_commit": bool,  # commit uncommitted work when an agent stops or is removed
        "pids_limit": int,
        "memory": str,
        "cpus": float,
        "docker_args": list,  # extra `docker run` arguments; ones that weaken isolation are refused
        "autonomy": str,  # full (default: no CLI permission prompts; the container is the boundary) | ask
        "notify": list,  # a command run when a session starts waiting for you or finishes (docs/landing.md)
        "bell": bool,  # ring the launching terminal's bell then
        "state_size": str,  # how much agent state (transcripts, history) a session may keep before it warns
        "history_size": str,  # how much the host's copies of removed sessions' history may take before it warns
    },
    "mcp": {
        "enable": list,  # catalog servers to turn on: github, microsoft-docs, context7, playwright, serena
        "capability_hours": int,  # how long a sidecar's capabilities stay redeemable
    },
    "credentials": {
        "logins": bool,  # deliver the host's agent logins into each session (tmpfs)
        "save_new_logins": bool,  # a login made inside is saved to the host when the host has none
        "git_credentials": bool,  # bridge the host's `git credential fill` for allowlisted hosts
        "git_hosts": list,  # more hosts (or URLs) for the git credential allowlist
        "signing": bool,  # sign commits through the host's signer when the host signs them
        "ssh_agent": bool,  # forward the host's ssh-agent to every session (like --ssh-agent)
    },
    "engine": {
        "command": str,  # the engine's CLI: "docker" or "podman" (default: docker if installed, else podman)
    },
}


# What each key looks like, for the hint when a value is refused.
_EXAMPLES: dict[str, str] = {
    "command": 'command = "podman"',
    "registry": 'registry = "registry.example.com/team"',
    "base_image": 'base_image = "debian:bookworm-slim"',
    "ca_cert": 'ca_cert = "/etc/ssl/certs/ca-certificates.crt"',
    "npm_registry": 'npm_registry = "https://registry.npmjs.org"',
    "debian_mirror": 'debian_mirror = "http://deb.debian.org/debian"',
    "allow": 'allow = ["pypi.org", ".pythonhosted.org"]',
    "block_private": "block_private = true",
    "allow_host_gateway": "allow_host_gateway = false",
    "request_max_mb": "request_max_mb = 100",
    "reply_max_mb": "reply_max_mb = 2048",
    "subnet_pool": 'subnet_pool = "10.213.0.0/16"',
    "host_ports": "host_ports = [11434]",
    "network": 'network = "squid"',
    "auto_commit": "auto_commit = true",
    "pids_limit": "pids_limit = 1024",
    "memory": 'memory = "4g"',
    "cpus": "cpus = 2",
    "docker_args": 'docker_args = ["--shm-size", "1g"]',
    "autonomy": 'autonomy = "full"',
    "notify": 'notify = ["notify-send", "coding-agents", "{session} is {event}"]',
    "bell": "bell = true",
    "state_size": 'state_size = "8g"',
    "history_size": 'history_size = "20g"',
    "enable": 'enable = ["github", "context7"]',
    "capability_hours": "capability_hours = 24",
    "logins": "logins = true",
    "save_new_logins": "save_new_logins = true",
    "git_credentials": "git_credentials = true",
    "git_hosts": 'git_hosts = ["git.example.com"]',
    "signing": "signing = true",
    "ssh_agent": "ssh_agent = false",
}
# TOML's words for the types, for "must be a ..." messages.
_KINDS = {str: "string", int: "whole number", float: "number", bool: "boolean", list: "list",
          dict: "table"}
_FOUND_KINDS = {**_KINDS, float: "decimal number"}
MIN_PIDS_LIMIT = 64  # the agent's CLI, tmux, git and a shell; 0 or -1 would mean no limit at all
MIN_MEMORY_BYTES = 6 * 1024 * 1024  # the engine refuses less
MIN_CPUS = 0.01  # the engine's smallest share
_SIZE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?) ?(?P<unit>[bkmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


@record(frozen=True)
class ImagesConfig:
    registry: str | None = None
    base_image: str | None = None
    ca_cert: str | None = None
    npm_registry: str = "https://registry.npmjs.org"
    debian_mirror: str = "http://deb.debian.org/debian"


@record(frozen=True)
class SessionsConfig:
    network: str = "squid"
    auto_commit: bool = True
    pids_limit: int = 1024
    memory: str | None = None
    cpus: float | None = None
    docker_args: tuple[str, ...] = ()
    autonomy: str = DEFAULT_AUTONOMY
    notify: tuple[str, ...] = ()
    bell: bool = False
    state_size: int = 8 * 1024**3  # bytes (agents/history.py)
    history_size: int = 20 * 1024**3  # bytes, all host copies together (history_copies.DEFAULT_HISTORY_SIZE)


@record(frozen=True)
class NetworkConfig:
    allow: tuple[str, ...] = ()
    block_private: bool = True
    request_max_mb: int = 100
    reply_max_mb: int = 2048
    subnet_pool: str = "10.213.0.0/16"
    host_ports: tuple[int, ...] = ()
    allow_host_gateway: bool = False


@record(frozen=True)
class CredentialsConfig:
    logins: bool = True
    save_new_logins: bool = True
    git_credentials: bool = True
    git_hosts: tuple[str, ...] = ()
    signing: bool = True
    ssh_agent: bool = False


@record(frozen=True)
class McpConfig:
    enable: tuple[str, ...] = ()
    capability_hours: int = 24


@record(frozen=True)
class Config:
    path: Path | None = None
    images: ImagesConfig = field(default_factory=ImagesConfig)
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    agents: tuple[Agent, ...] = ()  # the user's own [agents.NAME]
    # [agents.NAME] env, for built-in and own agents: (agent, ((KEY, value), ...))
    agent_env: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # [agents.NAME] carry: (agent, entries of its setup that come along), replacing the agent's own list
    agent_carry: tuple[tuple[str, tuple[str, ...]], ...] = ()
    mcp: McpConfig = field(default_factory=McpConfig)
    mcp_servers: tuple = ()  # agents.mcp.servers.Server, from [mcp_servers.NAME]

    def env_for(self, agent: Agent) -> dict[str, str]:
        """The variables [agents.NAME] env gives an agent: its base agent's, then its own."""
        tables = dict(self.agent_env)
        found: dict[str, str] = {}
        for name in dict.fromkeys((agent.base or agent.name, agent.name)):
            found.update(dict(tables.get(name, ())))
        return found

    def carry_for(self, agent: Agent) -> tuple[str, ...]:
        """What of your setup comes along: [agents.NAME] carry (the agent's own, else its base
        agent's), else the agents table's list."""
        tables = dict(self.agent_carry)
        for name in (agent.name, agent.base or agent.name):
            if name in tables:
                return tables[name]
        return agent.host_setup.carry


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config file; a missing file means defaults."""
    explicit = path is not None or bool(os.environ.get(paths.CONFIG_VARIABLE))
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise AgentsError(
            f"config file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start})",
            hint="save it as UTF-8 (TOML files must be), or move it aside to use defaults",
        ) from None
    except IsADirectoryError:
        raise AgentsError(f"cannot read config file {path}: it is a folder",
                          hint="point CODING_AGENTS_CONFIG at a file") from None
    except FileNotFoundError:
        if explicit:  # a file the user named must exist; only the default may be absent
            raise AgentsError(
                f"config file {path} does not exist", hint="fix CODING_AGENTS_CONFIG or create the file"
            ) from None
        return Config(path=None)
    except OSError as error:
        raise AgentsError(
            f"cannot read config file {path}: {error.strerror}", hint="check its permissions"
        ) from error
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    import tomllib  # only with a config file: its import (with typing) is ~8 to 12 ms of a start

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AgentsError(
            f"config file {path} is not valid TOML: {error}",
            hint="fix the file, or move it aside to use defaults",
        ) from error
    custom, agent_env, agent_carry = parse_agents(data.pop("agents", {}), path)
    servers = mcp_servers.parse_servers(data.pop("mcp_servers", {}), "user", f"config file {path}")
    for section, values in data.items():
        if section not in _SCHEMA:
            raise AgentsError(
                f"config file {path}: unknown section [{section}]",
                hint="known sections: " + ", ".join(f"[{s}]" for s in _SCHEMA),
            )
        if not isinstance(values, dict):
            raise AgentsError(f"config file {path}: {section} must be a table ([{section}])",
                              hint=f"write it as a section: [{section}] on its own line, then its keys")
        for key, value in values.items():
            expected = _SCHEMA[section].get(key)
            if expected is None:
                raise AgentsError(
                    f"config file {path}: unknown key {key!r} in [{section}]",
                    hint="known keys: " + ", ".join(_SCHEMA[section]),
                )
            whole_for_float = expected is float and isinstance(value, int) and not isinstance(value, bool)
            wrong_type = not isinstance(value, expected) or isinstance(value, bool) != (expected is bool)
            if wrong_type and not whole_for_float:
                raise AgentsError(
                    f"config file {path}: [{section}] {key} must be a {_KINDS[expected]}, "
                    f"not a {_FOUND_KINDS.get(type(value), type(value).__name__)}",
                    hint=f"e.g. {_EXAMPLES[key]}",
                )
            check_value(section, key, value, f"config file {path}: [{section}] {key}")
    sessions = dict(data.get("sessions", {}))
    if "docker_args" in sessions:
        sessions["docker_args"] = tuple(sessions["docker_args"])
    if "notify" in sessions:
        sessions["notify"] = tuple(sessions["notify"])
    if "cpus" in sessions:
        sessions["cpus"] = float(sessions["cpus"])
    if "memory" in sessions:
        sessions["memory"] = check_memory(sessions["memory"], f"config file {path}: [sessions] memory")
    if "state_size" in sessions:
        sessions["state_size"] = size_bytes(sessions["state_size"], f"config file {path}: [sessions] state_size")
    if "history_size" in sessions:
        sessions["history_size"] = size_bytes(sessions["history_size"], f"config file {path}: [sessions] history_size")
    if "autonomy" in sessions and sessions["autonomy"] not in AUTONOMY_MODES:
        raise AgentsError(f"config file {path}: [sessions] autonomy = {sessions['autonomy']!r} is not a mode",
                          hint="choose " + " or ".join(repr(mode) for mode in AUTONOMY_MODES))
    net = dict(data.get("network", {}))
    if "allow" in net:
        net["allow"] = tuple(net["allow"])
    if "host_ports" in net:
        net["host_ports"] = tuple(parse_host_port(port, f"config file {path}: [network] host_ports")
                                  for port in net["host_ports"])
    credentials = dict(data.get("credentials", {}))
    if "git_hosts" in credentials:
        credentials["git_hosts"] = tuple(credentials["git_hosts"])
    return Config(
        path=path,
        images=ImagesConfig(**data.get("images", {})),
        sessions=SessionsConfig(**sessions),
        network=NetworkConfig(**net),
        credentials=CredentialsConfig(**credentials),
        agents=custom,
        agent_env=agent_env,
        agent_carry=agent_carry,
        mcp=McpConfig(
            enable=mcp_servers.parse_enable(data["mcp"]["enable"], f"config file {path}") if "enable" in data.get("mcp", {})
            else (),
            capability_hours=_positive(data.get("mcp", {}).get("capability_hours", 24), "[mcp] capability_hours",
                                       path),
        ),
        mcp_servers=servers,
    )


def _positive(value: int, what: str, path: Path) -> int:
    if value < 1:
        raise AgentsError(f"config file {path}: {what} must be at least 1, not {value}",
                          hint=f"e.g. {_EXAMPLES[what.split()[-1]]}, or leave it out for the default")
    return value


def check_value(section: str, key: str, value: object, where: str) -> None:
    """Values of the right type that still make no sense: refused, never quietly replaced."""
    example = f"e.g. {_EXAMPLES[key]}, or leave it out for the default"
    if isinstance(value, str) and not value.strip():
        raise AgentsError(f"{where} is empty", hint=example)
    if isinstance(value, list) and key != "host_ports":
        if not all(isinstance(item, str) for item in value):
            raise AgentsError(f"{where} must be a list of strings", hint=f"e.g. {_EXAMPLES[key]}")
        if not all(item.strip() for item in value):
            raise AgentsError(f"{where} has an empty entry", hint=f"e.g. {_EXAMPLES[key]}")
    if (section, key) == ("sessions", "pids_limit") and value < MIN_PIDS_LIMIT:
        meaning = " (the engine would then set no limit at all)" if value <= 0 else ""
        raise AgentsError(f"{where} = {value} is too small{meaning}",
                          hint=f"use at least {MIN_PIDS_LIMIT}; the default is 1024")
    if (section, key) in (("network", "request_max_mb"), ("network", "reply_max_mb")) and value < 1:
        raise AgentsError(f"{where} = {value} would refuse every request that has a body" if key == "request_max_mb"
                          else f"{where} = {value} would refuse every reply", hint=f"use at least 1; {example}")
    if (section, key) == ("sessions", "cpus"):
        check_cpus(float(value), where)
    if (section, key) == ("sessions", "network") and value not in netmodes.NAMES:
        raise AgentsError(f"{where} = {value!r} is not a network mode",
                          hint="choose " + ", ".join(repr(mode) for mode in netmodes.NAMES))
    if (section, key) == ("network", "subnet_pool"):
        check_subnet_pool(value, where)
    if (section, key) == ("engine", "command"):
        from agents import engine_program

        engine_program.check(value, where)  # (read by agents/engine_program.py, before any of the rest)
    if (section, key) == ("network", "allow"):
        from agents import network

        for rule in value:
            try:
                network.normalize_rule(rule)
            except AgentsError as error:
                raise AgentsError(f"{where}: {error.message}", hint=error.hint) from error
    if (section, key) in (("images", "npm_registry"), ("images", "debian_mirror")):
        check_url(value, where, _EXAMPLES[key].split('"')[1])


def check_cpus(value: float, where: str) -> float:
    if not math.isfinite(value) or value < MIN_CPUS:
        raise AgentsError(f"{where} must be a number of cores from {MIN_CPUS:g} up, not {value:g}",
                          hint="e.g. 2, or 0.5 for half a core")
    return value


def check_memory(text: str, where: str) -> str:
    """A memory size the engine takes (4g, 512m, 1.5g, 2GiB ...), at least 6m; returned as e.g. 1536m."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise AgentsError(f"{where} {text!r} is not a size", hint="e.g. 4g or 512m (k, m, g or t)")
    size = float(match["number"]) * _UNITS[match["unit"].lower()]
    if not math.isfinite(size) or size > 2**63 - 1:
        raise AgentsError(f"{where} {text!r} is more than the engine can count", hint="e.g. 4g or 512m")
    size = int(size)
    if size < MIN_MEMORY_BYTES:
        raise AgentsError(f"{where} {text!r} is less than the engine's minimum of 6m", hint="e.g. 4g or 512m")
    unit = next(unit for unit in "tgmkb" if size % _UNITS[unit] == 0)
    return f"{size // _UNITS[unit]}{unit}"


def size_bytes(text: str, where: str) -> int:
    """A size such as 8g or 500m, in bytes (at least 1m)."""
    match = _SIZE.fullmatch(text.strip())
    size = float(match["number"]) * _UNITS[match["unit"].lower()] if match else -1.0
    if not math.isfinite(size) or size < 1024**2 or size > 2**63 - 1:
        raise AgentsError(f"{where} {text!r} is not a size from 1m up", hint="e.g. 8g or 500m (k, m, g or t)")
    return int(size)


def check_subnet_pool(text: str, where: str) -> str:
    """A private IPv4 range large enough for a few /28 session networks."""
    hint = "use a private IPv4 range of /27 or larger that nothing else on this machine uses, e.g. 10.213.0.0/16"
    try:
        pool = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise AgentsError(f"{where} = {text!r} is not an address range (CIDR)", hint=hint) from None
    if pool.version != 4 or not pool.is_private or pool.is_loopback or pool.is_link_local or pool.is_multicast:
        raise AgentsError(f"{where} = {text!r} is not a private IPv4 range", hint=hint)
    if pool.prefixlen > 27:
        raise AgentsError(f"{where} = {text!r} is too small for session networks", hint=hint)
    return text


def check_url(text: str, where: str, example: str = "https://registry.npmjs.org") -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentsError(f"{where} {text!r} is not an http(s) URL", hint=f"e.g. {example}")
    return text


_AGENT_KEYS = {"base": str, "command": list, "prompt_command": list, "title": str, "env": dict, "carry": list}
# A built-in agent's table may only add variables (e.g. its model endpoint).
_BUILTIN_AGENT_KEYS = ("env", "carry")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_host_port(value: object, where: str) -> int:
    """A TCP port number, 1-65535 (a string of digits is fine: it came from a command line)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise AgentsError(f"{where}: {value!r} is not a port number", hint="use a number from 1 to 65535, e.g. 11434")
    return value


def parse_env_table(value: dict, where: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for key, text in value.items():
        if not _ENV_NAME.fullmatch(key):
            raise AgentsError(f"{where}: {key!r} is not a variable name", hint="use letters, digits and '_'")
        if not isinstance(text, str) or "\0" in text:
            raise AgentsError(f"{where}: {key} must be a string", hint=f'e.g. {key} = "https://llm.example.com"')
        pairs.append((key, text))
    return tuple(pairs)


def parse_agents(tables: object, path: Path) -> tuple[tuple[Agent, ...], tuple, tuple]:
    """[agents.NAME] tables: the user's own agents (base required; command, prompt_command,
    title, env) and variables for built-in ones (env only)."""
    if not isinstance(tables, dict):
        raise AgentsError(f"config file {path}: agents must be tables ([agents.NAME])",
                          hint='e.g. [agents.my-codex] on its own line, then base = "codex"')
    found = []
    env_tables = []
    carry_tables = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise AgentsError(f"config file {path}: [agents.{name}] must be a table",
                              hint=f'e.g. [agents.{name}] on its own line, then base = "codex"')
        builtin = find_agent(name) is not None
        for key, value in table.items():
            expected = _AGENT_KEYS.get(key)
            if builtin and key in _AGENT_KEYS and key not in _BUILTIN_AGENT_KEYS:
                raise AgentsError(f"config file {path}: [agents.{name}] would replace the built-in agent {name}",
                                  hint="pick another name for your own agent; a built-in agent's table takes "
                                  "only: " + ", ".join(_BUILTIN_AGENT_KEYS))
            if expected is None:
                known = _BUILTIN_AGENT_KEYS if builtin else tuple(_AGENT_KEYS)
                raise AgentsError(f"config file {path}: unknown key {key!r} in [agents.{name}]",
                                  hint=("a built-in agent's table takes: " if builtin else "known keys: ")
                                  + ", ".join(known))
            if not isinstance(value, expected) or (expected is list and not all(isinstance(v, str) for v in value)):
                kind = {list: "list of strings", dict: "table of variables", str: "string"}[expected]
                raise AgentsError(f"config file {path}: [agents.{name}] {key} must be a {kind}",
                                  hint="see docs/configuration.md#agents for an example")
            if isinstance(value, str) and not value.strip() or isinstance(value, list) and not all(
                    item.strip() for item in value):
                raise AgentsError(f"config file {path}: [agents.{name}] {key} is empty"
                                  + (" or has an empty entry" if isinstance(value, list) else ""),
                                  hint="give it a value, or leave the key out for the base agent's")
        if "env" in table:
            env_tables.append((name, parse_env_table(table["env"], f"config file {path}: [agents.{name}] env")))
        if "carry" in table:
            from agents import host_setup

            row = find_agent(name) or find_agent(str(table.get("base", "")))
            if row is not None:
                carry_tables.append((name, host_setup.check_entries(row, tuple(table["carry"]),
                                                                      f"config file {path}: [agents.{name}] carry")))
        if builtin:
            continue
        if "base" not in table:
            raise AgentsError(f"config file {path}: [agents.{name}] needs base = \"<agent>\"",
                              hint="the built-in agent whose image and logins it uses, e.g. base = \"codex\"")
        for key in ("command", "prompt_command"):
            if key in table and not table[key]:
                raise AgentsError(f"config file {path}: [agents.{name}] {key} must not be empty",
                                  hint=f'e.g. {key} = ["codex", "--model", "o3"], or leave it out for the base agent\'s')
        try:
            found.append(custom_agent(
                name, table["base"],
                command=tuple(table["command"]) if "command" in table else None,
                prompt_command=tuple(table["prompt_command"]) if "prompt_command" in table else None,
                title=table.get("title"),
            ))
        except AgentsError as error:
            raise AgentsError(f"config file {path}: {error.message}", hint=error.hint) from error
    return tuple(found), tuple(env_tables), tuple(carry_tables)
