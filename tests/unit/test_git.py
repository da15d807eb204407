"""agents/git.py: host-side git, run against real repositories in tmp_path (no fakes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents import git
from agents.errors import AgentsError
from tests.unit.gitrepos import commit_files, init_repo, make_template, run_git

ASIDE_STAMP = "20260101-000000"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """One committed repository per module; tests get copies."""
    return make_template(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture(scope="module")
def first_commit(template_repo) -> str:
    """The template's one commit, where every copy starts."""
    return run_git(template_repo, "rev-parse", "HEAD")


@pytest.fixture
def make_repo(template_repo):
    def make(path: Path) -> Path:
        shutil.copytree(template_repo, path, symlinks=True)
        return path

    return make


def child_commit(repo: Path, parent: str, message: str) -> str:
    """A commit on no branch (what a fetch from the agent brings in)."""
    return run_git(repo, "commit-tree", f"{parent}^{{tree}}", "-p", parent, "-m", message)


def user_state(repo: Path) -> tuple[str, str, str, str]:
    """Everything a sync must leave alone: HEAD, index, work tree."""
    return (
        run_git(repo, "rev-parse", "HEAD"),
        run_git(repo, "symbolic-ref", "HEAD"),
        run_git(repo, "status", "--porcelain", "--untracked-files=all"),
        run_git(repo, "diff", "--cached"),
    )


@pytest.fixture
def repo(tmp_path, make_repo) -> Path:
    return make_repo(tmp_path / "api")


@pytest.fixture
def fixed_stamp(monkeypatch):
    monkeypatch.setattr(git, "timestamp", lambda: ASIDE_STAMP)


# --- finding the repository -------------------------------------------------------------


def test_repo_root_from_subfolder(repo):
    (repo / "src" / "deep").mkdir(parents=True)

    assert git.repo_root(repo / "src" / "deep") == repo.resolve()


def test_repo_root_from_file_uses_its_folder(repo):
    assert git.repo_root(repo / "README.md") == repo.resolve()


def test_repo_root_not_a_repo_has_hint(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()

    with pytest.raises(AgentsError) as caught:
        git.repo_root(plain)

    assert caught.value.message == f"{plain.resolve()} is not inside a git repository"
    assert "git init" in caught.value.hint


def test_repo_root_missing_path_has_hint(tmp_path):
    with pytest.raises(AgentsError) as caught:
        git.repo_root(tmp_path / "nowhere")

    assert caught.value.message == f"{tmp_path / 'nowhere'} does not exist"
    assert "git repository" in caught.value.hint


def test_git_ignores_misdirecting_git_dir(repo, tmp_path, make_repo, monkeypatch):
    other = make_repo(tmp_path / "other")
    commit_files(other, {"other.txt": "x\n"}, "other's second")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    (repo / "sub").mkdir()

    assert git.repo_root(repo / "sub") == repo.resolve()
    assert git.head_commit(repo) == run_git(repo, "rev-parse", "HEAD") != run_git(other, "rev-parse", "HEAD")


def test_head_commit_empty_repo_errors(tmp_path):
    empty = init_repo(tmp_path / "empty")

    with pytest.raises(AgentsError) as caught:
        git.head_commit(empty)

    assert caught.value.message == f"{empty} has no commits yet"
    assert "first commit" in caught.value.hint


def test_current_branch_detached_is_none(repo):
    assert git.current_branch(repo) == "main"
    run_git(repo, "checkout", "-q", "--detach")

    assert git.current_branch(repo) is None


# --- branch names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a..b", "-x", "has space", "ends.lock", "trailing/", "x~1", "a:b"])
def test_validate_branch_name_rejects(name):
    with pytest.raises(AgentsError, match="is not a valid branch name"):
        git.validate_branch_name(name)


@pytest.mark.parametrize("name", ["feature/x", "claude/session-1", "fix_2.0"])
def test_validate_branch_name_accepts(name):
    assert git.validate_branch_name(name) == name


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], 1),
        (["claude/session-1", "claude/session-2"], 3),
        (["claude/session-3", "claude/session-10", "claude/session-2"], 11),
        (["codex/session-7", "claude/session-x", "claude/session-4b", "claude/sessions-9", "main"], 1),
        (["claude/session-1/sub", "xclaude/session-5"], 1),
    ],
    ids=["none", "consecutive", "gap-and-numeric-order", "other-names-ignored", "no-partial-match"],
)
def test_next_session_number_cases(existing, expected):
    assert git.next_session_number(existing, "claude") == expected


def test_next_session_number_escapes_agent_name():
    assert git.next_session_number(["aXb/session-4"], "a.b") == 1


def test_local_branches_matches_pattern(repo):
    for branch in ("claude/session-1", "claude/session-2", "codex/session-1"):
        run_git(repo, "branch", branch)

    assert sorted(git.local_branches(repo, "claude/session-*")) == ["claude/session-1", "claude/session-2"]


@pytest.mark.parametrize(
    ("existing", "wanted", "clash"),
    [
        ("claude/a", "claude/a/b", "claude/a"),  # a/b blocks a/b/c
        ("claude", "claude/a", "claude"),
        ("claude/a/b", "claude/a", "claude/a/b"),  # and a/b/c blocks a/b
        ("claude/a/b/c", "claude/a", "claude/a/b/c"),
        ("claude/a", "claude/a", None),  # the branch itself is continued, not a clash
        ("claude/ab", "claude/a", None),
        ("claude/a-1", "claude/a/b", None),
    ],
)
def test_conflicting_branch_cases(repo, existing, wanted, clash):
    run_git(repo, "branch", existing)

    assert git.conflicting_branch(repo, wanted) == clash


def test_conflicting_branch_none_in_plain_repo(repo):
    assert git.conflicting_branch(repo, "claude/session-1") is None


def test_checked_out_branches_includes_other_worktrees(repo, tmp_path):
    run_git(repo, "branch", "idle")
    run_git(repo, "worktree", "add", "-q", "-b", "feature/x", str(tmp_path / "wt"))
    run_git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"))

    assert git.checked_out_branches(repo) == {"main", "feature/x"}


# --- compare-and-swap refs --------------------------------------------------------------


def test_update_ref_creates_when_absent(repo, first_commit):
    head = first_commit

    assert git.update_ref(repo, "refs/heads/new", head, None) is True
    assert git.branch_sha(repo, "new") == head


def test_update_ref_refuses_create_when_present(repo, first_commit):
    head = first_commit
    other = child_commit(repo, head, "other")
    run_git(repo, "branch", "taken", head)

    assert git.update_ref(repo, "refs/heads/taken", other, None) is False
    assert git.branch_sha(repo, "taken") == head


def test_update_ref_refuses_when_old_value_mismatches(repo, first_commit):
    head = first_commit
    moved = child_commit(repo, head, "moved by the user")
    agent = child_commit(repo, head, "agent")
    run_git(repo, "branch", "work", moved)

    assert git.update_ref(repo, "refs/heads/work", agent, head) is False
    assert git.branch_sha(repo, "work") == moved
    assert git.update_ref(repo, "refs/heads/work", agent, moved) is True
    assert git.branch_sha(repo, "work") == agent


def test_count_commits_and_is_ancestor(repo, first_commit):
    base = first_commit
    one = child_commit(repo, base, "1")
    two = child_commit(repo, one, "2")

    assert git.count_commits(repo, base, two) == 2
    assert git.is_ancestor(repo, base, two) is True
    assert git.is_ancestor(repo, two, base) is False


def test_identity_falls_back_when_unset(tmp_path):
    bare = tmp_path / "noident"
    bare.mkdir()
    run_git(bare, "init", "-q")

    assert git.identity(bare) == git.FALLBACK_IDENTITY


# --- carrying uncommitted work ------------------------------------------------------------


def test_snapshot_uncommitted_clean_is_none(repo):
    (repo / ".gitignore").write_text("*.log\n")
    run_git(repo, "add", ".gitignore")
    run_git(repo, "commit", "-q", "-m", "ignore logs")
    (repo / "debug.log").write_text("ignored\n")

    assert git.snapshot_uncommitted(repo, run_git(repo, "rev-parse", "HEAD")) is None


def test_snapshot_uncommitted_captures_changes_without_touching_user_state(repo):
    base = commit_files(repo, {"app.py": "print(1)\n", ".gitignore": "*.log\n"}, "app")
    (repo / "app.py").write_text("print(2)\n")  # modified, unstaged
    (repo / "staged.txt").write_text("staged\n")
    run_git(repo, "add", "staged.txt")  # staged new file
    (repo / "notes" / "new.txt").parent.mkdir()
    (repo / "notes" / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    before = user_state(repo)

    snapshot = git.snapshot_uncommitted(repo, base)

    assert snapshot is not None
    assert user_state(repo) == before
    assert run_git(repo, "rev-parse", f"{snapshot}^") == base
    assert run_git(repo, "show", f"{snapshot}:app.py") == "print(2)"
    assert run_git(repo, "show", f"{snapshot}:staged.txt") == "staged"
    assert run_git(repo, "show", f"{snapshot}:notes/new.txt") == "untracked"
    assert "debug.log" not in run_git(repo, "ls-tree", "-r", "--name-only", snapshot).splitlines()
    assert run_git(repo, "log", "-1", "--format=%an <%ae>", snapshot) == "Test User <test@example.com>"
    assert git.branch_sha(repo, "main") == base  # on no branch


def test_snapshot_uncommitted_records_deleted_file(repo, first_commit):
    base = first_commit
    (repo / "README.md").unlink()

    snapshot = git.snapshot_uncommitted(repo, base)

    assert run_git(repo, "ls-tree", "-r", "--name-only", snapshot) == ""
    assert run_git(repo, "status", "--porcelain") == "D README.md"


def test_object_list_for_checkout_has_one_commit_and_no_history(repo, tmp_path, first_commit):
    first = first_commit
    commit_files(repo, {"a.txt": "a\n"}, "second")
    tip = commit_files(repo, {"dir/b.txt": "b\n"}, "third")
    list_path = tmp_path / "objects"

    git.object_list_for_checkout(repo, [tip], str(list_path))

    shas = [line.split(" ", 1)[0] for line in list_path.read_text().splitlines()]
    kinds = {sha: run_git(repo, "cat-file", "-t", sha) for sha in shas}
    assert [sha for sha, kind in kinds.items() if kind == "commit"] == [tip]
    assert first not in kinds
    paths = {line.split(" ", 1)[1] for line in list_path.read_text().splitlines() if " " in line}
    assert {"README.md", "a.txt", "dir", "dir/b.txt"} <= paths


def test_object_list_for_checkout_with_snapshot_lists_both_commits(repo, tmp_path, first_commit):
    base = first_commit
    (repo / "wip.txt").write_text("wip\n")
    snapshot = git.snapshot_uncommitted(repo, base)
    list_path = tmp_path / "objects"

    git.object_list_for_checkout(repo, [base, snapshot], str(list_path))

    shas = [line.split(" ", 1)[0] for line in list_path.read_text().splitlines()]
    assert sorted(sha for sha in shas if run_git(repo, "cat-file", "-t", sha) == "commit") == sorted([base, snapshot])


# --- landing the agent's commits ----------------------------------------------------------


def test_land_commits_creates_missing_branch(repo, first_commit):
    base = first_commit
    tip = child_commit(repo, base, "agent")

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert (outcome.status, outcome.branch, outcome.tip) == ("created", "claude/x", tip)
    assert git.branch_sha(repo, "claude/x") == tip


def test_land_commits_up_to_date(repo, first_commit):
    base = first_commit
    tip = child_commit(repo, base, "agent")
    run_git(repo, "branch", "claude/x", tip)

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert outcome.status == "up-to-date"
    assert outcome.message == "claude/x is up to date"


def test_land_commits_fast_forwards(repo, first_commit):
    base = first_commit
    first = child_commit(repo, base, "agent 1")
    tip = child_commit(repo, first, "agent 2")
    run_git(repo, "branch", "claude/x", first)

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert (outcome.status, outcome.branch) == ("fast-forward", "claude/x")
    assert git.branch_sha(repo, "claude/x") == tip


def test_land_commits_host_ahead_is_up_to_date(repo, first_commit):
    base = first_commit
    tip = child_commit(repo, base, "agent")
    host = child_commit(repo, tip, "user built on it")
    run_git(repo, "branch", "claude/x", host)

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert (outcome.status, outcome.tip) == ("up-to-date", host)
    assert git.branch_sha(repo, "claude/x") == host


def test_land_commits_diverged_saves_aside(repo, fixed_stamp, first_commit):
    base = first_commit
    host = child_commit(repo, base, "user")
    tip = child_commit(repo, base, "agent")
    run_git(repo, "branch", "claude/x", host)

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    aside = f"claude/x-{ASIDE_STAMP}"
    assert (outcome.status, outcome.branch, outcome.tip) == ("saved-aside", aside, tip)
    assert git.branch_sha(repo, "claude/x") == host
    assert git.branch_sha(repo, aside) == tip
    assert "has moved on the host" in outcome.message and f"git log claude/x...{aside}" in outcome.message


def test_land_commits_second_aside_in_same_second_gets_new_name(repo, fixed_stamp, first_commit):
    # Two unrelated tips (the agent rewrote its branch): the first aside cannot be reused.
    base = first_commit
    run_git(repo, "branch", "claude/x", child_commit(repo, base, "user"))
    first = git.land_commits(repo, "claude/x", child_commit(repo, base, "agent 1"), base=base)

    second = git.land_commits(repo, "claude/x", child_commit(repo, base, "agent 2"), base=base)
    third = git.land_commits(repo, "claude/x", child_commit(repo, base, "agent 3"), base=base)

    assert first.branch == f"claude/x-{ASIDE_STAMP}"
    assert (second.status, second.branch) == ("saved-aside", f"claude/x-{ASIDE_STAMP}-1")
    assert third.branch == f"claude/x-{ASIDE_STAMP}-2"
    for outcome in (first, second, third):
        assert git.branch_sha(repo, outcome.branch) == outcome.tip


def test_land_commits_gives_up_after_ten_names_in_one_second(repo, fixed_stamp, first_commit):
    base = first_commit
    run_git(repo, "branch", "claude/x", child_commit(repo, base, "user"))
    taken = child_commit(repo, base, "someone else")
    for suffix in ["", *(f"-{n}" for n in range(1, 10))]:
        run_git(repo, "branch", f"claude/x-{ASIDE_STAMP}{suffix}", taken)

    with pytest.raises(AgentsError, match="could not create a branch next to claude/x") as caught:
        git.land_commits(repo, "claude/x", child_commit(repo, base, "agent"), base=base)

    assert git.SESSION_REF_PREFIX in caught.value.hint


def test_land_commits_second_sync_after_aside_is_up_to_date_on_that_branch(repo, monkeypatch, first_commit):
    base = first_commit
    run_git(repo, "branch", "claude/x", child_commit(repo, base, "user"))
    tip = child_commit(repo, base, "agent")
    monkeypatch.setattr(git, "timestamp", lambda: ASIDE_STAMP)
    first = git.land_commits(repo, "claude/x", tip, base=base)
    monkeypatch.setattr(git, "timestamp", lambda: "20260101-000107")  # a later sync

    second = git.land_commits(repo, "claude/x", tip, base=base)

    assert first.status == "saved-aside"
    assert (second.status, second.branch, second.tip) == ("up-to-date", f"claude/x-{ASIDE_STAMP}", tip)
    assert second.message == f"the agent's commits are already on claude/x-{ASIDE_STAMP}"
    assert git.local_branches(repo, "claude/x-*") == [f"claude/x-{ASIDE_STAMP}"]


def test_land_commits_fast_forwards_the_earlier_aside_branch(repo, monkeypatch, first_commit):
    base = first_commit
    host = child_commit(repo, base, "user")
    run_git(repo, "branch", "claude/x", host)
    first_tip = child_commit(repo, base, "agent 1")
    monkeypatch.setattr(git, "timestamp", lambda: ASIDE_STAMP)
    git.land_commits(repo, "claude/x", first_tip, base=base)
    monkeypatch.setattr(git, "timestamp", lambda: "20260101-000107")
    later_tip = child_commit(repo, first_tip, "agent 2")

    outcome = git.land_commits(repo, "claude/x", later_tip, base=base)

    aside = f"claude/x-{ASIDE_STAMP}"
    assert (outcome.status, outcome.branch, outcome.tip) == ("fast-forward", aside, later_tip)
    assert outcome.message == f"fast-forwarded {aside} to {later_tip[:10]}"
    assert git.branch_sha(repo, aside) == later_tip
    assert git.branch_sha(repo, "claude/x") == host
    assert git.local_branches(repo, "claude/x-*") == [aside]


def test_land_commits_checked_out_aside_branch_is_not_moved(repo, fixed_stamp, first_commit):
    base = first_commit
    run_git(repo, "branch", "claude/x", child_commit(repo, base, "user"))
    first_tip = child_commit(repo, base, "agent 1")
    aside = git.land_commits(repo, "claude/x", first_tip, base=base).branch
    run_git(repo, "checkout", "-q", aside)
    later_tip = child_commit(repo, first_tip, "agent 2")

    outcome = git.land_commits(repo, "claude/x", later_tip, base=base)

    assert (outcome.status, outcome.branch) == ("saved-aside", f"{aside}-1")
    assert git.branch_sha(repo, aside) == first_tip


def test_land_commits_never_moves_a_user_branch_that_only_shares_the_prefix(repo, fixed_stamp, first_commit):
    base = first_commit
    run_git(repo, "branch", "claude/x", child_commit(repo, base, "user"))
    run_git(repo, "branch", "claude/x-backup", base)  # the user's own bookmark at the start commit
    tip = child_commit(repo, base, "agent")

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert git.branch_sha(repo, "claude/x-backup") == base
    assert (outcome.status, outcome.branch) == ("saved-aside", f"claude/x-{ASIDE_STAMP}")


def test_land_commits_checked_out_branch_saves_aside_and_leaves_user_alone(repo, fixed_stamp, first_commit):
    base = first_commit
    (repo / "README.md").write_text("user is editing\n")
    (repo / "scratch.txt").write_text("untracked\n")
    before = user_state(repo)
    tip = child_commit(repo, base, "agent")  # a clean fast-forward of main, but main is checked out

    outcome = git.land_commits(repo, "main", tip, base=base)

    assert (outcome.status, outcome.branch) == ("saved-aside", f"main-{ASIDE_STAMP}")
    assert user_state(repo) == before
    assert git.branch_sha(repo, "main") == base
    assert (repo / "README.md").read_text() == "user is editing\n"
    assert f"git merge --ff-only main-{ASIDE_STAMP}" in outcome.message


def test_land_commits_checked_out_in_other_worktree_saves_aside(repo, tmp_path, fixed_stamp, first_commit):
    base = first_commit
    run_git(repo, "worktree", "add", "-q", "-b", "claude/x", str(tmp_path / "wt"))
    tip = child_commit(repo, base, "agent")

    outcome = git.land_commits(repo, "claude/x", tip, base=base)

    assert outcome.status == "saved-aside"
    assert git.branch_sha(repo, "claude/x") == base
    assert run_git(tmp_path / "wt", "status", "--porcelain") == ""


def test_land_commits_no_commits_when_tip_is_base(repo, first_commit):
    base = first_commit

    outcome = git.land_commits(repo, "claude/x", base, base=base)

    assert outcome.status == "no-commits"
    assert git.branch_sha(repo, "claude/x") is None


def test_identity_is_the_last_value_of_each_as_git_commits_with(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    run_git(repo, "init", "-q")
    run_git(repo, "config", "user.name", "First Name")
    run_git(repo, "config", "--add", "user.name", "Ann O'Neil, Jr")
    run_git(repo, "config", "user.email", "ann@example.com")

    assert git.identity(repo) == ("Ann O'Neil, Jr", "ann@example.com")
    (repo / "f").write_text("x\n")
    run_git(repo, "add", "f")
    run_git(repo, "commit", "-qm", "x")
    assert run_git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Ann O'Neil, Jr <ann@example.com>"
