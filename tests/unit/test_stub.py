"""stub/ca-stub: the in-container helper, imported as a module and run against real git repos in tmp_path."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.gitrepos import make_template, run_git

STUB_PATH = Path(__file__).resolve().parents[2] / "stub" / "ca-stub"
BRANCH = "claude/session-1"


def load_stub():
    loader = SourceFileLoader("ca_stub", str(STUB_PATH))
    spec = importlib.util.spec_from_loader("ca_stub", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template_workspace(tmp_path_factory) -> Path:
    """What populate leaves in /workspace: the agent branch checked out, identity configured."""
    return make_template(tmp_path_factory.mktemp("template") / "workspace", branch=BRANCH, message="start")


@pytest.fixture
def workspace(tmp_path, template_workspace) -> Path:
    return Path(shutil.copytree(template_workspace, tmp_path / "workspace", symlinks=True))


@pytest.fixture(scope="module")
def start_commit(template_workspace) -> str:
    return run_git(template_workspace, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def stub_module():
    return load_stub()


@pytest.fixture
def stub(monkeypatch, stub_module, workspace, start_commit, tmp_path):
    """The stub with WORKSPACE pointing at a tmp repo, its signal handlers undone afterwards and a fast poll."""
    module = stub_module
    monkeypatch.setattr(module, "WORKSPACE", str(workspace))
    monkeypatch.setattr(module, "EXIT_STATUS_FILE", str(tmp_path / "agent-exit"))  # not the host's /tmp
    monkeypatch.setattr(module, "time", SimpleNamespace(sleep=lambda _: time.sleep(0.01), monotonic=time.monotonic))
    monkeypatch.delenv("CODING_AGENTS_AUTO_COMMIT", raising=False)
    monkeypatch.setenv("CODING_AGENTS_BRANCH", BRANCH)
    monkeypatch.setenv("CODING_AGENTS_BASE", start_commit)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield module
    for number, handler in handlers.items():
        signal.signal(number, handler)


def commit_in(workspace: Path, name: str, text: str) -> str:
    (workspace / name).write_text(text)
    run_git(workspace, "add", name)
    run_git(workspace, "commit", "-q", "-m", f"add {name}")
    return run_git(workspace, "rev-parse", "HEAD")


def health_report(stub, capsys) -> dict:
    """The tip/ahead/dirty part of what `ca-stub health` prints (one JSON line)."""
    assert stub.main(["health"]) == 0
    report = json.loads(capsys.readouterr().out)
    return {key: report[key] for key in ("tip", "ahead", "dirty")}


# --- health -------------------------------------------------------------------------------


def test_health_clean_at_base(stub, workspace, capsys):
    assert health_report(stub, capsys) == {"tip": run_git(workspace, "rev-parse", "HEAD"), "ahead": 0, "dirty": False}


def test_health_counts_commits_and_sees_dirt(stub, workspace, capsys):
    commit_in(workspace, "a.txt", "a\n")
    tip = commit_in(workspace, "b.txt", "b\n")
    (workspace / "untracked.txt").write_text("x\n")

    assert health_report(stub, capsys) == {"tip": tip, "ahead": 2, "dirty": True}


def test_health_branch_missing_has_no_tip(stub, monkeypatch, capsys):
    monkeypatch.setenv("CODING_AGENTS_BRANCH", "claude/never-made")

    assert health_report(stub, capsys) == {"tip": None, "ahead": None, "dirty": False}


def test_health_without_base_has_no_ahead(stub, workspace, monkeypatch, capsys):
    monkeypatch.delenv("CODING_AGENTS_BASE")

    assert health_report(stub, capsys)["ahead"] is None


def test_health_unsynced_counts_after_synced_commit(stub, workspace, monkeypatch, capsys):
    synced = commit_in(workspace, "a.txt", "a\n")
    commit_in(workspace, "b.txt", "b\n")
    commit_in(workspace, "c.txt", "c\n")
    monkeypatch.setenv("CODING_AGENTS_SYNCED", synced)

    assert stub.main(["health"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["ahead"], report["unsynced"]) == (3, 2)


@pytest.mark.parametrize("synced", ["", "f" * 40], ids=["never-synced", "unknown-commit"])
def test_health_unsynced_defaults_to_ahead(stub, workspace, monkeypatch, capsys, synced):
    commit_in(workspace, "a.txt", "a\n")
    monkeypatch.setenv("CODING_AGENTS_SYNCED", synced)

    assert stub.main(["health"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["ahead"], report["unsynced"]) == (1, 1)


def test_health_without_branch_reports_head(stub, workspace, monkeypatch, capsys):
    monkeypatch.delenv("CODING_AGENTS_BRANCH")

    assert health_report(stub, capsys)["tip"] == run_git(workspace, "rev-parse", "HEAD")


def elsewhere(stub, capsys) -> list[dict]:
    assert stub.main(["health"]) == 0
    return json.loads(capsys.readouterr().out)["elsewhere"]


def test_health_elsewhere_empty_when_all_work_is_on_the_branch(stub, workspace, capsys):
    commit_in(workspace, "a.txt", "a\n")
    run_git(workspace, "branch", "behind", "HEAD^")  # a branch the session branch contains
    run_git(workspace, "branch", "same")

    assert elsewhere(stub, capsys) == []


def test_health_elsewhere_names_another_branch_with_commits(stub, workspace, capsys):
    run_git(workspace, "checkout", "-q", "-b", "experiment")
    commit_in(workspace, "a.txt", "a\n")
    commit_in(workspace, "b.txt", "b\n")
    run_git(workspace, "checkout", "-q", BRANCH)
    commit_in(workspace, "c.txt", "c\n")  # the session branch moved on too

    assert elsewhere(stub, capsys) == [{"ref": "experiment", "commits": 2}]


def test_health_elsewhere_names_a_detached_head_with_commits(stub, workspace, capsys):
    run_git(workspace, "checkout", "-q", "--detach")
    commit_in(workspace, "a.txt", "a\n")

    assert elsewhere(stub, capsys) == [{"ref": "HEAD (detached)", "commits": 1}]


def test_health_elsewhere_detached_head_at_the_tip_is_fine(stub, workspace, capsys):
    run_git(workspace, "checkout", "-q", "--detach")

    assert elsewhere(stub, capsys) == []


def test_health_elsewhere_names_a_renamed_session_branch_with_new_work(stub, workspace, capsys):
    commit_in(workspace, "a.txt", "a\n")
    run_git(workspace, "branch", "-m", BRANCH, "renamed")  # a sync of BRANCH would find nothing

    assert [found["ref"] for found in elsewhere(stub, capsys)] == ["renamed"]


def test_health_elsewhere_does_not_count_the_start_commit(stub, workspace, capsys):
    run_git(workspace, "branch", "-m", BRANCH, "renamed")  # renamed, but no new commit

    assert elsewhere(stub, capsys) == []


# --- the agent's pane (tmux faked at the stub's tmux function) -----------------------------


def fake_tmux(monkeypatch, stub, shown: str | list[str] = "0  \n", returncode: int = 0, screen: str = ""):
    """Replace stub.tmux; display-message answers from `shown` (one answer per call when a list)."""
    answers = iter(shown) if isinstance(shown, list) else None
    calls = []

    def tmux(*args):
        calls.append(args)
        if "display-message" in args:
            return SimpleNamespace(returncode=returncode, stdout=next(answers) if answers else shown, stderr="")
        if "capture-pane" in args:
            return SimpleNamespace(returncode=0, stdout=screen, stderr="")
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(stub, "tmux", tmux)
    return calls


@pytest.mark.parametrize(
    ("shown", "expected"),
    [("1 3 \n", 3), ("1 0 \n", 0), ("1 3 9\n", 3), ("1  \n", -1), ("1\n", -1), ("0  \n", None), ("0 0 \n", None),
     ("", None)],
    ids=["exit-3", "exit-0", "status-wins", "unknown", "bare-dead", "alive", "alive-status", "empty"],
)
def test_agent_exit_status_parses_tmux(stub, monkeypatch, shown, expected):
    calls = fake_tmux(monkeypatch, stub, shown)

    assert stub.agent_exit_status() == expected
    assert calls[0][-1] == "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"


def test_agent_exit_status_signal_is_128_plus_signal(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, "1  9\n")

    assert stub.agent_exit_status() == 137


def test_agent_exit_status_prefers_the_status_the_wrapper_wrote(stub, monkeypatch):
    Path(stub.EXIT_STATUS_FILE).write_text("5\n")
    fake_tmux(monkeypatch, stub, "1  \n")

    assert stub.agent_exit_status() == 5


def test_agent_exit_status_ignores_the_file_while_the_pane_lives(stub, monkeypatch):
    Path(stub.EXIT_STATUS_FILE).write_text("5\n")
    fake_tmux(monkeypatch, stub, "0  \n")

    assert stub.agent_exit_status() is None


@pytest.mark.parametrize(("script", "expected"), [("exit 7", "7"), ("true", "0"), ("kill -9 $$", "137")],
                         ids=["exit-7", "exit-0", "killed"])
def test_status_wrapper_records_how_the_agent_ended(stub, tmp_path, script, expected):
    status_path = tmp_path / "recorded"
    status_path.write_text("stale\n")

    env_file = tmp_path / "absent.env"
    subprocess.run(["sh", "-c", stub.STATUS_WRAPPER, "agent", str(status_path), str(env_file), "sh", "-c", script],
                   check=False)

    assert status_path.read_text().strip() == expected


def test_agent_exit_status_session_gone_is_zero(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, "", returncode=1)

    assert stub.agent_exit_status() == 0


def test_last_screen_trims_blank_rows_and_tmux_notice(stub, monkeypatch):
    screen = "\n\n$ make test   \nok\n\nall 3 passed  \n\n\nPane is dead (status 0, Thu Jan  1 00:00:00 2026)\n\n\n"
    calls = fake_tmux(monkeypatch, stub, screen=screen)

    assert stub.last_screen() == "$ make test\nok\n\nall 3 passed"
    assert calls == [("capture-pane", "-p", "-t", "agent:0.0", "-S", "-60")]


def test_last_screen_of_an_empty_pane_is_empty(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, screen="\n\nPane is dead (signal 9)\n")

    assert stub.last_screen() == ""


@pytest.fixture
def fast_clock(monkeypatch, stub):
    """Every look at the clock is half a second later; sleeping takes no time."""
    ticks = iter(x * 0.5 for x in range(10_000))
    monkeypatch.setattr(stub, "time", SimpleNamespace(sleep=lambda _: None, monotonic=lambda: next(ticks)))


def test_run_session_interactive_prints_last_screen_and_exits_with_agents_status(stub, monkeypatch, capsys, fast_clock):
    calls = fake_tmux(monkeypatch, stub, ["0  \n", "0  \n", "1 3 \n"], screen="\nerror: no API key\n\n")

    assert stub.run_session("interactive", ["claude"]) == 3

    assert capsys.readouterr().out == "error: no API key\n[ca-stub: the agent exited with status 3]\n"
    assert "new-session" in calls[0] and calls[0][-1] == "claude"
    assert calls[0][calls[0].index("-c") + 1] == stub.WORKSPACE
    assert calls[-1] == ("kill-server",)


def test_run_session_interactive_unknown_status_asks_again_then_gives_up_as_1(stub, monkeypatch, capsys, fast_clock):
    calls = fake_tmux(monkeypatch, stub, "1  \n")

    assert stub.run_session("interactive", ["claude"]) == 1

    assert capsys.readouterr().out.endswith("[ca-stub: the agent exited with status 1]\n")
    assert sum("display-message" in call for call in calls) > 1


def test_run_session_interactive_status_learned_on_a_later_ask(stub, monkeypatch, capsys, fast_clock):
    fake_tmux(monkeypatch, stub, ["1  \n", "1 42 \n"])

    assert stub.run_session("interactive", ["claude"]) == 42


# --- autocommit ---------------------------------------------------------------------------


def test_autocommit_clean_prints_clean(stub, workspace, capsys, start_commit):
    before = start_commit

    assert stub.main(["autocommit"]) == 0

    assert capsys.readouterr().out == "clean\n"
    assert run_git(workspace, "rev-parse", "HEAD") == before


def test_autocommit_commits_tracked_and_untracked(stub, workspace, capsys, start_commit):
    base = start_commit
    (workspace / "README.md").write_text("changed\n")
    (workspace / "new.txt").write_text("new\n")
    (workspace / ".git" / "hooks").mkdir(exist_ok=True)
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")  # a hook that would refuse: --no-verify skips it
    hook.chmod(0o755)

    assert stub.main(["autocommit"]) == 0

    assert capsys.readouterr().out == "committed\n"
    assert run_git(workspace, "status", "--porcelain") == ""
    assert run_git(workspace, "rev-parse", "HEAD^") == base
    assert run_git(workspace, "log", "-1", "--format=%s") == stub.AUTO_COMMIT_MESSAGE
    assert run_git(workspace, "show", "HEAD:new.txt") == "new"
    assert run_git(workspace, "show", "HEAD:README.md") == "changed"
    assert run_git(workspace, "symbolic-ref", "--short", "HEAD") == BRANCH


def test_autocommit_without_repo_is_false(stub, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(stub, "WORKSPACE", str(tmp_path / "empty"))

    assert stub.autocommit() is False


# --- argument handling --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["session"], ["session", "--mode", "prompt"], ["session", "--"], ["session", "--mode", "tty", "--", "sh"]],
    ids=["empty", "unknown", "session-bare", "session-no-separator", "session-no-command", "session-bad-mode"],
)
def test_main_bad_args_prints_usage(stub, argv, capsys):
    assert stub.main(argv) == 2

    assert "Subcommands:" in capsys.readouterr().err


def test_main_mode_without_value_prints_usage(stub, capsys):
    assert stub.main(["session", "--mode", "--", "sh"]) == 2


# --- run_session in prompt mode -----------------------------------------------------------


def test_run_session_prompt_auto_commits_new_file(stub, workspace, capsys, start_commit):
    base = start_commit

    assert stub.main(["session", "--mode", "prompt", "--", "sh", "-c", "echo hi > f"]) == 0

    assert run_git(workspace, "rev-parse", "HEAD^") == base
    assert run_git(workspace, "show", "HEAD:f") == "hi"
    assert run_git(workspace, "status", "--porcelain") == ""
    assert "auto-committed" in capsys.readouterr().err


def test_run_session_prompt_auto_commit_off(stub, workspace, monkeypatch):
    monkeypatch.setenv("CODING_AGENTS_AUTO_COMMIT", "0")
    base = run_git(workspace, "rev-parse", "HEAD")

    assert stub.run_session("prompt", ["sh", "-c", "echo hi > f"]) == 0

    assert run_git(workspace, "rev-parse", "HEAD") == base
    assert run_git(workspace, "status", "--porcelain") == "?? f"


def test_run_session_prompt_returns_command_status_and_still_commits(stub, workspace):
    assert stub.run_session("prompt", ["sh", "-c", "echo partial > g; exit 3"]) == 3

    assert run_git(workspace, "show", "HEAD:g") == "partial"


def test_run_session_prompt_runs_in_workspace(stub, workspace):
    stub.run_session("prompt", ["sh", "-c", "pwd > where.txt"])

    assert Path(run_git(workspace, "show", "HEAD:where.txt")).resolve() == workspace.resolve()
