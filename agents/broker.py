"""The secret broker: one host daemon, shared by all sessions, the only thing that decrypts secrets.

At launch the launcher asks it (control socket, 0600 in a 0700 folder) to *issue* one capability
per MCP server that needs secrets. A capability is sealed with AES-GCM under a key that lives only
in the broker's memory and binds: session, server, secret names, expiry, the session's manifest
hash and a random id. The session's MCP sidecar, and nothing else, reaches that session's own
redeem socket (through the session's relay, agents/relay.py); there the broker *redeems* a capability only when it was issued for this very
session, is unexpired and not revoked, and the session's container still exists with the same
manifest label. Then it returns the values. Ending a session revokes its capabilities. Every
issue, redemption and refusal goes to a JSON-lines audit log (never a value).

It stops by itself when no session needs it: no unexpired capability is left (every session
revoked or expired, so no session socket remains) and nobody asked anything for a grace period.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import socketserver
import threading
import time
from pathlib import Path

from agents import bridges, engine, files, paths, runner, secrets
from agents.errors import AgentsError
from agents.records import field, record

AAD = b"coding-agents capability v1"
DEFAULT_TTL_SECONDS = 24 * 3600
MANIFEST_LABEL = "coding-agents.manifest"
# How long an unneeded broker waits before it stops: a launch pings it, then issues, within seconds.
IDLE_EXIT_SECONDS = 300.0
IDLE_EXIT_VARIABLE = "CODING_AGENTS_BROKER_IDLE_SECONDS"  # for tests


def broker_dir() -> Path:
    """One broker per secret store (normally: per user); its sockets live here."""
    store = hashlib.sha256(str(paths.secrets_dir()).encode()).hexdigest()[:10]
    return paths.runtime_dir() / f"broker-{store}"


def control_socket() -> Path:
    return broker_dir() / "control.sock"


def session_socket_dir(session: str) -> Path:
    return broker_dir() / hashlib.sha256(session.encode()).hexdigest()[:16]


def audit_log() -> Path:
    return paths.broker_state_dir() / "audit.log"


def audit(**event: object) -> None:
    files.append_audit(audit_log(), **event)


# --- capabilities ------------------------------------------------------------------------------


@record(frozen=True)
class Claims:
    session: str
    server: str
    secrets: tuple[str, ...]
    expires: float
    manifest: str
    capability_id: str

    def to_json(self) -> bytes:
        return json.dumps({"v": 1, "session": self.session, "server": self.server, "secrets": list(self.secrets),
                           "exp": self.expires, "manifest": self.manifest, "id": self.capability_id}).encode()


class Refused(Exception):
    """A capability the broker will not redeem; the message says why (it goes to the audit log)."""


def seal(key: bytes, claims: Claims) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, claims.to_json(), AAD)).decode()


def unseal(key: bytes, capability: str) -> Claims:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.urlsafe_b64decode(capability.encode())
        if len(raw) < 12 + 16:
            raise ValueError("too short")
        data = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], AAD))
        return Claims(str(data["session"]), str(data["server"]), tuple(data["secrets"]), float(data["exp"]),
                      str(data["manifest"]), str(data["id"]))
    except (InvalidTag, ValueError, KeyError, TypeError) as error:
        raise Refused("not a capability this broker issued (tampered, or from another broker)") from error


# --- the daemon -----------------------------------------------------------------------------------


@record
class SessionGrant:
    manifest: str
    # The session's engine (engine.reaching): one broker serves sessions of every engine, and
    # asks each session's own whether its container is there.
    reach: dict[str, str] = field(default_factory=dict)
    capability_ids: set[str] = field(default_factory=set)
    server: socketserver.BaseServer | None = None
    expires: float = 0.0  # of its last capability


def session_facts(session: str, reach: dict[str, str] | None = None) -> tuple[str, bool] | None:
    """(manifest label, running) of a session's container on its engine (reach: the variables
    engine.reaching gave; none: this process's engine); None when it does not exist."""
    program = (reach or {}).get(runner.ENGINE_VARIABLE) or runner.engine()
    environment = engine.reaching_environment(reach, os.environ) if reach else None
    found = runner.run([program, "inspect", "--format",
                        "{{index .Config.Labels \"" + MANIFEST_LABEL + "\"}} {{.State.Running}}", session],
                       check=False, env=environment)
    if not found.ok:
        return None
    manifest, _, running = found.stdout.strip().rpartition(" ")
    return manifest, running == "true"


class Broker:
    def __init__(self, key: bytes | None = None, facts=session_facts, read_secret=None, clock=time.time):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.key = key or AESGCM.generate_key(bit_length=256)
        self.facts = facts
        self.clock = clock
        if read_secret is None:
            read_secret = secrets.get_secret
        self.read_secret = read_secret
        self.grants: dict[str, SessionGrant] = {}
        self.lock = threading.Lock()

    # control operations (the host user, through control.sock)

    def issue(self, session: str, manifest: str, servers: dict[str, list[str]],
              ttl: float = DEFAULT_TTL_SECONDS, reach: dict[str, str] | None = None) -> dict[str, str]:
        missing = sorted({name for names in servers.values() for name in names} - set(self._known_secrets()))
        if missing:
            raise AgentsError("MCP secret(s) not set: " + ", ".join(missing),
                              hint=f"set each with: coding-agents secrets set {missing[0]}")
        capabilities = {}
        with self.lock:
            grant = self.grants.get(session)
            reach = dict(reach or {})
            if grant is None or grant.manifest != manifest or grant.reach != reach:  # launched again, or elsewhere
                self._close(grant)
                grant = self.grants[session] = SessionGrant(manifest, reach)
            for server, names in servers.items():
                claims = Claims(session, server, tuple(sorted(names)), self.clock() + ttl, manifest,
                                base64.urlsafe_b64encode(os.urandom(12)).decode())
                grant.capability_ids.add(claims.capability_id)
                grant.expires = max(grant.expires, claims.expires)
                capabilities[server] = seal(self.key, claims)
                audit(event="issue", session=session, server=server, secrets=list(claims.secrets),
                      capability=claims.capability_id, expires=claims.expires)
        return capabilities

    def revoke(self, session: str) -> bool:
        with self.lock:
            grant = self.grants.pop(session, None)
            self._close(grant)
        audit(event="revoke", session=session, had_grants=grant is not None)
        return grant is not None

    def needed(self) -> bool:
        """Whether some session still holds a capability that could be redeemed."""
        now = self.clock()
        return any(grant.expires > now for grant in self.grants.values())

    def _close(self, grant: SessionGrant | None) -> None:
        if grant is not None and grant.server is not None:
            server = grant.server

            def stop() -> None:
                server.shutdown()
                server.server_close()

            threading.Thread(target=stop, daemon=True).start()

    def _known_secrets(self) -> list[str]:
        return secrets.names()

    # the sidecar's operation (its session's redeem socket)

    def redeem(self, socket_session: str, capability: str) -> dict[str, str]:
        try:
            claims = unseal(self.key, capability)
            if claims.session != socket_session:
                raise Refused(f"a capability of session {claims.session} presented by session {socket_session}")
            if self.clock() > claims.expires:
                raise Refused("expired")
            with self.lock:
                grant = self.grants.get(claims.session)
                known = grant is not None and claims.capability_id in grant.capability_ids
                manifest = grant.manifest if grant else None
                reach = dict(grant.reach) if grant else {}
            if not known:
                raise Refused("revoked (the session ended or was launched again)")
            if manifest != claims.manifest:
                raise Refused("the session's manifest changed since the capability was issued")
            facts = self.facts(claims.session, reach)
            if facts is None:
                raise Refused("the session's container does not exist")
            if facts[0] != claims.manifest:
                raise Refused("the container's manifest label does not match the capability")
            values = {name: self.read_secret(name) for name in claims.secrets}
        except Refused as refusal:
            audit(event="redeem", session=socket_session, decision="refused", reason=str(refusal))
            raise
        except AgentsError as error:
            audit(event="redeem", session=socket_session, decision="refused", reason=error.message)
            raise Refused(error.message) from error
        audit(event="redeem", session=socket_session, decision="granted", server=claims.server,
              secrets=list(claims.secrets), capability=claims.capability_id)
        return values


# --- sockets ----------------------------------------------------------------------------------------


def _read_request(connection: socket.socket, limit: int = 1024 * 1024) -> dict:
    chunks, size = [], 0
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or b"\n" in chunk:
            break
    request = json.loads(b"".join(chunks).split(b"\n", 1)[0] or b"{}")
    if not isinstance(request, dict):
        raise ValueError("a request is a JSON object")
    return request


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            request = _read_request(self.request)
            answer = self.server.answer(request)  # type: ignore[attr-defined]
        except Refused as refusal:
            answer = {"error": f"refused: {refusal}"}
        except AgentsError as error:
            answer = {"error": error.message, "hint": error.hint}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": f"bad request: {error}"}
        self.request.sendall(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, answer):
        path.unlink(missing_ok=True)
        self.answer = answer
        super().__init__(str(path), _Handler)


def _stop_on_term(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(ready_timeout: float = 0) -> int:
    """Body of `_broker`: the control socket, and one redeem socket per session with grants."""
    import fcntl
    import signal

    folder = broker_dir()
    files.own_private_dir(folder.parent)
    files.own_private_dir(folder)
    # One broker per store: a second one (two launches at once) leaves quietly, unless the one
    # holding the lock is stopping (idle) and stops answering: then this one takes over.
    held = os.open(folder / "broker.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    deadline = time.monotonic() + 5
    while True:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if running() or time.monotonic() > deadline:
                os.close(held)
                return 0
            time.sleep(0.1)
    if threading.current_thread() is threading.main_thread():  # `docker stop`-like endings clean up too
        signal.signal(signal.SIGTERM, _stop_on_term)
    broker = Broker()

    def open_session_socket(session: str) -> None:
        # Reached by the session's relay (this user's process), never mounted into a container.
        directory = session_socket_dir(session)
        directory.mkdir(exist_ok=True)
        os.chmod(directory, bridges.SOCKET_DIR_MODE)
        path = directory / "broker.sock"
        server = _Server(path, lambda request: {"secrets": broker.redeem(session, str(request.get("capability")))})
        os.chmod(path, int(bridges.SOCKET_MODE, 8))
        broker.grants[session].server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    last_request = [time.monotonic()]
    stopping = threading.Event()

    def control(request: dict) -> dict:
        with broker.lock:
            if stopping.is_set():
                raise AgentsError("the secret broker is stopping", hint="try again: a new one starts")
            last_request[0] = time.monotonic()
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        session = str(request.get("session", ""))
        if op == "issue":
            before = broker.grants.get(session)
            ttl = float(request.get("ttl") or DEFAULT_TTL_SECONDS)
            if ttl <= 0:
                raise ValueError("ttl must be positive")
            reach = request.get("engine") or {}
            if not isinstance(reach, dict) or not all(isinstance(value, str) for value in reach.values()) \
                    or set(reach) - set(engine.REACHING_VARIABLES):
                raise ValueError("engine: the variables that reach the session's engine")
            capabilities = broker.issue(session, str(request["manifest"]), dict(request["servers"]), ttl, reach)
            if broker.grants[session] is not before or broker.grants[session].server is None:
                open_session_socket(session)
            return {"capabilities": capabilities, "socket_dir": str(session_socket_dir(session))}
        if op == "revoke":
            revoked = broker.revoke(session)
            shutil.rmtree(session_socket_dir(session), ignore_errors=True)
            return {"revoked": revoked}
        raise ValueError(f"unknown op {op!r}")

    old_umask = os.umask(0o077)
    try:
        server = _Server(control_socket(), control)
    finally:
        os.umask(old_umask)
    files.write_private(folder / "broker.pid", str(os.getpid()).encode())
    audit(event="start", pid=os.getpid())
    grace = idle_exit_seconds()

    def stop_when_unneeded() -> None:
        while not stopping.wait(max(0.05, min(grace / 4, 5.0))):
            with broker.lock:
                if broker.needed() or time.monotonic() - last_request[0] < grace:
                    continue
                stopping.set()  # from now on every request is refused, so none is half served
            audit(event="idle", grace=grace)
            server.shutdown()

    threading.Thread(target=stop_when_unneeded, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        control_socket().unlink(missing_ok=True)
        with broker.lock:
            ended = list(broker.grants)
        for session in ended:  # expired ones: their sockets go with the broker
            shutil.rmtree(session_socket_dir(session), ignore_errors=True)
        (folder / "broker.pid").unlink(missing_ok=True)
        audit(event="stop", pid=os.getpid())
        os.close(held)  # the lock goes last: a successor starts only once all of this is done
    return 0


def idle_exit_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(IDLE_EXIT_VARIABLE) or IDLE_EXIT_SECONDS))
    except ValueError:
        return IDLE_EXIT_SECONDS


def call(request: dict, path: Path | None = None, timeout: float = 30) -> dict:
    """One request to a broker socket; the answer as a dict (errors become AgentsError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(path or control_socket()))
        connection.sendall(json.dumps(request).encode() + b"\n")
        connection.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    answer = json.loads(data or b"{}")
    if "error" in answer:
        raise AgentsError(f"the secret broker refused: {answer['error']}", hint=answer.get("hint"))
    return answer


def running() -> bool:
    try:
        return bool(call({"op": "ping"}, timeout=5).get("ok"))
    except (OSError, ValueError, AgentsError):  # AgentsError: one that is stopping
        return False


def ensure_running(spawn, timeout: float = 10.0) -> None:
    """Start the broker when none answers (spawn runs `coding-agents _broker` detached)."""
    import fcntl

    if running():
        return
    folder = broker_dir()
    files.own_private_dir(folder.parent)
    files.own_private_dir(folder)
    # Launches at once: one spawns, the others wait for it (and the daemon's own lock backs this).
    with files.open_private(folder / "spawn.lock", "a") as spawning:
        fcntl.flock(spawning, fcntl.LOCK_EX)
        if running():
            return
        spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if running():
                return
            runner.pause(0.05)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running():
            return
        runner.pause(0.05)
    raise AgentsError("the secret broker did not start", hint=f"see {paths.helper_log('broker', 'broker')}")
