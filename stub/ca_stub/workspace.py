"""The agent container's workspace: auto-commit, and the branch facts of `ca-stub health`."""
import json
import os
import subprocess
import time

from ca_stub import common, paths

AUTO_COMMIT_MESSAGE = "coding-agents: auto-commit of uncommitted work"


def git(*args, check=False):
    return subprocess.run(["git", "-C", paths.WORKSPACE, *args], capture_output=True, text=True, check=check)


def filling():
    """Whether the host is still filling the workspace of this new session (nothing may touch it)."""
    return os.environ.get(paths.WAIT_WORKSPACE_VAR) == "1" and not os.path.exists(paths.WORKSPACE_FILLED)


def wait_until_filled(stopping, timeout=300.0, stream=0):
    """A new session's workspace arrives on this process's stdin (stream), from the host's attached
    `docker run --interactive` that started the container: fill() reads it and the CLI starts on
    the filled workspace. False: the fill failed (the session ends; the launch removes the container)."""
    if os.environ.get(paths.WAIT_WORKSPACE_VAR) != "1":
        return True
    try:
        if filling():
            print(paths.FILL_WAITING, flush=True)  # the container runs: what `run --detach` returning said
            fill(_Stream(stream, time.monotonic() + timeout, stopping))
            print(paths.FILL_DONE, flush=True)
    except _Stopped:
        pass
    except TimeoutError:
        print("ca-stub: the workspace was not filled; starting without it", flush=True)
    except (FillError, OSError, ValueError, KeyError, TypeError) as error:
        print(paths.FILL_FAILED + str(error), flush=True)
        return False
    finally:
        # The container's stdin (kept open for the fill, never ended) is not the CLI's: it reads
        # no input from there, as before the fill came that way (and after a restart).
        if stream == 0:
            quiet = os.open(os.devnull, os.O_RDONLY)
            os.dup2(quiet, 0)
            os.close(quiet)
    return True


class FillError(Exception):
    """Why the workspace could not be filled (git's own words where it refused)."""


class _Stopped(Exception):
    """SIGTERM while the fill was awaited."""


class _Stream:
    """The host's fill as it arrives: lines and counted bytes, each read given up at the deadline."""

    def __init__(self, fd, deadline, stopping):
        self.fd, self.deadline, self.stopping, self.buffer = fd, deadline, stopping, b""

    def _more(self):
        import select

        while True:
            if self.stopping["flag"]:
                raise _Stopped()
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    raise FillError("the host's stream ended before the fill did")
                self.buffer += chunk
                return

    def line(self, limit=1 << 16):
        while b"\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise FillError("the fill's header is too long")
            self._more()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def chunks(self):
        """The pack's pieces: each "<size>\\n<size bytes>", until a size of 0."""
        while True:
            size = int(self.line(32))
            if size == 0:
                return
            while size:
                if not self.buffer:
                    self._more()
                piece, self.buffer = self.buffer[:size], self.buffer[size:]
                size -= len(piece)
                yield piece


def config_value(text):
    """text as a quoted value of a git config file (what `git config KEY text` writes reads back)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def fill(stream):
    """Make the (empty) workspace the host's checkout: a JSON header line (identity, start commit,
    branch, the commit of the host's uncommitted changes or ""), then a git pack of those commits'
    trees (no history: the start commit is a shallow boundary). The marker is written last."""
    header = json.loads(stream.line())
    name, email = header["identity"]
    start, branch, uncommitted = header["commit"], header["branch"], header["uncommitted"]
    git_dir = os.path.join(paths.WORKSPACE, ".git")
    if os.path.exists(git_dir):
        raise FillError("workspace volume is not empty")
    parts = branch.split("/")
    if not all(c in "0123456789abcdef" for c in start) or len(start) not in (40, 64) \
            or "" in parts or any(part.startswith(".") for part in parts):
        raise FillError(f"not a commit and branch git took on the host: {start!r} {branch!r}")

    def refused(command, stderr, code):
        # All of what git said, on the answer's one line: its last line alone can be a summary
        # ("Could not reset index file") of the one before that names the path.
        said = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())
        return FillError(f"git {command}: " + (said[-500:] if said else f"exit {code}"))

    def step(*args):
        done = git(*args)
        if done.returncode != 0:
            raise refused(args[0], done.stderr, done.returncode)

    step("init", "-q")
    # What `git config user.*`, `git update-ref` and `git symbolic-ref` would write, written here
    # (three processes fewer before the CLI starts); the branch is one git accepted on the host.
    with open(os.path.join(git_dir, "config"), "a") as config:
        config.write(f"[user]\n\tname = {config_value(name)}\n\temail = {config_value(email)}\n")
    indexing = subprocess.Popen(["git", "-C", paths.WORKSPACE, "index-pack", "--stdin"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for piece in stream.chunks():
            indexing.stdin.write(piece)
    except BrokenPipeError:
        pass  # git stopped reading: its own error is the one to tell
    finally:
        try:
            indexing.stdin.close()
        except BrokenPipeError:
            pass
    said = indexing.stderr.read().decode("utf-8", "replace")
    if indexing.wait() != 0:
        raise refused("index-pack", said, indexing.returncode)
    with open(os.path.join(git_dir, "shallow"), "w") as shallow:
        shallow.write(start + "\n")
    ref = os.path.join(git_dir, "refs", "heads", *parts)
    os.makedirs(os.path.dirname(ref), exist_ok=True)
    with open(ref, "w") as tip:
        tip.write(start + "\n")
    with open(os.path.join(git_dir, "HEAD"), "w") as head:
        head.write(f"ref: refs/heads/{branch}\n")
    step("reset", "-q", "--hard")
    if uncommitted:
        step("read-tree", "-m", "-u", "HEAD", uncommitted)
        step("reset", "-q")
    open(paths.WORKSPACE_FILLED, "w").close()


def autocommit():
    """Commit everything uncommitted (tracked and untracked); return True if a commit was made."""
    if filling() or not os.path.isdir(os.path.join(paths.WORKSPACE, ".git")):
        return False
    if not git("status", "--porcelain").stdout.strip():
        return False
    git("add", "-A")
    done = git("commit", "-q", "--no-verify", "-m", AUTO_COMMIT_MESSAGE)
    if done.returncode != 0:
        # Signing can fail (host signer away); an unsigned commit beats lost work.
        done = git("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", AUTO_COMMIT_MESSAGE)
    return done.returncode == 0


def health():
    """Print what the host asks of the session branch; which commits it lacks, it decides itself
    (agents/workspace.py: count_unsynced), since this report comes from inside the sandbox."""
    if filling():  # git here could take the index lock the fill needs
        report_health({"tip": None, "ahead": None, "dirty": None, "elsewhere": [], "filling": True})
        return 0
    branch = os.environ.get(paths.BRANCH_VAR, "")
    base = os.environ.get(paths.BASE_VAR, "")
    ref = "refs/heads/" + branch if branch else "HEAD"
    tip = git("rev-parse", "-q", "--verify", ref + "^{commit}").stdout.strip() or None
    ahead = None
    if tip and base:
        counted = git("rev-list", "--count", tip, "^" + base)
        ahead = int(counted.stdout.strip()) if counted.returncode == 0 else None
    dirty = bool(git("status", "--porcelain").stdout.strip())
    report_health({"tip": tip, "ahead": ahead, "dirty": dirty, "elsewhere": elsewhere(tip), "screen": screen()})
    return 0


PUSH_SECONDS = 0.5


def report_health(report):
    """Print the report (the engine keeps it), then push it to the host through the relay, so that
    list-agents need not ask the engine; best effort: no relay, or a slow one, changes nothing."""
    text = json.dumps(report)
    print(text, flush=True)
    push(text.encode(), paths.REPORT_SOCKET)


def push(data, path, timeout=PUSH_SECONDS):
    """Send data to the socket at path; whether the host took it (closed its end) within timeout."""
    try:
        common.socket_call(path, data, timeout)
    except OSError:
        return False
    return True


def screen():
    """When the agent's window last had output, whether the agent has exited, and this clock, in
    seconds ("LAST DEAD NOW"), from tmux; None without the tmux session (a --prompt task, a
    throwaway container). The host decides from it what the agent is doing (agents/land.py: activity)."""
    try:
        shown = subprocess.run(["tmux", "display-message", "-p", "-t", paths.AGENT_PANE,
                                "#{window_activity} #{pane_dead}"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    fields = shown.stdout.split()
    if shown.returncode != 0 or len(fields) != 2:
        return None
    return f"{fields[0]} {fields[1]} {int(time.time())}"


def elsewhere(tip):
    """Commits that only a sync of the session branch would miss: other branches, or a detached HEAD."""
    found = []
    base = os.environ.get(paths.BASE_VAR, "")
    exclude = ["^" + ref for ref in (tip, base) if ref]
    heads = git("for-each-ref", "--format=%(refname:short)", "refs/heads/").stdout.split()
    branch = os.environ.get(paths.BRANCH_VAR, "")
    for name in heads:
        if name == branch:
            continue
        count = git("rev-list", "--count", name, *exclude).stdout.strip()
        if count.isdigit() and int(count):
            found.append({"ref": name, "commits": int(count)})
    if git("symbolic-ref", "-q", "HEAD").returncode != 0:
        count = git("rev-list", "--count", "HEAD", *exclude).stdout.strip()
        if count.isdigit() and int(count):
            found.append({"ref": "HEAD (detached)", "commits": int(count)})
    return found
