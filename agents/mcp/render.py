"""Each agent CLI's own MCP config file, in its own spelling, from the selected servers. The
agent row's `mcp_format` (agents/catalog.py) picks a row of FORMATS."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from agents.errors import AgentsError
from agents.mcp.servers import Selection, Server
from agents.records import record

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from typing import Any

RELAY = ("ca-stub", "mcp-relay")


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


@record(frozen=True)
class Format:
    container: str  # the file, relative to the agent's home
    format: str  # json | toml
    key: str  # the part of the file that is ours
    content: Callable[[tuple[Server, ...]], str]


# Agent.mcp_format -> how that CLI reads its MCP servers.
FORMATS: dict[str, Format] = {
    "copilot-json": Format(".copilot/mcp-config.json", "json", "mcpServers",
                           lambda servers: json.dumps(render_copilot(servers))),
    "claude-json": Format(".claude/.claude.json", "json", "mcpServers",
                          lambda servers: json.dumps(render_claude(servers))),
    "gemini-json": Format(".gemini/settings.json", "json", "mcpServers",
                          lambda servers: json.dumps(render_gemini(servers))),
    "codex-toml": Format(".codex/config.toml", "toml", "mcp_servers", render_codex),
}


@record(frozen=True)
class Rendered:
    container: str  # relative to the agent's home
    format: str  # json | toml
    content: str  # JSON object text (its top-level keys replace the file's) or TOML tables
    key: str  # the part of the file that is ours: mcpServers / mcp_servers


def render(mcp_format: str | None, servers: tuple[Server, ...]) -> Rendered | None:
    if mcp_format is None:
        return None
    found = FORMATS.get(mcp_format)
    if found is None:
        raise AgentsError(f"no MCP renderer for {mcp_format!r}", hint="this is a bug: please report it")
    return Rendered(found.container, found.format, found.content(servers), found.key)


def rendered_digest(rendered: Rendered, file_text: str) -> str:
    """The hash of our part of a config file, as the CLI may rewrite the rest of it."""
    import tomllib

    if rendered.format == "json":
        data = json.loads(file_text)
    else:
        data = tomllib.loads(file_text)
    part = data.get(rendered.key, {}) if isinstance(data, dict) else {}
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


@record(frozen=True)
class McpPlan:
    servers: tuple[Server, ...] = ()
    rendered: Rendered | None = None
    domains: tuple[str, ...] = ()  # hosts the session's allowlist gains for these servers

    @property
    def sidecar_servers(self) -> tuple[Server, ...]:
        return tuple(server for server in self.servers if server.needs_sidecar)


def plan(mcp_format: str | None, selection: Selection) -> McpPlan:
    """The selected servers, rendered for the agent's CLI, with the hosts they may reach."""
    servers = selection.servers
    return McpPlan(servers, render(mcp_format, servers) if servers else None, selection.domains)
