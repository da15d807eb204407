"""Host-side bridges of one session: Unix sockets on this machine, served by socat, reached from
the container through the relay (agents/relay.py), never through a mounted host path.

Each socket is `socat UNIX-LISTEN:...,fork EXEC:<coding-agents _bridge-handle KIND NAME>`: every
connection gets a fresh handler process that reads one request and answers it. The handlers
(logins.py, credentials.py, signing.py) decide from the session's settings file, which lives on
the host only. Inside, the relay listens on the same socket names at /run/coding-agents and
carries each connection here over a `docker exec -i` stream.

  logins.sock          refreshed login files come back to the host (always, when the agent has logins)
  git-credential.sock  `git credential fill` on the host, for allowlisted hosts only
  sign.sock            the host's gpg / ssh-keygen signs commits; the key stays on the host
  ssh-agent.sock       relay to the host's ssh-agent (--ssh-agent only)

and, for --allow-host-port PORT, a TCP relay from the session's egress gateway (which only its
proxy can reach) to this machine's 127.0.0.1:PORT.

The `_bridge NAME` helper (serve) runs the listeners and keeps the session's relay links up (the
agent container's, and the MCP sidecar's to the broker) while the session exists.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from agents import files, paths, records, relay
from agents.errors import AgentsError
from agents.records import asdict, record
from agents.session import naming

CONTAINER_DIR = "/run/coding-agents"
# How long socat waits for a handler's answer once the container's side has sent its request and
# half-closed. socat's own default (0.5 s) ends the connection, and kills the handler, before a
# handler started on a busy machine has answered: ten zipapp handlers starting at once on two cores
# take over a second each. Longer than the stub waits for an answer (60 s, bridge_call in
# stub/ca_stub/bridges.py), so the stub's timeout is what ends a request that is too slow, and the stub sends
# it again. socat still ends a connection as soon as its handler exits.
ANSWER_TIMEOUT = 90
# socat splits its address on these; a path holding one cannot be passed to it safely.
_SOCAT_UNSAFE = set(" ,:!\"'\\\t\n")


@record(frozen=True)
class Signing:
    format: str  # openpgp | ssh
    key: str  # the host's user.signingkey (an id, a public key path, or "key::<public key>")
    public_key: str = ""  # ssh only: the public key text, for the container's user.signingkey


@record(frozen=True)
class BridgeSettings:
    session: str
    agent: str
    repo: str
    # (container path, host path) of each login file whose refreshes come back to the host
    login_files: tuple[tuple[str, str], ...] = ()
    credential_hosts: tuple[str, ...] = ()
    signing: Signing | None = None
    ssh_agent: str | None = None  # the host's SSH_AUTH_SOCK
    save_new_logins: bool = True
    host_logins: bool = True  # deliver the host's logins (not only first-run answers)
    # MCP: the agent's rendered config, the sidecar's servers (with ${NAME}, no values), the manifest
    mcp_rendered: dict | None = None
    mcp_sidecar: dict | None = None
    mcp_hours: int = 24
    manifest: dict | None = None
    # --allow-host-port: relays from the egress gateway (known once the proxy's networks exist)
    # to this machine's 127.0.0.1:port
    host_ports: tuple[int, ...] = ()
    host_gateway: str = ""
    # The entries of your setup carried in at each start (agents/host_setup.py); None: --no-host-setup
    host_setup: tuple[str, ...] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> BridgeSettings:
        data = json.loads(text)
        signing = Signing(**data.pop("signing")) if data.get("signing") else None
        data.pop("signing", None)
        data["credential_hosts"] = tuple(data.get("credential_hosts") or ())
        data["login_files"] = tuple(tuple(pair) for pair in data.get("login_files") or ())
        data["host_ports"] = tuple(int(port) for port in data.get("host_ports") or ())
        if data.get("host_setup") is not None:
            data["host_setup"] = tuple(data["host_setup"])
        known = set(records.field_names(cls))
        data = {key: value for key, value in data.items() if key in known}
        return cls(signing=signing, **data)

    @property
    def enabled(self) -> bool:
        return bool(self.login_files or self.credential_hosts or self.signing or self.ssh_agent or self.host_ports)


@record(frozen=True)
class Listener:
    socket: str
    handler: str | None = None  # a kind for `_bridge-handle`
    relay_to: str | None = None  # or a host socket to relay to


def listeners(settings: BridgeSettings) -> list[Listener]:
    found = []
    if settings.login_files:
        found.append(Listener("logins.sock", handler="logins"))
    if settings.credential_hosts:
        found.append(Listener("git-credential.sock", handler="git-credential"))
    if settings.signing:
        found.append(Listener("sign.sock", handler="sign"))
    if settings.ssh_agent:
        found.append(Listener("ssh-agent.sock", relay_to=settings.ssh_agent))
    return found


def session_dir(name: str) -> Path:
    return paths.bridges_dir() / name


# Unix socket paths hold at most 107 bytes, so the sockets live under a short runtime folder.
MAX_SOCKET_PATH = 107
_LONGEST_SOCKET = "git-credential.sock"


def sockets_dir(name: str) -> Path:
    import hashlib

    return paths.runtime_dir() / hashlib.sha256(name.encode()).hexdigest()[:16]


def audit_log(name: str) -> Path:
    """Every credential, signing and login decision of a session (JSON lines; outlives it)."""
    return paths.bridges_dir() / f"{name}.log"


# Only this user's processes (the relay among them) connect: no container ever sees these sockets.
SOCKET_DIR_MODE = 0o700
SOCKET_MODE = "0600"


def socat_argv(listener: Listener, directory: Path, handler_prefix: list[str], session: str) -> list[str]:
    path = directory / listener.socket
    listen = f"UNIX-LISTEN:{path},fork,unlink-early,mode={SOCKET_MODE}"
    if listener.relay_to:
        check_socat_safe(listener.relay_to)
        target = f"UNIX-CONNECT:{listener.relay_to}"
    else:
        check_socat_safe(*handler_prefix)
        # EXEC splits on spaces; every part was checked to hold none.
        target = "EXEC:" + " ".join([*handler_prefix, "_bridge-handle", str(listener.handler), session])
    check_socat_safe(str(path))
    return ["socat", "-t", str(ANSWER_TIMEOUT), listen, target]


def host_relay_argv(address: str, port: int) -> list[str]:
    """This machine's 127.0.0.1:port, offered on the session's egress gateway, where only the
    session's proxy can reach it. When a server already listens on every address, the bind
    fails and the proxy reaches that server directly: the same port, nothing more."""
    import ipaddress

    ipaddress.IPv4Address(address)  # never a name or anything socat could read as options
    return ["socat", f"TCP-LISTEN:{int(port)},bind={address},fork,reuseaddr", f"TCP:127.0.0.1:{int(port)}"]


def check_socat_safe(*parts: str) -> None:
    for part in parts:
        bad = _SOCAT_UNSAFE & set(part)
        if bad:
            raise AgentsError(
                f"cannot serve a session bridge from {part!r}: socat cannot take {''.join(sorted(bad))!r} in a path",
                hint="use paths without spaces, commas or colons (the sockets follow XDG_RUNTIME_DIR)",
            )


def unavailable_reason(need_socat: bool = True) -> str | None:
    """Why bridges cannot run here (None when they can). Any engine will do: the relay carries them."""
    from agents import runner

    if need_socat and runner.which("socat") is None:
        return "socat is not installed on this machine (apt-get install socat)"
    return None


def container_args(settings: BridgeSettings) -> list[str]:
    """`docker run` flags: the relay's socket folder (a tmpfs: every session's link carries its
    health reports, relay.REPORT_SOCKET) and the git config that uses the bridges."""
    args = relay.tmpfs_args(CONTAINER_DIR)
    if not settings.enabled:
        return args
    args += ["--env", f"CODING_AGENTS_BRIDGE_DIR={CONTAINER_DIR}"]
    if settings.ssh_agent:
        args += ["--env", f"SSH_AUTH_SOCK={CONTAINER_DIR}/ssh-agent.sock"]
    for key, value in git_config_env(settings):
        args += ["--env", f"{key}={value}"]
    return args


def git_config(settings: BridgeSettings) -> list[tuple[str, str]]:
    """The container's git settings for the bridges (none of them secret)."""
    entries: list[tuple[str, str]] = []
    if settings.credential_hosts:
        # The empty value drops any helper configured earlier; then ours is the only one.
        entries += [("credential.helper", ""), ("credential.helper", "!ca-stub git-credential")]
    if settings.signing:
        entries += [("commit.gpgsign", "true"), ("tag.gpgsign", "true")]
        if settings.signing.format == "ssh":
            entries += [("gpg.format", "ssh"), ("gpg.ssh.program", "ca-ssh-keygen"),
                        ("user.signingkey", "key::" + settings.signing.public_key)]
        else:
            entries += [("gpg.format", "openpgp"), ("gpg.program", "ca-gpg"), ("user.signingkey", settings.signing.key)]
    return entries


def git_config_env(settings: BridgeSettings) -> list[tuple[str, str]]:
    """git's GIT_CONFIG_COUNT/KEY_n/VALUE_n form: no file to write inside the container."""
    entries = git_config(settings)
    if not entries:
        return []
    env = [("GIT_CONFIG_COUNT", str(len(entries)))]
    for index, (key, value) in enumerate(entries):
        env += [(f"GIT_CONFIG_KEY_{index}", key), (f"GIT_CONFIG_VALUE_{index}", value)]
    return env


# --- on the host -----------------------------------------------------------------------------


def prepare(settings: BridgeSettings) -> None:
    """The session's folder and settings, and the folder of its host sockets (host only)."""
    session_dir(settings.session).mkdir(parents=True, exist_ok=True)
    os.chmod(session_dir(settings.session), 0o700)
    if settings.enabled:
        directory = sockets_dir(settings.session)
        check_socat_safe(str(directory))
        if len(str(directory / _LONGEST_SOCKET).encode()) > MAX_SOCKET_PATH:
            raise AgentsError(f"the session's socket folder {directory} is too long for Unix sockets",
                              hint="set XDG_RUNTIME_DIR to a short folder (e.g. /run/user/$UID)")
        files.own_private_dir(directory.parent)
        directory.mkdir(exist_ok=True)
        os.chmod(directory, SOCKET_DIR_MODE)
    files.write_private(settings_path(settings.session), settings.to_json().encode())


def settings_path(name: str) -> Path:
    return session_dir(name) / "settings.json"


def find_settings(name: str) -> BridgeSettings | None:
    """The session's settings, or None for a session launched elsewhere (or by an older version)."""
    return load_settings(name) if settings_path(name).exists() else None


def load_settings(name: str) -> BridgeSettings:
    path = settings_path(name)
    if not path.exists():
        raise AgentsError(f"{name} has no bridge settings on this machine ({path})",
                          hint="it was launched elsewhere or by an older version; relaunch it for bridges")
    try:
        return BridgeSettings.from_json(path.read_text())
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise AgentsError(f"the bridge settings of {name} cannot be read: {error}",
                          hint=f"remove-agent {name} and launch it again") from error


def handler_prefix() -> list[str]:
    """How socat starts our handlers: the zipapp, or `python -m agents` from a source tree."""
    import sys

    pex = os.environ.get("PEX")
    return [pex] if pex else [sys.executable, "-m", "agents"]


def remove(name: str) -> None:
    from agents.session import reports

    shutil.rmtree(session_dir(name), ignore_errors=True)
    shutil.rmtree(sockets_dir(name), ignore_errors=True)
    reports.pushed_path(name).unlink(missing_ok=True)


def audit(name: str, **event: object) -> None:
    """Append one decision to the session's audit log (never a secret value)."""
    files.append_audit(audit_log(name), session=name, **event)


def link_plans(settings: BridgeSettings) -> list[relay.LinkPlan]:
    """The session's relay links: the agent container's to the bridge sockets and its health
    reports (every session has this one), and the MCP sidecar's to the broker's redeem socket of
    this session."""
    from agents import broker

    directory = sockets_dir(settings.session)
    found = [relay.LinkPlan(settings.session, CONTAINER_DIR,
                            tuple((listener.socket, str(directory / listener.socket)) for listener in listeners(settings)),
                            reports_of=settings.session)]
    if settings.mcp_sidecar:
        found.append(relay.LinkPlan(naming.sidecar_name(settings.session), naming.BROKER_DIR,
                                    ((relay.BROKER_SOCKET,
                                      str(broker.session_socket_dir(settings.session) / relay.BROKER_SOCKET)),)))
    return found


def link_marker(name: str, container: str) -> str:
    """Exists while the container's end of its relay link listens."""
    return relay.ready_marker(session_dir(name), container)


def needs_helper(settings: BridgeSettings | None) -> bool:
    """Whether the session has a `_bridge` helper: every session of this machine has one (its
    link carries the health reports; listeners, host-port relays and the sidecar's link too)."""
    return settings is not None


def serve(name: str, on_new_run=None) -> int:
    """Body of `_bridge NAME`: the listeners and the relay links, while the session's container
    exists (stopped or not: a restart by any means gets its links again). on_new_run(name) runs
    after each restart of the agent container that this process saw happen."""
    import threading
    import time

    from agents import runner

    settings = load_settings(name)
    directory = sockets_dir(name)
    prefix = handler_prefix()
    children = []
    stop = threading.Event()
    try:
        for listener in listeners(settings):
            children.append(runner.start(socat_argv(listener, directory, prefix, name)))
        for port in settings.host_ports if settings.host_gateway else ():
            children.append(runner.start(host_relay_argv(settings.host_gateway, port)))
        files.write_private(session_dir(name) / "bridge.pid", str(os.getpid()).encode())
        for plan in link_plans(settings):
            restarted = (lambda started: on_new_run(name)) if on_new_run and plan.container == name else None
            threading.Thread(target=relay.keep_linked, args=(plan, stop),
                             kwargs={"marker": link_marker(name, plan.container), "on_new_run": restarted},
                             daemon=True).start()
        # Returns once the session's container is gone (removed); a stop leaves it waiting.
        last_event = None
        while True:
            asked = time.time()
            if (state := relay.container_run(name)[0]) == "missing":
                break
            last_event = relay.wait_for_change(name, 60.0 if state != "unknown" else 2.0, since=asked,
                                               after=last_event) or last_event
    finally:
        stop.set()
        for child in children:
            child.terminate()
        for child in children:
            child.wait()
        for listener in listeners(settings):
            (directory / listener.socket).unlink(missing_ok=True)
        (session_dir(name) / "bridge.pid").unlink(missing_ok=True)
    return 0


def running(name: str) -> bool:
    """Whether a bridge process serves this session now."""
    try:
        pid = int((session_dir(name) / "bridge.pid").read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_link(name: str, container: str, timeout: float = 10.0) -> bool:
    """Until the container's end of its relay link listens."""
    return relay.wait_ready(link_marker(name, container), timeout)
