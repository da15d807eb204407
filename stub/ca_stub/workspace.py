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


def wait_until_filled(stopping, timeout=300.0):
    """The host streams the repository in through `docker exec` right after the start; the CLI
    starts on the filled workspace. (A launch whose fill fails removes the container.)"""
    deadline = time.monotonic() + timeout
    while filling() and not stopping["flag"]:
        if time.monotonic() > deadline:
            print("ca-stub: the workspace was not filled; starting without it", flush=True)
            return
        time.sleep(0.02)


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
