"""agents/commands/connect.py: `connect-agent`'s exit status is the agent's, not tmux's.

Docker is faked at the runner (pytest-subprocess).
"""

from __future__ import annotations

import json

import pytest

from agents import cli, images
from agents.session.query import CONTAINER_FORMAT

NAME = "shell-api-session-1"
PS_ALL = ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"]
STATE = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
ATTACH = ["docker", "exec", "-i", "--user", "1000", "--env", "TERM=xterm-256color", NAME,
          "sh", "-c", "ca-stub wait-ready >/dev/null 2>&1 || exit 213; exec tmux attach-session -t agent"]
BY_NAME = ["docker", "inspect", "--type", "container", "--format", CONTAINER_FORMAT, NAME, f"{NAME}-proxy"]
# After an attach: is the agent's pane alive ("0"), or dead (the session outlives it for a moment)?
HAS_SESSION = ["docker", "exec", "--user", "1000", NAME, "tmux", "display-message", "-p", "-t", "agent:0.0",
               "#{pane_dead}"]


def register_session(fp, mode: str = "launch") -> None:
    labels = {"coding-agents.session": NAME, "coding-agents.agent": "shell", "coding-agents.repo": "/home/me/api",
              "coding-agents.branch": "shell/session-1", "coding-agents.network": "restricted",
              "coding-agents.mode": mode, "coding-agents.image-ref": images.image_ref("base")}
    # One look at the session by name (its container and its proxy): no listing of every session.
    fp.register(BY_NAME, returncode=1, stderr=f"Error: No such container: {NAME}-proxy\n",
                stdout=json.dumps({"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}) + "\n")


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    """Without a terminal there is no fast path: these tests are of the full one."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setenv("TERM", "xterm-256color")


def test_connect_after_the_agent_exits_normally_is_0_not_tmux_1(fp, capsys):
    register_session(fp)
    fp.register(ATTACH, returncode=1, stdout="[server exited]\n")  # what tmux's client says when the agent ends
    fp.register(HAS_SESSION, returncode=1, stderr="Error response from daemon: container is not running\n")
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="0\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    err = capsys.readouterr().err
    assert f"the agent in {NAME} exited with status 0; remove-agent {NAME} brings shell/session-1 home" in err


def test_connect_after_the_agent_fails_is_its_status(fp, capsys):
    register_session(fp, mode="run")
    fp.register(ATTACH, returncode=1)
    fp.register(HAS_SESSION, stdout="1\n")  # its pane is dead: the stub is logging its last screen
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="3\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 3

    assert "exited with status 3; it cleans up after itself" in capsys.readouterr().err


def test_connect_then_detach_is_0_and_the_agent_keeps_running(fp, capsys):
    register_session(fp)
    fp.register(ATTACH, returncode=0, stdout="[detached (from session agent)]\n")
    fp.register(HAS_SESSION, stdout="0\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    assert "exited" not in capsys.readouterr().err
    assert fp.call_count(STATE) == 0  # after a detach, the exec alone tells the agent is still there


def test_connect_to_a_running_session_is_two_engine_calls_before_the_screen(fp, capsys):
    """The inspect by name, then one exec that waits for tmux and attaches; nothing grows with other sessions."""
    register_session(fp)
    fp.register(ATTACH, returncode=0)
    fp.register(HAS_SESSION, stdout="0\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    calls = [list(call) for call in fp.calls]
    assert calls[:2] == [BY_NAME, ATTACH]
    assert not any(call[:2] in (["docker", "ps"], ["docker", "volume"]) for call in calls)


def test_connect_when_the_wait_fails_says_why(fp, capsys, monkeypatch):
    from agents.session import attach

    register_session(fp)
    fp.register(ATTACH, returncode=213)  # the combined exec: wait-ready failed, so no attach
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "wait-ready"], returncode=1,
                stderr="no tmux session appeared\n")
    fp.register(["docker", "logs", "--tail", "60", NAME], stdout="")
    monkeypatch.setattr(attach, "exited_at_start", lambda name, grace=1.0: None)

    assert cli.main(["connect-agent", NAME], prog="coding-agents") != 0

    assert f"the agent in {NAME} did not start: no tmux session appeared" in capsys.readouterr().err


# --- the fast path: with a terminal, one `docker exec` when the session is up and ready ---------

FAST = ["docker", "exec", "-it", "--user", "1000", "--env", "TERM=xterm-256color", NAME, "sh", "-c"]


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)


def test_fast_path_is_one_exec_and_nothing_after_a_detach(fp, terminal, capsys):
    fp.register([*FAST, fp.any()], returncode=0)

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    assert [list(call)[:len(FAST)] for call in fp.calls] == [FAST]
    assert "exited" not in capsys.readouterr().err


def test_fast_path_tests_readiness_without_python_in_the_container():
    from agents.commands import connect

    argv = connect.fast_attach_argv(NAME)
    script = argv[argv.index("-c") + 1]
    assert "ca-stub" not in script and "python" not in script
    assert script.startswith('[ "$CODING_AGENTS_SESSION" = "$1" ] || exit 213; tmux has-session -t agent 2>/dev/null')
    assert argv[-1] == NAME  # $1: only the container of the session with that name attaches here
    assert "getent ahostsv4 proxy" in script  # a squid session's proxy must be up too
    assert "tmux attach-session -t agent" in script


@pytest.mark.parametrize(("session_variable", "asks_tmux"), [(NAME, True), ("other", False), ("", False)])
def test_fast_path_leaves_a_container_that_is_not_that_session_to_the_full_path(session_variable, asks_tmux,
                                                                                 tmp_path):
    import subprocess

    from agents.commands import connect

    (tmp_path / "tmux").write_text('#!/bin/sh\necho "$@" >> "$TMUX_LOG"; exit 1\n')  # no tmux session
    (tmp_path / "tmux").chmod(0o755)
    argv = connect.fast_attach_argv(NAME)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "CODING_AGENTS_SESSION": session_variable,
           "TMUX_LOG": str(tmp_path / "log")}
    done = subprocess.run(["/bin/sh", *argv[argv.index("sh") + 1:]], env=env)

    assert done.returncode == connect.NOT_UP  # not ready either way: the full path says why
    assert (tmp_path / "log").exists() == asks_tmux  # another container is never looked into


def test_fast_path_when_the_agent_ends_while_attached_is_its_status(fp, terminal, capsys):
    fp.register([*FAST, fp.any()], returncode=214)  # attached, then the tmux session was gone
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="7\n")
    register_session(fp)

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 7

    assert f"exited with status 7; remove-agent {NAME} brings shell/session-1 home" in capsys.readouterr().err


@pytest.mark.parametrize("returncode, stderr", [
    (213, ""),  # no tmux session (yet), or the proxy's name does not resolve
    (1, "Error response from daemon: container c0ffee is not running\n"),
    (1, "Error response from daemon: No such container: shell-api-session-1\n"),
])
def test_fast_path_that_did_not_attach_falls_back_to_the_full_path(fp, terminal, capsys, returncode, stderr):
    fp.register([*FAST, fp.any()], returncode=returncode, stderr=stderr)
    fp.register(BY_NAME, returncode=1, stderr=f"Error: No such object: {NAME}\n", stdout="")
    fp.register(["docker", "volume", "inspect", f"{NAME}-workspace"], returncode=1, stdout="[]")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 1

    err = capsys.readouterr().err
    assert f"no agent session named {NAME!r}" in err  # the full path's word, not docker's
    assert "Error response" not in err


def test_fast_path_refusal_of_a_prompt_task_stays_the_same(fp, terminal, capsys):
    fp.register([*FAST, fp.any()], returncode=213)  # a --prompt task has no tmux session
    labels = {"coding-agents.session": NAME, "coding-agents.agent": "shell", "coding-agents.repo": "/home/me/api",
              "coding-agents.branch": "shell/session-1", "coding-agents.network": "restricted",
              "coding-agents.mode": "launch", "coding-agents.interactive": "false"}
    fp.register(BY_NAME, returncode=1, stderr=f"Error: No such container: {NAME}-proxy\n",
                stdout=json.dumps({"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}) + "\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 1

    assert "runs a --prompt task, which has no terminal to attach to" in capsys.readouterr().err


def test_an_attach_that_fails_while_the_agent_pane_is_dead_counts_as_the_agent_ended(fp, capsys):
    """The tmux session outlives the agent (remain-on-exit) until the stub has logged its screen:
    the pane, not the session, says whether the agent is still there."""
    register_session(fp, mode="run")
    fp.register(ATTACH, returncode=1, stdout="open terminal failed: not a terminal\n")
    fp.register(HAS_SESSION, stdout="1\n")
    fp.register(STATE, stdout="running\n")
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="3\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 3


def test_fast_path_cut_short_without_a_word_from_docker_asks_the_engine(fp, terminal, capsys):
    fp.register([*FAST, fp.any()], returncode=137)  # the container was stopped under the attach
    fp.register(HAS_SESSION, returncode=1, stderr="Error response from daemon: container is not running\n")
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="137\n")
    register_session(fp)

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 137
    assert "exited with status 137" in capsys.readouterr().err
