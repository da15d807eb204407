"""The git credential bridge: the container's helper asks, the host's `git credential fill` answers.

Read only (only `get` reaches the host; store and erase never do), only for allowlisted hosts
(by default the repository's own https remotes), and every request is written to the session's
audit log without the secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from agents import bridges, git, runner

# What a helper may hand back; anything else the host's helpers print stays on the host.
_ANSWER_KEYS = ("protocol", "host", "path", "username", "password", "password_expiry_utc")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


def url_host(url: str) -> str | None:
    """'https://user@github.com:8443/x.git' -> 'github.com:8443' (git credential's `host`)."""
    if _SCP_LIKE.match(url) or "://" not in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed [ or not a port number: not a URL git could use either
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return parts.hostname.lower() + (f":{port}" if port else "")


def remote_hosts(repo: Path) -> tuple[str, ...]:
    """The hosts of the repository's http(s) remotes: the default credential allowlist."""
    found = git.git(repo, "config", "--get-regexp", r"^remote\..*\.(push)?url$", check=False).stdout
    hosts = []
    for line in found.splitlines():
        _, _, url = line.partition(" ")
        host = url_host(url.strip())
        if host and host not in hosts:
            hosts.append(host)
    return tuple(hosts)


def normalize_host(rule: str) -> str:
    """Config entries may be URLs or bare hosts; both become git's `host[:port]`."""
    return url_host(rule) or rule.strip().lower().rstrip("/")


def parse_request(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.endswith("[]"):
            fields[key] = value
    return fields


def format_answer(fields: dict[str, str]) -> str:
    return "".join(f"{key}={fields[key]}\n" for key in _ANSWER_KEYS if key in fields and "\n" not in fields[key])


def fill(repo: str, request: dict[str, str]) -> dict[str, str]:
    """Ask the host's own helpers, never a terminal or a GUI prompt (nobody is there to answer)."""
    query = "".join(f"{key}={value}\n" for key, value in request.items() if key in ("protocol", "host", "path", "username"))
    env = git.git_env({"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"})
    for variable in ("GIT_ASKPASS", "SSH_ASKPASS"):
        env.pop(variable, None)
    cwd = repo if Path(repo).is_dir() else None
    done = runner.run(["git", "-c", "core.askPass=", "credential", "fill"], input=query + "\n", env=env, cwd=cwd,
                      check=False, timeout=60)
    return parse_request(done.stdout) if done.ok else {}


def answer(settings: bridges.BridgeSettings, request_text: str, fill_fn=fill) -> str:
    request = parse_request(request_text)
    protocol, host = request.get("protocol", ""), request.get("host", "").lower()
    event = {"kind": "git-credential", "protocol": protocol, "host": host}
    if protocol not in ("https", "http") or host not in settings.credential_hosts:
        bridges.audit(settings.session, decision="denied", reason="host not in the allowlist", **event)
        return ""
    found = fill_fn(settings.repo, request)
    if not found.get("password"):
        bridges.audit(settings.session, decision="none", reason="the host has no credential for it", **event)
        return ""
    bridges.audit(settings.session, decision="granted", username=found.get("username", ""), **event)
    return format_answer({**found, "protocol": protocol, "host": host})
