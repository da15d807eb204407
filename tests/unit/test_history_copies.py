"""The host's copies of removed sessions' history: `history list`, `history prune`, `prune`'s share
of them, and the [sessions] history_size warning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents import catalog, cli, history, history_copies
from agents.session import naming
from tests.unit.gitrepos import run_git
from tests.unit.ps_lines import ps_argv, ps_line, volume_ls_argv
from tests.unit.test_history import members

CLAUDE = catalog.get_agent("claude")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "coding-agents" / "history"


@pytest.fixture
def repo(tmp_path, data_home) -> Path:
    """A repository with claude/live (a session works on it) and claude/there; claude/gone was deleted."""
    from tests.unit.gitrepos import make_template

    path = make_template(tmp_path / "api", branch="main", message="start")
    for branch in ("claude/live", "claude/there"):
        run_git(path, "branch", branch)
    return path


def keep_copy(repo: Path, branch: str, repo_shown: Path | None = None) -> Path:
    """What remove-agent leaves on the host for a branch (history.keep without the engine)."""
    meta = {"session": f"claude-api-{branch.split('/')[-1]}", "branch": branch, "repo": str(repo_shown or repo),
            "repo_key": history.repo_key(repo)}
    return history.write_archive(CLAUDE, members(), history.kept_path(repo, branch), meta).path


def engine_lists(fp, repo: Path, branch: str = "claude/live", state: str = "exited") -> None:
    """The engine's listing: one session (stopped by default) on branch of repo."""
    labels = {naming.SESSION: "claude-api-live", naming.AGENT: "claude", naming.REPO: str(repo),
              naming.BRANCH: branch, naming.NETWORK: "restricted", naming.MODE: "launch"}
    fp.register(ps_argv(), stdout=ps_line("c" * 64, state, labels))
    fp.register(volume_ls_argv(), stdout="")
    fp.pass_command(["git", fp.any()], occurrences=100)


@pytest.fixture
def four_copies(repo, tmp_path) -> dict[str, Path]:
    copies = {branch: keep_copy(repo, branch) for branch in ("claude/live", "claude/there", "claude/gone")}
    copies["moved"] = keep_copy(repo, "claude/moved", repo_shown=tmp_path / "was-here")
    return copies


def test_list_shows_each_copy_with_its_session_and_branch(capsys, repo, four_copies, fp):
    engine_lists(fp, repo)

    assert cli.main(["history", "list"], prog="coding-agents") == 0

    out, err = capsys.readouterr()
    lines = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split() == ["REPO", "BRANCH", "AGENT", "SIZE", "SAVED", "STATE"]
    assert "used by claude-api-live (exited)" in lines["claude/live"]
    assert lines["claude/there"].rstrip().endswith("branch there")
    assert lines["claude/gone"].rstrip().endswith("branch gone")
    assert lines["claude/moved"].rstrip().endswith("repository not found")
    assert all(" claude " in line and " ago " in line for line in lines.values())
    assert "4 copy(ies)" in err and str(history.kept_path(repo, "x").parent.parent) in err


def test_list_json_has_bytes_times_and_facts(capsys, repo, four_copies, fp):
    engine_lists(fp, repo)

    assert cli.main(["history", "list", "--json"], prog="coding-agents") == 0

    rows = {row["branch"]: row for row in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == ["claude/gone", "claude/live", "claude/moved", "claude/there"]
    live = rows["claude/live"]
    assert live["session"] == "claude-api-live" and live["session_state"] == "exited"
    assert live["bytes"] == four_copies["claude/live"].stat().st_size and live["files"] == 2
    assert live["agent"] == "claude" and live["readable"] is True and live["repo"] == str(repo)
    assert datetime.strptime(live["saved"], "%Y-%m-%dT%H:%M:%SZ")
    assert (rows["claude/there"]["branch_there"], rows["claude/gone"]["branch_there"],
            rows["claude/moved"]["branch_there"]) == (True, False, None)


def test_list_of_nothing_says_where_it_looked(capsys, data_home):
    assert cli.main(["history", "list"], prog="coding-agents") == 0
    assert f"no history copies in {data_home}" in capsys.readouterr().out


def test_list_still_lists_when_the_engine_does_not_answer(capsys, repo, four_copies, fp):
    fp.register(ps_argv(), returncode=1, stderr="Cannot connect to the Docker daemon")
    fp.register(volume_ls_argv(), returncode=1, stderr="Cannot connect to the Docker daemon")
    fp.pass_command(["git", fp.any()], occurrences=100)

    assert cli.main(["history", "list"], prog="coding-agents") == 0

    out, err = capsys.readouterr()
    assert out.count("claude/") == 4 and "which branches a session works on is not shown" in err


def test_prune_with_no_filter_removes_only_copies_whose_branch_or_repository_is_gone(capsys, repo, four_copies,
                                                                                    data_home, fp):
    engine_lists(fp, repo)
    unreadable = data_home / "0123456789abcdef" / "claude--broken.tar.gz"
    unreadable.parent.mkdir()
    unreadable.write_bytes(b"not a tar")

    assert cli.main(["history", "prune", "--yes"], prog="coding-agents") == 0

    out, err = capsys.readouterr()
    assert not four_copies["claude/gone"].exists() and not four_copies["moved"].exists()
    assert not unreadable.exists() and not unreadable.parent.exists()  # an emptied folder goes too
    assert four_copies["claude/live"].exists() and four_copies["claude/there"].exists()
    assert "removed the history of claude/gone" in out and "removed the history of claude/moved" in out
    assert "not a readable history archive" in out
    assert "claude/live" not in out  # a session works on it: not listed for removal ...
    assert "kept, session claude-api-live (exited) works on that branch" in err  # ... and said so


def test_prune_lists_and_removes_nothing_without_a_terminal_or_yes(capsys, repo, four_copies, fp):
    engine_lists(fp, repo)

    assert cli.main(["history", "prune"], prog="coding-agents") == 0

    out, err = capsys.readouterr()
    assert "claude/gone" in out and "its branch is gone" in out
    assert "nothing removed: add --yes" in err
    assert all(path.exists() for path in four_copies.values())


def test_prune_asks_and_a_no_keeps_everything(capsys, monkeypatch, repo, four_copies, fp):
    engine_lists(fp, repo)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked = []
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "n")

    assert cli.main(["history", "prune", "--branch", "gone"], prog="coding-agents") == 0

    assert asked and asked[0].startswith("remove these 1 history copy(ies)")
    assert all(path.exists() for path in four_copies.values())
    assert "nothing removed" in capsys.readouterr().err


def test_prune_by_branch_takes_a_branch_still_there_but_never_a_sessions(capsys, repo, four_copies, fp):
    engine_lists(fp, repo, branch="claude/live", state="running")

    assert cli.main(["history", "prune", "--branch", "claude/there", "-y"], prog="coding-agents") == 0
    assert not four_copies["claude/there"].exists()
    assert "branch still there: --resume would start from this copy" in capsys.readouterr().out

    engine_lists(fp, repo, branch="claude/live", state="running")
    assert cli.main(["history", "prune", "--branch", "live", "-y"], prog="coding-agents") == 0
    out, err = capsys.readouterr()
    assert four_copies["claude/live"].exists() and "no history copies to remove" in out
    assert "claude-api-live (running)" in err


def test_prune_refuses_when_the_engine_cannot_say_which_sessions_there_are(capsys, repo, four_copies, fp):
    fp.register(ps_argv(), returncode=1, stderr="Cannot connect to the Docker daemon")
    fp.register(volume_ls_argv(), returncode=1, stderr="Cannot connect to the Docker daemon")
    fp.pass_command(["git", fp.any()], occurrences=100)

    assert cli.main(["history", "prune", "-y"], prog="coding-agents") == 1

    err = capsys.readouterr().err.splitlines()
    assert err[-2].startswith("error: cannot tell which history copies a session still works on")
    assert err[-1].startswith("hint: start the engine")
    assert all(path.exists() for path in four_copies.values())


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--older-than", "-3"], "--older-than '-3' is not a number of days"),
    (["--older-than", ""], "--older-than needs a value, not an empty string"),
    (["--older-than", "nan"], "is not a number of days"),
    (["--older-than", "a week"], "is not a number of days"),
    (["--branch", ""], "--branch needs a value, not an empty string"),
    (["--branch", "/"], "--branch '/' names no branch"),
    (["--repo", " "], "--repo needs a value, not an empty string"),
])
def test_prune_refuses_bad_input_with_an_error_and_a_hint(capsys, data_home, argv, fragment):
    assert cli.main(["history", "prune", *argv, "-y"], prog="coding-agents") == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and fragment in lines[0]
    assert lines[1].startswith("hint: ")


def test_list_of_one_repository(capsys, repo, four_copies, tmp_path, fp):
    from tests.unit.gitrepos import make_template

    engine_lists(fp, repo)
    other = make_template(tmp_path / "other", branch="main", message="another start")
    keep_copy(other, "codex/docs")

    assert cli.main(["history", "list", "--repo", str(other), "--json"], prog="coding-agents") == 0
    assert [row["branch"] for row in json.loads(capsys.readouterr().out)] == ["codex/docs"]


# --- the plan itself (pure) -----------------------------------------------------------------------


def copy(branch: str, days: float, branch_there: bool | None = True,
         session: str | None = None) -> history_copies.KeptCopy:
    saved = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return history_copies.KeptCopy(Path(f"/h/k/{branch}.tar.gz"), "k", 100, saved,
                            {"format": history.FORMAT, "branch": branch, "repo": "/r", "agent": "claude"},
                            session=session, session_state="running" if session else None, branch_there=branch_there)


def test_prune_plan_older_than_takes_old_copies_of_any_branch_state_but_never_a_sessions():
    copies = [copy("claude/old", 40), copy("claude/new", 2), copy("claude/old-gone", 31, branch_there=False),
              copy("claude/old-live", 90, session="claude-api-old-live")]

    remove, notes = history_copies.prune_plan(copies, NOW, older_than=30)

    assert [(item.branch, why) for item, why in remove] == [
        ("claude/old", "branch still there: --resume would start from this copy"),
        ("claude/old-gone", "its branch is gone")]
    assert len(notes) == 1 and "claude-api-old-live (running)" in notes[0]


def test_prune_plan_branch_matches_the_whole_name_or_the_name_after_the_agent():
    copies = [copy("claude/api", 1), copy("codex/api", 1), copy("claude/api-2", 1)]

    def chosen(branch: str) -> list[str]:
        return [item.branch for item, _ in history_copies.prune_plan(copies, NOW, branch=branch)[0]]

    assert chosen("api") == ["claude/api", "codex/api"]
    assert chosen("codex/api") == ["codex/api"]
    assert history_copies.prune_plan(copies, NOW)[0] == []  # no filter: every branch is there


def test_prunes_share_is_the_branches_it_removes_here_and_the_ones_gone(repo, four_copies, tmp_path):
    copies = history_copies.with_facts(history_copies.kept_copies(), sessions=[])

    share = history_copies.pruned_with_branches(copies, repo, removed={"claude/there", "claude/live"})

    assert sorted((item.branch, why) for item, why in share) == [
        ("claude/gone", "its branch is gone"), ("claude/live", "its branch is removed now"),
        ("claude/there", "its branch is removed now")]


# --- `prune` offers them with the branches ----------------------------------------------------------


def test_prune_removes_the_history_of_a_landed_branch_with_it(capsys, repo, data_home, fp):
    from tests.unit.gitrepos import commit_files

    fp.pass_command(["git", fp.any()], occurrences=200)
    run_git(repo, "switch", "-q", "-c", "claude/done")
    commit_files(repo, {"done.txt": "done\n"}, "done")
    run_git(repo, "switch", "-q", "main")
    run_git(repo, "merge", "-q", "--ff-only", "claude/done")
    run_git(repo, "switch", "-q", "-c", "claude/open")
    commit_files(repo, {"open.txt": "not landed\n"}, "open")
    run_git(repo, "switch", "-q", "main")
    landed = keep_copy(repo, "claude/done")
    unlanded = keep_copy(repo, "claude/open")
    fp.register(ps_argv("--filter", f"label={naming.REPO}={repo}"), stdout="")
    fp.register(volume_ls_argv("--filter", f"label={naming.REPO}={repo}"), stdout="")

    assert cli.main(["prune", str(repo), "--yes"], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert "deleted claude/done" in out and "removed the history of claude/done" in out
    assert "history kept for --resume" in out and "its branch is removed now" in out
    assert not landed.exists() and unlanded.exists()
    assert "claude/open" not in out


# --- how much they take ------------------------------------------------------------------------------


def test_warn_if_over_says_so_and_removes_nothing(capsys, repo, four_copies):
    total = sum(path.stat().st_size for path in four_copies.values())
    assert history_copies.total_size() == total

    history_copies.warn_if_over(total)
    assert capsys.readouterr().err == ""
    history_copies.warn_if_over(total - 1)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: the host keeps") and "[sessions] history_size" in err[0]
    assert err[1].startswith("hint: ") and "history prune --older-than" in err[1]
    assert all(path.exists() for path in four_copies.values())


def test_history_size_is_read_from_the_config(tmp_path, monkeypatch):
    from agents.config import load_config

    config = tmp_path / "config.toml"
    config.write_text('[sessions]\nhistory_size = "2g"\n')
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config))
    assert load_config().sessions.history_size == 2 * 1024**3
    config.write_text('[sessions]\nhistory_size = "-1g"\n')
    from agents.errors import AgentsError

    with pytest.raises(AgentsError, match="history_size"):
        load_config()


def test_remove_agent_says_when_the_copies_are_past_history_size(tmp_path, monkeypatch, capsys, repo):
    from agents.session import finish
    from tests.unit.test_list_agents import session

    big = keep_copy(repo, "claude/there")
    big.write_bytes(big.read_bytes() + b"\0" * 1024**2)  # (list sizes only; the content is not read)
    config = tmp_path / "config.toml"
    config.write_text('[sessions]\nhistory_size = "1m"\n')
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config))
    monkeypatch.setattr(history, "keep", lambda info, agent: history.Archive({"files": [{}]}, big))

    finish.keep_history(session(tmp_path), CLAUDE)

    err = capsys.readouterr().err
    assert "kept its history (1 file(s))" in err and "over [sessions] history_size (1M)" in err
    assert big.exists()
