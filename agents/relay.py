"""The host's end of the relay: a session's Unix-socket services reach its containers over the
engine's own streams, never over a mounted host path.

Per container, one `docker exec -i --user RELAY_UID NAME ca-stub relay DIR SOCKET...` runs the
container's end (stub/ca_stub/relay.py): it listens on DIR/SOCKET inside, in a tmpfs folder only
the relay's uid may write, and sends every connection as frames on its stdout. Here each
connection goes to the host socket of that name, so the handlers and their decisions are the
ones the bridges always had (agents/bridges.py):

  agent container, /run/coding-agents           logins, git credentials, signing, ssh-agent
                                                 -> the session's socat listeners on this machine
  MCP sidecar, /run/coding-agents-broker         broker.sock -> the broker's redeem socket of
                                                 this session (agents/broker.py)
  agent container, /run/coding-agents           report.sock -> served here, in this process:
                                                 the stub's health report (session.reports)

The wire format and both ends' engine (framing, flow control, limits) are one module, the
stub's; the host loads that file from the bundled stub, so the two ends cannot disagree. The
`_bridge NAME` helper keeps each link up while the session exists: when the exec ends (the
container stopped, `docker restart`, an engine restart), it waits for the container to run again
and starts a new one. Requests in the gap fail at once (the socket refuses), and the stub sends
refreshed logins again at its next look.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import types

from agents import records, runner
from agents.records import record
from agents.session import naming

BROKER_SOCKET = "broker.sock"
REPORT_SOCKET = "report.sock"
_REPORT_SECONDS = 2.0  # a pushed report is one small write: a connection that dawdles is dropped
# A tmpfs the relay's uid owns, 0755: the agent's user can connect to a socket there (0666), not
# put its own in its place. noexec and nosuid like every other writable mount.
_TMPFS_OPTIONS = f"rw,nosuid,nodev,noexec,size=1m,uid={naming.RELAY_UID},gid={naming.RELAY_UID},mode=0755"
# Podman refuses a tmpfs's uid= and gid=: its folder is made root's, 0755, and each link first
# hands it to the relay's uid (LinkPlan.owner_argv), before the relay checks that it owns it.
_PODMAN_TMPFS_OPTIONS = "rw,nosuid,nodev,noexec,size=1m,mode=0755"
_FAST_FAILURE = 2.0  # an exec that ends sooner than this was not working: wait before the next


@record(frozen=True)
class LinkPlan:
    """One container's link: where its end listens, and the host socket behind each name."""

    container: str
    directory: str  # inside the container
    targets: tuple[tuple[str, str], ...]  # (socket name, host socket path)
    reports_of: str = ""  # a session: REPORT_SOCKET is served here, its reports kept as that session's
    container_id: str = ""  # the container this run of the link reaches (keep_linked fills it in)

    def names(self) -> list[str]:
        return [*(name for name, _ in self.targets), *([REPORT_SOCKET] if self.reports_of else [])]

    def argv(self) -> list[str]:
        user = f"{naming.RELAY_UID}:{naming.RELAY_UID}"
        return [runner.engine(), "exec", "-i", "--user", user, self.container, "ca-stub", "relay", self.directory,
                *self.names()]

    def owner_argv(self) -> list[str] | None:
        """Under podman, what makes the folder the relay's (the container has no capability left,
        so the one exec that can chown is a privileged one of ours, running chown alone)."""
        if runner.engine_kind() != "podman":
            return None
        return [runner.engine(), "exec", "--user", "0", "--privileged", self.container,
                "chown", f"{naming.RELAY_UID}:{naming.RELAY_UID}", self.directory]


def tmpfs_args(directory: str) -> list[str]:
    """`docker run` flags for a container end's socket folder."""
    options = _PODMAN_TMPFS_OPTIONS if runner.engine_kind() == "podman" else _TMPFS_OPTIONS
    return ["--tmpfs", f"{directory}:{options}"]


_frames: types.ModuleType | None = None


def frames() -> types.ModuleType:
    """The stub's relay module (wire format and engine), loaded from the bundled stub."""
    global _frames
    if _frames is None:
        from agents import resources

        source = resources.resource("stub/ca_stub/relay.py").read_text()
        module = types.ModuleType("ca_stub_relay")
        module.__file__ = "stub/ca_stub/relay.py"
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own bundled file
        _frames = module
    return _frames


def take_report(connection: socket.socket, session: str, container_id: str) -> None:
    """The in-process end of REPORT_SOCKET: read one report (to EOF, bounded in size and time),
    keep it as this link's session's (session.reports.receive), and close."""
    from agents.session import reports

    chunks, size = [], 0
    try:
        connection.settimeout(_REPORT_SECONDS)
        deadline = time.monotonic() + _REPORT_SECONDS
        while size <= reports.MAX_PUSHED and time.monotonic() < deadline:
            chunk = connection.recv(reports.MAX_PUSHED + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        else:
            say(session, "report refused: over the size or time limit")
            return
        refused = reports.receive(session, container_id, b"".join(chunks))
        if refused:
            say(session, f"report refused: {refused}")
    except OSError as error:
        say(session, f"report lost: {error}")
    finally:
        connection.close()


def connect_to(targets: dict[str, str], plan: LinkPlan | None = None):
    """The host end's opener: a name the container asks for -> a connection to its host socket
    (REPORT_SOCKET: to a thread of this process, take_report)."""

    def opener(name: str) -> socket.socket | None:
        if plan is not None and plan.reports_of and name == REPORT_SOCKET:
            ours, theirs = socket.socketpair()
            threading.Thread(target=take_report, args=(ours, plan.reports_of, plan.container_id), daemon=True).start()
            return theirs
        path = targets.get(name)
        if path is None:
            return None  # not a socket of this link: refused
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(path)
        except OSError:
            connection.close()
            raise
        return connection

    return opener


def say(container: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} relay {container}: {message}", file=sys.stderr, flush=True)


def run_link(plan: LinkPlan, on_ready=None) -> str:
    """One exec, carried until it ends; why it ended. on_ready() runs once the container end listens."""
    engine = frames()
    owner = plan.owner_argv()
    if owner is not None:  # (a fresh tmpfs each time the container starts)
        made = runner.run(owner, check=False)
        if not made.ok:
            return f"its folder could not be made the relay's: {runner.last_line(made.stderr)}"
    child = runner.start_stream(plan.argv())
    assert child.stdin is not None and child.stdout is not None

    def hello(message: dict) -> None:
        say(plan.container, f"listening: {', '.join(str(name) for name in message.get('sockets', []))}")
        if on_ready is not None:
            on_ready()

    link = engine.Link(child.stdout.fileno(), child.stdin.fileno(), opener=connect_to(dict(plan.targets), plan),
                       on_hello=hello, log=lambda message: say(plan.container, message))
    try:
        reason = link.run()
    finally:
        for stream in (child.stdin, child.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            child.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a stuck docker client: it goes
            child.kill()
            child.wait()
    return f"{reason} (exec exit {child.returncode})"


def container_run(container: str) -> tuple[str, str, str]:
    """(state, start time, id): state is running, stopped, missing, or unknown (the engine did not answer)."""
    ident = "{{.ID}}" if runner.engine_kind() == "podman" else "{{.Id}}"  # its Go field's name
    done = runner.run([runner.engine(), "inspect", "--format",
                       f"{{{{.State.Running}}}} {{{{.State.StartedAt}}}} {ident}", container], check=False)
    if not done.ok:
        return ("missing" if "no such" in done.stderr.lower() else "unknown"), "", ""
    running, started, ident = (done.stdout.split() + ["", "", ""])[:3]
    return ("running" if running == "true" else "stopped"), started, ident


def wait_for_change(container: str, timeout: float, since: float | None = None, after: int | None = None) -> int | None:
    """Until the container starts or is removed (an engine event), or timeout passes. since: when
    its state was asked (the events from then on count: a start between that answer and this
    watch is not missed however long the watch takes to begin). after: the engine's time (ns) of
    the event that ended the previous wait: the watch begins just after it, as the 2 s before since
    would show that event again (a start seconds ago would wake every wait at once: a busy loop).
    Returns the engine's time of the event that ended this wait; None when none did."""
    import select

    podman = runner.engine_kind() == "podman"  # its events are "remove" (not "destroy"), its field .Status
    begin = f"{(after + 1) // 10**9}.{(after + 1) % 10**9:09d}" if after is not None \
        else f"{int(since or time.time()) - 2}"
    watch = runner.start_stream([runner.engine(), "events", "--since", begin,
                                 "--filter", f"container={container}", "--filter", "event=start",
                                 "--filter", f"event={'remove' if podman else 'destroy'}",
                                 "--format", "{{.Status}} {{.Time.UnixNano}}" if podman else "{{.Action}} {{.TimeNano}}"],
                                stdin=False)
    assert watch.stdout is not None
    began = time.monotonic()
    try:
        if select.select([watch.stdout], [], [], timeout)[0]:
            seen = event_time(watch.stdout.readline())
            if seen is not None:
                return seen
        if watch.poll() is not None:  # no engine to watch (it is restarting): not a busy loop
            time.sleep(max(0.0, min(timeout, 2.0) - (time.monotonic() - began)))
        return None
    finally:
        watch.kill()
        watch.wait()


def event_time(line: bytes) -> int | None:
    """The engine's time (ns) in a line of wait_for_change's watch ("start 1796412409879799228")."""
    words = line.split()
    return int(words[-1]) if len(words) == 2 and words[-1].isdigit() else None


class _Runs:
    """The runs of one container a link has seen, by start time: one not seen before, after the
    first, is a restart (on_new_run(start time) in a thread of its own). Two askers may answer out
    of order; a start time already seen is never new again."""

    def __init__(self, on_new_run) -> None:
        self.seen: set[str] = set()
        self.on_new_run = on_new_run
        self.lock = threading.Lock()

    def saw(self, started: str) -> None:
        if not started:
            return
        with self.lock:
            new, first = started not in self.seen, not self.seen
            self.seen.add(started)
        if new and not first and self.on_new_run is not None:
            threading.Thread(target=self.on_new_run, args=(started,), daemon=True).start()


def _running_since(container: str) -> str:
    state, started, *_ = container_run(container)
    return started if state == "running" else ""


def keep_linked(plan: LinkPlan, stop: threading.Event, marker: str | None = None, on_new_run=None,
                wait_timeout: float = 60.0) -> None:
    """Run the link whenever its container runs, until stop is set or the container is gone; the
    marker file exists while the container's end listens. on_new_run(start time) is called for
    each run of the container after the first one seen (a restart this process did not make)."""
    runs = _Runs(on_new_run)
    pause = 0.0
    last_event = None

    def ready() -> None:
        if marker:
            _touch(marker)
        if on_new_run is not None:
            # The state was asked before the exec: a `docker restart` in between (asked while the
            # old run stopped, the exec reached the new one) is seen here, not missed.
            threading.Thread(target=lambda: runs.saw(_running_since(plan.container)), daemon=True).start()

    while not stop.is_set():
        asked = time.time()
        state, started, *known = container_run(plan.container)
        if state == "missing" and runs.seen:
            return  # the container was removed
        if state != "running":
            last_event = wait_for_change(plan.container, wait_timeout if state != "unknown" else 2.0,
                                         since=asked, after=last_event) or last_event
            continue
        runs.saw(started)
        began = time.monotonic()
        try:
            # The id asked before the exec: a container made again under this name has another.
            this_run = records.replace(plan, container_id=known[0]) if known else plan
            reason = run_link(this_run, ready if marker or on_new_run is not None else None)
        finally:
            if marker:
                with contextlib.suppress(OSError):
                    os.unlink(marker)
        say(plan.container, f"link ended: {reason}")
        pause = min(5.0, pause * 2 or 0.2) if time.monotonic() - began < _FAST_FAILURE else 0.0
        if pause and stop.wait(pause):
            return


def _touch(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # a state file: 0600 whatever the umask


def wait_ready(marker: str, timeout: float = 10.0) -> bool:
    """Until the container's end of a link listens (its marker exists)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            return True
        runner.pause(0.05)  # a Ctrl-C during a launch is acted on here too
    return False


def ready_marker(directory: os.PathLike, container: str) -> str:
    return os.path.join(os.fspath(directory), f"link-{container}.ready")
