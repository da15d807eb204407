"""agents/commands/connect.py: `connect-agent`'s exit status is the agent's, not tmux's.

Docker is faked at the runner (pytest-subprocess).
"""

from __future__ import annotations

import json

import pytest

from agents import cli, images

NAME = "shell-api-session-1"
PS_ALL = ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"]
VOLUME_LS = ["docker", "volume", "ls", "--quiet", "--filter", "label=coding-agents.session"]
STATE = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
ATTACH = ["docker", "exec", "-i", "--user", "1000", "--env", "TERM=xterm-256color", NAME,
          "tmux", "attach-session", "-t", "agent"]


def register_session(fp, mode: str = "launch") -> None:
    labels = {"coding-agents.session": NAME, "coding-agents.agent": "shell", "coding-agents.repo": "/home/me/api",
              "coding-agents.branch": "shell/session-1", "coding-agents.network": "restricted",
              "coding-agents.mode": mode, "coding-agents.image-ref": images.image_ref("base")}
    fp.register(PS_ALL, stdout="c" * 64 + "\n")
    fp.register(["docker", "inspect", "c" * 64],
                stdout=json.dumps([{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}]))
    fp.register(VOLUME_LS, stdout="")
    fp.register(STATE, stdout="running\n")  # ensure_running
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "wait-ready"])


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setenv("TERM", "xterm-256color")


def test_connect_after_the_agent_exits_normally_is_0_not_tmux_1(fp, capsys):
    register_session(fp)
    fp.register(ATTACH, returncode=1, stdout="[server exited]\n")  # what tmux's client says when the agent ends
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="0\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    err = capsys.readouterr().err
    assert f"the agent in {NAME} exited with status 0; remove-agent {NAME} brings shell/session-1 home" in err


def test_connect_after_the_agent_fails_is_its_status(fp, capsys):
    register_session(fp, mode="run")
    fp.register(ATTACH, returncode=1)
    fp.register(STATE, stdout="exited\n")
    fp.register(["docker", "inspect", "--format", "{{.State.ExitCode}}", NAME], stdout="3\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 3

    assert "exited with status 3; it cleans up after itself" in capsys.readouterr().err


def test_connect_then_detach_is_0_and_the_agent_keeps_running(fp, capsys):
    register_session(fp)
    fp.register(ATTACH, returncode=0, stdout="[detached (from session agent)]\n")
    fp.register(STATE, stdout="running\n")
    fp.register(["docker", "exec", "--user", "1000", NAME, "tmux", "has-session", "-t", "agent"])

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    assert "exited" not in capsys.readouterr().err
