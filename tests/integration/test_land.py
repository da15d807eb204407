"""From many agents to merged work: diff, land (one and --all), prune, stop/start, and what each
agent is doing, driven through our CLI against the real engine. The agents are `shell` sessions
scripted with `docker exec`: no model is needed to make commits."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.integration.conftest import (
    ENGINE,
    container_state,
    git,
    host_state,
    inside,
    launched_name,
    list_row,
    volume_exists,
    wait_for,
    write_config,
)

TEST = "sh test.sh"


def all_refs(repo: Path) -> dict[str, str]:
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in listed.splitlines())


def has_object(repo: Path, sha: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "cat-file", "-e", sha], capture_output=True).returncode == 0


def launch(cli, repo: Path, branch: str) -> str:
    return launched_name(cli("launch-agent", "shell", str(repo), "--branch", branch, "--network-proxy", "restricted"))


def commit(name: str, script: str, message: str) -> str:
    inside(name, f"cd /workspace && {script} && git add -A && git commit -q -m '{message}'")
    return inside(name, "git -C /workspace rev-parse HEAD").stdout.strip()


def commit_on_host(repo: Path, parent: str, path: str, text: str) -> str:
    """A commit adding path on top of parent, made without the work tree or the user's index."""
    index = repo / ".git" / "test-index"
    env = {"GIT_INDEX_FILE": str(index)}
    run = lambda *args, **kw: subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,  # noqa: E731
                                             check=True, env={**os.environ, **env}, **kw).stdout.strip()
    run("read-tree", parent)
    blob = run("hash-object", "-w", "--stdin", input=text + "\n")
    run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    index.unlink()
    return git(repo, "commit-tree", tree, "-p", parent, "-m", f"add {path}")


def three_agents(cli, repo: Path) -> dict[str, tuple[str, str]]:
    """The repo gets a test and a notes file; three agents: one good, one that conflicts with what
    the host did meanwhile, one that breaks the test. {role: (session, tip)}."""
    (repo / "test.sh").write_text("! grep -q BROKEN app.py\n")
    (repo / "notes.txt").write_text("a\nb\nc\n")
    git(repo, "add", "test.sh", "notes.txt")
    git(repo, "commit", "-q", "-m", "test and notes")
    agents = {}
    for role in ("good", "clash", "breaks"):
        agents[role] = [launch(cli, repo, role)]
    agents["good"].append(commit(agents["good"][0], "echo good > good.txt", "good: add good.txt"))
    agents["clash"].append(commit(agents["clash"][0], "printf 'a\\nagent\\nc\\n' > notes.txt", "clash: edit b"))
    agents["breaks"].append(commit(agents["breaks"][0], "echo BROKEN >> app.py", "breaks: break the test"))
    # Meanwhile on the host: the same line the clash agent changed.
    (repo / "notes.txt").write_text("a\nhost\nc\n")
    git(repo, "commit", "-q", "-am", "host: edit b")
    git(repo, "branch", "integration")  # the target, not checked out
    return {role: (name, tip) for role, (name, tip) in agents.items()}


def test_land_all_lands_one_and_leaves_the_conflict_and_the_red_test_untouched(cli, repo):
    agents = three_agents(cli, repo)
    before_state = host_state(repo)
    before_refs = all_refs(repo)
    start = before_refs["refs/heads/integration"]

    result = cli("land", "--all", "--repo", str(repo), "--onto", "integration", "--test", TEST)
    assert result.returncode == 1, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    good, clash, breaks = (agents[role][0] for role in ("good", "clash", "breaks"))
    assert set(rows) == {good, clash, breaks}, result.output
    assert " landed " in rows[good], result.stdout
    assert " conflict " in rows[clash] and "notes.txt" in rows[clash], result.stdout
    assert " test failed " in rows[breaks], result.stdout
    assert "1 landed, 1 conflict, 1 test failed" in result.stderr
    # The good agent's commit is on the target, on top of where it was (a rebase, host author kept).
    landed = git(repo, "rev-parse", "integration")
    assert git(repo, "rev-parse", "integration^") == start
    assert git(repo, "show", "integration:good.txt") == "good"
    assert git(repo, "log", "-1", "--format=%s", "integration") == "good: add good.txt"
    # Every other ref is as it was, but the good agent's branch, now home as sync brings it.
    after_refs = all_refs(repo)
    changed = {ref for ref in set(before_refs) | set(after_refs) if before_refs.get(ref) != after_refs.get(ref)}
    assert changed == {"refs/heads/integration", "refs/heads/shell/good", f"refs/coding-agents/sessions/{good}"}
    assert after_refs["refs/heads/integration"] == landed
    assert after_refs["refs/heads/shell/good"] == agents["good"][1]
    # The two that failed left nothing: no ref, not even their commits in the host's object store.
    for role in ("clash", "breaks"):
        assert not has_object(repo, agents[role][1]), role
    # The user's HEAD, index and work tree never moved.
    assert host_state(repo) == before_state
    # The logs are kept and say what failed.
    logs = {role: Path(rows[agents[role][0]].split("(log: ")[1].rstrip(")")) for role in ("clash", "breaks")}
    assert "notes.txt" in logs["clash"].read_text()
    assert "test exited with status 1" in logs["breaks"].read_text()

    # Again: the good one has nothing left to land, the others fail the same way, nothing moves.
    again = cli("land", "--all", "--repo", str(repo), "--onto", "integration", "--test", TEST)
    assert again.returncode == 1, again.output
    assert "nothing to land" in again.stdout
    assert all_refs(repo) == after_refs


def test_land_one_onto_the_checked_out_branch_moves_nothing_and_says_what_to_run(cli, repo):
    name = launch(cli, repo, "one")
    tip = commit(name, "echo one > one.txt", "one: add")
    before = host_state(repo)
    result = cli("land", name, "--test", "test -f one.txt", "--squash")
    assert result.returncode == 0, result.output
    status, branch, shown = result.stdout.split()
    assert (status, branch) == ("tested", "shell/one")
    assert host_state(repo) == before  # main is checked out: not moved, the work tree untouched
    kept = git(repo, "rev-parse", "refs/coding-agents/landed/main")
    assert kept.startswith(shown)
    assert f"git merge --ff-only {kept[:12]}" in result.stderr
    assert git(repo, "rev-parse", f"{kept}^") == before["head"]  # squashed: one commit on main
    assert git(repo, "show", f"{kept}:one.txt") == "one"
    assert git(repo, "rev-parse", "shell/one") == tip
    # What it says to run works, and is a fast-forward.
    git(repo, "merge", "--ff-only", "-q", kept[:12])
    assert git(repo, "rev-parse", "HEAD") == kept


def test_land_a_red_test_is_an_error_naming_the_log(cli, repo):
    name = launch(cli, repo, "red")
    commit(name, "echo x > x.txt", "red: add")
    git(repo, "branch", "target")
    refs = all_refs(repo)
    result = cli("land", name, "--onto", "target", "--test", "echo out-of-the-test; exit 3")
    assert result.returncode == 1, result.output
    assert result.stdout.split()[0:2] == ["test", "failed"]
    error = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert "test failed" in error
    log = Path(result.stderr.split("the log is ")[1].split()[0])
    assert "out-of-the-test" in log.read_text() and "status 3" in log.read_text()
    assert all_refs(repo) == refs


def test_the_test_has_no_network_and_runs_hardened(cli, repo):
    name = launch(cli, repo, "probe")
    commit(name, "echo p > p.txt", "probe")
    git(repo, "branch", "target")
    probe = ("test \"$(id -u)\" = 1000 && ! touch /etc/x 2>/dev/null && "
             "test \"$(ls /sys/class/net)\" = lo && git rev-parse HEAD >/dev/null && test -f p.txt")  # no network: lo only
    result = cli("land", name, "--onto", "target", "--test", probe)
    assert result.returncode == 0, result.output
    assert git(repo, "show", "target:p.txt") == "p"


def test_diff_shows_what_each_agent_did_without_touching_the_host(cli, repo):
    agents = three_agents(cli, repo)
    before_state, before_refs = host_state(repo), all_refs(repo)
    good, clash, breaks = (agents[role][0] for role in ("good", "clash", "breaks"))
    shown = cli("diff", good)
    assert shown.returncode == 0, shown.output
    assert "+++ b/good.txt" in shown.stdout and "+good" in shown.stdout
    assert "notes.txt" not in shown.stdout
    assert "-b\n+agent" in cli("diff", clash).stdout
    stat = cli("diff", breaks, "--stat")
    assert "app.py | 1 +" in stat.stdout
    # Uncommitted work, untracked files too, is part of it; --committed leaves it out.
    inside(breaks, "cd /workspace && echo draft > draft.txt && echo more >> README.md")
    everything = cli("diff", breaks).stdout
    assert "+++ b/draft.txt" in everything and "+more" in everything and "+BROKEN" in everything
    committed = cli("diff", breaks, "--committed").stdout
    assert "draft.txt" not in committed and "+BROKEN" in committed
    assert inside(breaks, "cd /workspace && git status --porcelain").stdout.split() == ["M", "README.md", "??",
                                                                                       "draft.txt"]
    # A stopped session's workspace is read through a throwaway container.
    assert cli("stop", good).returncode == 0
    assert "+++ b/good.txt" in cli("diff", good).stdout
    assert host_state(repo) == before_state and all_refs(repo) == before_refs


def test_prune_removes_only_what_is_landed_or_saved_aside(cli, repo):
    name = launch(cli, repo, "done")
    commit(name, "echo done > done.txt", "done: add")
    git(repo, "branch", "integration")
    assert cli("land", name, "--onto", "integration").returncode == 0
    assert cli("remove-agent", name).returncode == 0  # shell/done stays: HEAD (main) lacks it
    assert git(repo, "rev-parse", "--verify", "-q", "shell/done")
    main = git(repo, "rev-parse", "main")
    # A saved-aside copy, unlanded agent work, and a user's branch that only looks like a copy.
    git(repo, "branch", "shell/done-20261201-101010", "shell/done")
    git(repo, "branch", "shell/open", commit_on_host(repo, main, "open.txt", "not landed"))
    git(repo, "branch", "release-20261201-101010")
    (repo / "app.py").write_text("print('v2')\n")  # unrelated work in the user's tree
    before = host_state(repo)

    listed = cli("prune", str(repo), "--onto", "integration")
    assert listed.returncode == 0, listed.output
    assert "shell/done " in listed.stdout and "shell/done-20261201-101010" in listed.stdout
    assert "shell/open" not in listed.stdout and "release-" not in listed.stdout and "main" not in listed.stdout
    assert "nothing removed" in listed.stderr
    assert git(repo, "rev-parse", "--verify", "-q", "shell/done")  # only listed

    removed = cli("prune", str(repo), "--onto", "integration", "--yes")
    assert removed.returncode == 0, removed.output
    branches = set(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split())
    assert branches == {"main", "integration", "shell/open", "release-20261201-101010"}
    assert "deleted shell/done (was" in removed.stdout
    assert host_state(repo) == before


def test_stop_and_start_keep_the_workspace_and_history(cli, repo):
    name = launch(cli, repo, "pause")
    tip = commit(name, "echo kept > kept.txt", "pause: kept")
    inside(name, "cd /workspace && echo draft > draft.txt")
    stopped = cli("stop", name)
    assert stopped.returncode == 0, stopped.output
    assert container_state(name) == "exited"
    assert volume_exists(f"{name}-workspace") and volume_exists(f"{name}-home")
    row = list_row(cli, name, "--all")
    assert row["state"] == "exited" and row["activity"] == "exited"
    assert "already stopped" in cli("stop", name).stderr
    started = cli("start", name)
    assert started.returncode == 0, started.output
    assert container_state(name) == "running"
    log = inside(name, "git -C /workspace log --format=%H%x20%s").stdout.splitlines()
    assert log[1] == f"{tip} pause: kept"  # the draft was auto-committed on the way down
    assert log[0].endswith("coding-agents: auto-commit of uncommitted work")
    assert inside(name, "cat /workspace/draft.txt /workspace/kept.txt").stdout.split() == ["draft", "kept"]
    wait_for(lambda: inside(name, "tmux has-session -t agent", check=False).returncode == 0, 30, "the agent's tmux")
    assert "already running" in cli("start", name).stderr


def test_activity_follows_the_agents_screen(cli, repo):
    name = launch(cli, repo, "busy")

    def activity():
        return list_row(cli, name)["activity"]

    def keys(*words):
        subprocess.run([ENGINE, "exec", "-u", "1000", name, "tmux", "send-keys", "-t", "agent", *words], check=True)

    wait_for(lambda: activity() == "waiting for you", 30, "a quiet shell to wait for input")
    keys("while true; do date; sleep 1; done", "Enter")
    wait_for(lambda: activity() == "working", 30, "the busy loop to count as working")
    keys("C-c")
    wait_for(lambda: activity() == "waiting for you", 30, "the prompt to count as waiting")
    table = cli("list-agents")
    assert "ACTIVITY" in table.stdout and "waiting for you" in table.stdout
    keys("exit", "Enter")
    wait_for(lambda: (row := list_row(cli, name, "--all")) is not None and row["activity"] == "exited", 30,
             "the agent's exit")
    assert json.loads(cli("list-agents", "--json", "--all").stdout)


def test_notify_runs_when_the_agent_starts_waiting_and_when_it_exits(cli, repo, tmp_path, user_home):
    told = tmp_path / "told.txt"
    config = write_config(tmp_path / "notify-home",
                          f'[sessions]\nnotify = ["sh", "-c", "echo {{event}} {{session}} $CODING_AGENTS_EVENT >> {told}"]')
    env = {"CODING_AGENTS_CONFIG": str(config)}
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "told", "--network-proxy", "restricted",
                             env=env))

    def keys(*words):
        subprocess.run([ENGINE, "exec", "-u", "1000", name, "tmux", "send-keys", "-t", "agent", *words], check=True)

    def lines():
        return told.read_text().splitlines() if told.exists() else []

    log = user_home / ".local" / "state" / "coding-agents" / f"watch-{name}.log"
    wait_for(lambda: log.exists() and "watching" in log.read_text(), 60, "the watcher to see the agent wait")
    keys("for i in 1 2 3 4 5 6 7 8; do date; sleep 1; done", "Enter")
    wait_for(lambda: f"waiting {name} waiting" in lines(), 60, "the notify command on waiting")
    keys("exit", "Enter")
    wait_for(lambda: f"exited {name} exited" in lines(), 60, "the notify command on the exit")
    assert lines() == [f"waiting {name} waiting", f"exited {name} exited"]


def test_stop_and_start_take_a_squid_sessions_proxy_along(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "sq"))
    assert container_state(f"{name}-proxy") == "running"
    assert cli("stop", name).returncode == 0
    assert container_state(name) == "exited" and container_state(f"{name}-proxy") == "exited"
    started = cli("start", name)
    assert started.returncode == 0, started.output
    assert container_state(name) == "running" and container_state(f"{name}-proxy") == "running"
    denied = inside(name, "curl -s -o /dev/null -w '%{http_code}' http://ca-probe.invalid", check=False).stdout
    assert denied == "403"  # through its proxy again, which denies what is not allowed
