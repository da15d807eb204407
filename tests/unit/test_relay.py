"""The relay (stub/ca_stub/relay.py, run by both ends; agents/relay.py on the host): framing, many
connections at once, half-close, a peer that floods or lies, and the stream dying."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from agents import relay

ROOT = Path(__file__).resolve().parents[2]
engine = relay.frames()


@pytest.fixture
def folder():
    """A short folder for Unix sockets (tmp_path can be too long for their 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ca-relay-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def serve_unix(path: Path, handle) -> socket.socket:
    """A host-side service: handle(connection) for each connection, in a thread."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(128)

    def accept():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def answer_after_eof(connection: socket.socket) -> None:
    """Like a bridge handler: read the whole request (until the client's half-close), then answer."""
    with connection:
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
        connection.sendall(b"got " + str(len(data)).encode() + b": " + data[-16:])


def call(path: Path, request: bytes, timeout: float = 10) -> bytes:
    """The stub's client pattern (common.socket_call): send, half-close, read until EOF."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(path))
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


class Pair:
    """The two ends joined by pipes, as `docker exec -i` joins them: the container's end accepts
    on its socket(s), the host's end connects each connection to a host socket."""

    def __init__(self, folder: Path, targets: dict[str, str], plan: relay.LinkPlan | None = None, **host_options):
        self.to_host_r, self.to_host_w = os.pipe()
        self.to_box_r, self.to_box_w = os.pipe()
        self.logged: list[str] = []
        self.hello: list[dict] = []
        self.host = engine.Link(self.to_host_r, self.to_box_w, opener=relay.connect_to(targets, plan),
                                on_hello=self.hello.append, log=self.logged.append, **host_options)
        self.box = engine.Link(self.to_box_r, self.to_host_w, log=self.logged.append)
        self.listeners = engine.listen_all(str(folder / "box"), plan.names() if plan else list(targets))
        self.folder = folder / "box"
        for name, listener in self.listeners.items():
            threading.Thread(target=self._accept, args=(name, listener), daemon=True).start()
        self.host_ended: list[str] = []
        self.host_thread = threading.Thread(target=self._run_host, daemon=True)
        self.host_thread.start()
        self.box_thread = threading.Thread(target=self.box.run, daemon=True)
        self.box_thread.start()

    def _run_host(self):
        self.host_ended.append(self.host.run())

    def _accept(self, name, listener):
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            self.box.open_channel(name, connection)

    def socket(self, name: str) -> Path:
        return self.folder / name

    def close(self):
        for listener in self.listeners.values():
            listener.close()
        for fd in (self.to_host_w, self.to_box_w):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pair_factory(folder):
    made = []
    (folder / "box").mkdir(mode=0o755)

    def make(targets: dict[str, str], **options) -> Pair:
        made.append(Pair(folder, targets, **options))
        return made[-1]

    yield make
    for pair in made:
        pair.close()


def wait_until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


# --- carrying connections ---------------------------------------------------------------------------


def test_a_request_and_its_answer_cross_with_the_half_close(folder, pair_factory):
    service = serve_unix(folder / "logins.sock", answer_after_eof)
    pair = pair_factory({"logins.sock": str(folder / "logins.sock")})

    assert call(pair.socket("logins.sock"), b'{"path": "/home/agent/.codex/auth.json"}') == \
        b"got 40: odex/auth.json\"}"
    assert wait_until(lambda: pair.host.open_count() == 0 and pair.box.open_count() == 0)
    service.close()


def test_a_request_larger_than_the_window_is_carried_whole(folder, pair_factory):
    """A signing payload of a few MB: it needs many acknowledgements, none is lost."""
    service = serve_unix(folder / "sign.sock", answer_after_eof)
    pair = pair_factory({"sign.sock": str(folder / "sign.sock")})
    payload = os.urandom(3 * 1024 * 1024 + 17)

    answer = call(pair.socket("sign.sock"), payload)

    assert answer == b"got " + str(len(payload)).encode() + b": " + payload[-16:]
    service.close()


def test_many_connections_at_once_each_get_their_own_answer(folder, pair_factory):
    def echo(connection):
        with connection:
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
            connection.sendall(data[::-1])

    service = serve_unix(folder / "git-credential.sock", echo)
    pair = pair_factory({"git-credential.sock": str(folder / "git-credential.sock")})
    requests = {number: os.urandom(1000 + number * 7000) for number in range(40)}
    answers: dict[int, bytes] = {}

    def one(number):
        answers[number] = call(pair.socket("git-credential.sock"), requests[number], timeout=30)

    threads = [threading.Thread(target=one, args=(number,)) for number in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert answers == {number: data[::-1] for number, data in requests.items()}
    service.close()


def test_the_container_end_says_hello_with_its_sockets(folder, pair_factory):
    pair = pair_factory({"logins.sock": "/nonexistent", "sign.sock": "/nonexistent"})
    pair.box.hello(["logins.sock", "sign.sock"])

    assert wait_until(lambda: pair.hello)
    assert pair.hello == [{"v": 1, "sockets": ["logins.sock", "sign.sock"]}]


def test_a_host_service_that_is_down_closes_the_connection_at_once(folder, pair_factory):
    pair = pair_factory({"logins.sock": str(folder / "nobody-listens.sock")})

    started = time.monotonic()
    try:  # EOF, or a reset when the close beat the request: the stub's client takes both as "try again"
        assert call(pair.socket("logins.sock"), b"{}") == b""
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 5
    assert any("failed" in line for line in pair.logged)


def test_a_service_that_answers_before_reading_everything(folder, pair_factory):
    """The server half-closes first (e.g. a refusal); the client still finishes sending."""
    def refuse_early(connection):
        with connection:
            connection.recv(10)
            connection.sendall(b"refused")
            connection.shutdown(socket.SHUT_WR)
            while connection.recv(65536):
                pass

    service = serve_unix(folder / "logins.sock", refuse_early)
    pair = pair_factory({"logins.sock": str(folder / "logins.sock")})

    assert call(pair.socket("logins.sock"), os.urandom(600_000)) == b"refused"
    service.close()


# --- limits and a peer that breaks the rules ------------------------------------------------------------


class RawPeer:
    """A container end that writes whatever frames it likes to the host's Link."""

    def __init__(self, targets: dict[str, str], **options):
        self.read_r, self.read_w = os.pipe()  # host -> peer
        self.write_r, self.write_w = os.pipe()  # peer -> host
        self.logged: list[str] = []
        self.host = engine.Link(self.write_r, self.read_w, opener=relay.connect_to(targets),
                                log=self.logged.append, **options)
        self.ended: list[str] = []
        self.thread = threading.Thread(target=lambda: self.ended.append(self.host.run()), daemon=True)
        self.thread.start()
        self.frames: list[tuple[int, int, bytes]] = []
        threading.Thread(target=self._read_back, daemon=True).start()

    def _read_back(self):
        stream = os.fdopen(self.read_r, "rb", buffering=0)
        while True:
            header = stream.read(engine.HEADER.size)
            if len(header) < engine.HEADER.size:
                return
            kind, ident, length = engine.HEADER.unpack(header)
            self.frames.append((kind, ident, stream.read(length) if length else b""))

    def send(self, kind: int, ident: int, payload: bytes = b"") -> None:
        os.write(self.write_w, engine.HEADER.pack(kind, ident, len(payload)) + payload)

    def closed(self, ident: int) -> bool:
        return (engine.CLOSE, ident, b"") in self.frames


def stalled_service(path: Path) -> tuple[socket.socket, list[socket.socket]]:
    """A host socket whose server accepts and never reads: the relay's buffer is all there is."""
    held: list[socket.socket] = []

    def hold(connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        held.append(connection)

    return serve_unix(path, hold), held


def test_data_beyond_the_window_closes_that_connection_and_caps_the_hosts_buffer(folder):
    """The host's service is slow to take the connection, so nothing drains: the host holds one
    window of the connection's data and closes it at the next byte."""
    release = threading.Event()
    peer = RawPeer({})
    peer.host.opener = lambda name: release.wait(10) and None
    peer.send(engine.OPEN, 1, b"logins.sock")
    chunk = b"x" * engine.MAX_PAYLOAD
    for _ in range(engine.WINDOW // engine.MAX_PAYLOAD):
        peer.send(engine.DATA, 1, chunk)
    assert wait_until(lambda: 1 in peer.host.channels and peer.host.channels[1].unacked == engine.WINDOW)
    assert not peer.closed(1)

    peer.send(engine.DATA, 1, b"y")

    assert wait_until(lambda: peer.closed(1))
    assert any("beyond its window" in line for line in peer.logged)
    assert peer.host.open_count() == 0  # its buffer went with it
    assert peer.thread.is_alive()  # one bad connection does not end the link
    release.set()


def test_a_frame_over_the_size_limit_drops_the_link(folder):
    peer = RawPeer({})
    os.write(peer.write_w, engine.HEADER.pack(engine.DATA, 1, engine.MAX_PAYLOAD + 1))

    peer.thread.join(5)
    assert peer.ended == [f"a frame of {engine.MAX_PAYLOAD + 1} bytes (type {engine.DATA}) is over the limit"]


def test_an_unknown_frame_type_drops_the_link(folder):
    peer = RawPeer({})
    peer.send(99, 1)

    peer.thread.join(5)
    assert peer.ended == ["unknown frame type 99"]


def test_more_connections_than_the_limit_are_refused(folder):
    listener, held = stalled_service(folder / "logins.sock")
    peer = RawPeer({"logins.sock": str(folder / "logins.sock")}, max_channels=3)
    for ident in range(1, 6):
        peer.send(engine.OPEN, ident, b"logins.sock")

    assert wait_until(lambda: peer.closed(4) and peer.closed(5))
    assert not peer.closed(1) and peer.host.open_count() == 3
    listener.close()


def test_a_socket_name_the_link_does_not_serve_is_refused(folder):
    peer = RawPeer({"logins.sock": str(folder / "logins.sock")})
    peer.send(engine.OPEN, 1, b"../../control.sock")

    assert wait_until(lambda: peer.closed(1))
    assert peer.host.open_count() == 0


def test_a_flood_of_broken_rules_drops_the_link(folder):
    peer = RawPeer({})
    for _ in range(engine.MAX_VIOLATIONS + 1):
        peer.send(engine.OPEN, 1, b"again")  # reusing an id is a broken rule

    peer.thread.join(10)
    assert peer.ended == [f"{engine.MAX_VIOLATIONS} broken rules"]
    assert len(peer.logged) < 10  # logged, but not once per frame


def test_acknowledging_more_than_was_sent_closes_the_connection(folder):
    listener, held = stalled_service(folder / "logins.sock")
    peer = RawPeer({"logins.sock": str(folder / "logins.sock")})
    peer.send(engine.OPEN, 1, b"logins.sock")
    peer.send(engine.ACK, 1, struct.pack(">I", 10))

    assert wait_until(lambda: peer.closed(1))
    listener.close()


def test_a_connection_that_never_closes_is_ended_when_idle(folder):
    listener, held = stalled_service(folder / "logins.sock")
    peer = RawPeer({"logins.sock": str(folder / "logins.sock")}, idle_seconds=0.3)
    peer.send(engine.OPEN, 1, b"logins.sock")

    assert wait_until(lambda: peer.closed(1), timeout=15)
    assert any("idle" in line for line in peer.logged)
    listener.close()


# --- the stream dying -------------------------------------------------------------------------------------


def test_the_stream_dying_ends_every_connection_on_both_sides(folder, pair_factory):
    def never_answer(connection):
        time.sleep(30)

    service = serve_unix(folder / "logins.sock", never_answer)
    pair = pair_factory({"logins.sock": str(folder / "logins.sock")})
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(10)
    client.connect(str(pair.socket("logins.sock")))
    client.sendall(b"request")
    assert wait_until(lambda: pair.host.open_count() == 1)

    os.close(pair.to_host_w)  # the exec is gone: the host reads EOF ...
    os.close(pair.to_box_w)  # ... and so does the container's end

    assert wait_until(lambda: pair.host_ended)
    assert pair.host_ended == ["the stream ended"]
    try:  # the client hears at once (EOF or a reset), and the stub tries again later
        assert client.recv(100) == b""
    except ConnectionResetError:
        pass
    assert wait_until(lambda: pair.box.open_count() == 0)
    client.close()
    service.close()


def test_the_container_end_as_ca_stub_relay_serves_until_its_stdin_closes(folder):
    """`ca-stub relay DIR NAME` as docker exec runs it: HELLO, connections, then EOF ends it and
    its sockets go."""
    service = serve_unix(folder / "sign.sock", answer_after_eof)
    box = folder / "box"
    box.mkdir(mode=0o755)
    child = subprocess.Popen([sys.executable, str(ROOT / "stub" / "ca-stub"), "relay", str(box), "sign.sock"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    hello: list[dict] = []
    host = engine.Link(child.stdout.fileno(), child.stdin.fileno(),
                       opener=relay.connect_to({"sign.sock": str(folder / "sign.sock")}), on_hello=hello.append)
    runner_thread = threading.Thread(target=host.run, daemon=True)
    runner_thread.start()
    try:
        assert wait_until(lambda: hello)
        assert hello == [{"v": 1, "sockets": ["sign.sock"]}]
        assert oct((box / "sign.sock").stat().st_mode & 0o777) == "0o666"
        assert call(box / "sign.sock", b"payload") == b"got 7: payload"
    finally:
        child.stdin.close()
        assert child.wait(10) == 0
    assert not (box / "sign.sock").exists()
    service.close()


def test_the_container_end_refuses_a_folder_others_may_write(folder):
    box = folder / "box"
    box.mkdir()
    os.chmod(box, 0o777)

    with pytest.raises(OSError, match="is not this relay's own folder"):
        engine.listen_all(str(box), ["logins.sock"])
    os.chmod(box, 0o755)


# --- the host's plan ---------------------------------------------------------------------------------------


def test_link_argv_runs_the_container_end_as_the_relay_uid():
    plan = relay.LinkPlan("s1", "/run/coding-agents", (("logins.sock", "/h/logins.sock"), ("sign.sock", "/h/s")))

    assert plan.argv() == ["docker", "exec", "-i", "--user", "1001:1001", "s1",
                           "ca-stub", "relay", "/run/coding-agents", "logins.sock", "sign.sock"]


def test_the_host_runs_the_stubs_own_engine():
    """One wire format: the host loads the bundled stub's file, not a copy of it."""
    assert engine.__file__ == "stub/ca_stub/relay.py"
    source = (ROOT / "stub" / "ca_stub" / "relay.py").read_text()
    assert f"MAX_PAYLOAD = {engine.MAX_PAYLOAD // 1024} * 1024" in source


# --- keeping the link up (keep_linked), with the engine faked at its two calls -----------------------------


@pytest.fixture
def engine_runs(monkeypatch):
    """relay.container_run answers keep_linked's loop from a list; each exec (run_link) and each
    wait is recorded. Asked once the link listens (another thread), the engine gives the answer
    the loop had last, or the next one of after_exec (the fixture gives states, seen, after_exec)."""
    states: list[tuple[str, str]] = []
    seen: list[str] = []
    after_exec: list[tuple[str, str]] = []
    last = [("missing", "")]

    def container_run(name):
        if threading.current_thread() is not threading.main_thread():
            return after_exec.pop(0) if after_exec else last[0]
        last[0] = states.pop(0) if states else ("missing", "")
        return last[0]

    def run_link(plan, on_ready=None):
        seen.append("exec")
        if on_ready:
            on_ready()
        return "the stream ended (exec exit 0)"

    monkeypatch.setattr(relay, "container_run", container_run)
    monkeypatch.setattr(relay, "run_link", run_link)
    monkeypatch.setattr(relay, "wait_for_change", lambda name, timeout, since=None, after=None: seen.append("wait"))
    monkeypatch.setattr(relay, "_FAST_FAILURE", 0.0)  # no backoff between the faked execs
    return states, seen, after_exec


PLAN = relay.LinkPlan("s1", "/run/coding-agents", (("logins.sock", "/h/logins.sock"),))


def test_keep_linked_runs_the_exec_again_each_time_the_container_runs_again(engine_runs, tmp_path):
    states, seen, _ = engine_runs
    states += [("running", "t1"), ("running", "t1"), ("stopped", "t1"), ("running", "t2"), ("missing", "")]
    restarts = []
    marker = str(tmp_path / "link.ready")

    relay.keep_linked(PLAN, threading.Event(), marker=marker, on_new_run=restarts.append)

    # The exec died while the container ran (same run): again at once. Stopped: wait for a start.
    assert seen == ["exec", "exec", "wait", "exec"]
    assert wait_until(lambda: restarts == ["t2"])  # a new run, not the first one seen: logins go in again
    assert not os.path.exists(marker)  # it marks only a listening container end


def test_a_restart_between_the_question_and_the_exec_is_a_new_run(engine_runs):
    """`docker restart`: asked while the old run was stopping (still running, its start time),
    the exec reaches the new run; once the link listens, the engine's answer shows the new run."""
    states, seen, after_exec = engine_runs
    states += [("running", "t1"), ("running", "t1"), ("missing", "")]
    after_exec += [("running", "t1"), ("running", "t2")]
    restarts = []

    relay.keep_linked(PLAN, threading.Event(), on_new_run=restarts.append)

    assert seen == ["exec", "exec"]
    assert wait_until(lambda: restarts == ["t2"])


def test_a_run_seen_again_is_not_a_restart(engine_runs):
    """The two askers' answers may come out of order: a start time seen once is never new again."""
    states, _, after_exec = engine_runs
    states += [("running", "t1"), ("running", "t2"), ("missing", "")]
    after_exec += [("running", "t1"), ("running", "t1")]
    restarts = []

    relay.keep_linked(PLAN, threading.Event(), on_new_run=restarts.append)

    assert wait_until(lambda: restarts == ["t2"])
    time.sleep(0.2)  # both links' late answers (t1) have come by now
    assert restarts == ["t2"]


def test_keep_linked_waits_for_a_container_that_is_not_there_yet(engine_runs):
    """The MCP sidecar is created after the _bridge process starts."""
    states, seen, _ = engine_runs
    states += [("missing", ""), ("unknown", ""), ("running", "t1"), ("missing", "")]

    relay.keep_linked(PLAN, threading.Event())

    assert seen == ["wait", "wait", "exec"]


def test_keep_linked_stops_when_asked(engine_runs):
    states, seen, _ = engine_runs
    stop = threading.Event()
    stop.set()
    states += [("running", "t1")]

    relay.keep_linked(PLAN, stop)

    assert seen == []


# --- the report channel: served in the host's relay process (take_report) ----------------------------

REPORT = {"tip": "a" * 40, "ahead": 1, "dirty": False, "elsewhere": [], "screen": None}


def report_plan(container_id: str = "c" * 64) -> relay.LinkPlan:
    return relay.LinkPlan("s1", "/run/coding-agents", (), reports_of="s1", container_id=container_id)


def test_a_pushed_report_crosses_the_link_and_is_kept_as_the_links_session(folder, pair_factory, state_home):
    """No host socket and no handler process: the relay's own process takes it, then closes (the
    stub's EOF), with the id of the container the link runs in."""
    from agents.session import reports

    pair = pair_factory({}, plan=report_plan())

    started = time.time()
    assert call(pair.socket("report.sock"), json.dumps(REPORT).encode()) == b""

    kept = reports.load_pushed("s1")
    assert kept["container"] == "c" * 64 and kept["report"] == REPORT
    assert started <= kept["arrived"] <= time.time()
    assert list(folder.iterdir()) == [folder / "box"]  # no host socket was made for it


def test_a_pushed_report_over_the_size_limit_is_refused_and_nothing_is_kept(folder, pair_factory, state_home,
                                                                            capsys):
    from agents.session import reports

    pair = pair_factory({}, plan=report_plan())
    padded = json.dumps(REPORT).encode() + b" " * reports.MAX_PUSHED  # valid JSON, one report too long

    call(pair.socket("report.sock"), padded)

    assert wait_until(lambda: "s1: report refused: over the size or time limit" in capsys.readouterr().err, timeout=5)
    assert reports.load_pushed("s1") is None
    call(pair.socket("report.sock"), json.dumps(REPORT).encode())  # the positive control: the same link
    assert reports.load_pushed("s1")["report"] == REPORT


def test_a_report_connection_that_never_ends_is_dropped(folder, pair_factory, state_home, monkeypatch):
    from agents.session import reports

    monkeypatch.setattr(relay, "_REPORT_SECONDS", 0.3)
    pair = pair_factory({}, plan=report_plan())

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(str(pair.socket("report.sock")))
        connection.sendall(json.dumps(REPORT).encode())  # and no half-close
        began = time.monotonic()
        assert connection.recv(10) == b""  # the host's end closed it
        assert time.monotonic() - began < 3
    assert reports.load_pushed("s1") is None


def test_the_report_socket_is_refused_on_a_link_that_serves_no_reports(folder, pair_factory, state_home):
    """The MCP sidecar's link (no reports_of): a container there cannot write a session's report."""
    from agents.session import reports

    plan = relay.LinkPlan("s1-mcp", "/run/coding-agents-broker", ())
    opener = relay.connect_to({}, plan)

    assert opener("report.sock") is None
    assert relay.connect_to({})("report.sock") is None
    assert plan.names() == [] and reports.load_pushed("s1") is None


def test_keep_linked_gives_each_run_of_the_link_the_id_the_engine_gave_before_the_exec(monkeypatch):
    runs: list[relay.LinkPlan] = []
    states = [("running", "t1", "id-1"), ("running", "t2", "id-2"), ("missing", "", "")]
    monkeypatch.setattr(relay, "container_run", lambda name: states.pop(0))
    monkeypatch.setattr(relay, "run_link", lambda plan, on_ready=None: runs.append(plan) or "ended")
    monkeypatch.setattr(relay, "_FAST_FAILURE", 0.0)

    relay.keep_linked(report_plan(container_id=""), threading.Event())

    assert [plan.container_id for plan in runs] == ["id-1", "id-2"]


def test_container_run_asks_for_the_id_too(fp):
    fp.register(["docker", "inspect", "--format", "{{.State.Running}} {{.State.StartedAt}} {{.Id}}", "s1"],
                stdout="true 2026-01-02T03:04:05.1Z " + "c" * 64 + "\n")

    assert relay.container_run("s1") == ("running", "2026-01-02T03:04:05.1Z", "c" * 64)


# --- the engine's events between the runs of a link -------------------------------------------------


@pytest.fixture
def watches(monkeypatch):
    """runner.start_stream faked with a child that prints one event line (and lives on): the
    argv of each watch is recorded."""
    from agents import runner

    started: list[list[str]] = []

    def start_stream(argv, stdin=True):
        started.append(list(argv))
        return subprocess.Popen(["sh", "-c", "printf 'start 1796412409879799228\\n'; exec sleep 30"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, bufsize=0)

    monkeypatch.setattr(runner, "start_stream", start_stream)
    monkeypatch.setattr(runner, "engine_kind", lambda: "docker")
    monkeypatch.setattr(runner, "engine", lambda: "docker")
    return started


def test_the_first_watch_begins_before_the_question_and_says_when_its_event_was(watches):
    assert relay.wait_for_change("s1", 5.0, since=1796412410.5) == 1796412409879799228

    argv = watches[0]
    assert argv[argv.index("--since") + 1] == "1796412408"  # 2 s before the question (whole seconds)
    assert argv[argv.index("--format") + 1] == "{{.Action}} {{.TimeNano}}"


def test_a_watch_after_an_event_begins_just_after_it(watches):
    """The event that ended the last wait is not shown again (a start seconds ago would end every
    wait at once)."""
    relay.wait_for_change("s1", 5.0, since=1796412420.0, after=1796412409999999999)

    argv = watches[0]
    assert argv[argv.index("--since") + 1] == "1796412410.000000000"


def test_keep_linked_hands_each_wait_the_event_that_ended_the_last(monkeypatch):
    answers = [("running", "t1"), ("stopped", "t1"), ("stopped", "t1"), ("missing", "")]
    waits: list[int | None] = []
    monkeypatch.setattr(relay, "container_run", lambda name: answers.pop(0))
    monkeypatch.setattr(relay, "run_link", lambda plan, on_ready=None: "the stream ended (exec exit 0)")
    monkeypatch.setattr(relay, "_FAST_FAILURE", 0.0)

    def wait_for_change(name, timeout, since=None, after=None):
        waits.append(after)
        return 1000 + len(waits)

    monkeypatch.setattr(relay, "wait_for_change", wait_for_change)

    relay.keep_linked(PLAN, threading.Event())

    assert waits == [None, 1001]


def test_an_event_line_gives_its_time_and_anything_else_none():
    assert relay.event_time(b"destroy 1796412409948446378\n") == 1796412409948446378
    assert relay.event_time(b"") is None
    assert relay.event_time(b"start soon\n") is None
