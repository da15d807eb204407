"""Ctrl-C during a launch: whenever it comes, nothing of the session is left and the exit is 130.

A real `launch-agent` (squid mode, so the proxy and both networks are involved; a repository with an
https remote, so the host-side git credential bridge runs too) gets SIGINT at many delays across
its whole run: sometimes only the process (`kill -INT`), sometimes its whole process group, as a
terminal's Ctrl-C does (the docker CLIs it runs get it as well). After each try no container,
volume or network labelled for the repository may exist, no `_bridge` or `_collect` helper of the
session may run, and no bridge folder may be left.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import docker, git, launched_name, wait_for

NAME = "ca-interrupt"


def leftovers(repo: Path) -> dict[str, list[str]]:
    """Containers, volumes and networks labelled for repo."""
    label = f"label=coding-agents.repo={repo.resolve()}"
    found = {}
    for kind, argv in (("containers", ["ps", "--all", "--format", "{{.Names}}"]),
                       ("volumes", ["volume", "ls", "--format", "{{.Name}}"]),
                       ("networks", ["network", "ls", "--format", "{{.Name}}"])):
        found[kind] = docker(*argv, "--filter", label).stdout.decode().split()
    return {kind: names for kind, names in found.items() if names}


def helpers_of(name: str) -> list[str]:
    """Command lines of running `_bridge NAME` / `_collect NAME` host helpers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if name in argv and any(arg in ("_bridge", "_collect") for arg in argv):
            found.append(" ".join(argv))
    return found


def bridge_folders(home: Path, env: dict[str, str], name: str) -> list[Path]:
    """The session's bridge settings folder and its sockets folder (agents/bridges.py), if they exist."""
    runtime = env.get("XDG_RUNTIME_DIR")
    runtime_dir = Path(runtime) / "coding-agents" if runtime and os.path.isdir(runtime) \
        else Path("/tmp") / f"coding-agents-{os.geteuid()}"
    candidates = [home / ".local" / "state" / "coding-agents" / "bridges" / name,
                  runtime_dir / hashlib.sha256(name.encode()).hexdigest()[:16]]
    return [path for path in candidates if path.exists()]


def wait_for_a_child(pid: int, seconds: float = 30.0) -> bool:
    """Until the process pid runs its first git or docker (not the zipapp's boot, whose shell forks
    before Python starts), or has ended; False if neither came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                name, _, rest = stat.partition(" (")[2].rpartition(") ")
                if int(rest.split()[1]) == pid and name in ("git", "docker"):  # after the state: its parent
                    return True
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.002)
    return False


def start_launch(pyz: Path, env: dict[str, str], repo: Path) -> subprocess.Popen:
    # Its own session: a group signal reaches it and its children only, like a terminal's Ctrl-C.
    return subprocess.Popen([str(pyz), "launch-agent", "shell", str(repo), "--network-proxy", "squid", "--name", NAME],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def test_ctrl_c_at_any_moment_of_a_launch_leaves_nothing(pyz, cli, cli_env, user_home, repo):
    git(repo, "remote", "add", "origin", "https://git.example.com/team/app.git")  # the credential bridge runs
    started = time.monotonic()
    whole = cli("launch-agent", "shell", str(repo), "--network-proxy", "squid", "--name", NAME)
    duration = time.monotonic() - started
    assert launched_name(whole) == NAME
    assert helpers_of(NAME), "a squid session with an https remote has host helpers"
    assert cli("remove-agent", NAME, "-y").returncode == 0
    wait_for(lambda: not leftovers(repo) and not helpers_of(NAME), 30, "the first session to go")

    outcomes: list[str] = []
    # 0.1 s steps from the launch's first git or docker on (its checks have begun: main handles a
    # Ctrl-C; they may be over within 0.2 s), until a launch ends before its signal (the machine's load
    # varies: the first launch's time is only a guide for the limit).
    for step in range(int(3 * duration / 0.1) + 30):
        if outcomes and outcomes[-1] == "done":
            break
        delay = 0.1 * step
        group = step % 2 == 1
        child = start_launch(pyz, cli_env, repo)
        assert wait_for_a_child(child.pid), "the launch started no process"
        time.sleep(delay)
        if group:
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=300)
        where = (f"SIGINT to the {'group' if group else 'process'} {delay:.1f}s after its first child: "
                 f"exit {child.returncode}\n{stderr}")
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, where
        if child.returncode == 0:
            # The launch had ended before the signal came: it says so, and the session is a normal one.
            assert f"connect-agent {NAME}" in stdout, where
            outcomes.append("done")
            assert cli("remove-agent", NAME, "-y").returncode == 0
            wait_for(lambda: not leftovers(repo) and not helpers_of(NAME), 30, "the session to go")
            continue
        assert child.returncode == 130, where
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("interrupted"), where
        assert sum(line.startswith("interrupted") for line in lines) == 1, where
        assert not [line for line in lines if line.startswith(("error:", "hint:"))], where
        outcomes.append("undone" if "undone" in lines[-1] else "before")
        assert leftovers(repo) == {}, where
        # A helper started just before the signal may need a moment to end after its SIGTERM.
        wait_for(lambda: not helpers_of(NAME), 10, f"no host helper of {NAME} ({where})")
        assert bridge_folders(user_home, cli_env, NAME) == [], where
    # The delays covered the launch from before anything existed to after it had ended.
    assert "before" in outcomes and outcomes.count("undone") >= 10 and outcomes[-1] == "done", outcomes
