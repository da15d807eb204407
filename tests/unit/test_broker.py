"""agents/broker.py: capabilities (real AES-GCM), the decisions on redeeming them, the audit log and the sockets.

The Broker object is exercised directly with a fake clock and fake container facts; secret values come from the
real store in a tmp XDG_DATA_HOME. The daemon's sockets run in threads of the test process.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from agents import broker, secrets
from agents.errors import AgentsError
from tests.unit.brokers import broker_thread

KEY = bytes(range(32))
SESSION = "claude-api-session-1"
OTHER = "codex-web-session-2"
MANIFEST = "m" * 64
TOKEN = "ghp_0123456789SECRET"
API_KEY = "sk-live-abcdefSECRET"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Facts:
    """What `docker inspect` would say about each session's container."""

    def __init__(self, **found: tuple[str, bool] | None):
        self.found = {SESSION: (MANIFEST, True), OTHER: (MANIFEST, True), **found}
        self.asked: list[str] = []
        self.reaches: list[dict | None] = []

    def __call__(self, session: str, reach: dict | None = None) -> tuple[str, bool] | None:
        self.asked.append(session)
        self.reaches.append(reach)
        return self.found.get(session)


@pytest.fixture
def stored(tmp_path, monkeypatch) -> dict[str, str]:
    """Real secrets in the store the broker reads by default."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    values = {"GITHUB_TOKEN": TOKEN, "API_KEY": API_KEY}
    for name, value in values.items():
        secrets.set_secret(name, value)
    return values


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def facts() -> Facts:
    return Facts()


@pytest.fixture
def the_broker(stored, state_home, clock, facts) -> broker.Broker:
    return broker.Broker(key=KEY, facts=facts, clock=clock)


def audit_events(state_home: Path) -> list[dict]:
    lines = (state_home / "coding-agents" / "broker" / "audit.log").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


def refusal(call, *args) -> str:
    with pytest.raises(broker.Refused) as caught:
        call(*args)
    return str(caught.value)


# --- seal / unseal -------------------------------------------------------------------------------------


def claims(**overrides) -> broker.Claims:
    values = {"session": SESSION, "server": "github", "secrets": ("GITHUB_TOKEN",), "expires": T0 + 60,
              "manifest": MANIFEST, "capability_id": "id-1", **overrides}
    return broker.Claims(**values)


def test_seal_unseal_round_trip():
    sealed = broker.seal(KEY, claims())

    assert broker.unseal(KEY, sealed) == claims()
    assert base64.urlsafe_b64decode(sealed)[:12] != base64.urlsafe_b64decode(broker.seal(KEY, claims()))[:12]


def test_a_sealed_capability_shows_nothing_of_its_claims():
    sealed = broker.seal(KEY, claims())

    raw = base64.urlsafe_b64decode(sealed)
    assert b"GITHUB_TOKEN" not in raw and SESSION.encode() not in raw and b"github" not in raw


def test_claims_to_json():
    assert json.loads(claims().to_json()) == {"v": 1, "session": SESSION, "server": "github",
                                              "secrets": ["GITHUB_TOKEN"], "exp": T0 + 60, "manifest": MANIFEST,
                                              "id": "id-1"}


NOT_OURS = "not a capability this broker issued (tampered, or from another broker)"


@pytest.mark.parametrize("position", [0, 5, 12, 30, -1], ids=["nonce-start", "nonce", "body-start", "body", "tag"])
def test_unseal_refuses_a_flipped_byte(position):
    raw = bytearray(base64.urlsafe_b64decode(broker.seal(KEY, claims())))
    raw[position] ^= 0x01

    assert refusal(broker.unseal, KEY, base64.urlsafe_b64encode(bytes(raw)).decode()) == NOT_OURS


@pytest.mark.parametrize("capability", ["", "AAAA", "not base64 at all!", base64.urlsafe_b64encode(b"x" * 27).decode(),
                                        "None"], ids=["empty", "short", "junk", "27-bytes", "none"])
def test_unseal_refuses_junk(capability):
    assert refusal(broker.unseal, KEY, capability) == NOT_OURS


def test_unseal_refuses_another_keys_capability():
    assert refusal(broker.unseal, bytes(32), broker.seal(KEY, claims())) == NOT_OURS


def test_unseal_refuses_well_sealed_claims_missing_a_field():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    body = json.dumps({"v": 1, "session": SESSION}).encode()
    sealed = base64.urlsafe_b64encode(nonce + AESGCM(KEY).encrypt(nonce, body, broker.AAD)).decode()

    assert refusal(broker.unseal, KEY, sealed) == NOT_OURS


# --- issue ---------------------------------------------------------------------------------------------------


def test_issue_one_capability_per_server_bound_to_everything(the_broker):
    issued = the_broker.issue(SESSION, MANIFEST, {"github": ["GITHUB_TOKEN"], "keyed": ["GITHUB_TOKEN", "API_KEY"]},
                              ttl=600)

    assert sorted(issued) == ["github", "keyed"]
    github, keyed = broker.unseal(KEY, issued["github"]), broker.unseal(KEY, issued["keyed"])
    assert (github.session, github.server, github.secrets, github.expires, github.manifest) == (
        SESSION, "github", ("GITHUB_TOKEN",), T0 + 600, MANIFEST)
    assert (keyed.server, keyed.secrets) == ("keyed", ("API_KEY", "GITHUB_TOKEN"))
    assert github.capability_id != keyed.capability_id
    assert the_broker.grants[SESSION].manifest == MANIFEST
    assert the_broker.grants[SESSION].capability_ids == {github.capability_id, keyed.capability_id}


def test_issue_default_ttl_is_a_day(the_broker):
    issued = the_broker.issue(SESSION, MANIFEST, {"github": ["GITHUB_TOKEN"]})

    assert broker.unseal(KEY, issued["github"]).expires == T0 + 24 * 3600


def test_issue_names_the_missing_secrets(the_broker, state_home):
    with pytest.raises(AgentsError) as caught:
        the_broker.issue(SESSION, MANIFEST, {"a": ["ZED_KEY", "GITHUB_TOKEN"], "b": ["ALPHA_KEY"]})

    assert caught.value.message == "MCP secret(s) not set: ALPHA_KEY, ZED_KEY"
    assert caught.value.hint == "set each with: coding-agents secrets set ALPHA_KEY"
    assert the_broker.grants == {}
    assert not (state_home / "coding-agents" / "broker" / "audit.log").exists()


def test_issue_with_known_secrets_from_an_override(state_home, clock, facts, monkeypatch):
    monkeypatch.setattr(broker.Broker, "_known_secrets", lambda self: ["X"])
    values = broker.Broker(key=KEY, facts=facts, clock=clock, read_secret=lambda name: f"value-of-{name}")

    capability = values.issue(SESSION, MANIFEST, {"s": ["X"]})["s"]

    assert values.redeem(SESSION, capability) == {"X": "value-of-X"}


def test_a_broker_without_a_key_makes_its_own():
    one, two = broker.Broker(read_secret=str), broker.Broker(read_secret=str)

    assert len(one.key) == 32 and one.key != two.key


# --- redeem ---------------------------------------------------------------------------------------------------


def issue_one(the_broker: broker.Broker, session: str = SESSION, manifest: str = MANIFEST, **kwargs) -> str:
    return the_broker.issue(session, manifest, {"keyed": ["GITHUB_TOKEN", "API_KEY"]}, **kwargs)["keyed"]


def test_redeem_granted_returns_the_values(the_broker, facts):
    capability = issue_one(the_broker)

    assert the_broker.redeem(SESSION, capability) == {"API_KEY": API_KEY, "GITHUB_TOKEN": TOKEN}
    assert the_broker.redeem(SESSION, capability) == {"API_KEY": API_KEY, "GITHUB_TOKEN": TOKEN}  # until it ends
    assert facts.asked == [SESSION, SESSION]


def test_redeem_a_secret_set_again_after_the_issue_gives_the_new_value(the_broker):
    capability = issue_one(the_broker)
    secrets.set_secret("API_KEY", "rotated")

    assert the_broker.redeem(SESSION, capability)["API_KEY"] == "rotated"


def test_redeem_refuses_a_tampered_capability(the_broker):
    raw = bytearray(base64.urlsafe_b64decode(issue_one(the_broker)))
    raw[20] ^= 0x80

    assert refusal(the_broker.redeem, SESSION, base64.urlsafe_b64encode(bytes(raw)).decode()) == NOT_OURS


def test_redeem_refuses_another_brokers_capability(the_broker, stored, clock, facts):
    elsewhere = broker.Broker(facts=facts, clock=clock)
    capability = issue_one(elsewhere)
    issue_one(the_broker)

    assert refusal(the_broker.redeem, SESSION, capability) == NOT_OURS


def test_redeem_refuses_another_sessions_capability(the_broker, facts):
    capability = issue_one(the_broker, OTHER)
    issue_one(the_broker, SESSION)

    assert refusal(the_broker.redeem, SESSION, capability) == \
        f"a capability of session {OTHER} presented by session {SESSION}"
    assert facts.asked == []


def test_redeem_refuses_an_expired_capability(the_broker, clock):
    capability = issue_one(the_broker, ttl=60)
    clock.now = T0 + 60

    assert the_broker.redeem(SESSION, capability)["API_KEY"] == API_KEY  # the last second still counts

    clock.now = T0 + 60.5

    assert refusal(the_broker.redeem, SESSION, capability) == "expired"


REVOKED = "revoked (the session ended or was launched again)"


def test_redeem_refuses_after_revoke(the_broker, state_home):
    capability = issue_one(the_broker)

    assert the_broker.revoke(SESSION) is True
    assert refusal(the_broker.redeem, SESSION, capability) == REVOKED
    assert the_broker.revoke(SESSION) is False


def test_redeem_refuses_a_capability_of_an_earlier_launch(the_broker):
    old = issue_one(the_broker, manifest="1" * 64)
    new = issue_one(the_broker, manifest=MANIFEST)

    assert refusal(the_broker.redeem, SESSION, old) == REVOKED
    assert the_broker.redeem(SESSION, new)["GITHUB_TOKEN"] == TOKEN


def test_issue_again_with_the_same_manifest_keeps_the_earlier_capabilities(the_broker):
    first = issue_one(the_broker)
    second = issue_one(the_broker)

    assert first != second
    assert the_broker.redeem(SESSION, first) == the_broker.redeem(SESSION, second)


def test_redeem_refuses_when_the_grant_manifest_changed(the_broker):
    capability = issue_one(the_broker)
    the_broker.grants[SESSION].manifest = "2" * 64

    assert refusal(the_broker.redeem, SESSION, capability) == \
        "the session's manifest changed since the capability was issued"


def test_redeem_refuses_when_the_container_is_gone(the_broker, facts):
    capability = issue_one(the_broker)
    facts.found[SESSION] = None

    assert refusal(the_broker.redeem, SESSION, capability) == "the session's container does not exist"


def test_redeem_refuses_when_the_containers_label_differs(the_broker, facts):
    capability = issue_one(the_broker)
    facts.found[SESSION] = ("3" * 64, True)

    assert refusal(the_broker.redeem, SESSION, capability) == \
        "the container's manifest label does not match the capability"


def test_redeem_refuses_when_a_secret_was_removed_since(the_broker):
    capability = issue_one(the_broker)
    secrets.remove_secret("API_KEY")

    assert refusal(the_broker.redeem, SESSION, capability) == "no secret named API_KEY"


# --- the audit log ----------------------------------------------------------------------------------------------


def test_audit_log_records_issue_redeem_refusals_and_revoke_without_values(the_broker, state_home, clock, facts):
    capability = issue_one(the_broker, ttl=60)
    capability_id = broker.unseal(KEY, capability).capability_id
    the_broker.redeem(SESSION, capability)
    facts.found[SESSION] = None
    with pytest.raises(broker.Refused):
        the_broker.redeem(SESSION, capability)
    with pytest.raises(broker.Refused):
        the_broker.redeem(OTHER, capability)
    the_broker.revoke(SESSION)
    the_broker.revoke(OTHER)

    assert audit_events(state_home) == [
        {"event": "issue", "session": SESSION, "server": "keyed", "secrets": ["API_KEY", "GITHUB_TOKEN"],
         "capability": capability_id, "expires": T0 + 60},
        {"event": "redeem", "session": SESSION, "decision": "granted", "server": "keyed",
         "secrets": ["API_KEY", "GITHUB_TOKEN"], "capability": capability_id},
        {"event": "redeem", "session": SESSION, "decision": "refused", "reason": "the session's container does not exist"},
        {"event": "redeem", "session": OTHER, "decision": "refused",
         "reason": f"a capability of session {SESSION} presented by session {OTHER}"},
        {"event": "revoke", "session": SESSION, "had_grants": True},
        {"event": "revoke", "session": OTHER, "had_grants": False},
    ]
    text = (state_home / "coding-agents" / "broker" / "audit.log").read_text()
    assert TOKEN not in text and API_KEY not in text and capability not in text


def test_audit_lines_have_a_utc_time(the_broker, state_home):
    the_broker.revoke(SESSION)

    line = json.loads((state_home / "coding-agents" / "broker" / "audit.log").read_text())
    assert time.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_audit_log_folder_is_private(the_broker, state_home):
    the_broker.revoke(SESSION)

    assert stat.S_IMODE((state_home / "coding-agents" / "broker").stat().st_mode) == 0o700


# --- where things live, and what docker says --------------------------------------------------------------------


def test_paths_are_under_the_runtime_dir():
    folder = broker.broker_dir()

    assert folder.parent == Path(os.environ["XDG_RUNTIME_DIR"]) / "coding-agents"
    assert folder.name.startswith("broker")
    assert broker.control_socket() == folder / "control.sock"
    directory = broker.session_socket_dir(SESSION)
    assert directory.parent == folder and len(directory.name) == 16
    assert broker.session_socket_dir(OTHER) != directory
    assert broker.session_socket_dir(SESSION) == directory


INSPECT = ["docker", "inspect", "--format", '{{index .Config.Labels "coding-agents.manifest"}} {{.State.Running}}',
           SESSION]


@pytest.mark.parametrize(("stdout", "expected"), [
    (f"{MANIFEST} true\n", (MANIFEST, True)), (f"{MANIFEST} false\n", (MANIFEST, False)), (" true\n", ("", True)),
], ids=["running", "stopped", "no-label"])
def test_session_facts(fp, stdout, expected):
    fp.register(INSPECT, stdout=stdout)

    assert broker.session_facts(SESSION) == expected


PODMAN_REACH = {"CODING_AGENTS_ENGINE": "podman", "DOCKER_HOST": "", "DOCKER_CONTEXT": "", "DOCKER_CONFIG": "",
                "CONTAINER_HOST": "ssh://box/run/podman/podman.sock"}


def test_session_facts_asks_the_sessions_own_engine(fp, monkeypatch):
    # This process's own engine is another one: a remote Docker engine.
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    monkeypatch.setenv("CODING_AGENTS_ENGINE", "docker")
    fp.register(["podman", *INSPECT[1:]], stdout=f"{MANIFEST} true\n")
    seen = []
    real_run = broker.runner.run
    monkeypatch.setattr(broker.runner, "run", lambda argv, **kw: seen.append(kw.get("env")) or real_run(argv, **kw))

    assert broker.session_facts(SESSION, PODMAN_REACH) == (MANIFEST, True)
    assert seen[0]["CONTAINER_HOST"] == PODMAN_REACH["CONTAINER_HOST"] and seen[0]["CODING_AGENTS_ENGINE"] == "podman"
    assert "DOCKER_HOST" not in seen[0]  # unset, not this process's remote engine


def test_the_broker_asks_each_grants_own_engine(the_broker, facts):
    docker_reach = {**PODMAN_REACH, "CODING_AGENTS_ENGINE": "docker", "CONTAINER_HOST": "", "DOCKER_CONTEXT": "default"}
    podman = the_broker.issue(SESSION, MANIFEST, {"github": ["GITHUB_TOKEN"]}, reach=PODMAN_REACH)
    docker = the_broker.issue(OTHER, MANIFEST, {"github": ["GITHUB_TOKEN"]}, reach=docker_reach)

    the_broker.redeem(SESSION, podman["github"])
    the_broker.redeem(OTHER, docker["github"])
    assert facts.reaches == [PODMAN_REACH, docker_reach]


def test_a_session_launched_again_on_another_engine_loses_its_earlier_capabilities(the_broker):
    first = the_broker.issue(SESSION, MANIFEST, {"github": ["GITHUB_TOKEN"]}, reach=PODMAN_REACH)
    the_broker.issue(SESSION, MANIFEST, {"github": ["GITHUB_TOKEN"]}, reach={**PODMAN_REACH, "CONTAINER_HOST": ""})

    assert "revoked" in refusal(the_broker.redeem, SESSION, first["github"])


def test_session_facts_of_a_missing_container(fp):
    fp.register(INSPECT, returncode=1, stderr=f"Error: No such object: {SESSION}\n")

    assert broker.session_facts(SESSION) is None


# --- sockets: the request handler and call() ----------------------------------------------------------------------


@pytest.fixture
def serve_socket():
    """Run a broker _Server on a path in a thread; shut down afterwards."""
    started = []

    def start(path: Path, answer) -> broker._Server:
        server = broker._Server(path, answer)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def socket_dir() -> Path:
    path = Path(os.environ["XDG_RUNTIME_DIR"]) / "sockets"
    path.mkdir()
    return path


def test_call_sends_one_json_line_and_returns_the_answer(serve_socket, socket_dir):
    seen = []
    serve_socket(socket_dir / "s.sock", lambda request: seen.append(request) or {"echo": request["op"]})

    assert broker.call({"op": "hello", "n": 1}, path=socket_dir / "s.sock") == {"echo": "hello"}
    assert seen == [{"op": "hello", "n": 1}]


@pytest.mark.parametrize(("raised", "expected"), [
    (broker.Refused("expired"), ("the secret broker refused: refused: expired", None)),
    (AgentsError("no such thing", hint="try this"), ("the secret broker refused: no such thing", "try this")),
    (KeyError("manifest"), ("the secret broker refused: bad request: 'manifest'", None)),
    (ValueError("unknown op 'x'"), ("the secret broker refused: bad request: unknown op 'x'", None)),
], ids=["refused", "agents-error", "key-error", "value-error"])
def test_call_turns_error_answers_into_agents_errors(serve_socket, socket_dir, raised, expected):
    def answer(request):
        raise raised

    serve_socket(socket_dir / "s.sock", answer)

    with pytest.raises(AgentsError) as caught:
        broker.call({"op": "x"}, path=socket_dir / "s.sock")

    assert (caught.value.message, caught.value.hint) == expected


@pytest.mark.parametrize("request_bytes", [b"[1, 2]\n", b"{not json\n"], ids=["not-an-object", "not-json"])
def test_handler_refuses_a_malformed_request(serve_socket, socket_dir, request_bytes):
    serve_socket(socket_dir / "s.sock", lambda request: {"ok": True})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(socket_dir / "s.sock"))
        connection.sendall(request_bytes)
        connection.shutdown(socket.SHUT_WR)
        answer = json.loads(connection.makefile("rb").read())

    assert answer["error"].startswith("bad request: ")


def test_handler_an_empty_request_is_an_empty_object(serve_socket, socket_dir):
    seen = []
    serve_socket(socket_dir / "s.sock", lambda request: seen.append(request) or {"ok": True})

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(socket_dir / "s.sock"))
        connection.shutdown(socket.SHUT_WR)
        assert json.loads(connection.makefile("rb").read()) == {"ok": True}
    assert seen == [{}]


def test_server_replaces_a_stale_socket_file(serve_socket, socket_dir):
    (socket_dir / "s.sock").write_text("stale")

    serve_socket(socket_dir / "s.sock", lambda request: {"ok": True})

    assert broker.call({}, path=socket_dir / "s.sock") == {"ok": True}


def test_running_without_a_broker_is_false():
    assert broker.running() is False


def test_ensure_running_spawns_when_none_answers(serve_socket):
    spawned = []

    def spawn():
        spawned.append(True)
        broker.broker_dir().mkdir(parents=True, exist_ok=True)
        serve_socket(broker.control_socket(), lambda request: {"ok": True})

    broker.ensure_running(spawn)
    broker.ensure_running(spawn)

    assert spawned == [True]


def test_ensure_running_gives_up(monkeypatch, isolated_home):
    with pytest.raises(AgentsError) as caught:
        broker.ensure_running(lambda: None, timeout=0.1)

    assert caught.value.message == "the secret broker did not start"
    # where the spawned broker logs (agents/session/daemons.py), wherever the state folder is
    assert caught.value.hint == f"see {isolated_home}/.local/state/coding-agents/broker-broker.log"


# --- the daemon, end to end ---------------------------------------------------------------------------------------


@pytest.fixture
def daemon(monkeypatch, stored, state_home, fp):
    """broker.serve() in a thread; every socket server it makes is shut down afterwards."""
    with broker_thread(monkeypatch) as servers:
        yield servers


def facts_say(fp, session: str, manifest: str) -> None:
    fp.register(["docker", "inspect", "--format", fp.any(min=1, max=1), session], stdout=f"{manifest} true\n",
                occurrences=10)


def test_serve_issues_redeems_refuses_and_revokes(daemon, fp, state_home):
    assert broker.call({"op": "ping"}) == {"ok": True, "pid": os.getpid()}
    assert (broker.broker_dir() / "broker.pid").read_text() == str(os.getpid())
    assert stat.S_IMODE(broker.broker_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(broker.control_socket().stat().st_mode) & 0o077 == 0

    answer = broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST,
                          "servers": {"keyed": ["GITHUB_TOKEN"]}, "ttl": 60})

    socket_dir = Path(answer["socket_dir"])
    assert socket_dir == broker.session_socket_dir(SESSION)
    assert sorted(answer["capabilities"]) == ["keyed"]
    assert (socket_dir / "broker.sock").exists()
    facts_say(fp, SESSION, MANIFEST)

    redeemed = broker.call({"capability": answer["capabilities"]["keyed"]}, path=socket_dir / "broker.sock")

    assert redeemed == {"secrets": {"GITHUB_TOKEN": TOKEN}}

    other = broker.call({"op": "issue", "session": OTHER, "manifest": MANIFEST, "servers": {"keyed": ["API_KEY"]}})
    with pytest.raises(AgentsError) as caught:
        broker.call({"capability": other["capabilities"]["keyed"]}, path=socket_dir / "broker.sock")
    assert caught.value.message == \
        f"the secret broker refused: refused: a capability of session {OTHER} presented by session {SESSION}"

    with pytest.raises(AgentsError) as caught:
        broker.call({"capability": None}, path=socket_dir / "broker.sock")
    assert caught.value.message == f"the secret broker refused: refused: {NOT_OURS}"

    assert broker.call({"op": "revoke", "session": SESSION}) == {"revoked": True}
    assert not socket_dir.exists()
    assert broker.call({"op": "revoke", "session": SESSION}) == {"revoked": False}

    events = [(event["event"], event.get("decision")) for event in audit_events(state_home)]
    assert events == [("start", None), ("issue", None), ("redeem", "granted"), ("issue", None),
                      ("redeem", "refused"), ("redeem", "refused"), ("revoke", None), ("revoke", None)]


def test_serve_control_errors(daemon):
    with pytest.raises(AgentsError) as caught:
        broker.call({"op": "launch-missiles"})
    assert caught.value.message == "the secret broker refused: bad request: unknown op 'launch-missiles'"

    with pytest.raises(AgentsError) as caught:
        broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST, "servers": {"s": ["NOT_SET"]}})
    assert caught.value.message == "the secret broker refused: MCP secret(s) not set: NOT_SET"
    assert caught.value.hint == "set each with: coding-agents secrets set NOT_SET"

    with pytest.raises(AgentsError) as caught:
        broker.call({"op": "issue", "session": SESSION})
    assert caught.value.message == "the secret broker refused: bad request: 'manifest'"


def test_serve_a_relaunch_gets_a_new_socket_and_old_capabilities_stop_working(daemon, fp):
    first = broker.call({"op": "issue", "session": SESSION, "manifest": "1" * 64, "servers": {"k": ["API_KEY"]}})
    again = broker.call({"op": "issue", "session": SESSION, "manifest": "1" * 64, "servers": {"k": ["API_KEY"]}})
    sockets_before = len(daemon)
    second = broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST, "servers": {"k": ["API_KEY"]}})
    facts_say(fp, SESSION, MANIFEST)
    path = Path(second["socket_dir"]) / "broker.sock"

    assert sockets_before == 2  # control + one session socket: the same manifest reuses it
    assert len(daemon) == 3
    assert first["socket_dir"] == again["socket_dir"] == second["socket_dir"]
    assert broker.call({"capability": second["capabilities"]["k"]}, path=path) == {"secrets": {"API_KEY": API_KEY}}
    with pytest.raises(AgentsError) as caught:
        broker.call({"capability": first["capabilities"]["k"]}, path=path)
    assert caught.value.message == f"the secret broker refused: refused: {REVOKED}"


def test_serve_session_socket_is_this_users_only(daemon):
    """The session's relay (this user's process) connects; no container mounts it."""
    answer = broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST, "servers": {}})
    directory = Path(answer["socket_dir"])

    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "broker.sock").stat().st_mode) == 0o600
    assert (directory / "broker.sock").stat().st_uid == os.geteuid()


def test_serve_revoke_closes_the_session_socket(daemon):
    broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST, "servers": {}})
    session_server = daemon[1]

    broker.call({"op": "revoke", "session": SESSION})

    deadline = time.monotonic() + 0.3
    while session_server.socket.fileno() != -1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session_server.socket.fileno() == -1


# --- the daemon's files and its end (issue 12, part 7) ------------------------------------------


def test_serve_pid_and_lock_files_are_private(daemon):
    broker.ensure_running(lambda: None)
    for name in ("broker.pid", "broker.lock"):
        assert stat.S_IMODE((broker.broker_dir() / name).stat().st_mode) == 0o600, name


def test_ensure_running_spawn_lock_is_private(monkeypatch, serve_socket):
    def spawn():
        broker.broker_dir().mkdir(parents=True, exist_ok=True)
        serve_socket(broker.control_socket(), lambda request: {"ok": True})

    broker.ensure_running(spawn)

    assert stat.S_IMODE((broker.broker_dir() / "spawn.lock").stat().st_mode) == 0o600


def wait_until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_serve_stops_after_its_grace_period_when_no_session_needs_it(monkeypatch, stored, state_home, fp):
    monkeypatch.setenv(broker.IDLE_EXIT_VARIABLE, "0.3")
    with broker_thread(monkeypatch):
        answer = broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST,
                              "servers": {"keyed": ["GITHUB_TOKEN"]}, "ttl": 60})
        time.sleep(0.6)
        assert broker.running(), "stopped while a session held a capability"
        broker.call({"op": "revoke", "session": SESSION})
        started = time.monotonic()

        assert wait_until(lambda: not broker.control_socket().exists())
        assert time.monotonic() - started >= 0.25  # the grace period, counted from the last request
        assert not (broker.broker_dir() / "broker.pid").exists()
        assert not Path(answer["socket_dir"]).exists()
    events = [event["event"] for event in audit_events(state_home)]
    assert events[-2:] == ["idle", "stop"]


def test_serve_an_expired_capability_does_not_keep_it_alive(monkeypatch, stored, state_home, fp):
    monkeypatch.setenv(broker.IDLE_EXIT_VARIABLE, "0.2")
    with broker_thread(monkeypatch):
        answer = broker.call({"op": "issue", "session": SESSION, "manifest": MANIFEST,
                              "servers": {"keyed": ["GITHUB_TOKEN"]}, "ttl": 0.1})

        assert wait_until(lambda: not broker.control_socket().exists())
        assert not Path(answer["socket_dir"]).exists()  # its session socket went with it


def test_serve_requests_keep_an_idle_broker_alive(monkeypatch, stored, state_home, fp):
    monkeypatch.setenv(broker.IDLE_EXIT_VARIABLE, "0.4")
    with broker_thread(monkeypatch):
        for _ in range(8):
            time.sleep(0.1)
            assert broker.running()
        assert wait_until(lambda: not broker.control_socket().exists())


def test_serve_a_stopping_broker_refuses_and_a_new_one_takes_over(monkeypatch, stored, state_home, fp):
    monkeypatch.setenv(broker.IDLE_EXIT_VARIABLE, "0.2")
    with broker_thread(monkeypatch):
        assert wait_until(lambda: not broker.control_socket().exists())
    with broker_thread(monkeypatch):  # the lock is free again: the next launch gets a broker
        assert broker.call({"op": "ping"})["ok"] is True


@pytest.mark.parametrize(("value", "expected"), [("", 300.0), ("2.5", 2.5), ("0", 0.1), ("soon", 300.0)])
def test_idle_exit_seconds(monkeypatch, value, expected):
    monkeypatch.setenv(broker.IDLE_EXIT_VARIABLE, value)
    assert broker.idle_exit_seconds() == expected
