"""How commits travel: HEAD into the workspace volume, the agent branch back out by `sync`.

The host repo's checked-out branch, index and work tree must never move; commits must never be
lost, even when the container was killed or the host branch moved meanwhile.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.conftest import (
    assert_gone,
    commit_inside,
    container_state,
    docker,
    git,
    host_state,
    inside,
    launched_name,
    wait_for,
)


def aside_branches(repo, branch: str) -> list[str]:
    listed = git(repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{branch}-*")
    return listed.split()


def test_workspace_is_a_shallow_checkout_of_head(cli, repo):
    head = git(repo, "rev-parse", "HEAD")
    first = git(repo, "rev-parse", "HEAD~1")
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    assert inside(name, "git -C /workspace rev-parse HEAD").stdout.strip() == head
    assert inside(name, "git -C /workspace symbolic-ref HEAD").stdout.strip() == "refs/heads/shell/session-1"
    # Only HEAD's tree came in: the parent commit is not there ...
    assert inside(name, f"git -C /workspace cat-file -e {first}", check=False).returncode != 0
    # ... and git knows it (a shallow repo), so history commands work instead of failing.
    assert inside(name, "git -C /workspace rev-parse --is-shallow-repository").stdout.strip() == "true"
    log = inside(name, "git -C /workspace log --format=%H", check=False)
    assert log.returncode == 0, log.stderr
    assert log.stdout.split() == [head]


def test_sync_after_docker_kill_recovers_commits(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "killed"))
    tip = commit_inside(name, "k.txt", "before-kill")
    docker("kill", name)
    # (Podman's kill returns while the container may still be "stopped", before its cleanup: exited soon after.)
    wait_for(lambda: container_state(name) == "exited", 30, f"{name} to have exited")
    result = cli("sync", name)
    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["created", "shell/killed", tip[:10]]
    assert git(repo, "rev-parse", "shell/killed") == tip
    assert container_state(name) == "exited"  # sync reads the volume; it does not restart the agent


def test_remove_after_docker_kill_autocommits_and_lands(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "killed"))
    committed = commit_inside(name, "k.txt", "before-kill")
    inside(name, "cd /workspace && echo edited >> README.md && echo new > untracked.txt")
    docker("kill", name)
    result = cli("remove-agent", name)
    assert result.returncode == 0, result.output
    assert_gone(name)
    tip = git(repo, "rev-parse", "shell/killed")
    assert git(repo, "rev-parse", f"{tip}^") == committed
    assert git(repo, "show", "shell/killed:untracked.txt") == "new"
    assert git(repo, "show", "shell/killed:README.md") == "hello\nedited"


def test_remove_running_session_autocommits_uncommitted_work(cli, repo):
    before = host_state(repo)
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    inside(name, "cd /workspace && echo draft > draft.txt && echo changed > app.py")
    assert cli("remove-agent", name).returncode == 0
    assert git(repo, "show", "shell/session-1:draft.txt") == "draft"
    assert git(repo, "show", "shell/session-1:app.py") == "changed"
    assert git(repo, "rev-parse", "shell/session-1^") == before["head"]
    assert host_state(repo) == before


def test_sync_fast_forwards_then_saves_aside_when_host_branch_moved(cli, repo):
    before = host_state(repo)
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "div"))
    first = commit_inside(name, "a1.txt", "agent-one")
    assert cli("sync", name).stdout.split() == ["created", "shell/div", first[:10]]
    second = commit_inside(name, "a2.txt", "agent-two")
    assert cli("sync", name).stdout.split() == ["fast-forward", "shell/div", second[:10]]

    # The user commits on the (not checked-out) agent branch without touching HEAD.
    tree = git(repo, "rev-parse", "shell/div^{tree}")
    host_commit = git(repo, "commit-tree", tree, "-p", "shell/div", "-m", "host work")
    git(repo, "update-ref", "refs/heads/shell/div", host_commit, second)
    third = commit_inside(name, "a3.txt", "agent-three")

    result = cli("sync", name)
    assert result.returncode == 0, result.output
    status, aside, shown = result.stdout.split()
    assert status == "saved-aside"
    assert re.fullmatch(r"shell/div-\d{8}-\d{6}", aside), aside
    assert shown == third[:10]
    assert "moved" in result.stderr and aside in result.stderr
    # Both histories survive: the host commit stays on shell/div, the agent's is on the aside branch.
    assert git(repo, "rev-parse", "shell/div") == host_commit
    assert git(repo, "rev-parse", aside) == third
    assert host_state(repo) == before


def test_sync_again_after_saving_aside_adds_no_branch(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "div"))
    commit_inside(name, "a1.txt", "agent-one")
    assert cli("sync", name).returncode == 0
    tree = git(repo, "rev-parse", "shell/div^{tree}")
    git(repo, "update-ref", "refs/heads/shell/div", git(repo, "commit-tree", tree, "-p", "shell/div", "-m", "host"))
    tip = commit_inside(name, "a2.txt", "agent-two")
    assert cli("sync", name).stdout.split()[0] == "saved-aside"
    saved = aside_branches(repo, "shell/div")
    assert len(saved) == 1
    # Nothing new in the agent: syncing again (and remove-agent's final sync) must not pile up copies.
    again = cli("sync", name)
    assert again.returncode == 0, again.output
    assert cli("remove-agent", name).returncode == 0
    assert aside_branches(repo, "shell/div") == saved
    assert git(repo, "rev-parse", saved[0]) == tip


def test_sync_never_moves_a_checked_out_branch(cli, repo):
    git(repo, "checkout", "-q", "-b", "shell/x")
    (repo / "wip.txt").write_text("host work in progress\n")
    before = host_state(repo)
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "x"))
    tip = commit_inside(name, "agent.txt", "agent-work")
    result = cli("sync", name)
    assert result.returncode == 0, result.output
    status, aside, _ = result.stdout.split()
    assert status == "saved-aside"
    assert "checked out" in result.stderr
    assert git(repo, "rev-parse", aside) == tip
    assert git(repo, "rev-parse", "shell/x") == before["head"]
    assert host_state(repo) == before
    assert cli("remove-agent", name).returncode == 0
    assert host_state(repo) == before


def test_include_uncommitted_carries_host_changes_without_touching_them(cli, repo):
    (repo / "app.py").write_text("print('edited on host')\n")
    (repo / "new.txt").write_text("brand new\n")
    before = host_state(repo)
    name = launched_name(cli("launch-agent", "shell", str(repo), "--include-uncommitted"))
    status = inside(name, "git -C /workspace status --porcelain").stdout.splitlines()
    assert sorted(status) == [" M app.py", "?? new.txt"]
    assert inside(name, "cat /workspace/app.py").stdout == "print('edited on host')\n"
    assert inside(name, "git -C /workspace rev-parse HEAD").stdout.strip() == before["head"]
    assert host_state(repo) == before
    assert cli("remove-agent", name).returncode == 0
    assert git(repo, "show", "shell/session-1:new.txt") == "brand new"
    assert host_state(repo) == before


def test_use_current_branch_starts_from_it_and_lands_on_agent_branch(cli, repo):
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.txt").write_text("feature work\n")
    git(repo, "add", "feature.txt")
    git(repo, "commit", "-q", "-m", "feature")
    feature = git(repo, "rev-parse", "HEAD")
    name = launched_name(cli("launch-agent", "shell", str(repo), "--use-current-branch"))
    assert name == f"shell-{repo.name}-feature"
    assert inside(name, "git -C /workspace rev-parse HEAD").stdout.strip() == feature
    tip = commit_inside(name, "more.txt", "more")
    assert cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "shell/feature") == tip
    assert git(repo, "rev-parse", "feature") == feature  # the user's branch did not move


def test_launch_continues_an_existing_agent_branch(cli, repo):
    first = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "api"))
    one = commit_inside(first, "one.txt", "one")
    assert cli("remove-agent", first).returncode == 0
    assert git(repo, "rev-parse", "shell/api") == one

    again = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "api"))
    assert inside(again, "git -C /workspace rev-parse HEAD").stdout.strip() == one
    two = commit_inside(again, "two.txt", "two")
    result = cli("sync", again)
    assert result.stdout.split() == ["fast-forward", "shell/api", two[:10]]
    assert git(repo, "rev-parse", "shell/api^") == one


def test_remove_refuses_while_the_host_repo_is_missing(cli, repo, tmp_path):
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    tip = commit_inside(name, "w.txt", "work")
    moved = tmp_path / "moved-away"
    repo.rename(moved)
    try:
        result = cli("remove-agent", name)
        assert result.returncode == 1, result.output
        assert "is gone" in result.stderr and "Traceback" not in result.stderr
        assert container_state(name) == "running"  # nothing removed: the commits live only there
    finally:
        moved.rename(repo)
    assert cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "shell/session-1") == tip
    assert_gone(name)


def reachable_from_a_host_branch(repo, commit: str) -> bool:
    if subprocess.run(["git", "-C", str(repo), "cat-file", "-e", commit], capture_output=True).returncode != 0:
        return False
    return bool(git(repo, "for-each-ref", "--contains", commit, "refs/heads"))


def test_remove_does_not_silently_drop_commits_on_another_branch(cli, repo):
    """Agents make branches of their own; removing the session must not discard what is on them."""
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    inside(name, "git -C /workspace checkout -q -b agent-side-branch")
    side = commit_inside(name, "side.txt", "side-work")
    result = cli("remove-agent", name)
    if result.returncode == 0:
        assert reachable_from_a_host_branch(repo, side), f"{side} was lost: {result.stderr}"
    else:  # or refuse, keeping the session, and say what would be lost
        assert "agent-side-branch" in result.stderr, result.stderr
        assert container_state(name) is not None


def test_sync_with_a_conflicting_host_branch_name_ends(cli, repo):
    """Host branch shell/feat makes refs/heads/shell/feat/x impossible (a file where a folder must be)."""
    git(repo, "branch", "shell/feat")
    launched = cli("launch-agent", "shell", str(repo), "--branch", "feat/x", timeout=60)
    if launched.returncode != 0:  # refusing up front is fine, if it says why
        assert "shell/feat" in launched.stderr and "Traceback" not in launched.stderr
        return
    name = launched_name(launched)
    tip = commit_inside(name, "f.txt", "feat-work")
    try:
        result = cli("sync", name, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("sync did not end within 30 s (it loops trying branch names that cannot exist)")
    if result.returncode == 0:
        assert reachable_from_a_host_branch(repo, tip), result.output
    else:
        assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr


def test_docker_stop_autocommits_and_a_stopped_session_syncs(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    inside(name, "echo unsaved > /workspace/unsaved.txt")
    docker("stop", "--time", "10", name)  # SIGTERM to ca-stub, which commits before it exits
    assert container_state(name) == "exited"
    result = cli("sync", name)
    assert result.returncode == 0, result.output
    assert result.stdout.split()[:2] == ["created", "shell/session-1"]
    assert git(repo, "show", "shell/session-1:unsaved.txt") == "unsaved"
    assert git(repo, "log", "-1", "--format=%s", "shell/session-1") == "coding-agents: auto-commit of uncommitted work"
