"""list-agents' copy of the health reports (agents/session/reports.py) on a real engine: the same
unsynced count cold and warm, and a commit inside never hidden for longer than one health interval;
the reports the stub pushes through the relay, shown from one `docker ps`, and not after a restart."""

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
        # This test is of the copy: the listing sees none of the stub's pushes (as with a dead relay).
        result = cli("list-agents", "--json", *flags, env={**env, "XDG_STATE_HOME": str(tmp_path / "no-pushes")})
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


PUSH_SLACK = 2.0  # reports.PUSH_SLACK


def engine_calls(debug_log: str) -> list[str]:
    """The engine commands a `--debug` run logged, in order."""
    return [line for line in debug_log.splitlines() if line.startswith(("debug: run: docker ", "debug: run: podman "))]


def naming_the_session(calls: list[str], container: str, name: str) -> list[str]:
    """Those of calls that name this session's container (other sessions on the engine are not ours)."""
    return [call[:200] for call in calls if container in call or f" {name} " in call]


def test_list_agents_shows_a_pushed_report_from_one_engine_call_and_not_the_old_one_after_a_restart(
        cli, repo, tmp_path, user_home):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    copy = tmp_path / "cache" / "coding-agents" / "reports.json"  # removed after each listing

    def listing() -> tuple[dict, list[str]]:
        """The session's row, and the engine calls of the listing (its --debug log) beyond the one
        `docker ps` that name this session's container (other sessions on the engine are not ours)."""
        result = cli("--debug", "list-agents", "--json", env=env)
        assert result.returncode == 0, result.output
        copy.unlink(missing_ok=True)  # so only a push can spare the inspect
        calls = engine_calls(result.stderr)
        assert " ps " in calls[0], calls
        ours = naming_the_session(calls[1:], container, name)
        return next(found for found in json.loads(result.stdout) if found["name"] == name), ours

    def until(wanted, seconds: float) -> tuple[dict, list[str]]:
        deadline = time.monotonic() + seconds
        while True:
            row, calls = listing()
            if wanted(row, calls) or time.monotonic() > deadline:
                return row, calls
            time.sleep(0.3)

    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "pushed", "--network", "restricted"))
    pushed = user_home / ".local" / "state" / "coding-agents" / "pushed-reports" / f"{name}.json"
    container = docker("inspect", "--format", "{{.Id}}", name).stdout.decode().strip()

    commit_inside(name, "a.txt", "one")
    row, calls = until(lambda row, calls: row["unsynced"] == 1 and not calls, INTERVAL + CHECK + PUSH_SLACK)
    assert row["unsynced"] == 1, row  # within an interval (and a check) of the commit
    assert calls == []  # from the push: the ps is the only engine call for it
    kept = json.loads(pushed.read_text())
    assert kept["container"] == container and kept["report"]["ahead"] == 1

    docker("restart", "--time", "1", name)
    restarted = time.time()
    # The first health check of the new run comes one interval after its start: the push there is
    # still one from before the restart, of the same container (same id).
    kept = json.loads(pushed.read_text())
    assert kept["arrived"] < restarted and kept["container"] == container
    row, calls = listing()
    assert any(" inspect " in call for call in calls), calls  # it was not used: the engine was asked
    assert row["unsynced"] == 1

    # The positive control: the link came back with the container, and its new pushes are used.
    row, calls = until(lambda row, calls: not calls, 3 * INTERVAL + CHECK + PUSH_SLACK)
    assert calls == [] and row["unsynced"] == 1, (row, calls)
    assert cli("remove-agent", name, "--no-push", "-y", env=env).returncode == 0
    assert not pushed.exists()  # removed with the session


def test_a_session_whose_checks_run_late_is_still_listed_from_its_pushes(cli, repo, tmp_path, user_home):
    """A session held to a sliver of a core (as on an engine with many sessions) runs each health
    check late: its pushes come further apart than the interval and the slack. The link records
    the gap, and a push older than interval + slack, but not than that gap, spares the inspect."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "late", "--network", "restricted"))
    pushed = user_home / ".local" / "state" / "coding-agents" / "pushed-reports" / f"{name}.json"
    container = docker("inspect", "--format", "{{.Id}}", name).stdout.decode().strip()
    try:
        docker("update", "--cpus", "0.02", name)  # ca-stub health (Python, git) now takes seconds
        deadline = time.monotonic() + 12 * INTERVAL
        spared = None
        while time.monotonic() < deadline and spared is None:
            kept = json.loads(pushed.read_text()) if pushed.exists() else {}
            age = time.time() - kept.get("arrived", 0)
            if kept.get("gap", 0) < INTERVAL + PUSH_SLACK + 1.0 or not INTERVAL + PUSH_SLACK + 0.2 < age < kept["gap"]:
                time.sleep(0.2)  # until a late push is that old, and the next one has not come yet
                continue
            result = cli("--debug", "list-agents", "--json", env=env)
            assert result.returncode == 0, result.output
            (tmp_path / "cache" / "coding-agents" / "reports.json").unlink(missing_ok=True)
            if json.loads(pushed.read_text())["arrived"] != kept["arrived"]:
                continue  # the next push came during the listing: try with that one
            spared = [call for call in naming_the_session(engine_calls(result.stderr), container, name)
                      if " inspect " in call]
        assert spared == [], f"no late push was used (last kept: {kept})"
        assert INTERVAL + PUSH_SLACK < kept["gap"] <= 60
    finally:
        docker("update", "--cpus", "0", name)  # no limit again: remove-agent's auto-commit runs inside
        assert cli("remove-agent", name, "--no-push", "-y", env=env).returncode == 0
