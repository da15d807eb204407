"""agents/land.py: the decisions of land, land --all, prune (pure)."""

from __future__ import annotations

import pytest

from agents import land


def item(name, started, branch=None, session=True, **kw):
    return land.Item(name=name, branch=branch or f"shell/{name}", started=started, session=session, **kw)


def test_queue_lands_the_work_that_started_first_first():
    queue = land.queue_order([
        item("c", "2026-12-01T10:00:03Z"), item("a", "2026-12-01T10:00:01Z"),
        item("shell/old", "2026-11-30T09:00:00Z", branch="shell/old", session=False),
        item("b", "2026-12-01T10:00:01Z"),
    ])
    assert [i.name for i in queue] == ["shell/old", "a", "b", "c"]


def test_queue_lists_a_branch_held_by_a_session_once_as_the_session():
    queue = land.queue_order([item("x", "2026-12-01T10:00:00Z", branch="shell/x"),
                              item("shell/x", "2026-11-01T00:00:00Z", branch="shell/x", session=False)])
    assert [(i.name, i.session) for i in queue] == [("x", True)]


def test_agent_branches_are_agents_prefixes_without_saved_aside_copies():
    names = ["main", "shell/a", "shell/a-20261201-101010", "shell/a-20261201-101010-2", "claude/fix",
             "feature/x", "shell/a-final", "shellfish"]
    assert land.agent_branch_names(names, ["shell", "claude"]) == ["shell/a", "claude/fix", "shell/a-final"]


@pytest.mark.parametrize(("branch", "aside"), [
    ("shell/a-20261201-101010", True), ("shell/a-20261201-101010-3", True),
    ("release-20261201-101010", False),  # not an agent's branch: the user's own
    ("shell/a-2026", False), ("shell/a", False),
])
def test_saved_aside_is_sync_s_own_name_for_an_agent_branch(branch, aside):
    assert land.is_saved_aside(branch) is aside


def test_base_is_the_sessions_start_while_the_branch_contains_it_else_where_they_meet():
    assert land.choose_base("b0", True, "m1") == "b0"
    assert land.choose_base("b0", False, "m1") == "m1"
    assert land.choose_base("", False, "m1") == "m1"
    assert land.choose_base("", False, None) is None


def test_nothing_to_land():
    assert land.nothing_to_land(None, "b", False)
    assert land.nothing_to_land("b", "b", False)
    assert land.nothing_to_land("t", "b", True)
    assert not land.nothing_to_land("t", "b", False)


def test_the_target_moves_only_from_where_the_land_started_and_never_when_checked_out():
    assert land.decide_move("main", "o", "o", "r" * 40, checked_out=False).action == "update"
    told = land.decide_move("main", "o", "o", "r" * 40, checked_out=True)
    assert told.action == "tell" and "git merge --ff-only rrrrrrrrrr" in told.message
    stale = land.decide_move("main", "o", "x", "r" * 40, checked_out=False)
    assert stale.action == "stale" and "moved" in stale.message
    assert land.decide_move("main", "o", "x", "r" * 40, checked_out=True).action == "stale"


def test_messages_of_merge_and_squash_name_the_work():
    one = item("s1", "t", branch="claude/fix")
    assert land.commit_message("merge", one, "main", ["a"]) == "Merge s1 (claude/fix) into main"
    squash = land.commit_message("squash", one, "main", ["first", "second"])
    assert squash.splitlines()[0] == "claude/fix: 2 commit(s) squashed"
    assert "* first\n* second" in squash


def test_summary_rows_and_line():
    outcomes = [
        land.Outcome(item("a", "1"), land.LANDED, "main at 1234567890 (1 commit(s), rebase)", result="1" * 40, log="/l/a"),
        land.Outcome(item("b", "2"), land.CONFLICT, "with main", log="/l/b", conflicts=["f.txt", "g.txt"]),
        land.Outcome(item("c", "3"), land.TEST_FAILED, "`make test` failed", log="/l/c"),
    ]
    rows = land.summary_rows(outcomes)
    assert [row["result"] for row in rows] == ["landed", "conflict", "test failed"]
    assert rows[0]["detail"] == "main at 1234567890 (1 commit(s), rebase)"  # no log for a land that worked
    assert rows[1]["detail"] == "in f.txt, g.txt (log: /l/b)"
    assert rows[2]["detail"] == "`make test` failed (log: /l/c)"
    assert land.summary_line(outcomes) == "1 landed, 1 conflict, 1 test failed"
    assert land.summary_line([]) == "nothing to land"


def test_parse_conflicts():
    assert land.parse_conflicts("x\nconflict: a.txt\nconflict: dir/b c.txt\n") == ["a.txt", "dir/b c.txt"]


def test_prune_removes_saved_aside_and_landed_only_never_checked_out_or_live():
    branches = {"main": "m", "shell/a": "1", "shell/b": "2", "shell/c": "3", "shell/a-20261201-101010": "4",
                "shell/d-20261201-101010": "5", "feature": "6", "shell/live": "7"}
    agent = ["shell/a", "shell/b", "shell/c", "shell/live"]
    remove, notes = land.prune_plan(branches, agent, landed={"shell/a", "shell/c", "shell/live"},
                                    live={"shell/live"}, checked_out={"shell/c"}, target="main",
                                    unlanded_counts={"shell/d-20261201-101010": 2})
    assert [(p.branch, p.why) for p in remove] == [
        ("shell/a", "landed on main"),
        ("shell/a-20261201-101010", "saved aside; landed on main"),
        ("shell/d-20261201-101010", "saved aside; 2 commit(s) not on main"),
    ]
    assert "shell/c: kept, it is checked out" in notes
    assert "shell/live: kept, a session still works on it" in notes


def test_config_takes_notify_and_bell(tmp_path):
    from agents.config import parse_config

    config = parse_config('[sessions]\nnotify = ["notify-send", "{session}"]\nbell = true\n', tmp_path / "c.toml")
    assert config.sessions.notify == ("notify-send", "{session}")
    assert config.sessions.bell is True
    assert parse_config("", tmp_path / "c.toml").sessions.notify == ()


def test_stop_refuses_a_run_agent_session_and_both_refuse_an_orphan():
    from pathlib import Path

    from agents.errors import AgentsError
    from agents.session import lifecycle, model

    def info(mode, container_id):
        return model.SessionInfo(name="s", agent="shell", repo=Path("/r"), branch="shell/s", base="b", network="restricted",
                                 mode=mode, image="i", no_push=False, created="", state="running",
                                 container_id=container_id)

    with pytest.raises(AgentsError, match="run-agent"):
        lifecycle.refuse_unstoppable(info("run", "c1"), "stop")
    lifecycle.refuse_unstoppable(info("run", "c1"), "start")
    lifecycle.refuse_unstoppable(info("launch", "c1"), "stop")
    with pytest.raises(AgentsError, match="no container"):
        lifecycle.refuse_unstoppable(info("launch", ""), "start")


@pytest.mark.parametrize("argv, message", [
    (["land"], "error: name one session (land NAME) or give --all"),
    (["land", "api", "--all"], "error: land takes a NAME (api) or --all, not both"),
], ids=["neither", "both"])
def test_land_wants_a_name_or_all(capsys, argv, message):
    from agents import cli

    assert cli.main(argv, prog="coding-agents") == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == message and lines[1].startswith("hint: ") and len(lines) == 2


def test_branch_items_count_the_branches_of_your_own_agents(tmp_path, isolated_home):
    import subprocess

    from agents import land_run, paths

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()

    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "--allow-empty", "-m", "start")
    main = git("rev-parse", "HEAD")
    for branch in ("shell/one", "mine/two", "release/three"):  # each a commit main lacks
        tip = git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit-tree", "-p", main, "-m", branch,
                  "HEAD^{tree}")
        git("update-ref", f"refs/heads/{branch}", tip)
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text('[agents.mine]\nbase = "shell"\n')

    found = [item.branch for item in land_run.branch_items(repo, "main", main, set())]

    assert sorted(found) == ["mine/two", "shell/one"]  # a user's release/ branch is not an agent's
