"""MCP servers as data: where they come from, which secrets they use, where they run, and how
each agent CLI's own config file spells them. No I/O here except reading config files.

Sources, by trust: the built-in catalog and the user's config (trusted) and the repository's
`.coding-agents/config.toml` (untrusted: its servers may not use a secret until the user
approves that exact definition, pinned to its hash). A server whose command, args, env or
headers mention `${NAME}` needs broker secrets and runs in the session's MCP sidecar; in the
agent's config it becomes `ca-stub mcp-relay NAME`. Other servers run in the agent container.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agents.errors import AgentsError

SECRET_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
RELAY = ("ca-stub", "mcp-relay")
REPO_CONFIG = Path(".coding-agents") / "config.toml"
SOURCES = ("catalog", "user", "repo")


@dataclass(frozen=True)
class Server:
    name: str
    command: tuple[str, ...] = ()  # a local stdio server: command[0] is the program
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None  # or a remote (streamable HTTP) server
    headers: tuple[tuple[str, str], ...] = ()
    source: str = "user"  # catalog | user | repo
    domains: tuple[str, ...] = ()  # hosts it needs in squid mode (catalog entries say)

    @property
    def secrets(self) -> tuple[str, ...]:
        return definition_secrets(self.definition())

    @property
    def needs_sidecar(self) -> bool:
        return bool(self.secrets)

    @property
    def remote(self) -> bool:
        return self.url is not None

    def definition(self) -> dict[str, Any]:
        """What an approval pins: everything that decides where a secret could go."""
        return {"name": self.name, "command": list(self.command), "args": list(self.args), "env": dict(self.env),
                "cwd": self.cwd, "url": self.url, "headers": dict(self.headers)}

    @property
    def digest(self) -> str:
        return definition_digest(self.definition())


# The common servers: `[mcp] enable = ["github", "context7"]` is all a user writes.
CATALOG: tuple[Server, ...] = (
    Server("github", url="https://api.githubcopilot.com/mcp/",
           headers=(("Authorization", "Bearer ${GITHUB_TOKEN}"),), source="catalog",
           domains=("api.githubcopilot.com",)),
    Server("microsoft-docs", url="https://learn.microsoft.com/api/mcp", source="catalog",
           domains=("learn.microsoft.com",)),
    Server("context7", command=("context7-mcp",), source="catalog", domains=("context7.com", ".context7.com")),
    Server("playwright", command=("mcp-server-playwright",), args=("--headless", "--isolated"), source="catalog"),
    Server("serena", command=("uvx",), args=("--from", "git+https://github.com/oraios/serena", "serena",
                                             "start-mcp-server", "--context", "ide-assistant", "--project",
                                             "/workspace"),
           source="catalog", domains=("github.com", ".githubusercontent.com", "pypi.org", "files.pythonhosted.org")),
)


def catalog_server(name: str) -> Server | None:
    return next((server for server in CATALOG if server.name == name), None)


_EXAMPLE_HINT = ('e.g. [mcp_servers.docs] then command = "docs-mcp" and args = ["--stdio"], or url = '
                 '"https://mcp.example.com/mcp"; see docs/mcp-setup.md')
_KEYS: dict[str, type] = {"command": str, "args": list, "env": dict, "cwd": str, "url": str, "headers": dict}


def parse_server(name: str, table: object, source: str, where: str) -> Server:
    """One [mcp_servers.NAME] table (command+args+env+cwd, or url+headers)."""
    if not SERVER_NAME.fullmatch(name):
        raise AgentsError(f"{where}: MCP server name {name!r} is not valid",
                          hint="use lowercase letters, digits, '-' and '_'")
    if not isinstance(table, dict):
        raise AgentsError(f"{where}: [mcp_servers.{name}] must be a table", hint=_EXAMPLE_HINT)
    for key, value in table.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise AgentsError(f"{where}: unknown key {key!r} in [mcp_servers.{name}]", hint="known keys: " + ", ".join(_KEYS))
        if not isinstance(value, expected):
            kind = {str: "string", list: "list of strings", dict: "table of strings"}[expected]
            raise AgentsError(f"{where}: [mcp_servers.{name}] {key} must be a {kind}", hint=_EXAMPLE_HINT)
        if expected is list and not all(isinstance(item, str) for item in value):
            raise AgentsError(f"{where}: [mcp_servers.{name}] {key} must be a list of strings", hint=_EXAMPLE_HINT)
        if expected is dict and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise AgentsError(f"{where}: [mcp_servers.{name}] {key} must map names to strings", hint=_EXAMPLE_HINT)
    has_command, has_url = "command" in table, "url" in table
    if has_command == has_url:
        raise AgentsError(f"{where}: [mcp_servers.{name}] needs either command (a local server) or url (a remote one)",
                          hint=_EXAMPLE_HINT)
    if has_url:
        if any(key in table for key in ("args", "env", "cwd")):
            raise AgentsError(f"{where}: [mcp_servers.{name}] has a url, so args, env and cwd do not apply",
                              hint="a remote server takes url and headers only; drop args, env and cwd")
        try:
            parts = urlsplit(table["url"])
        except ValueError:  # e.g. an unclosed [ of an IPv6 address
            parts = urlsplit("")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise AgentsError(f"{where}: [mcp_servers.{name}] url must be an http(s) URL",
                              hint='e.g. url = "https://mcp.example.com/mcp"')
    elif "headers" in table:
        raise AgentsError(f"{where}: [mcp_servers.{name}] headers only apply to a url server",
                          hint="a local server gets its secrets through env instead")
    if "cwd" in table and not table["cwd"].strip():
        raise AgentsError(f"{where}: [mcp_servers.{name}] cwd is empty",
                          hint="give a folder, or leave cwd out for the server's default")
    if has_command and not table["command"].strip():
        raise AgentsError(f"{where}: [mcp_servers.{name}] command is empty", hint=_EXAMPLE_HINT)
    return Server(
        name=name,
        command=(table["command"],) if has_command else (),
        args=tuple(table.get("args", ())),
        env=tuple(sorted(table.get("env", {}).items())),
        cwd=table.get("cwd"),
        url=table.get("url"),
        headers=tuple(sorted(table.get("headers", {}).items())),
        source=source,
    )


def parse_servers(tables: object, source: str, where: str) -> tuple[Server, ...]:
    if not isinstance(tables, dict):
        raise AgentsError(f"{where}: mcp_servers must be tables ([mcp_servers.NAME])", hint=_EXAMPLE_HINT)
    return tuple(parse_server(name, table, source, where) for name, table in tables.items())


def parse_enable(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AgentsError(f"{where}: [mcp] enable must be a list of catalog server names",
                          hint="e.g. enable = [\"github\", \"context7\"]; catalog: "
                          + ", ".join(server.name for server in CATALOG))
    for name in value:
        if catalog_server(name) is None:
            raise AgentsError(f"{where}: [mcp] enable names {name!r}, which is not in the catalog",
                              hint="catalog: " + ", ".join(server.name for server in CATALOG))
    return tuple(value)


@dataclass(frozen=True)
class RepoConfig:
    path: Path
    digest: str
    servers: tuple[Server, ...] = ()
    enable: tuple[str, ...] = ()


def load_repo_config(repo: Path) -> RepoConfig | None:
    """The repository's own file: only [mcp_servers.*] and [mcp] enable, and never trusted."""
    import tomllib

    path = repo / REPO_CONFIG
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AgentsError(f"cannot read the repository config {path}: {error.strerror}",
                          hint="it must be a readable file, or absent") from error
    where = f"repository config {path}"
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AgentsError(f"{where} is not valid TOML: {error}", hint="fix it, or launch from another branch") from error
    extra = set(data) - {"mcp_servers", "mcp"}
    if extra:
        raise AgentsError(f"{where}: [{sorted(extra)[0]}] is not allowed in a repository's config",
                          hint="a repository may only add [mcp_servers.NAME] and [mcp] enable; the rest is yours "
                          "to set in ~/.config/coding-agents/config.toml")
    mcp_table = data.get("mcp", {})
    if not isinstance(mcp_table, dict) or set(mcp_table) - {"enable"}:
        raise AgentsError(f"{where}: [mcp] may only hold enable in a repository's config",
                          hint="other [mcp] settings are yours to set in ~/.config/coding-agents/config.toml")
    return RepoConfig(
        path=path,
        digest=hashlib.sha256(raw).hexdigest(),
        servers=parse_servers(data.get("mcp_servers", {}), "repo", where),
        enable=parse_enable(mcp_table["enable"], where) if "enable" in mcp_table else (),
    )


@dataclass(frozen=True)
class Selection:
    servers: tuple[Server, ...]
    unapproved: tuple[Server, ...] = field(default=())  # repo servers that want secrets, not approved


def select_servers(user_servers: tuple[Server, ...], user_enable: tuple[str, ...], repo: RepoConfig | None,
                   approvals: dict[str, str]) -> Selection:
    """The session's servers: enabled catalog entries, the user's, then the repository's.

    A repository cannot replace a server of yours (same name), and its servers that use a
    secret are refused unless `approvals` pins their exact definition (name -> digest).
    """
    import dataclasses

    chosen: dict[str, Server] = {}
    for name in user_enable:
        found = catalog_server(name)
        if found is not None:
            chosen[name] = found
    for server in user_servers:
        chosen[server.name] = server
    unapproved = []
    # A catalog server the repository (not you) enables is the repository's choice: the same
    # approval rule applies when it would use one of your secrets.
    for name in repo.enable if repo else ():
        found = catalog_server(name)
        if found is None or name in chosen:
            continue
        found = dataclasses.replace(found, source="repo")
        if found.secrets and approvals.get(name) != found.digest:
            unapproved.append(found)
        else:
            chosen[name] = found
    for server in repo.servers if repo else ():
        if catalog_server(server.name) is not None:
            raise AgentsError(f"the repository's config redefines the catalog server {server.name!r}",
                              hint="a repository may enable catalog servers, not redefine them")
        if server.name in chosen:
            raise AgentsError(f"the repository's config defines MCP server {server.name!r}, which you define too",
                              hint="a repository cannot replace your servers; rename it there")
        if server.secrets and approvals.get(server.name) != server.digest:
            unapproved.append(server)
            continue
        chosen[server.name] = server
    return Selection(tuple(chosen.values()), tuple(unapproved))


# --- approvals (the user's trust in one exact repository server definition) -------------------


def approvals_path() -> Path:
    from agents.config import config_dir

    return config_dir() / "mcp-approvals.json"


def load_approvals(repo: Path) -> dict[str, str]:
    try:
        data = json.loads(approvals_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise AgentsError(f"cannot read {approvals_path()}: {error}", hint="fix or remove it") from error
    found = data.get(str(repo), {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def save_approval(repo: Path, name: str, digest: str | None) -> None:
    """Record (digest) or revoke (None) an approval."""

    path = approvals_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as error:
        raise AgentsError(f"cannot read {path}: {error}", hint="fix or remove it") from error
    if not isinstance(data, dict) or not isinstance(data.get(str(repo), {}), dict):
        raise AgentsError(f"{path} is damaged", hint="fix or remove it (approvals are then asked again)")
    entries = data.setdefault(str(repo), {})
    if digest is None:
        entries.pop(name, None)
    else:
        entries[name] = digest
    if not entries:
        data.pop(str(repo), None)
    from agents import files

    files.write_private(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


# --- rendering: each CLI's own file, own spelling ---------------------------------------------


def agent_side(server: Server) -> dict[str, Any]:
    """The server as the agent container runs it: itself, or a relay to the sidecar."""
    if server.needs_sidecar:
        return {"command": RELAY[0], "args": [*RELAY[1:], server.name], "env": {}, "cwd": None, "url": None,
                "headers": {}}
    if server.remote:
        return {"command": None, "args": [], "env": {}, "cwd": None, "url": server.url, "headers": dict(server.headers)}
    return {"command": server.command[0], "args": [*server.command[1:], *server.args], "env": dict(server.env),
            "cwd": server.cwd, "url": None, "headers": {}}


def render_copilot(servers: tuple[Server, ...]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for server in servers:
        side = agent_side(server)
        if side["url"]:
            entries[server.name] = {"type": "http", "url": side["url"], "headers": side["headers"], "tools": ["*"]}
        else:
            entry = {"type": "local", "command": side["command"], "args": side["args"], "env": side["env"],
                     "tools": ["*"]}
            if side["cwd"]:
                entry["cwd"] = side["cwd"]
            entries[server.name] = entry
    return {"mcpServers": entries}


def render_claude(servers: tuple[Server, ...]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for server in servers:
        side = agent_side(server)
        if side["url"]:
            entries[server.name] = {"type": "http", "url": side["url"], "headers": side["headers"]}
        else:
            entries[server.name] = {"type": "stdio", "command": side["command"], "args": side["args"],
                                    "env": side["env"]}
    return {"mcpServers": entries}


def render_gemini(servers: tuple[Server, ...]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for server in servers:
        side = agent_side(server)
        if side["url"]:
            entries[server.name] = {"httpUrl": side["url"], "headers": side["headers"]}
        else:
            entry = {"command": side["command"], "args": side["args"], "env": side["env"]}
            if side["cwd"]:
                entry["cwd"] = side["cwd"]
            entries[server.name] = entry
    return {"mcpServers": entries}


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def _toml_key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _toml_string(text)


def _toml_inline(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_string(v)}" for k, v in mapping.items()) + "}"


def render_codex(servers: tuple[Server, ...]) -> str:
    lines: list[str] = []
    for server in servers:
        side = agent_side(server)
        lines.append(f"[mcp_servers.{_toml_key(server.name)}]")
        if side["url"]:
            lines.append(f"url = {_toml_string(side['url'])}")
            if side["headers"]:
                lines.append(f"http_headers = {_toml_inline(side['headers'])}")
        else:
            lines.append(f"command = {_toml_string(side['command'])}")
            lines.append("args = [" + ", ".join(_toml_string(arg) for arg in side["args"]) + "]")
            if side["env"]:
                lines.append(f"env = {_toml_inline(side['env'])}")
            if side["cwd"]:
                lines.append(f"cwd = {_toml_string(side['cwd'])}")
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class Rendered:
    container: str  # relative to the agent's home
    format: str  # json | toml
    content: str  # JSON object text (its top-level keys replace the file's) or TOML tables
    key: str  # the part of the file that is ours: mcpServers / mcp_servers


def render(mcp_format: str | None, servers: tuple[Server, ...]) -> Rendered | None:
    if mcp_format is None:
        return None
    if mcp_format == "copilot-json":
        return Rendered(".copilot/mcp-config.json", "json", json.dumps(render_copilot(servers)), "mcpServers")
    if mcp_format == "claude-json":
        return Rendered(".claude/.claude.json", "json", json.dumps(render_claude(servers)), "mcpServers")
    if mcp_format == "gemini-json":
        return Rendered(".gemini/settings.json", "json", json.dumps(render_gemini(servers)), "mcpServers")
    if mcp_format == "codex-toml":
        return Rendered(".codex/config.toml", "toml", render_codex(servers), "mcp_servers")
    raise AgentsError(f"no MCP renderer for {mcp_format!r}", hint="this is a bug: please report it")


def rendered_digest(rendered: Rendered, file_text: str) -> str:
    """The hash of our part of a config file, as the CLI may rewrite the rest of it."""
    import tomllib

    if rendered.format == "json":
        data = json.loads(file_text)
    else:
        data = tomllib.loads(file_text)
    part = data.get(rendered.key, {}) if isinstance(data, dict) else {}
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


def definition_secrets(definition: dict[str, Any]) -> tuple[str, ...]:
    texts = [*(definition.get("command") or []), *(definition.get("args") or []),
             *(definition.get("env") or {}).values(), *(definition.get("headers") or {}).values(),
             definition.get("url") or ""]
    found: list[str] = []
    for text in texts:
        for name in SECRET_REFERENCE.findall(str(text)):
            if name not in found:
                found.append(name)
    return tuple(found)


def definition_digest(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def sidecar_spec(servers: tuple[Server, ...]) -> dict[str, Any]:
    """What the sidecar serves (the definitions with ${NAME} still in them; values come later)."""
    return {server.name: server.definition() for server in servers if server.needs_sidecar}


@dataclass(frozen=True)
class McpPlan:
    servers: tuple[Server, ...] = ()
    rendered: Rendered | None = None
    domains: tuple[str, ...] = ()  # hosts the session's allowlist gains for these servers

    @property
    def sidecar_servers(self) -> tuple[Server, ...]:
        return tuple(server for server in self.servers if server.needs_sidecar)


def plan(mcp_format: str | None, selection: Selection, approvals: dict[str, str]) -> McpPlan:
    """Render the selection; collect the hosts it may reach (never a repository's unapproved ones)."""
    domains: list[str] = []
    for server in selection.servers:
        trusted = server.source != "repo" or approvals.get(server.name) == server.digest
        if not trusted:
            continue
        wanted = list(server.domains)
        if server.url and server.source != "catalog":
            wanted.append(urlsplit(server.url).hostname or "")
        domains += [domain for domain in wanted if domain and domain not in domains]
    rendered = render(mcp_format, selection.servers) if selection.servers else None
    return McpPlan(selection.servers, rendered, tuple(domains))


def unapproved_error(server: Server, repo: Path) -> AgentsError:
    names = ", ".join(server.secrets)
    return AgentsError(
        f"the repository's config gives MCP server {server.name!r} the secret(s) {names}, and you have not "
        "approved that definition",
        hint=f"review it with `coding-agents mcp show {server.name} {repo}`, then "
        f"`coding-agents mcp approve {server.name} {repo}` (or remove it from {REPO_CONFIG})",
    )


def manifest_digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
