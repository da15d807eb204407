"""The git credential bridge: the container's helper asks, the host's `git credential fill` answers.

Read only (only `get` reaches the host; store and erase never do), only for the exact protocol,
host and port of an allowlisted remote (by default the repository's own http(s) remotes), only for
a well-formed request, and every request is written to the session's audit log without the secret.

An allowlist entry is git's `host[:port]` for https, and `http://host[:port]` for a plain-http
remote (a password the host keeps for https must never be sent in clear).
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
    target = url_target(url)
    return target[1] if target else None


def url_target(url: str) -> tuple[str, str] | None:
    """(protocol, host[:port]) of an http(s) URL, as git's credential protocol names them."""
    if _SCP_LIKE.match(url) or "://" not in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed [ or not a port number: not a URL git could use either
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower() + (f":{port}" if port else "")


def allowlist_entry(protocol: str, host: str) -> str:
    return host if protocol == "https" else f"{protocol}://{host}"


def remote_hosts(repo: Path) -> tuple[str, ...]:
    """The repository's http(s) remotes as allowlist entries: the default credential allowlist."""
    found = git.git(repo, "config", "--get-regexp", r"^remote\..*\.(push)?url$", check=False).stdout
    hosts = []
    for line in found.splitlines():
        _, _, url = line.partition(" ")
        target = url_target(url.strip())
        if target and allowlist_entry(*target) not in hosts:
            hosts.append(allowlist_entry(*target))
    return tuple(hosts)


def normalize_host(rule: str) -> str:
    """Config entries may be URLs or bare hosts (https); both become allowlist entries."""
    target = url_target(rule.strip())
    return allowlist_entry(*target) if target else rule.strip().lower().rstrip("/")


# Attributes git sends a helper (gitcredentials(7)); `[]` ones may repeat, the others may not.
_REQUEST_KEYS = ("protocol", "host", "path", "username", "password", "password_expiry_utc", "oauth_refresh_token",
                 "authtype", "credential", "ephemeral", "continue")
_REQUEST_LISTS = ("capability[]", "wwwauth[]", "state[]")


class Malformed(ValueError):
    """A request git itself would not send: refused before anything reaches the host."""


def parse_request(text: str) -> dict[str, str]:
    """git's `key=value` lines; lists (`key[]`) are dropped. Answers (what the host's helpers
    print) are read with this too: unknown lines there are left out, not refused."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.endswith("[]"):
            fields[key] = value
    return fields


def parse_strict(text: str) -> dict[str, str]:
    """A helper request from the container, as git writes it, or Malformed (naming what is wrong)."""
    fields: dict[str, str] = {}
    body, blank, rest = text.partition("\n\n")
    if blank and rest.strip("\n"):
        raise Malformed("text after the blank line that ends a request")
    for line in body.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise Malformed("a line that is not key=value")
        if "\0" in line or "\r" in line:
            raise Malformed(f"a control character in {key}")
        if key in _REQUEST_LISTS:
            continue
        if key not in _REQUEST_KEYS:
            raise Malformed(f"an attribute git does not send ({key[:40]})")
        if key in fields:
            raise Malformed(f"{key} given twice")
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
    try:
        request = parse_strict(request_text)
    except Malformed as error:
        fields = parse_request(request_text)
        bridges.audit(settings.session, decision="denied", reason=f"malformed request: {error}", kind="git-credential",
                      protocol=fields.get("protocol", "")[:40], host=fields.get("host", "")[:200])
        return ""
    protocol, host = request.get("protocol", ""), request.get("host", "").lower()
    event = {"kind": "git-credential", "protocol": protocol, "host": host}
    if protocol not in ("https", "http") or allowlist_entry(protocol, host) not in settings.credential_hosts:
        bridges.audit(settings.session, decision="denied", reason="host not in the allowlist", **event)
        return ""
    # The host's helpers are asked for exactly the allowlisted protocol and host, nothing more.
    found = fill_fn(settings.repo, {**request, "protocol": protocol, "host": host})
    if not found.get("password"):
        bridges.audit(settings.session, decision="none", reason="the host has no credential for it", **event)
        return ""
    bridges.audit(settings.session, decision="granted", username=found.get("username", ""), **event)
    return format_answer({**found, "protocol": protocol, "host": host})
