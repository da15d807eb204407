"""MCP servers as data: where they come from, which secrets they use, and the one rule that
decides which of them a session of a repository gets. No I/O here except reading config files.

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
from pathlib import Path
from urllib.parse import urlsplit

from agents import records
from agents.errors import AgentsError
from agents.records import record

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from typing import Any

    from agents.config import Config

SECRET_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
REPO_CONFIG = Path(".coding-agents") / "config.toml"
SOURCES = ("catalog", "user", "repo")


@record(frozen=True)
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


# --- parsing [mcp_servers.NAME] and [mcp] enable ----------------------------------------------

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


# --- the repository's own config (untrusted) --------------------------------------------------


@record(frozen=True)
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


# --- the selection: which servers a session of this repository gets, and why not the others ---

# A session gets a server with one of these statuses; NOT_APPROVED and REFUSED make a launch refuse.
SELECTED = ("trusted", "approved", "no secrets")
NOT_APPROVED = "NOT APPROVED"
REFUSED = "REFUSED"
UNKNOWN = "UNKNOWN"


@record(frozen=True)
class Choice:
    """One server a session of the repository could get, and whether it does."""
    name: str
    source: str  # catalog | user | repo (a catalog server only the repository enables is "repo")
    status: str  # one of SELECTED, NOT_APPROVED, REFUSED or UNKNOWN
    server: Server | None = None  # None: UNKNOWN (not in the catalog)
    trusted: bool = False  # its hosts may join the allowlist: yours, or a repository's you approved
    reason: str = ""  # why a session does not get it
    hint: str = ""  # the way out, for REFUSED

    @property
    def selected(self) -> bool:
        return self.status in SELECTED


@record(frozen=True)
class Selection:
    choices: tuple[Choice, ...] = ()

    @property
    def servers(self) -> tuple[Server, ...]:
        """What a session gets, in the order its agent's config lists them."""
        return tuple(choice.server for choice in self.choices if choice.selected and choice.server is not None)

    @property
    def unapproved(self) -> tuple[Server, ...]:
        """A repository's servers that want a secret with a definition you did not approve."""
        return tuple(choice.server for choice in self.choices
                     if choice.status == NOT_APPROVED and choice.server is not None)

    @property
    def domains(self) -> tuple[str, ...]:
        """The hosts the session's allowlist gains (never for a repository's unapproved server)."""
        found: list[str] = []
        for choice in self.choices:
            server = choice.server
            if not choice.selected or not choice.trusted or server is None:
                continue
            wanted = list(server.domains)
            if server.url and server.source != "catalog":
                wanted.append(urlsplit(server.url).hostname or "")
            found += [domain for domain in wanted if domain and domain not in found]
        return tuple(found)

    def refusal(self, repo: Path) -> AgentsError | None:
        """Why a launch in repo refuses: the first server the repository may not have, else the
        first one that needs your approval."""
        for choice in self.choices:
            if choice.status == REFUSED:
                return AgentsError(choice.reason, hint=choice.hint)
        return unapproved_error(self.unapproved[0], repo) if self.unapproved else None


def _repo_choice(server: Server, approvals: dict[str, str]) -> Choice:
    approved = approvals.get(server.name) == server.digest
    if server.secrets and not approved:
        secrets = ", ".join(server.secrets)
        reason = (f"its definition changed since you approved it (it uses {secrets})" if server.name in approvals
                  else f"it uses {secrets}, and you have not approved its definition")
        return Choice(server.name, "repo", NOT_APPROVED, server, reason=reason)
    return Choice(server.name, "repo", "approved" if server.secrets else "no secrets", server, trusted=approved)


def select(config: Config, repo_config: RepoConfig | None, approvals: dict[str, str]) -> Selection:
    """Every server a session of the repository could get: enabled catalog entries, yours, then
    the repository's, each with its status. Launch and `mcp list` both read this.

    A repository cannot replace a server of yours or a catalog one (REFUSED), and its servers
    that use a secret are NOT APPROVED unless `approvals` pins their exact definition
    (name -> digest).
    """
    choices: list[Choice] = []
    taken: dict[str, int] = {}  # name -> its index in choices; one server per name in a session

    def take(choice: Choice) -> None:
        if choice.name in taken:
            choices[taken[choice.name]] = choice  # yours replaces the catalog entry of that name, in its place
        else:
            taken[choice.name] = len(choices)
            choices.append(choice)

    def unknown(name: str, source: str) -> Choice:
        return Choice(name, source, UNKNOWN, reason="it is not in the catalog (catalog: "
                      + ", ".join(server.name for server in CATALOG) + ")")

    for name in config.mcp.enable:
        found = catalog_server(name)
        take(Choice(name, "catalog", "trusted", found, trusted=True) if found else unknown(name, "catalog"))
    for server in config.mcp_servers:
        take(Choice(server.name, "user", "trusted", server, trusted=True))
    repo_enable = repo_config.enable if repo_config else ()
    repo_servers = repo_config.servers if repo_config else ()
    # A catalog server the repository (not you) enables is the repository's choice: the same
    # approval rule applies when it would use one of your secrets.
    for name in repo_enable:
        found = catalog_server(name)
        if found is None:
            choices.append(unknown(name, "repo"))
        elif name not in taken:
            take(_repo_choice(records.replace(found, source="repo"), approvals))
    for server in repo_servers:
        if catalog_server(server.name) is not None:
            choices.append(Choice(server.name, "repo", REFUSED, server,
                                  reason=f"the repository's config redefines the catalog server {server.name!r}",
                                  hint="a repository may enable catalog servers, not redefine them"))
        elif server.name in taken:
            choices.append(Choice(server.name, "repo", REFUSED, server,
                                  reason=f"the repository's config defines MCP server {server.name!r}, "
                                  "which you define too",
                                  hint="a repository cannot replace your servers; rename it there"))
        else:
            take(_repo_choice(server, approvals))
    return Selection(tuple(choices))


def for_repo(repo: Path, config: Config) -> Selection:
    """Read the repository's config and your approvals for it, then select."""
    from agents.mcp import approvals

    repo_config = load_repo_config(repo)
    return select(config, repo_config, approvals.load(repo) if repo_config else {})


def unapproved_error(server: Server, repo: Path) -> AgentsError:
    names = ", ".join(server.secrets)
    return AgentsError(
        f"the repository's config gives MCP server {server.name!r} the secret(s) {names}, and you have not "
        "approved that definition",
        hint=f"review it with `coding-agents mcp show {server.name} {repo}`, then "
        f"`coding-agents mcp approve {server.name} {repo}` (or remove it from {REPO_CONFIG})",
    )
