"""Terminals: our CLI run inside a real host tmux server (private socket), attaching to the
agent's tmux session in the container, detaching, reattaching, and cleaning up on exit."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import (
    agent_screen,
    assert_gone,
    container_state,
    docker,
    git,
    inside,
    launched_name,
    wait_for,
)

PROMPT = "agent@"  # the login shell's prompt inside the container: agent@<name>:/workspace$


class HostTmux:
    """A private tmux server (`tmux -L <socket>`) whose panes run our CLI like a user's terminal."""

    def __init__(self, env: dict[str, str], status_dir: Path):
        self.socket = f"ca-test-{uuid.uuid4().hex[:8]}"
        self.status_dir = status_dir
        self.status_paths: dict[str, Path] = {}
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "host", "-x", "200", "-y", "50", "sleep 86400")
        # Keep finished panes, so their last screen and exit status can be read.
        self.tmux("set-option", "-g", "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env,
                              timeout=30)
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def open(self, *argv: str) -> str:
        """Run argv in a new window; return its pane id. Its exit status goes to a file (see exit_status)."""
        status_path = self.status_dir / uuid.uuid4().hex
        wrapped = ["sh", "-c", '"$@"; echo $? > ' + shlex.quote(str(status_path)), "sh", *argv]
        pane = self.tmux("new-window", "-d", "-t", "host:", "-P", "-F", "#{pane_id}", shlex.join(wrapped)).strip()
        self.status_paths[pane] = status_path
        return pane

    def screen(self, pane: str) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-100", "-t", pane)

    def keys(self, pane: str, *keys: str) -> None:
        self.tmux("send-keys", "-t", pane, *keys)

    def wait_screen(self, pane: str, text: str, timeout: float = 20) -> str:
        return wait_for(lambda: text in self.screen(pane) and self.screen(pane), timeout,
                        f"{text!r} on the screen of pane {pane}")

    def exit_status(self, pane: str) -> int | None:
        """None while the pane's command runs; its exit status after."""
        # Read from a file, not #{pane_dead_status}: tmux 3.3 can show a pane dead for seconds before it has one.
        path = self.status_paths[pane]
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text else None

    def wait_exit(self, pane: str, timeout: float = 30) -> int:
        wait_for(lambda: self.exit_status(pane) is not None, timeout, f"the command in pane {pane} to end")
        return self.exit_status(pane)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, env=self.env)


@pytest.fixture
def host_tmux(cli_env, tmp_path):
    status_dir = tmp_path / "pane-status"
    status_dir.mkdir()
    server = HostTmux(cli_env, status_dir)
    yield server
    server.kill()


def detach(host_tmux: HostTmux, pane: str) -> None:
    # send-keys goes to the pane's program (the container's tmux client), not to the host server.
    host_tmux.keys(pane, "C-b", "d")


def running_sessions() -> set[str]:
    listed = docker("ps", "--filter", "label=coding-agents.session", "--format", "{{.Names}}")
    return set(listed.stdout.decode().split())


def test_tmux_connect_type_detach_and_reconnect(cli, pyz, repo, host_tmux):
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    first = host_tmux.open(str(pyz), "connect-agent", name)
    host_tmux.wait_screen(first, PROMPT)
    # The output (not the echoed command line) is what proves the keys reached the agent's shell.
    host_tmux.keys(first, "echo marker-$((100+23))", "Enter")
    host_tmux.wait_screen(first, "marker-123")
    assert "marker-123" in inside(name, "tmux capture-pane -p -t agent").stdout

    detach(host_tmux, first)
    assert host_tmux.wait_exit(first) == 0
    assert "[detached" in host_tmux.screen(first)
    assert container_state(name) == "running"

    # A second client: without a name, connect-agent picks the only running session.
    second = host_tmux.open(str(pyz), "connect-agent")
    wait_for(lambda: PROMPT in host_tmux.screen(second) or host_tmux.exit_status(second) is not None, 20,
             "connect-agent to attach or refuse")
    if host_tmux.exit_status(second) is not None:
        # Other sessions (not this test's) run on this engine: then it must list them and refuse.
        others = running_sessions() - {name}
        assert others, host_tmux.screen(second)
        assert host_tmux.exit_status(second) == 1
        assert name in host_tmux.screen(second) and "name one" in host_tmux.screen(second)
        second = host_tmux.open(str(pyz), "connect-agent", name)
    host_tmux.wait_screen(second, "marker-123")  # the earlier output is still there
    detach(host_tmux, second)
    assert host_tmux.wait_exit(second) == 0
    assert container_state(name) == "running"


def test_tmux_connect_starts_a_stopped_session(cli, pyz, repo, host_tmux):
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    docker("stop", "--time", "5", name)
    assert container_state(name) == "exited"
    pane = host_tmux.open(str(pyz), "connect-agent", name)
    host_tmux.wait_screen(pane, PROMPT)
    assert container_state(name) == "running"
    detach(host_tmux, pane)
    assert host_tmux.wait_exit(pane) == 0


def test_tmux_run_agent_exit_syncs_and_removes(cli, pyz, repo, host_tmux):
    pane = host_tmux.open(str(pyz), "run-agent", "shell", str(repo), "--branch", "ri")
    host_tmux.wait_screen(pane, PROMPT)
    name = f"shell-{repo.name}-ri"
    host_tmux.keys(pane, "echo 1 > ri.txt && git add ri.txt && git commit -q -m typed-in-tmux", "Enter")
    host_tmux.keys(pane, "echo left > uncommitted.txt", "Enter")
    host_tmux.keys(pane, "exit", "Enter")
    wait_for(lambda: container_state(name) is None, 20, f"{name} to be removed")
    assert host_tmux.wait_exit(pane) == 0
    assert git(repo, "log", "-1", "--format=%s", "shell/ri^") == "typed-in-tmux"
    assert git(repo, "show", "shell/ri:uncommitted.txt") == "left"  # auto-committed when the agent exited
    assert_gone(name)


def test_tmux_run_agent_detach_then_exit_is_reaped(cli, pyz, repo, host_tmux):
    pane = host_tmux.open(str(pyz), "run-agent", "shell", str(repo), "--branch", "rd")
    host_tmux.wait_screen(pane, PROMPT)
    name = f"shell-{repo.name}-rd"
    host_tmux.keys(pane, "echo 1 > rd.txt && git add rd.txt && git commit -q -m before-detach", "Enter")
    wait_for(lambda: "before-detach" in inside(name, "git -C /workspace log -1 --format=%s").stdout, 20,
             "the commit typed in tmux")
    detach(host_tmux, pane)
    assert host_tmux.wait_exit(pane) == 0
    assert "keeps running" in host_tmux.screen(pane)
    assert container_state(name) == "running"
    assert git(repo, "branch", "--list", "shell/rd") == ""  # not synced yet: the agent still runs

    # The agent ends with no client attached: the background reaper syncs and removes.
    inside(name, "tmux kill-session -t agent")
    wait_for(lambda: container_state(name) is None, 30, f"the reaper to remove {name}")
    assert git(repo, "log", "-1", "--format=%s", "shell/rd") == "before-detach"
    wait_for(lambda: not any(docker("volume", "inspect", f"{name}-{kind}", check=False).returncode == 0
                             for kind in ("workspace", "home")), 10, "the volumes to be removed")
    assert_gone(name)


# --- the real agent CLIs: each shows its own first screen (they cannot log in here) -----------

# Claude Code quits without network (its welcome is then in its last screen, which launch-agent
# shows: test_launch_of_agent_that_exits_at_once_shows_its_screen, test_first_run.py).
FIRST_SCREENS = {
    "codex": "Welcome to Codex",
    "copilot": "Please use /login",  # /workspace is pre-trusted (test_first_run.py)
}


@pytest.mark.parametrize("agent", sorted(FIRST_SCREENS))
def test_real_cli_shows_its_first_screen(cli, repo, agent):
    cli("launch-agent", agent, str(repo), "--network-proxy", "restricted")
    name = f"{agent}-{repo.name}-session-1"
    assert container_state(name) is not None
    fragment = FIRST_SCREENS[agent]
    wait_for(lambda: fragment in agent_screen(name), 60, f"{agent}'s first screen ({fragment!r})", interval=1)
    result = cli("remove-agent", name, "--no-push", "-y")
    assert result.returncode == 0, result.output
    assert_gone(name)


def test_launch_of_agent_that_exits_at_once_shows_its_screen(cli, repo):
    """Claude Code quits when it cannot reach its API (restricted network): say so, with its words."""
    result = cli("launch-agent", "claude", str(repo), "--network-proxy", "restricted")
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "exited at start with status 1" in errors[0], result.stderr
    assert "no network (restricted)" in errors[0]
    assert "Unable to connect to Anthropic services" in result.stderr  # its last screen
    assert f"claude-{repo.name}-session-1" not in cli("list-agents", "--all").stdout  # it had done nothing
