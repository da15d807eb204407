"""Agent sessions end to end: launch-agent, run-agent, list-agents, sync and remove-agent on a real engine.

Each test makes a real git repo in tmp_path and drives dist/coding-agents.pyz like a user; the
`shell` agent (a login bash) stands in for an AI so that what happens inside is deterministic.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.conftest import (
    ENGINE,
    RUN_ID,
    TEST_LABEL,
    assert_clean_error,
    assert_gone,
    commit_inside,
    container_state,
    docker,
    git,
    host_state,
    inside,
    launched_name,
    list_row,
    sessions_under,
    volume_exists,
    wait_for,
)

# --- launch, commit inside, remove --------------------------------------------------------


def test_launch_commit_remove_lands_branch_and_leaves_host_untouched(cli, repo):
    (repo / "app.py").write_text("print('host edit, not committed')\n")
    (repo / "notes.txt").write_text("untracked host file\n")
    before = host_state(repo)
    assert before["staged"] == ""

    name = launched_name(cli("launch-agent", "shell", str(repo)))
    assert name == f"shell-{repo.name}-session-1"
    assert container_state(name) == "running"
    labels = docker("inspect", "--format", "{{json .Config.Labels}}", name).stdout.decode()
    assert f'"coding-agents.session":"{name}"' in labels
    assert '"coding-agents.branch":"shell/session-1"' in labels
    # The workspace is HEAD's commit, not the host's uncommitted edits.
    assert inside(name, "cat /workspace/app.py").stdout == "print('v1')\n"
    assert inside(name, "git -C /workspace status --porcelain").stdout == ""
    agent_commit = commit_inside(name, "feature.txt", "agent-work")

    result = cli("remove-agent", name)
    assert result.returncode == 0, result.output
    assert git(repo, "rev-parse", "refs/heads/shell/session-1") == agent_commit
    assert git(repo, "show", "shell/session-1:feature.txt") == "agent-work"
    git(repo, "merge-base", "--is-ancestor", before["head"], "shell/session-1")  # raises if not
    assert host_state(repo) == before
    assert git(repo, "for-each-ref", "refs/coding-agents") == ""
    assert_gone(name)


def test_launch_two_agents_on_one_repo_both_land(cli, repo):
    first = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "api"))
    second = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "ui"))
    assert {first, second} == {f"shell-{repo.name}-api", f"shell-{repo.name}-ui"}
    api_commit = commit_inside(first, "api.txt", "api-work")
    ui_commit = commit_inside(second, "ui.txt", "ui-work")
    for name in (first, second):
        assert cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "shell/api") == api_commit
    assert git(repo, "rev-parse", "shell/ui") == ui_commit
    assert git(repo, "show", "shell/ui:api.txt", check=False) == ""  # each saw only its own work
    assert_gone(first)
    assert_gone(second)


def test_launch_same_branch_twice_is_refused_and_creates_nothing(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "api"))
    before = sessions_under(repo)
    result = cli("launch-agent", "shell", str(repo), "--branch", "api", "--name", f"{name}-again")
    assert_clean_error(result, f"shell/api is already being worked on by {name}")
    assert sessions_under(repo) == before
    assert not volume_exists(f"{name}-again-workspace")
    assert container_state(name) == "running"


def test_remove_agent_deletes_branch_only_when_head_contains_it(cli, repo):
    merged = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "merged"))
    commit_inside(merged, "m.txt", "merged-work")
    assert cli("sync", merged).returncode == 0
    git(repo, "merge", "-q", "--ff-only", "shell/merged")  # the user takes the work
    kept = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "kept"))
    commit_inside(kept, "k.txt", "kept-work")
    assert cli("sync", kept).returncode == 0
    git(repo, "merge", "-q", "--ff-only", "shell/kept")

    assert cli("remove-agent", merged).returncode == 0
    assert cli("remove-agent", kept, "--keep-branch").returncode == 0
    assert git(repo, "branch", "--list", "shell/merged") == ""
    assert git(repo, "branch", "--list", "shell/kept").strip() == "shell/kept"


def test_remove_agent_keeps_unmerged_branch(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo)))
    tip = commit_inside(name, "x.txt", "unmerged")
    assert cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "shell/session-1") == tip
    # The next session takes the next free number.
    second = launched_name(cli("launch-agent", "shell", str(repo)))
    assert second == f"shell-{repo.name}-session-2"


# --- run-agent -----------------------------------------------------------------------------


def test_run_agent_prompt_streams_output_lands_branch_and_cleans_up(cli, repo):
    before = host_state(repo)
    prompt = "echo prompt-output-42 && echo x > f.txt && git add f.txt && git commit -q -m from-prompt"
    result = cli("run-agent", "shell", str(repo), "--prompt", prompt)
    assert result.returncode == 0, result.output
    assert "prompt-output-42" in result.stdout
    name = f"shell-{repo.name}-session-1"
    assert git(repo, "log", "-1", "--format=%s", "shell/session-1") == "from-prompt"
    assert git(repo, "show", "shell/session-1:f.txt") == "x"
    assert host_state(repo) == before
    assert_gone(name)


def test_run_agent_prompt_failure_is_the_exit_code(cli, repo):
    result = cli("run-agent", "shell", str(repo), "--prompt", "echo failing; exit 7")
    assert result.returncode == 7, result.output
    assert "failing" in result.stdout
    assert_gone(f"shell-{repo.name}-session-1")
    assert git(repo, "branch", "--list", "shell/*") == ""  # no commits, no branch


def test_run_agent_no_push_refuses_to_lose_commits_until_yes(cli, repo):
    prompt = "echo x > f.txt && git add f.txt && git commit -q -m secret"
    result = cli("run-agent", "shell", str(repo), "--no-push", "--prompt", prompt)
    assert_clean_error(result, "not on the host")
    assert result.returncode == 1
    assert "-y" in result.stderr
    name = f"shell-{repo.name}-session-1"
    assert container_state(name) is not None and volume_exists(f"{name}-workspace")  # kept, not lost
    assert git(repo, "branch", "--list", "shell/*") == ""

    assert_clean_error(cli("remove-agent", name), "not on the host")  # the session remembers --no-push
    result = cli("remove-agent", name, "--no-push", "-y")
    assert result.returncode == 0, result.output
    assert_gone(name)
    assert git(repo, "branch", "--list", "shell/*") == ""
    assert git(repo, "for-each-ref", "refs/coding-agents") == ""


def test_run_agent_no_push_with_yes_discards(cli, repo):
    prompt = "echo x > f.txt && git add f.txt && git commit -q -m secret"
    result = cli("run-agent", "shell", str(repo), "--no-push", "-y", "--prompt", prompt)
    assert result.returncode == 0, result.output
    assert_gone(f"shell-{repo.name}-session-1")
    assert git(repo, "branch", "--list", "shell/*") == ""
    assert git(repo, "for-each-ref", "refs/coding-agents") == ""


# --- list-agents -----------------------------------------------------------------------------


def test_list_agents_json_tracks_unsynced_commits_and_stopped_sessions(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "listed"))
    row = list_row(cli, name)
    assert row is not None
    assert (row["agent"], row["branch"], row["network"]) == ("shell", "shell/listed", "squid")  # the default
    assert row["state"].startswith("running")
    assert row["repo"] == str(repo.resolve())

    commit_inside(name, "a.txt", "one")
    wait_for(lambda: list_row(cli, name)["unsynced"] == 1, 20, "unsynced == 1 after one commit")
    assert cli("sync", name).returncode == 0
    assert list_row(cli, name)["unsynced"] == 0

    docker("stop", "--time", "5", name)
    assert list_row(cli, name) is None
    stopped = list_row(cli, name, "--all")
    assert stopped is not None and stopped["state"].startswith("exited")
    table = cli("list-agents", "--all")
    assert name in table.stdout


# --- errors: one line, a hint, and nothing created ------------------------------------------


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("unknown-agent", "unknown agent 'nosuch'"),
        ("not-a-repo", "is not inside a git repository"),
        ("no-commits", "has no commits yet"),
        ("bad-branch", "'a..b' is not a valid branch name"),
        ("engine-down", "cannot reach the Docker engine"),
        ("bad-name", "'bad name' is not a valid container name"),
        # Limits docker would reject: refused before anything is created, naming the option.
        ("bad-memory", "--memory"),
        ("bad-cpu", "--cpu"),
    ],
)
def test_launch_bad_input_is_one_clean_error(cli, new_repo, tmp_path, case, fragment):
    repo = new_repo()
    args, env = ["launch-agent", "shell", str(repo)], None
    if case == "unknown-agent":
        args[1] = "nosuch"
    elif case == "not-a-repo":
        plain = tmp_path / "plain"
        plain.mkdir()
        args[2] = str(plain)
    elif case == "no-commits":
        empty = tmp_path / "empty"
        empty.mkdir()
        git(empty, "init", "-q")
        args[2] = str(empty)
    elif case == "bad-branch":
        args += ["--branch", "a..b"]
    elif case == "engine-down":
        env = {"CONTAINER_HOST" if ENGINE == "podman" else "DOCKER_HOST": "unix:///nonexistent"}
        fragment = fragment.replace("Docker", "Podman") if ENGINE == "podman" else fragment
    elif case == "bad-name":
        args += ["--name", "bad name"]
    elif case == "bad-memory":
        args += ["--memory", "lots"]
    elif case == "bad-cpu":
        args += ["--cpu", "-3"]
    result = cli(*args, env=env)
    assert_clean_error(result, fragment)
    # A wrong command line is a usage error (2); a right one that cannot work here is 1.
    usage = case in ("unknown-agent", "bad-branch", "bad-name", "bad-memory", "bad-cpu")
    assert result.returncode == (2 if usage else 1)
    assert sessions_under(tmp_path) == (set(), set())


def test_launch_duplicate_name_is_refused_and_creates_nothing(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--name", f"dup-{repo.name}"))
    before = sessions_under(repo)
    result = cli("launch-agent", "shell", str(repo), "--branch", "other", "--name", name)
    assert_clean_error(result, f"named {name} already exists")
    assert sessions_under(repo) == before
    assert container_state(name) == "running"


def test_launch_never_deletes_volumes_it_did_not_create(cli, repo, version):
    """Volumes left by a session whose container was `docker rm`-ed still hold its work."""
    name = f"leftover-{repo.name}"
    volume = f"{name}-workspace"
    docker("volume", "create", "--label", f"{TEST_LABEL}={RUN_ID}", volume)
    docker("run", "--rm", "-v", f"{volume}:/workspace", f"coding-agents-base:{version}", "sh", "-c",
           "mkdir /workspace/.git && echo precious > /workspace/.git/work")
    result = cli("launch-agent", "shell", str(repo), "--name", name)
    assert result.returncode == 1, result.output
    # The user's volume survives with its content, and the refusal is one clean line naming it.
    assert volume_exists(volume), "launch deleted a volume it did not create"
    kept = docker("run", "--rm", "-v", f"{volume}:/workspace", f"coding-agents-base:{version}",
                  "cat", "/workspace/.git/work")
    assert kept.stdout == b"precious\n"
    assert_clean_error(result, volume)
    assert container_state(name) is None


def test_launch_agent_prompt_streams_syncs_and_keeps_the_workspace(cli, repo):
    prompt = "echo launched-prompt-out && echo y > y.txt && git add y.txt && git commit -q -m from-launch-prompt"
    result = cli("launch-agent", "shell", str(repo), "--prompt", prompt)
    assert result.returncode == 0, result.output
    assert "launched-prompt-out" in result.stdout
    name = f"shell-{repo.name}-session-1"
    assert git(repo, "log", "-1", "--format=%s", "shell/session-1") == "from-launch-prompt"
    assert container_state(name) == "exited"
    assert volume_exists(f"{name}-workspace") and volume_exists(f"{name}-home")
    assert cli("remove-agent", name).returncode == 0
    assert_gone(name)


def test_session_commands_on_unknown_name_are_clean_errors(cli, session_cleanup):
    for args in (["sync", "nosuch-session"], ["remove-agent", "nosuch-session"], ["connect-agent", "nosuch-session"]):
        result = cli(*args)
        assert_clean_error(result, "no agent session named 'nosuch-session'")
        assert result.returncode == 1


def test_connect_agent_without_name_lists_running_sessions(cli, repo):
    first = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "one"))
    second = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "two"))
    result = cli("connect-agent")
    assert_clean_error(result, "agents are running")
    assert first in result.stderr and second in result.stderr
    assert "connect-agent NAME" in result.stderr


def test_agent_exit_status_becomes_the_container_exit_code(cli, new_repo):
    """Repeated: ca-stub can read a dead pane before tmux has its status (a race, seen ~1 in 3)."""
    for attempt in range(6):
        repo = new_repo(f"exit{attempt}")
        name = launched_name(cli("launch-agent", "shell", str(repo)))
        inside(name, "tmux send-keys -t agent 'exit 3' Enter")
        waited = docker("wait", name, timeout=60).stdout.decode().strip()
        logs = docker("logs", name).stdout.decode()
        assert (waited, "exited with status 3" in logs) == ("3", True), f"attempt {attempt}: {logs[-300:]}"


def test_launch_refuses_a_proxy_name_taken_by_another_container_and_creates_nothing(cli, repo, version):
    """A squid session's proxy name held by another container stops the launch before anything is made."""
    name = f"proxyname-{repo.name}"
    docker("run", "-d", "--name", f"{name}-proxy", "--label", f"{TEST_LABEL}={RUN_ID}", "--network", "none",
           f"coding-agents-base:{version}", "sleep", "300")
    try:
        before = sessions_under(repo)
        result = cli("launch-agent", "shell", str(repo), "--name", name, "--network-proxy", "squid")
        assert result.returncode == 1, result.output
        assert_clean_error(result, f"a container named {name}-proxy already exists")
        assert sessions_under(repo) == before and container_state(name) is None
        assert container_state(f"{name}-proxy") == "running"  # not ours: untouched
        assert not volume_exists(f"{name}-workspace")
        # Positive control: without a proxy the same name is free.
        assert launched_name(cli("launch-agent", "shell", str(repo), "--name", name,
                                 "--network-proxy", "restricted")) == name
        assert container_state(name) == "running"
    finally:
        docker("rm", "--force", f"{name}-proxy")


def test_a_fill_the_containers_git_refuses_is_one_clean_error_and_undoes_the_launch(cli, repo):
    """The stub's own refusal, through the launch: a commit whose tree git will not check out
    (`GIT~1` is .git's short name on NTFS; git's core.protectNTFS, on by default, refuses it).
    The host's git makes and packs such a commit; the container's checkout fails."""
    blob = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"], input=b"x\n",
                          capture_output=True, check=True).stdout.decode().strip()
    inner = subprocess.run(["git", "-C", str(repo), "mktree"], input=f"100644 blob {blob}\thooks\n".encode(),
                           capture_output=True, check=True).stdout.decode().strip()
    head_tree = git(repo, "rev-parse", "HEAD^{tree}")
    listed = git(repo, "ls-tree", head_tree) + f"\n040000 tree {inner}\tGIT~1\n"
    tree = subprocess.run(["git", "-C", str(repo), "mktree"], input=listed.encode(), capture_output=True,
                          check=True).stdout.decode().strip()
    bad = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "a path git will not check out")
    git(repo, "branch", "shell/unsafe", bad)  # an agent branch of the host: the launch starts from its tip
    before_refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    before = host_state(repo)

    name = f"unsafe-{repo.name}"
    result = cli("launch-agent", "shell", str(repo), "--name", name, "--branch", "unsafe", "--network-proxy", "restricted")

    assert_clean_error(result, f"could not copy the repository into the workspace of {name}")
    assert "invalid path" in result.stderr and "GIT~1" in result.stderr  # git's own words, from inside
    assert_gone(name)  # the container and both volumes: the rollback
    assert sessions_under(repo) == (set(), set())
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == before_refs  # no branch was made
    assert host_state(repo) == before
