"""list-agents' copy of the health reports (agents/session/reports.py) on a real engine: the same
unsynced count cold and warm, and a commit inside never hidden for longer than one health interval."""

from __future__ import annotations

import json
import time

from tests.integration.conftest import commit_inside, docker, launched_name

INTERVAL = 5.0  # the stub's health interval (planner: --health-interval 5s)
CHECK = 3.0  # what one `ca-stub health` may take, on a busy machine


def test_list_agents_shows_a_commit_cold_and_from_its_copy(cli, repo, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    copy = tmp_path / "cache" / "coding-agents" / "reports.json"

    def row(*flags: str) -> dict:
        result = cli("list-agents", "--json", *flags, env=env)
        assert result.returncode == 0, result.output
        return next(found for found in json.loads(result.stdout) if found["name"] == name)

    def copied() -> bool:
        """The copy holds this session's engine health report (a report asked of the workspace,
        before the engine has one, is shown but not copied)."""
        try:
            entries = json.loads(copy.read_text())["entries"]
        except (OSError, ValueError, KeyError):
            return False
        return any(entry.get("session") == name and entry.get("kind") == "running" for entry in entries.values())

    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "cached", "--network", "restricted"))
    deadline = time.monotonic() + 30
    while not copied() and time.monotonic() < deadline:  # until the engine has its first report
        copy.unlink(missing_ok=True)
        row()
        time.sleep(0.5)
    copy.unlink(missing_ok=True)
    assert row()["unsynced"] == 0  # cold
    assert copied()
    assert row()["unsynced"] == 0  # warm: from the copy while it holds

    commit_inside(name, "a.txt", "one")
    committed = time.monotonic()
    warm = []
    while time.monotonic() - committed < INTERVAL + CHECK:
        warm.append(row()["unsynced"])
        time.sleep(0.3)
    assert warm[-1] == 1, warm  # one interval (and a check) after the commit, the copy shows it
    assert set(warm) <= {0, 1}
    copy.unlink()
    assert row()["unsynced"] == 1  # cold, the same

    docker("stop", "--time", "5", name)
    copy.unlink()
    assert row("--all")["unsynced"] == 1  # cold: a throwaway container asks the workspace
    started = time.monotonic()
    assert row("--all")["unsynced"] == 1  # warm: the same stop, from the copy
    assert time.monotonic() - started < 3, "the copy of a stopped session's report was not used"
    assert cli("remove-agent", name, "--no-push", "-y", env=env).returncode == 0
