"""agents/workspace.py: moving commits between host and workspace volume (docker faked at the runner, real git)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agents import catalog, git, runner, workspace
from agents.errors import AgentsError
from agents.session import model, naming, planner
from tests.unit.gitrepos import make_template, run_git

NAME = "claude-api-session-1"
IMAGE = "coding-agents-claude:1.2.3"
BRANCH = "claude/session-1"
TRACKING = f"refs/coding-agents/sessions/{NAME}"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    return make_template(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture(scope="module")
def first_commit(template_repo) -> str:
    """The template's one commit, where every copy starts."""
    return run_git(template_repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, template_repo) -> Path:
    return Path(shutil.copytree(template_repo, tmp_path / "api", symlinks=True))


def child_commit(repo: Path, parent: str, message: str) -> str:
    return run_git(repo, "commit-tree", f"{parent}^{{tree}}", "-p", parent, "-m", message)


def session(repo: Path, **overrides) -> model.SessionInfo:
    values = {
        "name": NAME, "agent": "claude", "repo": repo, "branch": BRANCH, "base": "",
        "network": "restricted", "mode": "launch", "image": IMAGE, "no_push": False,
        "created": "2026-01-02T03:04:05Z", "state": "running", "container_id": "f" * 64,
        **overrides,
    }
    return model.SessionInfo(**values)


def register_state(fp, state: str | None) -> None:
    argv = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
    if state is None:
        fp.register(argv, returncode=1, stderr=f"Error: No such object: {NAME}\n")
    else:
        fp.register(argv, stdout=state + "\n")


def helper_argv(*command: str) -> list[str]:
    return [*planner.helper_run_args(f"{NAME}-workspace", IMAGE, 256), *command]


def fetch_argv(repo: Path, url: str) -> list[str]:
    return [
        "git", "-C", str(repo), "-c", "protocol.ext.allow=always",
        "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url,
        f"+refs/heads/{BRANCH}:{TRACKING}",
    ]


RUNNING_URL = f"ext::docker exec -i --user 1000 {NAME} %S /workspace"


@pytest.fixture
def real_git(fp):
    """Registered last, so specific fakes (a `git fetch`) win; every other git call runs for real."""

    def install() -> None:
        fp.pass_command(["git", fp.any()], occurrences=100)

    return install


# --- commands inside the workspace --------------------------------------------------------


def test_autocommit_running_uses_docker_exec(fp):
    register_state(fp, "running")
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"], stdout="committed\n")

    assert workspace.autocommit(session(Path("/r"))) is True
    assert fp.call_count(["docker", "run", fp.any()]) == 0


@pytest.mark.parametrize("state", ["exited", "created", None], ids=["exited", "created", "gone"])
def test_autocommit_stopped_uses_throwaway_helper(fp, state):
    register_state(fp, state)
    fp.register(helper_argv("ca-stub", "autocommit"), stdout="clean\n")

    assert workspace.autocommit(session(Path("/r"), state="exited")) is False
    helper = [call for call in fp.calls if call[:3] == ["docker", "run", "--rm"]]
    assert len(helper) == 1
    assert "--network" in helper[0] and helper[0][helper[0].index("--network") + 1] == "none"
    assert f"{NAME}-workspace:/workspace" in helper[0]
    assert fp.call_count(["docker", "exec", fp.any()]) == 0


def test_autocommit_failure_is_false(fp):
    register_state(fp, "running")
    fp.register(["docker", "exec", fp.any()], returncode=1, stdout="committed\n", stderr="oops\n")

    assert workspace.autocommit(session(Path("/r"))) is False


def test_health_parses_report_with_branch_and_base(fp):
    register_state(fp, "running")
    fp.register(["docker", "exec", "--user", "1000", NAME, "env", fp.any()],
                stdout=json.dumps({"tip": "b" * 40, "ahead": 2, "dirty": False}) + "\n")

    assert workspace.health(session(Path("/r"), base="a" * 40)) == {"tip": "b" * 40, "ahead": 2, "dirty": False}
    exec_argv = [list(call) for call in fp.calls if call[:2] == ["docker", "exec"]][0]
    assert exec_argv[-2:] == ["ca-stub", "health"]
    assert {f"CODING_AGENTS_BRANCH={BRANCH}", "CODING_AGENTS_BASE=" + "a" * 40} <= set(exec_argv)


def test_health_leaves_what_was_synced_on_the_host(fp, repo, real_git):
    register_state(fp, "running")
    fp.register(["docker", "exec", "--user", "1000", NAME, "env", fp.any()], stdout='{"tip": null}')
    real_git()
    run_git(repo, "update-ref", TRACKING, run_git(repo, "rev-parse", "HEAD"))

    workspace.health(session(repo))

    exec_argv = [list(call) for call in fp.calls if call[:2] == ["docker", "exec"]][0]
    assert not any("SYNCED" in part for part in exec_argv)  # unsynced_commits decides on the host


def test_health_stopped_uses_helper(fp):
    register_state(fp, "exited")
    fp.register(helper_argv("env", fp.any()), stdout='{"tip": null, "ahead": null, "dirty": false}')

    assert workspace.health(session(Path("/r")))["tip"] is None


@pytest.mark.parametrize("stdout", ["", "not json\n", "Traceback (most recent call last):\n"])
def test_health_garbage_is_agents_error(fp, stdout):
    register_state(fp, "running")
    fp.register(["docker", "exec", fp.any()], returncode=1, stdout=stdout, stderr="fatal: not a git repository\n")

    with pytest.raises(AgentsError) as caught:
        workspace.health(session(Path("/r")))

    assert caught.value.message == f"cannot read the workspace of {NAME}: fatal: not a git repository"
    assert "volume is kept" in caught.value.hint


# --- fetching the agent's branch ----------------------------------------------------------


def test_fetch_tip_running_builds_ext_url_and_reads_tracking_ref(fp, repo, real_git):
    register_state(fp, "running")
    fp.register(fetch_argv(repo, RUNNING_URL))
    real_git()
    tip = child_commit(repo, run_git(repo, "rev-parse", "HEAD"), "agent")
    run_git(repo, "update-ref", TRACKING, tip)  # what the real fetch would have written

    assert workspace.fetch_tip(session(repo)) == tip
    assert fp.call_count(fetch_argv(repo, RUNNING_URL)) == 1


def test_fetch_tip_stopped_fetches_through_helper(fp, repo, real_git):
    register_state(fp, "exited")
    url = planner.upload_pack_url(NAME, False, f"{NAME}-workspace", IMAGE)
    fp.register(fetch_argv(repo, url), returncode=128, stderr=f"fatal: couldn't find remote ref refs/heads/{BRANCH}\n")
    real_git()

    assert workspace.fetch_tip(session(repo, state="exited")) is None
    assert fp.call_count(fetch_argv(repo, url)) == 1
    assert url.startswith("ext::docker run --rm -i --network none ") and url.endswith(" %S /workspace")


def test_fetch_tip_other_failure_is_agents_error(fp, repo):
    register_state(fp, "running")
    fp.register(fetch_argv(repo, RUNNING_URL), returncode=128,
                stderr="Error response from daemon: container is paused\nfatal: Could not read from remote repository.\n")

    with pytest.raises(AgentsError) as caught:
        workspace.fetch_tip(session(repo))

    assert caught.value.message == f"could not fetch {BRANCH} from {NAME}: fatal: Could not read from remote repository."
    assert "volume is kept" in caught.value.hint


def test_sync_lands_fetched_tip_on_new_branch(fp, repo, real_git):
    fetched = {}
    register_state(fp, "running")
    fp.register(
        fetch_argv(repo, RUNNING_URL), callback=lambda process: run_git(repo, "update-ref", TRACKING, fetched["tip"])
    )
    real_git()
    base = run_git(repo, "rev-parse", "HEAD")
    tip = fetched["tip"] = child_commit(repo, base, "agent")

    outcome = workspace.sync(session(repo, base=base))

    assert (outcome.status, outcome.branch, outcome.tip) == ("created", BRANCH, tip)
    assert git.branch_sha(repo, BRANCH) == tip


def test_sync_missing_remote_branch_is_no_commits(fp, repo):
    register_state(fp, "running")
    fp.register(fetch_argv(repo, RUNNING_URL), returncode=128, stderr="fatal: couldn't find remote ref x\n")

    assert workspace.sync(session(repo)).status == "no-commits"


def test_sync_repo_gone_is_clear_error_and_touches_nothing(fp, tmp_path):
    with pytest.raises(AgentsError) as caught:
        workspace.sync(session(tmp_path / "deleted"))

    assert caught.value.message == f"the host repository {tmp_path / 'deleted'} of {NAME} is gone"
    assert "volume" in caught.value.hint
    assert list(fp.calls) == []


# --- unsynced commits: the one rule (pure), then its facts from the host (real git) ----------


@pytest.mark.parametrize(("tip", "ahead", "host_has_tip", "synced_ahead", "expected"), [
    (None, None, False, 0, None),  # no agent branch: nothing a sync would bring
    ("t", 5, True, 0, 0),  # the host has the tip, so all of its history
    ("t", 3, False, 0, 3),  # never synced: every commit since the base
    ("t", 5, False, 2, 3),  # synced two, three more on top
    ("t", 2, False, 2, 2),  # rebased what was synced: all of them are new
    ("t", 1, False, 3, 1),  # squashed three synced commits into one
    ("t", 0, False, 0, 1),  # "no commits", yet a tip the host lacks: at least that one
    ("t", None, False, 0, 1),  # no count from the agent: at least the tip
], ids=["no-branch", "host-has-tip", "never-synced", "on-top", "rebased", "squashed", "zero-claimed", "no-count"])
def test_count_unsynced(tip, ahead, host_has_tip, synced_ahead, expected):
    assert workspace.count_unsynced(tip, ahead, host_has_tip, synced_ahead) == expected


def test_unsynced_commits_unknown_without_health_report(repo):
    assert workspace.unsynced_commits(session(repo)) is None


def test_unsynced_commits_tip_without_a_count_is_at_least_one(repo):
    assert workspace.unsynced_commits(session(repo, tip="b" * 40)) == 1


def test_unsynced_commits_repo_gone_is_ahead(tmp_path):
    assert workspace.unsynced_commits(session(tmp_path / "gone", tip="b" * 40, ahead=4)) == 4


def test_unsynced_commits_never_synced_is_ahead(repo):
    assert workspace.unsynced_commits(session(repo, tip="b" * 40, ahead=3, base="a" * 40)) == 3


def test_unsynced_commits_synced_tip_is_zero(repo, first_commit):
    base = first_commit
    tip = child_commit(repo, base, "agent")
    run_git(repo, "update-ref", TRACKING, tip)

    assert workspace.unsynced_commits(session(repo, base=base, tip=tip, ahead=1)) == 0


def test_unsynced_commits_a_tip_the_host_already_has_is_zero(repo, first_commit):
    base = first_commit
    tip = child_commit(repo, child_commit(repo, base, "1"), "2")
    run_git(repo, "branch", "claude/elsewhere", tip)  # e.g. synced under another name; no session ref

    assert workspace.unsynced_commits(session(repo, base=base, tip=tip, ahead=2)) == 0
    assert workspace.unsynced_commits(session(repo, base=base, tip=base, ahead=0)) == 0  # never moved


def test_unsynced_commits_subtracts_what_host_fetched(repo, first_commit):
    base = first_commit
    one = child_commit(repo, base, "agent 1")
    two = child_commit(repo, one, "agent 2")
    run_git(repo, "update-ref", TRACKING, two)  # synced two commits; the agent has made three more since

    assert workspace.unsynced_commits(session(repo, base=base, tip="c" * 40, ahead=5)) == 3


def test_unsynced_commits_rewritten_history_counts_every_new_commit(repo, first_commit):
    base = first_commit
    synced = child_commit(repo, child_commit(repo, base, "1"), "2")
    run_git(repo, "update-ref", TRACKING, synced)
    # The agent rebased both synced commits: its tip (two new commits) is not on the host.
    assert workspace.unsynced_commits(session(repo, base=base, tip="c" * 40, ahead=2)) == 2
    # ... or squashed them into one.
    assert workspace.unsynced_commits(session(repo, base=base, tip="c" * 40, ahead=1)) == 1


@pytest.mark.parametrize("tip", ["HEAD", "refs/heads/main", "--all", "A" * 40])
def test_unsynced_commits_a_tip_that_is_no_commit_id_is_never_asked_of_git(repo, first_commit, tip):
    """The tip is the agent's word: "HEAD" would name a commit the host has."""
    assert workspace.unsynced_commits(session(repo, base=first_commit, tip=tip, ahead=1)) == 1


# --- the fill (through the agent container's attached run) ---------------------------------------


def launch_plan(repo: Path, head: str) -> planner.LaunchPlan:
    return planner.plan_launch(planner.SessionRequest(
        agent=catalog.get_agent("claude"), repo=repo, branch=BRANCH, start_commit=head, name=NAME, image=IMAGE,
        mode="launch"))


def fill(plan: planner.LaunchPlan, repo: Path, head: str) -> None:
    """As a launch fills the workspace: the run started, the fill sent, its start and answer read."""
    with workspace.start_agent(plan) as run:
        workspace.send_fill(run, plan, repo, git.objects_for_checkout(repo, [head]))
        workspace.started(run)
        workspace.filled(run, plan)


def test_a_failed_fill_names_the_session(fp, repo, real_git):
    real_git()
    head = run_git(repo, "rev-parse", "HEAD")
    plan = launch_plan(repo, head)
    fp.register(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    fp.register(list(plan.create_argv),
                stdout=naming.FILL_WAITING + "\n" + naming.FILL_FAILED + "workspace volume is not empty\n")

    with pytest.raises(AgentsError) as caught:
        fill(plan, repo, head)

    assert caught.value.message.startswith(f"could not copy the repository into the workspace of {NAME}: ")
    assert caught.value.message.endswith(": workspace volume is not empty")
    assert fp.call_count(list(plan.create_argv)) == 1


def test_the_fill_goes_through_the_run_and_its_answer_is_read_after_the_start(fp, repo, real_git):
    real_git()
    head = run_git(repo, "rev-parse", "HEAD")
    plan = launch_plan(repo, head)
    fp.register(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    fp.register(list(plan.create_argv), stdout=f"{naming.FILL_WAITING}\nsomething else\n{naming.FILL_DONE}\n")

    fill(plan, repo, head)

    assert plan.create_argv[:4] == ("docker", "run", "--interactive", "--sig-proxy=false")  # attached: no --detach


def test_a_stub_that_answers_without_saying_it_waits_still_has_its_answer_read(fp, repo, real_git):
    real_git()
    head = run_git(repo, "rev-parse", "HEAD")
    plan = launch_plan(repo, head)
    fp.register(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    fp.register(list(plan.create_argv), stdout=naming.FILL_FAILED + "git index-pack: bad pack\n")

    with pytest.raises(AgentsError, match="bad pack"):
        fill(plan, repo, head)


# A consumer like the stub: says it waits, reads the header line and the counted chunks (until
# "0"), keeps what came in a file, then answers on one line (after a line of other output) and waits
# to be ended.
FRAMED_READER = """
import sys
print("waiting", flush=True)
stream = sys.stdin.buffer
got = [stream.readline()]
while True:
    size = stream.readline()
    got.append(size)
    if int(size) == 0:
        break
    got.append(stream.read(int(size)))
open(sys.argv[1], "wb").write(b"".join(got))
print("something else", flush=True)
print("answer: ok", flush=True)
import time
time.sleep(60)
"""


def test_a_feed_sends_the_header_then_counted_chunks_and_returns_the_answer(tmp_path):
    import sys
    import time

    received = tmp_path / "received"
    objects = tmp_path / "objects"
    objects.write_text("")
    started = time.monotonic()

    with runner.Feed([sys.executable, "-c", FRAMED_READER, str(received)]) as feed:
        feed.send(b'{"a": 1}\n', ["printf", "PACK"], producer_stdin=str(objects))
        assert feed.until(lambda line: line == "waiting") == "waiting"
        answer = feed.until(lambda line: line.startswith("answer:"), last=True)

    assert answer == "answer: ok"
    assert received.read_bytes() == b'{"a": 1}\n4\nPACK0\n'
    assert time.monotonic() - started < 30  # the consumer is ended once it answered


def test_a_line_put_back_is_read_again_first(tmp_path):
    import sys

    with runner.Feed([sys.executable, "-c", "print('one'); print('two'); import time; time.sleep(60)"]) as feed:
        assert feed.until(lambda line: line == "one") == "one"
        feed.put_back("one")
        assert feed.until(lambda line: True) == "one"
        assert feed.until(lambda line: True, last=True) == "two"


def test_a_feed_reports_the_producers_failure_first(tmp_path):
    import sys

    objects = tmp_path / "objects"
    objects.write_text("")

    with pytest.raises(runner.CommandFailed, match="bad object"), \
            runner.Feed([sys.executable, "-c", FRAMED_READER, str(tmp_path / "received")]) as feed:
        feed.send(b"{}\n", ["sh", "-c", "echo 'fatal: bad object' >&2; exit 128"], producer_stdin=str(objects))
        feed.until(lambda line: line.startswith("answer:"), last=True)


def test_the_fill_when_the_run_fails_or_the_container_stops_before_answering(fp, repo, real_git):
    real_git()
    head = run_git(repo, "rev-parse", "HEAD")
    plan = launch_plan(repo, head)
    fp.register(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    fp.register(list(plan.create_argv), returncode=125,
                stderr="docker: Error response from daemon: Conflict. The container name is already in use\n")

    with pytest.raises(runner.CommandFailed, match="already in use") as caught:  # the run's own error, as before
        fill(plan, repo, head)
    assert caught.value.result.returncode == 125

    fp.register(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    fp.register(list(plan.create_argv), stdout=naming.FILL_WAITING + "\n", returncode=1)  # it stopped
    with pytest.raises(AgentsError, match=f"could not copy the repository into the workspace of {NAME}") as caught:
        fill(plan, repo, head)
    assert isinstance(caught.value.__cause__, runner.CommandFailed)


def test_a_feed_stops_at_a_ctrl_c_while_the_consumer_has_not_answered(tmp_path):
    """A fill that takes long (or a stub that never answers) can be stopped: the launch undoes it."""
    import signal
    import sys
    import threading
    import time

    objects = tmp_path / "objects"
    objects.write_text("")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        with runner.Feed([sys.executable, "-c", "import time; time.sleep(60)"]) as feed:
            feed.send(b"{}\n", ["printf", "PACK"], producer_stdin=str(objects))
            feed.until(lambda line: line == "never", last=True)

    assert time.monotonic() - started < 10


def test_a_ctrl_c_while_the_container_starts_waits_for_its_start(tmp_path):
    """started() is not cut short at once (a rollback must find the container made): within its
    grace the line is still read, and the Ctrl-C stays pending until the next checkpoint."""
    import signal
    import sys
    import threading

    with runner.deferred_interrupts():
        threading.Timer(0.1, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        with runner.Feed([sys.executable, "-c", "import time; time.sleep(0.6); print('waiting', flush=True); "
                                                "time.sleep(60)"]) as feed:
            assert feed.until(lambda line: line == "waiting", grace=10) == "waiting"
        with pytest.raises(KeyboardInterrupt):
            runner.check_interrupt()


def test_a_ctrl_c_ends_a_wait_for_a_line_that_never_comes_after_its_grace(tmp_path):
    """A run whose stub never says it waits (an image with an older stub) cannot hold the terminal."""
    import signal
    import sys
    import threading
    import time

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        threading.Timer(0.1, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        with runner.Feed([sys.executable, "-c", "import time; time.sleep(60)"]) as feed:
            feed.until(lambda line: line == "waiting", grace=0.8)

    assert 0.8 <= time.monotonic() - started < 10
