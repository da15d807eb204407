"""Model endpoints: which API a session's CLI talks to, and what the proxy must let through.

Users point the CLIs at corporate gateways and local model servers. A session gets:
- the variables of `[agents.NAME] env` (and the host's own endpoint variables, such as
  ANTHROPIC_BASE_URL, when they are set), through the 0600 login file, never `docker run -e`;
- the host's provider settings where the CLI keeps them in a file (Codex's model_provider and
  [model_providers.*] in ~/.codex/config.toml);
- in squid mode, the endpoints' hosts on its allowlist;
- with --allow-host-port PORT, a way to a server on this machine's loopback, by the name
  HOST_ALIAS, for that port only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from agents.catalog import Agent, HostSettings
from agents.errors import AgentsError
from agents.network import HOST_ALIAS
from agents.records import record


@record(frozen=True)
class Endpoints:
    env: tuple[tuple[str, str], ...] = ()  # delivered with the logins (values may be keys)
    settings: tuple[tuple[str, str, dict], ...] = ()  # (container file, format, chosen keys)
    hosts: tuple[str, ...] = ()  # for the allowlist
    host_alias_ports: tuple[int, ...] = ()  # ports of endpoints on this machine (HOST_ALIAS)
    # (host, port) of named endpoints on a port other than 80/443: the proxy lets those through too
    host_ports: tuple[tuple[str, int], ...] = ()

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.env)


def settings_path(item: HostSettings, home: Path, environ: dict[str, str]) -> Path:
    if item.host_moved_by and environ.get(item.host_moved_by[0]):
        return Path(environ[item.host_moved_by[0]]) / item.host_moved_by[1]
    return home / item.host


def read_host_settings(item: HostSettings, home: Path, environ: dict[str, str]) -> dict:
    """The chosen keys of the host's file ({} when there is none)."""
    import json

    path = settings_path(item, home, environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise AgentsError(f"cannot read {path}: {error}", hint="fix the file, or move it aside") from error
    if item.format == "toml":
        import tomllib  # (only for a TOML file: its import is ~8 ms of a start)

        parse = tomllib.loads
    else:
        parse = json.loads
    try:
        data = parse(text)
    except ValueError as error:  # (tomllib's TOMLDecodeError is one too)
        raise AgentsError(f"{path} is not valid {item.format.upper()}: {error}",
                          hint="fix the file, or move it aside") from error
    if not isinstance(data, dict):
        return {}
    return {key: data[key] for key in item.keys if key in data}


def urls_at(data: object, path: tuple[str, ...]) -> list[str]:
    """Strings found under a key path ("*" is any table name)."""
    if not path:
        return [data] if isinstance(data, str) else []
    if not isinstance(data, dict):
        return []
    head, rest = path[0], path[1:]
    values = data.values() if head == "*" else ([data[head]] if head in data else [])
    return [url for value in values for url in urls_at(value, rest)]


def url_host_port(url: str, where: str) -> tuple[str, int]:
    """(host, port) of an endpoint URL; the URL is never echoed whole (it may carry a password)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme, parts.hostname
        port = parts.port
    except ValueError:
        scheme, host, port = "", None, None
    if scheme not in ("http", "https") or not host:
        shown = scheme + "://" + (host or "?") if scheme else "a value without http:// or https://"
        raise AgentsError(f"{where} is not an http(s) URL ({shown})", hint="e.g. https://llm.example.com/v1")
    return host, port or (443 if scheme == "https" else 80)


def url_host(url: str, where: str) -> str:
    return url_host_port(url, where)[0]


def plan(agent: Agent, config_env: dict[str, str], environ: dict[str, str], home: Path) -> Endpoints:
    """What this session's CLI is pointed at; refuses an endpoint that is not a URL."""
    env = {name: environ[name] for name in agent.endpoint_env if environ.get(name)}
    env.update(config_env)
    for name, value in config_env.items():
        if value == "":
            raise AgentsError(f"[agents.{agent.name}] env {name} is empty",
                              hint=f"give it a value, or remove {name} from the table")
    found = [url_host_port(env[name], name) for name in agent.endpoint_env if env.get(name)]
    if found:
        env = {**dict(agent.endpoint_quiet), **env}  # the user may still say otherwise
    settings = []
    for item in agent.host_settings:
        chosen = read_host_settings(item, home, environ)
        if not chosen:
            continue
        settings.append((item.container, item.format, chosen))
        for key_path in item.url_keys:
            found += [url_host_port(url, f"{item.host} {'.'.join(key_path)}") for url in urls_at(chosen, key_path)]
    return Endpoints(env=tuple(env.items()), settings=tuple(settings),
                     hosts=tuple(dict.fromkeys(host for host, _ in found)),
                     host_alias_ports=tuple(sorted({port for host, port in found if host == HOST_ALIAS})),
                     host_ports=tuple(sorted({(host, port) for host, port in found
                                              if host != HOST_ALIAS and port not in (80, 443)})))


def uses_host_alias(endpoints: Endpoints) -> bool:
    return HOST_ALIAS in endpoints.hosts
