"""agents/launcher.py: checks before launch, rollback, finding and removing sessions.

Docker is faked at the runner (pytest-subprocess); git runs for real on repositories in tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agents import images, launcher, runner, sessions
from agents.config import Config, SessionsConfig
from agents.errors import AgentsError

PS_ALL = ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"]
VERSION_ARGV = ["docker", "version", "--format", "{{.Server.Version}}"]
IMAGE_ID = "sha256:" + "1" * 64


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=clean_env(), check=True)
    return done.stdout.strip()


# Identity for commits; no reflogs and no auto-maintenance, so each git call spawns and writes less.
REPO_CONFIG = (
    "[user]\n\tname = Test User\n\temail = test@example.com\n"
    "[core]\n\tlogAllRefUpdates = false\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n"
)


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "--template=", "-b", "main")
    with open(path / ".git" / "config", "a") as config_file:
        config_file.write(REPO_CONFIG)
    (path / "README.md").write_text("hello\n")
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "-m", "first")
    run_git(path, "repack", "-adq")  # a pack instead of loose objects: fewer files per copy
    run_git(path, "prune-packed")
    for leftover in ("COMMIT_EDITMSG", "info", "objects/info", "refs/tags"):  # fewer entries to copy per test
        target = path / ".git" / leftover
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return path


@pytest.fixture(scope="module")
def first_commit(template_repo) -> str:
    """The template's one commit, where every copy starts."""
    return run_git(template_repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, template_repo) -> Path:
    return Path(shutil.copytree(template_repo, tmp_path / "api", symlinks=True)).resolve()


def fetch_prefix(repo) -> list:
    return ["git", "-C", repo, "-c", "protocol.ext.allow=always", "fetch"]


@pytest.fixture
def engine(fp):
    """fp with real git, except the two git calls whose other end is docker (registered first, so they win).

    `pack-objects` feeds a (fake) `docker run`; a fetch would run `docker exec` through its ext:: URL, so
    it is faked as "the agent's branch does not exist yet".
    """
    fp.register(["git", "-C", fp.any(min=1, max=1), "pack-objects", "--stdout", "-q"], stdout=b"PACK", occurrences=5)
    fp.register([*fetch_prefix(fp.any(min=1, max=1)), fp.any()], returncode=128,
                stderr="fatal: couldn't find remote ref refs/heads/claude/session-1\n", occurrences=5)
    fp.pass_command(["git", fp.any()], occurrences=200)
    return fp


def docker_calls(fp) -> list[list[str]]:
    return [list(call) for call in fp.calls if call[0] == "docker"]


def no_container(fp, name: str) -> None:
    fp.register(["docker", "inspect", "--type", "container", name], returncode=1,
                stderr=f"Error: No such container: {name}\n")


def existing_session(repo: Path, branch: str, name: str = "claude-api-other") -> sessions.SessionInfo:
    return sessions.SessionInfo(
        name=name, agent="claude", repo=repo, branch=branch, base="a" * 40, network="restricted", mode="launch",
        image=images.image_ref("claude"), no_push=False, created="2026-01-02T03:04:05Z", state="running",
        container_id="c" * 64,
    )


def build(repo: Path, existing=(), config: Config | None = None, **options) -> sessions.SessionRequest:
    launch_options = launcher.LaunchOptions(**{"agent": "claude", "path": str(repo), **options})
    return launcher.build_request(launch_options, config or Config(), list(existing))


# --- build_request: branch and start commit -----------------------------------------------


def test_build_request_defaults(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo)

    assert request.branch == "claude/session-1"
    assert request.name == "claude-api-session-1"
    assert request.repo == repo
    assert request.start_commit == run_git(repo, "rev-parse", "HEAD")
    assert request.image == images.image_ref("claude")
    assert request.identity == ("Test User", "test@example.com")
    assert (request.network, request.mode, request.uncommitted_commit, request.prompt) == ("restricted", "launch", None, None)
    assert docker_calls(engine) == [["docker", "inspect", "--type", "container", "claude-api-session-1"]]


def test_build_request_default_branch_skips_host_branches_and_sessions(engine, repo, tmp_path):
    no_container(engine, "claude-api-session-6")
    for branch in ("claude/session-1", "claude/session-3", "codex/session-8"):
        run_git(repo, "branch", branch)
    existing = [
        existing_session(repo, "claude/session-5", "claude-api-session-5"),
        existing_session(tmp_path / "elsewhere", "claude/session-9", "claude-elsewhere-session-9"),
    ]

    request = build(repo, existing)

    assert (request.branch, request.name) == ("claude/session-6", "claude-api-session-6")


def test_build_request_branch_gets_agent_prefix(engine, repo):
    no_container(engine, "claude-api-api")

    request = build(repo, branch="api")

    assert request.branch == "claude/api"
    assert request.start_commit == run_git(repo, "rev-parse", "HEAD")


def test_build_request_prefixed_branch_kept(engine, repo):
    no_container(engine, "claude-api-fix")

    assert build(repo, branch="claude/fix").branch == "claude/fix"


def test_build_request_existing_agent_branch_is_continued(engine, repo, first_commit):
    head = first_commit
    tip = run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "earlier agent work")
    run_git(repo, "branch", "claude/api", tip)
    no_container(engine, "claude-api-api")

    assert build(repo, branch="api").start_commit == tip


def test_build_request_use_current_branch(engine, repo):
    run_git(repo, "checkout", "-q", "-b", "feature/login")
    no_container(engine, "claude-api-feature-login")

    request = build(repo, use_current_branch=True)

    assert (request.branch, request.name) == ("claude/feature/login", "claude-api-feature-login")


def test_build_request_branch_and_current_branch_rejected(engine, repo):
    with pytest.raises(AgentsError, match="--branch and --use-current-branch cannot be combined"):
        build(repo, branch="api", use_current_branch=True)

    assert docker_calls(engine) == []


def test_build_request_detached_head_with_current_branch_rejected(engine, repo):
    run_git(repo, "checkout", "-q", "--detach")

    with pytest.raises(AgentsError, match="detached HEAD") as caught:
        build(repo, use_current_branch=True)

    assert "--branch" in caught.value.hint
    assert docker_calls(engine) == []


def test_build_request_invalid_branch_rejected(engine, repo):
    with pytest.raises(AgentsError, match="'a..b' is not a valid branch name"):
        build(repo, branch="a..b")


def test_build_request_branch_in_existing_session_rejected(engine, repo):
    existing = [existing_session(repo, "claude/api", "claude-api-busy")]

    with pytest.raises(AgentsError, match="claude/api is already being worked on by claude-api-busy") as caught:
        build(repo, existing, branch="api")

    assert "connect-agent claude-api-busy" in caught.value.hint
    assert docker_calls(engine) == []


def test_build_request_same_branch_other_repo_is_fine(engine, repo, tmp_path):
    no_container(engine, "claude-api-api")

    assert build(repo, [existing_session(tmp_path / "other", "claude/api")], branch="api").branch == "claude/api"


def test_build_request_existing_container_name_rejected(engine, repo):
    engine.register(["docker", "inspect", "--type", "container", "mine"], stdout='[{"Id": "x"}]\n')

    with pytest.raises(AgentsError, match="a container named mine already exists") as caught:
        build(repo, name="mine")

    assert "--name" in caught.value.hint


def test_build_request_invalid_name_rejected_before_docker(engine, repo):
    with pytest.raises(AgentsError, match="is not a valid container name"):
        build(repo, name="no spaces")

    assert docker_calls(engine) == []


def test_build_request_include_uncommitted_snapshots_work_tree(engine, repo):
    no_container(engine, "claude-api-session-1")
    (repo / "README.md").write_text("changed\n")

    request = build(repo, include_uncommitted=True)

    head = run_git(repo, "rev-parse", "HEAD")
    assert request.start_commit == head
    assert run_git(repo, "rev-parse", f"{request.uncommitted_commit}^") == head
    assert run_git(repo, "show", f"{request.uncommitted_commit}:README.md") == "changed"


def test_build_request_include_uncommitted_clean_tree_is_none(engine, repo):
    no_container(engine, "claude-api-session-1")

    assert build(repo, include_uncommitted=True).uncommitted_commit is None


def test_build_request_include_uncommitted_with_existing_agent_branch_rejected(engine, repo, first_commit):
    head = first_commit
    run_git(repo, "branch", "claude/api", run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "agent"))
    no_container(engine, "claude-api-api")
    (repo / "README.md").write_text("changed\n")

    with pytest.raises(AgentsError, match="--include-uncommitted needs the session to start from HEAD") as caught:
        build(repo, branch="api", include_uncommitted=True)

    assert "claude/api already exists" in caught.value.message


def test_build_request_takes_limits_from_config_and_options(engine, repo):
    no_container(engine, "claude-api-session-1")
    config = Config(sessions=SessionsConfig(
        network="allow-all", auto_commit=False, pids_limit=99, memory="4g", cpus=2.0, docker_args=("--env", "A=1"),
    ))

    request = build(repo, config=config, cpus=0.5, no_push=True, prompt="hi", mode="run")

    assert (request.network, request.auto_commit, request.pids_limit) == ("allow-all", False, 99)
    assert (request.memory, request.cpus) == ("4g", 0.5)
    assert request.extra_docker_args == ("--env", "A=1")
    assert (request.no_push, request.prompt, request.mode) == (True, "hi", "run")


def test_build_request_options_network_overrides_config(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=Config(sessions=SessionsConfig(network="allow-all")), network="restricted")

    assert request.network == "restricted"


# --- build_request: what is checked first -------------------------------------------------


def test_build_request_unknown_agent_first(fp, tmp_path):
    with pytest.raises(AgentsError, match="unknown agent 'clippy'"):
        build(tmp_path / "missing", agent="clippy", network="squid")

    assert list(fp.calls) == []


def test_build_request_network_before_repo(fp, tmp_path):
    with pytest.raises(AgentsError, match="not available"):
        build(tmp_path / "missing", network="squid")

    with pytest.raises(AgentsError, match="unknown network mode 'host'"):
        build(tmp_path / "missing", config=Config(sessions=SessionsConfig(network="host")))

    assert list(fp.calls) == []


def test_build_request_not_a_repo(engine, tmp_path):
    (tmp_path / "plain").mkdir()

    with pytest.raises(AgentsError, match="is not inside a git repository"):
        build(tmp_path / "plain")


def test_build_request_repo_without_commits(engine, tmp_path):
    run_git(tmp_path, "init", "-q", "empty")

    with pytest.raises(AgentsError, match="has no commits yet"):
        build(tmp_path / "empty")


# --- launch: rollback -----------------------------------------------------------------------


VOLUME_LS = ["docker", "volume", "ls", "--quiet", "--filter", "label=coding-agents.session"]


def register_no_sessions(fp, occurrences: int = 1) -> None:
    fp.register(PS_ALL, stdout="", occurrences=occurrences)
    fp.register(VOLUME_LS, stdout="", occurrences=occurrences)


def volume_item(volume: str, session: str, repo: str = "/home/me/api", created: str = "2026-01-01T00:00:00Z") -> dict:
    """One entry of `docker volume inspect`, labelled like a session's volumes."""
    labels = {
        "coding-agents.managed": "true", "coding-agents.session": session, "coding-agents.agent": "claude",
        "coding-agents.repo": repo, "coding-agents.branch": "claude/session-1", "coding-agents.created": created,
    }
    return {"Name": volume, "Driver": "local", "Mountpoint": f"/var/lib/docker/volumes/{volume}/_data",
            "Labels": labels, "Scope": "local", "Options": None}


def register_launch(fp, name: str, populate_rc: int = 0, detach_rc: int = 0, found: list[dict] | None = None,
                    volumes: list[dict] | None = None) -> None:
    """Every docker call of one launch, in order; the rollback calls too (they only run on failure)."""
    fp.register(VERSION_ARGV, stdout="27.3.1\n")
    # The sessions build_request compares against: containers, then volumes whose container is gone.
    fp.register(PS_ALL, stdout="")
    fp.register(VOLUME_LS, stdout="".join(volume["Name"] + "\n" for volume in volumes or []))
    if volumes:
        fp.register(["docker", "volume", "inspect", *(volume["Name"] for volume in volumes)], stdout=json.dumps(volumes))
    no_container(fp, name)
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", images.image_ref("claude")], stdout=IMAGE_ID + "\n")
    for suffix in ("workspace", "home"):  # launch refuses to reuse an existing volume
        fp.register(["docker", "volume", "inspect", f"{name}-{suffix}"], returncode=1,
                    stderr=f"Error: No such volume: {name}-{suffix}\n")
    fp.register(["docker", "volume", "create", fp.any()], occurrences=2)
    fp.register(["docker", "run", "--rm", "-i", fp.any()], returncode=populate_rc,
                stderr="workspace volume is not empty\n" if populate_rc else "")
    fp.register(["docker", "run", "--detach", fp.any()], returncode=detach_rc, stdout="" if detach_rc else "c" * 64,
                stderr="docker: Error response from daemon: failed to create task: OCI runtime create failed\n"
                if detach_rc else "")
    fp.register(["docker", "rm", "--force", name])
    fp.register(["docker", "volume", "rm", "--force", fp.any()])
    if found is not None:  # get_session after a successful launch
        fp.register(PS_ALL, stdout="c" * 64 + "\n")
        fp.register(["docker", "inspect", "c" * 64], stdout=json.dumps(found))
        fp.register(VOLUME_LS, stdout="")


def test_launch_unknown_agent_before_any_subprocess(fp):
    with pytest.raises(AgentsError, match="unknown agent 'clippy'"):
        launcher.launch(launcher.LaunchOptions(agent="clippy"), Config())

    assert list(fp.calls) == []


def test_launch_squid_before_any_subprocess(fp):
    with pytest.raises(AgentsError, match="not available"):
        launcher.launch(launcher.LaunchOptions(agent="claude", network="squid"), Config())

    assert list(fp.calls) == []


def test_launch_failed_docker_run_removes_container_and_volumes(engine, repo):
    name = "claude-api-session-1"
    register_launch(engine, name, detach_rc=125)

    with pytest.raises(runner.CommandFailed, match="OCI runtime create failed"):
        launcher.launch(launcher.LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count(["docker", "run", "--detach", engine.any()]) == 1
    assert engine.call_count(["docker", "rm", "--force", name]) == 1
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == 1
    assert docker_calls(engine)[-2:] == [
        ["docker", "rm", "--force", name],
        ["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"],
    ]
    assert run_git(repo, "for-each-ref", "refs/heads/claude") == ""  # no branch was made


def test_launch_failed_populate_removes_volumes_only(engine, repo):
    name = "claude-api-session-1"
    register_launch(engine, name, populate_rc=1)

    with pytest.raises(AgentsError, match="could not copy the repository into the workspace"):
        launcher.launch(launcher.LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count(["docker", "run", "--detach", engine.any()]) == 0
    assert engine.call_count(["docker", "rm", engine.any()]) == 0
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == 1


def test_launch_success_returns_session_and_removes_nothing(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    info = launcher.launch(launcher.LaunchOptions(agent="claude", path=str(repo)), Config())

    assert (info.name, info.state, info.branch) == (name, "running", "claude/session-1")
    assert engine.call_count(["docker", "volume", "create", engine.any()]) == 2
    assert engine.call_count(["docker", "rm", engine.any()]) == 0
    assert engine.call_count(["docker", "volume", "rm", engine.any()]) == 0


def test_launch_never_removes_volumes_of_an_orphaned_session(engine, repo):
    # A session of another checkout also named "api" lost its container; its volumes hold the agent's commits.
    name = "claude-api-session-1"
    orphan = [volume_item(f"{name}-workspace", name, repo="/elsewhere/api"),
              volume_item(f"{name}-home", name, repo="/elsewhere/api")]
    register_launch(engine, name, populate_rc=1, volumes=orphan)

    with pytest.raises(AgentsError):
        launcher.launch(launcher.LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count(["docker", "volume", "rm", engine.any()]) == 0


# --- finding sessions -----------------------------------------------------------------------


def inspect_item(name: str, created: str, **labels: str) -> dict:
    all_labels = {
        "coding-agents.managed": "true", "coding-agents.session": name, "coding-agents.agent": "claude",
        "coding-agents.repo": "/home/me/api", "coding-agents.branch": f"claude/{name}", "coding-agents.created": created,
        **labels,
    }
    return {"Id": name * 2, "State": {"Status": "running"}, "Config": {"Labels": all_labels}}


def test_find_sessions_two_container_and_two_volume_queries(fp):
    fp.register(PS_ALL, stdout="id1\nid2\nid3\n")
    fp.register(["docker", "inspect", "id1", "id2", "id3"], stdout=json.dumps([
        inspect_item("later", "2026-01-03T00:00:00Z"),
        {"Id": "id2", "State": {"Status": "running"}, "Config": {"Labels": {"other": "x"}}},
        inspect_item("earlier", "2026-01-01T00:00:00Z", **{"coding-agents.no-push": "true"}),
    ]))
    names = ["later-workspace", "later-home", "orphan-workspace", "orphan-home"]
    fp.register(VOLUME_LS, stdout="\n".join(names) + "\n")
    fp.register(["docker", "volume", "inspect", *names], stdout=json.dumps(
        [volume_item(volume, volume.rsplit("-", 1)[0], created="2026-01-02T00:00:00Z") for volume in names]
    ))

    found = launcher.find_sessions()

    assert [(info.name, info.state) for info in found] == [
        ("earlier", "running"), ("orphan", "orphaned"), ("later", "running"),
    ]
    assert found[0].no_push is True and found[2].no_push is False
    assert found[1].running is False and found[1].repo == Path("/home/me/api")
    for argv in (PS_ALL, ["docker", "inspect", fp.any()], VOLUME_LS, ["docker", "volume", "inspect", fp.any()]):
        assert fp.call_count(argv) == 1


def test_find_sessions_none_skips_inspects(fp):
    register_no_sessions(fp)

    assert launcher.find_sessions() == []
    assert fp.call_count(["docker", "inspect", fp.any()]) == 0
    assert fp.call_count(["docker", "volume", "inspect", fp.any()]) == 0


def test_find_sessions_running_only_skips_volumes(fp):
    fp.register(["docker", "ps", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"], stdout="")

    assert launcher.find_sessions(include_stopped=False) == []
    assert fp.call_count(VOLUME_LS) == 0


def test_find_sessions_tolerates_container_vanishing(fp):
    fp.register(PS_ALL, stdout="id1\ngone\n")
    fp.register(["docker", "inspect", "id1", "gone"], returncode=1, stderr="Error: No such object: gone\n",
                stdout=json.dumps([inspect_item("kept", "2026-01-01T00:00:00Z")]))
    fp.register(VOLUME_LS, stdout="")

    assert [info.name for info in launcher.find_sessions()] == ["kept"]


def test_find_sessions_garbage_from_inspect_is_agents_error(fp):
    fp.register(PS_ALL, stdout="id1\n")
    fp.register(["docker", "inspect", "id1"], returncode=1, stdout="", stderr="")
    fp.register(VOLUME_LS, stdout="v\n")
    fp.register(["docker", "volume", "inspect", "v"], stdout="not json")

    with pytest.raises(AgentsError, match="printed something unexpected"):
        launcher.find_sessions()


def test_get_session_unknown_name(fp):
    register_no_sessions(fp)

    with pytest.raises(AgentsError, match="no agent session named 'nope'") as caught:
        launcher.get_session("nope")

    assert "list-agents --all" in caught.value.hint


# --- remove ---------------------------------------------------------------------------------

NAME = "claude-api-session-1"


def register_in_workspace(fp, autocommit: str = "clean\n", health: dict | None = None) -> None:
    state = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
    fp.register(state, stdout="running\n", occurrences=2)
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"], stdout=autocommit)
    if health is not None:
        fp.register(["docker", "exec", "--user", "1000", NAME, "env", fp.any()], stdout=json.dumps(health))
    fp.register(["docker", "rm", "--force", NAME])
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-workspace", f"{NAME}-home"])


def removal_calls(fp) -> int:
    return fp.call_count(["docker", "rm", fp.any()]) + fp.call_count(["docker", "volume", "rm", fp.any()])


def report(tip: str, ahead: int, unsynced: int) -> dict:
    """What `ca-stub health` prints."""
    return {"tip": tip, "ahead": ahead, "unsynced": unsynced, "dirty": False}


def test_remove_no_push_with_unsynced_commits_refuses_without_yes(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=3, unsynced=2))
    info = existing_session(repo, "claude/session-1", NAME)

    with pytest.raises(AgentsError, match="has 2 commit\\(s\\) that are not on the host") as caught:
        launcher.remove(info, no_push=True)

    assert "-y" in caught.value.hint
    assert removal_calls(engine) == 0


def test_remove_no_push_label_also_guards(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=1, unsynced=1))
    info = dataclasses.replace(existing_session(repo, "claude/session-1", NAME), no_push=True)

    with pytest.raises(AgentsError, match="not on the host") as caught:
        launcher.remove(info)

    assert "-y" in caught.value.hint
    assert removal_calls(engine) == 0


def test_remove_no_push_health_asks_about_the_synced_commit(engine, repo):
    run_git(repo, "update-ref", f"refs/coding-agents/sessions/{NAME}", "HEAD")
    register_in_workspace(engine, health=report("d" * 40, ahead=1, unsynced=1))

    with pytest.raises(AgentsError):
        launcher.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    health_call = [call for call in engine.calls if call[:2] == ["docker", "exec"] and "env" in call][0]
    assert f"CODING_AGENTS_SYNCED={run_git(repo, 'rev-parse', 'HEAD')}" in health_call


def test_remove_no_push_with_yes_removes(engine, repo):
    register_in_workspace(engine, autocommit="committed\n", health=report("d" * 40, ahead=2, unsynced=2))
    run_git(repo, "update-ref", f"refs/coding-agents/sessions/{NAME}", "HEAD")

    launcher.remove(existing_session(repo, "claude/session-1", NAME), no_push=True, yes=True)

    assert engine.call_count(["docker", "rm", "--force", NAME]) == 1
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{NAME}-workspace", f"{NAME}-home"]) == 1
    assert run_git(repo, "for-each-ref", "refs/coding-agents") == ""


def test_remove_no_push_nothing_unsynced_needs_no_yes(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=4, unsynced=0))

    launcher.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    assert removal_calls(engine) == 2


def test_remove_no_push_when_host_branch_has_the_tip(engine, repo, first_commit):
    head = first_commit
    tip = run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "agent")
    run_git(repo, "branch", "claude/session-1", tip)
    register_in_workspace(engine, health=report(tip, ahead=1, unsynced=1))

    launcher.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    assert removal_calls(engine) == 2


def test_remove_without_auto_commit_skips_it(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=0, unsynced=0))

    launcher.remove(existing_session(repo, "claude/session-1", NAME), no_push=True, auto_commit=False)

    assert engine.call_count(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"]) == 0
    assert removal_calls(engine) == 2


def test_remove_syncs_first_by_default(engine, repo):
    register_in_workspace(engine)

    launcher.remove(existing_session(repo, "claude/session-1", NAME))

    assert engine.call_count([*fetch_prefix(str(repo)), engine.any()]) == 1
    assert removal_calls(engine) == 2


# --- rows for list-agents -------------------------------------------------------------------


def test_session_rows_keys_and_dirty_state(tmp_path):
    info = existing_session(tmp_path / "api", "claude/session-1", NAME)
    dirty = dataclasses.replace(info, dirty=True, state="exited")

    rows = launcher.session_rows([info, dirty])

    assert {"name", "agent", "repo", "branch", "state", "network", "created", "unsynced"} <= set(rows[0])
    assert rows[0]["name"] == NAME and rows[0]["repo"] == str(tmp_path / "api")
    assert (rows[0]["state"], rows[1]["state"]) == ("running", "exited (dirty)")
    assert rows[0]["unsynced"] is None
    assert json.loads(launcher.as_json(rows)) == rows
