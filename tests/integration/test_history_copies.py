"""The host's copies of removed sessions' history, driven through our CLI: remove-agent leaves one per
branch, `history list` shows them with what still uses them, `history prune` and `prune` remove only
what they should.

Cheap: a user's own agent based on Claude Code whose --prompt command writes a transcript into the
CLI's kept `projects/` folder itself, so no model server and no real CLI run is needed; the copy is
made by the same remove-agent path as a real CLI's.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.integration.conftest import (
    assert_clean_error,
    container_state,
    engine_has_images,
    git,
    wait_for,
    write_config,
)

AGENT = "hist"
# The prompt's "turn": a transcript line in the CLI's kept folder, and a commit (a branch with no
# commits of its own does not come home).
WRITE_TRANSCRIPT = ('["sh", "-c", "mkdir -p ~/.claude/projects/-workspace && '
                    'printf \'%s\\\\n\' \\"$1\\" >> ~/.claude/projects/-workspace/talk.jsonl && '
                    'cd /workspace && echo \\"$1\\" > \\"$1.txt\\" && git add -A && git commit -qm \\"$1\\"", '
                    '"hist", "{prompt}"]')


@pytest.fixture(scope="module", autouse=True)
def claude_image(built_images, version):
    engine_has_images(version, "claude")  # the user's agent's base


def user_with_own_agent(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    write_config(home, f"""
[agents.{AGENT}]
base = "claude"
prompt_command = {WRITE_TRANSCRIPT}
""")
    return {"HOME": str(home)}


def run_prompt(cli, env, repo: Path, branch: str, *flags: str) -> str:
    """A --prompt session on branch that writes a transcript line and ends; its name."""
    word = f"turn-{secrets.token_hex(3)}"
    done = cli("launch-agent", AGENT, str(repo), "--branch", branch, "--prompt", word, "--network-proxy", "allow-all",
               *flags, env=env, timeout=600)
    assert done.returncode == 0, done.output
    name = f"{AGENT}-{repo.name}-{branch}"
    wait_for(lambda: container_state(name) == "exited", 180, f"{name}'s prompt to end")
    return name


def removed(cli, env, name: str) -> None:
    done = cli("remove-agent", name, env=env)
    assert done.returncode == 0, done.output
    assert "kept its history (1 file(s))" in done.output, done.output


def listed(cli, env, *flags: str) -> dict[str, dict]:
    done = cli("history", "list", "--json", *flags, env=env)
    assert done.returncode == 0, done.output
    return {row["branch"]: row for row in json.loads(done.stdout)}


def test_history_copies_are_listed_and_pruned_only_when_nothing_needs_them(cli, new_repo, tmp_path):
    env = user_with_own_agent(tmp_path)
    repo = new_repo("hist")
    for branch in ("api", "gone", "live"):
        removed(cli, env, run_prompt(cli, env, repo, branch))
    git(repo, "branch", "-D", f"{AGENT}/gone")  # e.g. deleted by hand after a land
    live = run_prompt(cli, env, repo, "live", "--resume")  # stopped, on the branch of a copy

    rows = listed(cli, env)
    assert sorted(rows) == [f"{AGENT}/api", f"{AGENT}/gone", f"{AGENT}/live"]
    assert all(row["agent"] == "claude" and row["files"] == 1 and row["bytes"] > 0 and row["repo"] == str(repo)
               for row in rows.values())
    assert (rows[f"{AGENT}/live"]["session"], rows[f"{AGENT}/live"]["session_state"]) == (live, "exited")
    assert (rows[f"{AGENT}/api"]["branch_there"], rows[f"{AGENT}/gone"]["branch_there"]) == (True, False)
    table = cli("history", "list", env=env)
    assert f"used by {live} (exited)" in table.stdout and "branch gone" in table.stdout, table.output

    # Not a terminal and no --yes: listed, nothing removed.
    asked = cli("history", "prune", env=env)
    assert asked.returncode == 0 and f"{AGENT}/gone" in asked.stdout, asked.output
    assert f"{AGENT}/api" not in asked.stdout and "nothing removed: add --yes" in asked.stderr
    assert len(listed(cli, env)) == 3

    assert_clean_error(cli("history", "prune", "--older-than", "-1", env=env), "is not a number of days")
    assert_clean_error(cli("history", "prune", "--branch", "", env=env), "--branch needs a value")

    # -y: only the copy whose branch is gone; the session's is kept, and that is said.
    pruned = cli("history", "prune", "-y", env=env)
    assert pruned.returncode == 0, pruned.output
    assert f"removed the history of {AGENT}/gone" in pruned.stdout
    assert f"session {live} (exited) works on that branch" in pruned.stderr
    assert sorted(listed(cli, env)) == [f"{AGENT}/api", f"{AGENT}/live"]

    kept = cli("history", "prune", "--branch", "live", "-y", env=env)
    assert kept.returncode == 0 and "no history copies to remove" in kept.stdout, kept.output
    assert sorted(listed(cli, env)) == [f"{AGENT}/api", f"{AGENT}/live"]

    # `prune` takes the copies of its repository whose branch is gone (here hist/api, landed and then
    # deleted by hand) with the branches it removes; hist/live's session keeps its copy.
    git(repo, "merge", "-q", "--ff-only", f"{AGENT}/api")
    git(repo, "branch", "-d", f"{AGENT}/api")
    swept = cli("prune", str(repo), "--yes", env=env)
    assert swept.returncode == 0, swept.output
    assert f"removed the history of {AGENT}/api" in swept.stdout and "its branch is gone" in swept.stdout
    assert sorted(listed(cli, env)) == [f"{AGENT}/live"]
    assert container_state(live) == "exited" and git(repo, "rev-parse", "--verify", "-q", f"{AGENT}/live")
