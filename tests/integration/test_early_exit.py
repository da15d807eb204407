"""An agent that exits at start: our CLI shows its last screen and status, and leaves no
half-dead session behind (issue 10). Scripted [agents.NAME] agents stand in for a CLI that quits."""

from __future__ import annotations

import pytest

from tests.integration.conftest import sessions_under, write_config

QUITTER = """
[agents.quitter]
base = "shell"
command = ["sh", "-c", "echo the-quitters-last-words; exit 3"]
"""


@pytest.fixture
def quitter_env(tmp_path):
    home = tmp_path / "home"
    write_config(home, QUITTER)
    return {"HOME": str(home)}


@pytest.mark.parametrize("command", ["launch-agent", "run-agent"])
def test_an_agent_that_exits_at_start_is_explained_and_cleaned_up(cli, repo, quitter_env, command):
    done = cli(command, "quitter", str(repo), "--network-proxy", "restricted", env=quitter_env, timeout=300)

    assert done.returncode == 3, done.output  # the agent's own status
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "exited at start with status 3" in errors[0]
    assert lines[lines.index(errors[0]) + 1].startswith("hint: ")
    assert "the-quitters-last-words" in done.stderr  # its last screen, never an empty "did not start:"
    assert "did not start: " not in done.stderr
    assert sessions_under(repo.parent) == (set(), set()), "a half-dead session was left behind"
