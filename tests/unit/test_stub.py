"""stub/ (ca-stub and its package ca_stub/): the in-container helper, imported and run against real git repos in tmp_path."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import shutil
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.gitrepos import make_template, run_git

STUB_DIR = Path(__file__).resolve().parents[2] / "stub"
STUB_PATH = STUB_DIR / "ca-stub"  # the thin entry; the code is the package stub/ca_stub/
BRANCH = "claude/session-1"


def stub_module_names() -> list[str]:
    return sorted(path.stem for path in (STUB_DIR / "ca_stub").glob("*.py") if path.stem != "__init__")


def load_stub():
    """The package ca_stub with every module imported, found on stub/ as the entry finds it."""
    if str(STUB_DIR) not in sys.path:
        sys.path.insert(0, str(STUB_DIR))
    package = importlib.import_module("ca_stub")
    for name in stub_module_names():
        importlib.import_module(f"ca_stub.{name}")
    return package


def patch_everywhere(monkeypatch, package, name: str, value) -> None:
    """Replace a module the stub's modules import (time, signal) in each one that imports it."""
    for module_name in stub_module_names():
        module = getattr(package, module_name)
        if hasattr(module, name):
            monkeypatch.setattr(module, name, value)


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
    monkeypatch.setattr(module.paths, "WORKSPACE", str(workspace))
    monkeypatch.setattr(module.paths, "EXIT_STATUS_FILE", str(tmp_path / "agent-exit"))  # not the host's /tmp
    monkeypatch.setattr(module.paths, "REPORT_SOCKET", str(tmp_path / "no-relay" / "report.sock"))  # nor its /run
    patch_everywhere(monkeypatch, module, "time", SimpleNamespace(sleep=lambda _: time.sleep(0.01), monotonic=time.monotonic))
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
    assert stub.cli.main(["health"]) == 0
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


@pytest.fixture
def report_socket(stub, monkeypatch):
    """A listener where the relay's report.sock would be (a short path: Unix sockets hold 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="ca-report-", dir="/tmp"))
    path = folder / "report.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    monkeypatch.setattr(stub.paths, "REPORT_SOCKET", str(path))
    yield listener
    listener.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_health_pushes_the_report_it_prints_to_the_relay(stub, workspace, capsys, report_socket):
    got = []

    def take():
        connection, _ = report_socket.accept()
        with connection:
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
            got.append(data)

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    assert stub.cli.main(["health"]) == 0
    taker.join(5)

    printed = capsys.readouterr().out
    assert json.loads(got[0]) == json.loads(printed)
    assert json.loads(printed)["tip"] == run_git(workspace, "rev-parse", "HEAD")


def test_health_without_a_relay_still_reports(stub, workspace, capsys):
    """No report.sock (a throwaway container, a link not up yet): the engine's report only."""
    began = time.monotonic()

    assert health_report(stub, capsys)["ahead"] == 0
    assert time.monotonic() - began < 2


def test_health_with_a_host_that_never_answers_waits_half_a_second_at_most(stub, workspace, capsys, report_socket):
    """The host end accepts (the relay is up) but never closes: the check goes on."""
    began = time.monotonic()

    assert health_report(stub, capsys)["dirty"] is False
    assert time.monotonic() - began < stub.workspace.PUSH_SECONDS + 1.5
    assert stub.workspace.push(b"{}", stub.paths.REPORT_SOCKET, timeout=0.2) is False  # what it says of it


def test_health_branch_missing_has_no_tip(stub, monkeypatch, capsys):
    monkeypatch.setenv("CODING_AGENTS_BRANCH", "claude/never-made")

    assert health_report(stub, capsys) == {"tip": None, "ahead": None, "dirty": False}


def test_health_without_base_has_no_ahead(stub, workspace, monkeypatch, capsys):
    monkeypatch.delenv("CODING_AGENTS_BASE")

    assert health_report(stub, capsys)["ahead"] is None


def test_health_leaves_what_the_host_lacks_to_the_host(stub, workspace, capsys):
    commit_in(workspace, "a.txt", "a\n")

    assert stub.cli.main(["health"]) == 0

    assert set(json.loads(capsys.readouterr().out)) == {"tip", "ahead", "dirty", "elsewhere", "screen"}


def test_health_without_branch_reports_head(stub, workspace, monkeypatch, capsys):
    monkeypatch.delenv("CODING_AGENTS_BRANCH")

    assert health_report(stub, capsys)["tip"] == run_git(workspace, "rev-parse", "HEAD")


def elsewhere(stub, capsys) -> list[dict]:
    assert stub.cli.main(["health"]) == 0
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
    """Replace stub.session.tmux; display-message answers from `shown` (one answer per call when a list)."""
    answers = iter(shown) if isinstance(shown, list) else None
    calls = []

    def tmux(*args):
        calls.append(args)
        if "display-message" in args:
            return SimpleNamespace(returncode=returncode, stdout=next(answers) if answers else shown, stderr="")
        if "capture-pane" in args:
            return SimpleNamespace(returncode=0, stdout=screen, stderr="")
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(stub.session, "tmux", tmux)
    return calls


@pytest.mark.parametrize(
    ("shown", "expected"),
    [("1 3 \n", 3), ("1 0 \n", 0), ("1 3 9\n", 3), ("1  \n", -1), ("1\n", -1), ("0  \n", None), ("0 0 \n", None),
     ("", None)],
    ids=["exit-3", "exit-0", "status-wins", "unknown", "bare-dead", "alive", "alive-status", "empty"],
)
def test_agent_exit_status_parses_tmux(stub, monkeypatch, shown, expected):
    calls = fake_tmux(monkeypatch, stub, shown)

    assert stub.session.agent_exit_status() == expected
    assert calls[0][-1] == "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"


def test_agent_exit_status_signal_is_128_plus_signal(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, "1  9\n")

    assert stub.session.agent_exit_status() == 137


def test_agent_exit_status_prefers_the_status_the_wrapper_wrote(stub, monkeypatch):
    Path(stub.paths.EXIT_STATUS_FILE).write_text("5\n")
    fake_tmux(monkeypatch, stub, "1  \n")

    assert stub.session.agent_exit_status() == 5


def test_agent_exit_status_ignores_the_file_while_the_pane_lives(stub, monkeypatch):
    Path(stub.paths.EXIT_STATUS_FILE).write_text("5\n")
    fake_tmux(monkeypatch, stub, "0  \n")

    assert stub.session.agent_exit_status() is None


@pytest.mark.parametrize(("script", "expected"), [("exit 7", "7"), ("true", "0"), ("kill -9 $$", "137")],
                         ids=["exit-7", "exit-0", "killed"])
def test_status_wrapper_records_how_the_agent_ended(stub, tmp_path, script, expected):
    status_path = tmp_path / "recorded"
    status_path.write_text("stale\n")

    env_file = tmp_path / "absent.env"
    subprocess.run(["sh", "-c", stub.session.STATUS_WRAPPER, "agent", str(status_path), str(env_file), "sh", "-c", script],
                   check=False)

    assert status_path.read_text().strip() == expected


def test_agent_exit_status_session_gone_is_zero(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, "", returncode=1)

    assert stub.session.agent_exit_status() == 0


def test_last_screen_trims_blank_rows_and_tmux_notice(stub, monkeypatch):
    screen = "\n\n$ make test   \nok\n\nall 3 passed  \n\n\nPane is dead (status 0, Thu Jan  1 00:00:00 2026)\n\n\n"
    calls = fake_tmux(monkeypatch, stub, screen=screen)

    assert stub.session.last_screen() == "$ make test\nok\n\nall 3 passed"
    assert calls == [("capture-pane", "-p", "-t", "agent:0.0", "-S", "-60")]


def test_last_screen_of_an_empty_pane_is_empty(stub, monkeypatch):
    fake_tmux(monkeypatch, stub, screen="\n\nPane is dead (signal 9)\n")

    assert stub.session.last_screen() == ""


@pytest.fixture
def fast_clock(monkeypatch, stub):
    """Every look at the clock is half a second later; sleeping takes no time."""
    ticks = iter(x * 0.5 for x in range(10_000))
    patch_everywhere(monkeypatch, stub, "time", SimpleNamespace(sleep=lambda _: None, monotonic=lambda: next(ticks)))


def test_run_session_interactive_prints_last_screen_and_exits_with_agents_status(stub, monkeypatch, capsys, fast_clock):
    calls = fake_tmux(monkeypatch, stub, ["0  \n", "0  \n", "1 3 \n"], screen="\nerror: no API key\n\n")

    assert stub.session.run_session("interactive", ["claude"]) == 3

    assert capsys.readouterr().out == "error: no API key\n[ca-stub: the agent exited with status 3]\n"
    assert "new-session" in calls[0] and calls[0][-1] == "claude"
    assert calls[0][calls[0].index("-c") + 1] == stub.paths.WORKSPACE
    assert calls[-1] == ("kill-server",)


def test_run_session_interactive_unknown_status_asks_again_then_gives_up_as_1(stub, monkeypatch, capsys, fast_clock):
    calls = fake_tmux(monkeypatch, stub, "1  \n")

    assert stub.session.run_session("interactive", ["claude"]) == 1

    assert capsys.readouterr().out.endswith("[ca-stub: the agent exited with status 1]\n")
    assert sum("display-message" in call for call in calls) > 1


def test_run_session_interactive_status_learned_on_a_later_ask(stub, monkeypatch, capsys, fast_clock):
    fake_tmux(monkeypatch, stub, ["1  \n", "1 42 \n"])

    assert stub.session.run_session("interactive", ["claude"]) == 42


# --- the fill: a new session's workspace arrives after the start ------------------------------


@pytest.fixture
def filling(stub, workspace, monkeypatch):
    """A new session's container before the host's fill has finished (the marker is its last step)."""
    marker = workspace / ".git" / "coding-agents-filled"
    monkeypatch.setattr(stub.paths, "WORKSPACE_FILLED", str(marker))
    monkeypatch.setenv("CODING_AGENTS_WAIT_WORKSPACE", "1")
    return marker


def test_while_the_workspace_is_filled_health_touches_no_git_and_autocommit_commits_nothing(
        stub, workspace, filling, capsys, start_commit):
    (workspace / "half-written.txt").write_text("the fill is still checking out\n")

    assert health_report(stub, capsys) == {"tip": None, "ahead": None, "dirty": None}
    assert stub.cli.main(["autocommit"]) == 0
    assert capsys.readouterr().out.strip() == "clean"
    assert run_git(workspace, "rev-parse", "HEAD") == start_commit

    filling.write_text("")
    assert health_report(stub, capsys)["dirty"] is True


def fill_stream(source: Path, commit: str, header: dict | None = None, chunk: int = 1000) -> bytes:
    """What the host's fill sends (agents/runner.py: Feed.send): the header line, then a git
    pack of the commit's tree in counted chunks."""
    from agents import git

    objects = git.objects_for_checkout(source, [commit])
    pack = subprocess.run(["git", "-C", str(source), "pack-objects", "--stdout", "-q"], input=objects.encode(),
                          capture_output=True, check=True).stdout
    wanted = header or {"identity": ["Ada", "ada@example.invalid"], "commit": commit, "branch": BRANCH,
                        "uncommitted": ""}
    framed = b"".join(b"%d\n" % len(pack[at:at + chunk]) + pack[at:at + chunk] for at in range(0, len(pack), chunk))
    return json.dumps(wanted).encode() + b"\n" + framed + b"0\n"


@pytest.fixture
def empty_workspace(stub, tmp_path, monkeypatch):
    """A new session's (empty) workspace volume, its fill awaited."""
    folder = tmp_path / "new-workspace"
    folder.mkdir()
    monkeypatch.setattr(stub.paths, "WORKSPACE", str(folder))
    monkeypatch.setattr(stub.paths, "WORKSPACE_FILLED", str(folder / ".git" / "coding-agents-filled"))
    monkeypatch.setenv("CODING_AGENTS_WAIT_WORKSPACE", "1")
    return folder


def sent(data: bytes, later: float = 0.0) -> int:
    """The read end of a pipe that gets data (after `later` seconds) and stays open, as the
    container's stdin does."""
    import threading

    read_end, write_end = os.pipe()
    threading.Timer(later, os.write, args=(write_end, data)).start()
    return read_end


def test_the_fill_checks_out_what_the_host_sends_and_the_cli_starts_at_once(
        stub, empty_workspace, template_workspace, start_commit, capsys):
    started = time.monotonic()

    assert stub.workspace.wait_until_filled({"flag": False}, stream=sent(fill_stream(template_workspace, start_commit),
                                                                         later=0.2))

    assert 0.15 <= time.monotonic() - started < 10
    # the lines the host's run reads: the stub waits (the container runs), then the fill's outcome
    assert capsys.readouterr().out.splitlines() == [stub.paths.FILL_WAITING, stub.paths.FILL_DONE]
    assert (empty_workspace / ".git" / "coding-agents-filled").exists()
    assert run_git(empty_workspace, "rev-parse", "HEAD") == start_commit
    assert run_git(empty_workspace, "symbolic-ref", "HEAD") == f"refs/heads/{BRANCH}"
    assert run_git(empty_workspace, "config", "user.email") == "ada@example.invalid"
    assert run_git(empty_workspace, "status", "--porcelain") == ""
    assert (empty_workspace / ".git" / "shallow").read_text() == start_commit + "\n"


def test_the_fill_writes_an_identity_with_quotes_and_backslashes_as_git_reads_it(
        stub, empty_workspace, template_workspace, start_commit, capsys):
    name = 'Ada "the" Love\\lace; #1\tII'
    header = {"identity": [name, "ada@example.invalid"], "commit": start_commit, "branch": "claude/a/b",
              "uncommitted": ""}

    assert stub.workspace.wait_until_filled({"flag": False},
                                            stream=sent(fill_stream(template_workspace, start_commit, header)))

    assert run_git(empty_workspace, "config", "user.name") == name
    assert run_git(empty_workspace, "symbolic-ref", "HEAD") == "refs/heads/claude/a/b"
    assert run_git(empty_workspace, "rev-parse", "claude/a/b") == start_commit


def test_a_fill_refuses_a_branch_that_would_leave_the_refs_folder(stub, empty_workspace, template_workspace,
                                                                    start_commit, capsys):
    header = {"identity": ["Ada", "a@b.invalid"], "commit": start_commit, "branch": "../../hooks/x", "uncommitted": ""}

    assert not stub.workspace.wait_until_filled({"flag": False},
                                                stream=sent(fill_stream(template_workspace, start_commit, header)))

    assert capsys.readouterr().out.splitlines()[-1].startswith(stub.paths.FILL_FAILED + "not a commit and branch")
    assert not (empty_workspace / ".git" / "hooks" / "x").exists()


def test_a_fill_into_a_workspace_that_has_a_repository_fails_and_ends_the_session(
        stub, empty_workspace, template_workspace, start_commit, capsys):
    (empty_workspace / ".git").mkdir()

    assert not stub.workspace.wait_until_filled({"flag": False},
                                                stream=sent(fill_stream(template_workspace, start_commit)))

    assert capsys.readouterr().out.splitlines()[-1] == stub.paths.FILL_FAILED + "workspace volume is not empty"


def test_a_pack_git_refuses_is_a_failed_fill_in_gits_words(stub, empty_workspace, start_commit, capsys):
    header = {"identity": ["Ada", "a@b.invalid"], "commit": start_commit, "branch": BRANCH, "uncommitted": ""}

    assert not stub.workspace.wait_until_filled(
        {"flag": False}, stream=sent(json.dumps(header).encode() + b"\n8\nnot-pack0\n"))

    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith(stub.paths.FILL_FAILED + "git index-pack: ")


def test_without_the_wait_variable_a_missing_marker_changes_nothing(stub, workspace, filling, monkeypatch, capsys):
    # Sessions launched before the fill went through the container, and throwaway containers on
    # a stopped session's volume, have no marker and no variable.
    monkeypatch.delenv("CODING_AGENTS_WAIT_WORKSPACE")
    (workspace / "new.txt").write_text("x\n")

    assert not stub.workspace.filling()
    assert health_report(stub, capsys)["dirty"] is True


def test_a_fill_that_never_comes_stops_the_wait_at_its_timeout(stub, empty_workspace, capsys):
    assert stub.workspace.wait_until_filled({"flag": False}, timeout=0.05, stream=sent(b""))

    assert "not filled" in capsys.readouterr().out


# --- autocommit ---------------------------------------------------------------------------


def test_autocommit_clean_prints_clean(stub, workspace, capsys, start_commit):
    before = start_commit

    assert stub.cli.main(["autocommit"]) == 0

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

    assert stub.cli.main(["autocommit"]) == 0

    assert capsys.readouterr().out == "committed\n"
    assert run_git(workspace, "status", "--porcelain") == ""
    assert run_git(workspace, "rev-parse", "HEAD^") == base
    assert run_git(workspace, "log", "-1", "--format=%s") == stub.workspace.AUTO_COMMIT_MESSAGE
    assert run_git(workspace, "show", "HEAD:new.txt") == "new"
    assert run_git(workspace, "show", "HEAD:README.md") == "changed"
    assert run_git(workspace, "symbolic-ref", "--short", "HEAD") == BRANCH


def test_autocommit_without_repo_is_false(stub, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(stub.paths, "WORKSPACE", str(tmp_path / "empty"))

    assert stub.workspace.autocommit() is False


# --- argument handling --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["session"], ["session", "--mode", "prompt"], ["session", "--"], ["session", "--mode", "tty", "--", "sh"]],
    ids=["empty", "unknown", "session-bare", "session-no-separator", "session-no-command", "session-bad-mode"],
)
def test_main_bad_args_prints_usage(stub, argv, capsys):
    assert stub.cli.main(argv) == 2

    assert "Subcommands:" in capsys.readouterr().err


def test_main_mode_without_value_prints_usage(stub, capsys):
    assert stub.cli.main(["session", "--mode", "--", "sh"]) == 2


def test_entry_through_a_symlink_finds_its_package(tmp_path):
    """The image runs /usr/local/bin/ca-stub, a symlink to the entry next to its package."""
    (tmp_path / "ca-stub").symlink_to(STUB_PATH)

    done = subprocess.run([sys.executable, str(tmp_path / "ca-stub"), "bogus"], capture_output=True, text=True,
                          cwd=tmp_path)

    assert done.returncode == 2 and "Subcommands:" in done.stderr, done.stderr


def stub_imports(name: str) -> set[str]:
    """The modules of ca_stub that one of them imports."""
    import ast

    tree = ast.parse((STUB_DIR / "ca_stub" / f"{name}.py").read_text())
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "ca_stub"
            for alias in node.names}


def test_the_sidecar_side_uses_nothing_of_the_agent_side():
    assert stub_imports("sidecar") <= {"paths", "common"}
    assert stub_imports("paths") == set() and stub_imports("common") == set()


def test_only_paths_names_container_paths_and_variables():
    for name in stub_module_names():
        if name in ("paths", "cli"):  # cli's usage text mentions a variable; it reads none
            continue
        text = (STUB_DIR / "ca_stub" / f"{name}.py").read_text()
        for needle in ('"CODING_AGENTS_', '"/run/', '"/workspace', '"/tmp/', '.sock"'):
            assert needle not in text, f"{name}.py: {needle}"


# --- versions: the programs come from the host's table, baked into the image -----------------


def fake_program(bin_dir: Path, name: str, output: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nprintf '{output}'\n")
    path.chmod(0o755)


def test_versions_reports_the_programs_the_image_build_baked(stub_module, monkeypatch, tmp_path, capsys):
    from agents import catalog

    (tmp_path / "programs.json").write_bytes(catalog.stub_data_json())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_program(bin_dir, "claude", "2.1.332 (Claude Code)\\n")
    fake_program(bin_dir, "socat", "socat by someone\\nsocat version 1.7.4.4 on Jan 1\\n")
    monkeypatch.setenv("PATH", str(bin_dir))  # nothing else of the table is here
    monkeypatch.setattr(stub_module.paths, "PROGRAMS_FILE", str(tmp_path / "programs.json"))

    assert stub_module.cli.main(["versions"]) == 0

    assert json.loads(capsys.readouterr().out) == {"claude": "2.1.332 (Claude Code)",
                                                   "socat": "socat version 1.7.4.4 on Jan 1"}


def test_versions_runs_the_rows_version_command(stub_module, monkeypatch, tmp_path, capsys):
    (tmp_path / "programs.json").write_text(json.dumps({"programs": [
        {"name": "zed", "command": ["zed-cli", "version", "--short"], "line_with": ""}]}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "zed-cli").write_text('#!/bin/sh\necho "$*"\n')  # prints its arguments
    (bin_dir / "zed-cli").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(stub_module.paths, "PROGRAMS_FILE", str(tmp_path / "programs.json"))

    assert stub_module.cli.main(["versions"]) == 0

    assert json.loads(capsys.readouterr().out) == {"zed": "version --short"}


def test_versions_without_the_baked_file_says_so(stub_module, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(stub_module.paths, "PROGRAMS_FILE", str(tmp_path / "programs.json"))

    assert stub_module.cli.main(["versions"]) == 1

    assert "(the image build writes it)" in capsys.readouterr().err


def test_stub_names_no_cli_of_its_own():
    from agents import catalog

    text = "".join(path.read_text() for path in [STUB_PATH, *sorted((STUB_DIR / "ca_stub").glob("*.py"))])
    for name in catalog.agent_names():
        assert f'"{name}"' not in text, name


# --- run_session in prompt mode -----------------------------------------------------------


def test_run_session_prompt_auto_commits_new_file(stub, workspace, capsys, start_commit):
    base = start_commit

    assert stub.cli.main(["session", "--mode", "prompt", "--", "sh", "-c", "echo hi > f"]) == 0

    assert run_git(workspace, "rev-parse", "HEAD^") == base
    assert run_git(workspace, "show", "HEAD:f") == "hi"
    assert run_git(workspace, "status", "--porcelain") == ""
    assert "auto-committed" in capsys.readouterr().err


def test_run_session_prompt_auto_commit_off(stub, workspace, monkeypatch):
    monkeypatch.setenv("CODING_AGENTS_AUTO_COMMIT", "0")
    base = run_git(workspace, "rev-parse", "HEAD")

    assert stub.session.run_session("prompt", ["sh", "-c", "echo hi > f"]) == 0

    assert run_git(workspace, "rev-parse", "HEAD") == base
    assert run_git(workspace, "status", "--porcelain") == "?? f"


def test_run_session_prompt_returns_command_status_and_still_commits(stub, workspace):
    assert stub.session.run_session("prompt", ["sh", "-c", "echo partial > g; exit 3"]) == 3

    assert run_git(workspace, "show", "HEAD:g") == "partial"


def test_run_session_prompt_runs_in_workspace(stub, workspace):
    stub.session.run_session("prompt", ["sh", "-c", "pwd > where.txt"])

    assert Path(run_git(workspace, "show", "HEAD:where.txt")).resolve() == workspace.resolve()


# --- logins: received from the host, refreshed ones pushed back ---------------------------------

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def bridge_dir():
    """Short: a Unix socket's path must fit in 108 bytes, which pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="ca-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def login_stub(monkeypatch, stub_module, tmp_path, bridge_dir):
    """The stub with its home, state folder and bridge folder in tmp paths."""
    module = stub_module
    home = (tmp_path / "agent-home").resolve()
    home.mkdir()
    state = tmp_path / "state"
    monkeypatch.setattr(module.paths, "HOME", str(home))
    monkeypatch.setattr(module.paths, "WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setattr(module.paths, "STATE_DIR", str(state))
    monkeypatch.setattr(module.paths, "LOGIN_ENV_FILE", str(state / "login.env"))
    monkeypatch.setattr(module.paths, "LOGINS_READY", str(state / "logins-ready"))
    monkeypatch.setattr(module.paths, "LOGINS_WATCH", str(state / "logins-watch.json"))
    monkeypatch.setattr(module.paths, "BRIDGE_DIR", str(bridge_dir))
    return module


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        data = self.rfile.read()  # the stub half-closes after its request
        self.server.requests.append(data)
        self.wfile.write(self.server.answer(data))


@pytest.fixture
def host_socket(bridge_dir):
    """Serve a socket in the bridge folder like the host's socat + handler: one request, one answer."""
    servers = []

    def serve(name: str, answer=lambda request: b"saved\n"):
        server = socketserver.UnixStreamServer(str(bridge_dir / name), _Handler)
        server.requests, server.answer = [], answer
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def receive(stub, monkeypatch, bundle: dict) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(bundle)))
    return stub.cli.main(["logins-receive"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_logins_receive_writes_private_files_env_and_watch_list(login_stub, monkeypatch, capsys):
    home = Path(login_stub.paths.HOME)
    bundle = {
        "files": [
            {"path": f"{home}/.codex/auth.json", "data": b64(b'{"token": "t"}'), "mtime_ns": T0},
            {"path": f"{home}/.codex/config.toml", "data": b64(b'model = "o3"\n')},
        ],
        "env": {"OPENAI_API_KEY": "sk-a b'c\"d $HOME `x`", "CODEX_API_KEY": "plain", "BAD-NAME": "x", "A;rm": "y"},
        "watch": [f"{home}/.codex/auth.json", "/etc/passwd"],
    }

    assert receive(login_stub, monkeypatch, bundle) == 0

    assert json.loads(capsys.readouterr().out) == {"files": 2, "env": 2}
    auth = home / ".codex" / "auth.json"
    assert auth.read_bytes() == b'{"token": "t"}' and auth.stat().st_mtime_ns == T0
    assert (home / ".codex" / "config.toml").read_bytes() == b'model = "o3"\n'
    assert [mode_of(path) for path in (auth, home / ".codex" / "config.toml")] == [0o600, 0o600]
    assert mode_of(home / ".codex") == 0o700
    assert mode_of(login_stub.paths.STATE_DIR) == 0o700
    assert mode_of(login_stub.paths.LOGIN_ENV_FILE) == 0o600
    assert sorted(path.name for path in (home / ".codex").iterdir()) == ["auth.json", "config.toml"]
    assert login_stub.logins.read_login_env() == {"CODEX_API_KEY": "plain", "OPENAI_API_KEY": "sk-a b'c\"d $HOME `x`"}
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0, 14]}
    assert os.path.exists(login_stub.paths.LOGINS_READY)


def test_logins_receive_env_file_is_what_the_agents_shell_sees(login_stub, monkeypatch, capsys, tmp_path):
    value = "sk-a b'c\"d $HOME `x` \\n"
    receive(login_stub, monkeypatch, {"files": [], "env": {"OPENAI_API_KEY": value}, "watch": []})
    seen = tmp_path / "seen"

    subprocess.run(["sh", "-c", login_stub.session.STATUS_WRAPPER, "agent", str(tmp_path / "status"), login_stub.paths.LOGIN_ENV_FILE,
                    "sh", "-c", f'printf %s "$OPENAI_API_KEY" > {seen}'], check=True)

    assert seen.read_text() == value


def test_read_login_env_survives_a_value_with_a_newline(login_stub, monkeypatch, capsys):
    receive(login_stub, monkeypatch, {"files": [], "env": {"TOKEN": "line1\nline2"}, "watch": []})

    assert login_stub.logins.read_login_env() == {"TOKEN": "line1\nline2"}


def test_logins_receive_empty_bundle(login_stub, monkeypatch, capsys):
    assert receive(login_stub, monkeypatch, {}) == 0

    assert json.loads(capsys.readouterr().out) == {"files": 0, "env": 0}
    assert Path(login_stub.paths.LOGIN_ENV_FILE).read_bytes() == b""
    assert login_stub.logins.read_login_env() == {}
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {}
    assert os.path.exists(login_stub.paths.LOGINS_READY)


@pytest.mark.parametrize("where", ["absolute", "dot-dot", "workspace", "symlink", "home-itself"])
def test_logins_receive_refuses_paths_outside_the_home(login_stub, monkeypatch, capsys, tmp_path, where):
    home = Path(login_stub.paths.HOME)
    outside = tmp_path / "outside"
    outside.mkdir()
    if where == "workspace":
        monkeypatch.setattr(login_stub.paths, "WORKSPACE", str(home / "workspace"))
    if where == "symlink":
        (home / ".codex").symlink_to(outside)
    path = {"absolute": str(outside / "auth.json"), "dot-dot": f"{home}/../outside/auth.json",
            "workspace": f"{home}/workspace/auth.json", "symlink": f"{home}/.codex/auth.json",
            "home-itself": str(home)}[where]

    assert receive(login_stub, monkeypatch, {"files": [{"path": path, "data": b64(b"{}")}]}) == 1

    assert capsys.readouterr().err == f"ca-stub: refusing login file outside the home: {path}\n"
    assert list(outside.iterdir()) == []
    assert not os.path.exists(login_stub.paths.LOGINS_READY)


def test_read_login_env_without_a_file_is_empty(login_stub):
    assert login_stub.logins.read_login_env() == {}


def test_fingerprint_is_mtime_and_size(login_stub, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.utime(path, ns=(T0, T0))

    assert login_stub.logins.fingerprint(str(path)) == [T0, 5]
    assert login_stub.logins.fingerprint(str(tmp_path / "absent")) is None


def watched_login(stub, monkeypatch, capsys, *names: str) -> list[Path]:
    """Login files as logins-receive leaves them: written, fingerprinted, watched."""
    home = Path(stub.paths.HOME)
    paths = [home / ".codex" / name for name in names]
    receive(stub, monkeypatch, {"files": [{"path": str(path), "data": b64(b'{"v": 0}'), "mtime_ns": T0} for path in paths],
                                "watch": [str(path) for path in paths]})
    capsys.readouterr()
    return paths


def rewrite(path: Path, data: bytes, mtime_ns: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_logins_push_sends_only_changed_files_and_remembers_them(login_stub, monkeypatch, capsys, host_socket):
    auth, other = watched_login(login_stub, monkeypatch, capsys, "auth.json", "other.json")
    host = host_socket("logins.sock")
    rewrite(auth, b'{"v": 1, "refreshed": true}', T0 + 10**9)

    assert login_stub.cli.main(["logins-push"]) == 0

    assert [json.loads(request) for request in host.requests] == [
        {"path": str(auth), "data": b64(b'{"v": 1, "refreshed": true}'), "mtime_ns": T0 + 10**9},
    ]
    assert capsys.readouterr().out == f"{auth}: saved\n"
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0 + 10**9, 27], str(other): [T0, 8]}

    assert login_stub.logins.logins_push() == 0  # nothing changed since

    assert len(host.requests) == 1


def test_logins_push_tries_a_refused_file_again(login_stub, monkeypatch, capsys, host_socket):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    host = host_socket("logins.sock", answer=lambda request: b"refused: not a JSON object (a half-written file?)\n")
    rewrite(auth, b'{"v": 1', T0 + 1)

    login_stub.logins.logins_push()
    login_stub.logins.logins_push()

    assert len(host.requests) == 2
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0, 8]}


def test_logins_push_without_a_decision_sends_the_file_again(login_stub, monkeypatch, capsys, host_socket):
    # What socat's default 0.5 s half-close timeout did on a busy host: the connection closed (and
    # the handler was stopped) before the host decided. Once marked as sent, the refresh was lost.
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    answers = [b"", b"saved\n"]
    host = host_socket("logins.sock", answer=lambda request: answers.pop(0))
    rewrite(auth, b'{"v": 1}', T0 + 1)

    assert login_stub.logins.logins_push() == 1
    assert capsys.readouterr() == ("", f"ca-stub: could not send a login back: {auth}: the host's bridge closed "
                                       "the connection without a decision\n")
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0, 8]}

    assert login_stub.logins.logins_push() == 0
    assert capsys.readouterr().out == f"{auth}: saved\n"
    assert len(host.requests) == 2 and host.requests[0] == host.requests[1]
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0 + 1, 8]}


def test_logins_push_a_failed_file_does_not_hold_back_the_others(login_stub, monkeypatch, capsys, host_socket):
    auth, other = watched_login(login_stub, monkeypatch, capsys, "auth.json", "other.json")
    host_socket("logins.sock")
    real_call = login_stub.bridges.bridge_call

    def call(socket_name, request, timeout=60.0):
        if json.loads(request)["path"] == str(auth):
            raise TimeoutError("timed out")
        return real_call(socket_name, request, timeout)

    monkeypatch.setattr(login_stub.bridges, "bridge_call", call)
    rewrite(auth, b'{"v": 1}', T0 + 1)
    rewrite(other, b'{"v": 2}', T0 + 2)

    assert login_stub.logins.LoginWatcher().poll(force=True) is None

    assert capsys.readouterr() == ("", f"ca-stub: could not send a login back: {auth}: timed out\n")
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0, 8], str(other): [T0 + 2, 8]}


def test_logins_push_another_accounts_login_is_not_sent_again_until_it_changes(login_stub, monkeypatch, capsys,
                                                                               host_socket):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    host = host_socket("logins.sock", answer=lambda request: b"refused: another account (tokens.account_id)\n")
    rewrite(auth, b'{"v": 2}', T0 + 1)

    login_stub.logins.logins_push()
    login_stub.logins.logins_push()
    assert len(host.requests) == 1
    rewrite(auth, b'{"v": 33}', T0 + 2)
    login_stub.logins.logins_push()

    assert len(host.requests) == 2


def test_logins_push_a_deleted_file_is_not_sent(login_stub, monkeypatch, capsys, host_socket):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    host = host_socket("logins.sock")
    auth.unlink()

    assert login_stub.logins.logins_push() == 0

    assert host.requests == []


def test_logins_push_without_a_bridge_keeps_the_change_for_later(login_stub, monkeypatch, capsys):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    rewrite(auth, b'{"v": 1}', T0 + 1)

    assert login_stub.logins.logins_push() == 1
    assert capsys.readouterr().err == "ca-stub: no login bridge in this session; refreshed logins stay here\n"
    assert login_stub.logins.logins_push(quiet=True) == 1
    assert capsys.readouterr().err == ""
    assert json.loads(Path(login_stub.paths.LOGINS_WATCH).read_text()) == {str(auth): [T0, 8]}


def test_logins_push_without_a_watch_file_does_nothing(login_stub, capsys):
    assert login_stub.logins.logins_push() == 0

    assert capsys.readouterr() == ("", "")


def test_login_watcher_polls_at_its_interval_and_when_forced(login_stub, monkeypatch, capsys, host_socket):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    host = host_socket("logins.sock")
    watcher = login_stub.logins.LoginWatcher(interval=3600)

    rewrite(auth, b'{"v": 1}', T0 + 1)
    watcher.poll()  # the first look
    rewrite(auth, b'{"v": 2}', T0 + 2)
    watcher.poll()  # too soon
    sent_early = len(host.requests)
    watcher.poll(force=True)

    assert (sent_early, len(host.requests)) == (1, 2)
    assert capsys.readouterr().out == ""  # quiet: the agent's pane is not the place for it


def test_login_watcher_first_look_happens_on_a_freshly_booted_machine(login_stub, monkeypatch, capsys, host_socket):
    # The monotonic clock starts near zero at boot: a machine up for 5 s must still look at once.
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    host = host_socket("logins.sock")
    monkeypatch.setattr(login_stub.logins.time, "monotonic", lambda: 5.0)
    watcher = login_stub.logins.LoginWatcher(interval=3600)

    rewrite(auth, b'{"v": 1}', T0 + 1)
    watcher.poll()

    assert len(host.requests) == 1


def test_login_watcher_never_raises(login_stub, monkeypatch, capsys, bridge_dir):
    (auth,) = watched_login(login_stub, monkeypatch, capsys, "auth.json")
    (bridge_dir / "logins.sock").write_text("")  # there, but nobody answers
    rewrite(auth, b'{"v": 1}', T0 + 1)

    login_stub.logins.LoginWatcher().poll(force=True)

    assert capsys.readouterr().err.startswith("ca-stub: could not send a login back: ")


# --- git credential helper ------------------------------------------------------------------------


def credential(stub, monkeypatch, action: str, text: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    return stub.cli.main(["git-credential", action])


@pytest.mark.parametrize("action", ["store", "erase", "capability"])
def test_git_credential_other_actions_never_reach_the_host(login_stub, monkeypatch, capsys, host_socket, action):
    host = host_socket("git-credential.sock")

    assert credential(login_stub, monkeypatch, action, "protocol=https\nhost=github.com\npassword=x\n\n") == 0

    assert host.requests == []
    assert capsys.readouterr() == ("", "")


def test_git_credential_get_relays_to_the_host(login_stub, monkeypatch, capsys, host_socket):
    host = host_socket("git-credential.sock", answer=lambda request: b"protocol=https\nhost=github.com\nusername=u\n"
                                                                       b"password=p\n")

    assert credential(login_stub, monkeypatch, "get", "protocol=https\nhost=github.com\n\n") == 0

    assert host.requests == [b"protocol=https\nhost=github.com\n\n"]
    assert capsys.readouterr().out == "protocol=https\nhost=github.com\nusername=u\npassword=p\n"


def test_git_credential_get_without_a_bridge_says_so(login_stub, monkeypatch, capsys):
    assert credential(login_stub, monkeypatch, "get", "protocol=https\nhost=github.com\n\n") == 0

    assert capsys.readouterr() == (
        "", "coding-agents: no git credential bridge in this session (see docs/credentials.md)\n",
    )


def test_git_credential_get_with_a_dead_bridge_says_so(login_stub, monkeypatch, capsys, bridge_dir):
    (bridge_dir / "git-credential.sock").write_text("")

    assert credential(login_stub, monkeypatch, "get", "protocol=https\nhost=github.com\n\n") == 0

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("coding-agents: the host's git credential bridge did not answer: ")


def test_main_git_credential_needs_an_action(login_stub, capsys):
    assert login_stub.cli.main(["git-credential"]) == 2


# --- signing programs ---------------------------------------------------------------------------------


def signer(answer: dict):
    return lambda request: json.dumps(answer).encode()


def binary_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_gpg_program_sends_the_payload_and_prints_the_signature(login_stub, monkeypatch, capsysbinary, host_socket):
    host = host_socket("sign.sock", signer({"rc": 0, "stdout": b64(b"-----BEGIN PGP SIGNATURE-----\n"),
                                            "stderr": "[GNUPG:] SIG_CREATED D\n"}))
    binary_stdin(monkeypatch, b"tree abc\n")

    assert login_stub.bridges.gpg_program(["--status-fd=2", "-bsau", "KEY"]) == 0

    assert [json.loads(request) for request in host.requests] == [
        {"op": "gpg", "args": ["--status-fd=2", "-bsau", "KEY"], "payload": b64(b"tree abc\n")},
    ]
    assert capsysbinary.readouterr() == (b"-----BEGIN PGP SIGNATURE-----\n", b"[GNUPG:] SIG_CREATED D\n")


def test_gpg_program_verify_sends_the_signature_file(login_stub, monkeypatch, capsysbinary, host_socket, tmp_path):
    host = host_socket("sign.sock", signer({"rc": 1, "stdout": b64(b"[GNUPG:] BADSIG\n"), "stderr": ""}))
    (tmp_path / "sig.asc").write_bytes(b"SIG")
    binary_stdin(monkeypatch, b"payload")

    assert login_stub.bridges.gpg_program(["--status-fd=1", "--verify", str(tmp_path / "sig.asc"), "-"]) == 1

    assert json.loads(host.requests[0])["signature"] == b64(b"SIG")
    assert capsysbinary.readouterr().out == b"[GNUPG:] BADSIG\n"


def test_gpg_program_without_a_signing_bridge(login_stub, monkeypatch, capsysbinary):
    binary_stdin(monkeypatch, b"tree abc\n")

    assert login_stub.bridges.gpg_program(["-bsau", "KEY"]) == 2

    assert capsysbinary.readouterr().err.startswith(b"coding-agents: no signing bridge in this session")


def test_main_as_ca_gpg(login_stub, monkeypatch, host_socket, capsysbinary):
    host = host_socket("sign.sock", signer({"rc": 0, "stdout": "", "stderr": ""}))
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/ca-gpg", "-bsau", "KEY"])
    binary_stdin(monkeypatch, b"x")

    assert login_stub.cli.main(["-bsau", "KEY"]) == 0

    assert json.loads(host.requests[0])["op"] == "gpg"


class Execed(Exception):
    pass


@pytest.mark.parametrize("args", [["-Y", "verify", "-n", "git", "-f", "allowed", "-I", "me", "-s", "sig"],
                                  ["-Y", "find-principals", "-s", "sig", "-f", "allowed"],
                                  ["-l", "-f", "key.pub"], ["-Y"]],
                         ids=["verify", "find-principals", "fingerprint", "bare-Y"])
def test_ssh_keygen_program_runs_the_local_ssh_keygen_for_anything_but_sign(login_stub, monkeypatch, host_socket, args):
    host = host_socket("sign.sock")
    execs = []

    def execv(path, argv):
        execs.append((path, argv))
        raise Execed

    monkeypatch.setattr(os, "execv", execv)

    with pytest.raises(Execed):
        login_stub.bridges.ssh_keygen_program(args)

    assert execs == [("/usr/bin/ssh-keygen", ["ssh-keygen", *args])]
    assert host.requests == []


def test_ssh_keygen_program_sign_writes_the_hosts_signature(login_stub, monkeypatch, capsys, host_socket, tmp_path):
    host = host_socket("sign.sock", signer({"rc": 0, "stdout": b64(b"SSHSIG"), "stderr": ""}))
    message = tmp_path / "buffer"
    message.write_bytes(b"tree abc\n")

    assert login_stub.bridges.ssh_keygen_program(["-Y", "sign", "-n", "git", "-f", "/tmp/.git_signing_key", "-U",
                                          str(message)]) == 0

    assert [json.loads(request) for request in host.requests] == [
        {"op": "ssh-sign", "namespace": "git", "payload": b64(b"tree abc\n")},
    ]
    assert (tmp_path / "buffer.sig").read_bytes() == b"SSHSIG"


def test_ssh_keygen_program_sign_refused_writes_no_signature(login_stub, monkeypatch, capsys, host_socket, tmp_path):
    host_socket("sign.sock", signer({"rc": 1, "stdout": "", "stderr": "coding-agents: signing refused: x\n"}))
    message = tmp_path / "buffer"
    message.write_bytes(b"data")

    assert login_stub.bridges.ssh_keygen_program(["-Y", "sign", "-n", "file", "-f", "k", str(message)]) == 1

    assert not (tmp_path / "buffer.sig").exists()
    assert capsys.readouterr().err == "coding-agents: signing refused: x\n"


# --- MCP: the relay (agent side) and the sidecar ------------------------------------------------------------

ECHO_CHILD = r"""
import json, os, sys
for line in sys.stdin:
    print(json.dumps({"line": line.strip(), "token": os.environ.get("TOKEN"), "argv": sys.argv[1:],
                      "cwd": os.getcwd(), "ours": sorted(k for k in os.environ if k.startswith("CODING_AGENTS_"))}),
          flush=True)
"""


@pytest.fixture
def mcp_stub(login_stub, monkeypatch, bridge_dir, tmp_path):
    """The stub with its MCP sockets, spec and broker socket in tmp places."""
    monkeypatch.setattr(login_stub.paths, "MCP_SOCKETS", str(bridge_dir))
    monkeypatch.setattr(login_stub.paths, "BROKER_SOCKET", str(bridge_dir / "broker.sock"))
    monkeypatch.setattr(login_stub.paths, "MCP_SPEC", str(tmp_path / "state" / "mcp.json"))
    monkeypatch.setattr(login_stub.paths, "MCP_READY", str(tmp_path / "state" / "mcp-ready"))
    return login_stub


def echo_definition(**overrides) -> dict:
    return {"name": "echo", "command": [sys.executable], "args": ["-c", ECHO_CHILD, "--key=${API_KEY}"],
            "env": {"TOKEN": "Bearer ${API_KEY}"}, "cwd": None, "url": None, "headers": {}, **overrides}


@pytest.mark.parametrize(("text", "expected"), [
    ("Bearer ${TOKEN}", "Bearer t0k"), ("${A}${A}-${B}", "aa-"), ("$TOKEN {TOKEN} ${1X}", "$TOKEN {TOKEN} ${1X}"),
    ("no references", "no references"), ("${TOKEN", "${TOKEN"),
])
def test_substitute(stub_module, text, expected):
    assert stub_module.sidecar.substitute(text, {"TOKEN": "t0k", "A": "a"}) == expected


def test_substitute_a_value_is_not_substituted_again(stub_module):
    assert stub_module.sidecar.substitute("${A}", {"A": "${B}", "B": "no"}) == "${B}"


def test_mcp_receive_writes_a_private_spec_and_the_ready_marker(mcp_stub, monkeypatch, capsys):
    spec = {"servers": {"echo": echo_definition(), "gh": echo_definition(name="gh")},
            "capabilities": {"echo": "cap-1", "gh": "cap-2"}}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(spec)))

    assert mcp_stub.cli.main(["mcp-receive"]) == 0

    assert json.loads(capsys.readouterr().out) == {"servers": ["echo", "gh"]}
    assert json.loads(Path(mcp_stub.paths.MCP_SPEC).read_text()) == spec
    assert mode_of(mcp_stub.paths.MCP_SPEC) == 0o600
    assert os.path.exists(mcp_stub.paths.MCP_READY) and mode_of(mcp_stub.paths.MCP_READY) == 0o600
    assert mode_of(mcp_stub.paths.STATE_DIR) == 0o700


def broker_answers(host_socket, answers: dict[str, dict]):
    """The broker's redeem socket: capability -> answer (anything else is refused)."""

    def answer(request: bytes) -> bytes:
        capability = json.loads(request)["capability"]
        return json.dumps(answers.get(capability, {"error": "refused: not a capability this broker issued"})).encode()

    return host_socket("broker.sock", answer=answer)


def test_redeem_granted(mcp_stub, host_socket):
    broker = broker_answers(host_socket, {"cap-1": {"secrets": {"API_KEY": "sk-1"}}})

    assert mcp_stub.sidecar.redeem("cap-1") == {"API_KEY": "sk-1"}
    assert [json.loads(request) for request in broker.requests] == [{"capability": "cap-1"}]
    assert broker.requests[0].endswith(b"\n")


def test_redeem_refused_is_a_runtime_error(mcp_stub, host_socket):
    broker_answers(host_socket, {})

    with pytest.raises(RuntimeError) as caught:
        mcp_stub.sidecar.redeem("forged")

    assert str(caught.value) == "refused: not a capability this broker issued"


def test_redeem_without_a_broker(mcp_stub):
    with pytest.raises(OSError):
        mcp_stub.sidecar.redeem("cap-1")


def connected_pair(stub, serve, definition, values):
    """(our end, thread): serve() runs on the other end, which closes when it returns (as the sidecar does)."""
    ours, theirs = socket.socketpair()

    def run():
        with theirs:
            serve(theirs, definition, values)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return ours, thread


def exchange(ours, data: bytes) -> bytes:
    with ours:
        ours.sendall(data)
        ours.shutdown(socket.SHUT_WR)
        return ours.makefile("rb").read()


def test_serve_stdio_starts_the_server_with_its_secrets_and_relays_both_ways(mcp_stub, monkeypatch, tmp_path):
    monkeypatch.setenv("CODING_AGENTS_SESSION", "s1")
    monkeypatch.setattr(mcp_stub.paths, "WORKSPACE", str(tmp_path / "no-workspace-in-the-sidecar"))
    ours, thread = connected_pair(mcp_stub, mcp_stub.sidecar.serve_stdio, echo_definition(), {"API_KEY": "sk-1"})

    answer = exchange(ours, b'{"jsonrpc": "2.0", "id": 1}\n{"id": 2}\n')
    thread.join(timeout=10)

    lines = [json.loads(line) for line in answer.splitlines()]
    assert [line["line"] for line in lines] == ['{"jsonrpc": "2.0", "id": 1}', '{"id": 2}']
    assert lines[0]["token"] == "Bearer sk-1"
    assert lines[0]["argv"] == ["--key=sk-1"]
    assert lines[0]["cwd"] == "/tmp"
    assert lines[0]["ours"] == []  # the session's variables stay out of the server's environment
    assert not thread.is_alive()


def test_serve_stdio_runs_in_the_servers_cwd(mcp_stub, tmp_path):
    ours, thread = connected_pair(mcp_stub, mcp_stub.sidecar.serve_stdio, echo_definition(cwd=str(tmp_path)), {})

    (line,) = exchange(ours, b"x\n").splitlines()
    thread.join(timeout=10)

    assert json.loads(line)["cwd"] == str(tmp_path)
    assert json.loads(line)["token"] == "Bearer "  # a secret it was not given is empty


def test_serve_stdio_child_that_exits_ends_the_connection_at_once(mcp_stub):
    definition = echo_definition(args=["-c", "print('bye', flush=True)"])
    ours, thread = connected_pair(mcp_stub, mcp_stub.sidecar.serve_stdio, definition, {})

    with ours:
        ours.settimeout(0.5)
        assert ours.makefile("rb").read() == b"bye\n"


# an HTTP MCP server: JSON for initialize (with a session id), SSE for tools/list, 202 for notifications


class _McpHttp(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((dict(self.headers), json.loads(body)))
        message = json.loads(body)
        method = message.get("method")
        if method == "initialize":
            self.reply(200, "application/json", json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {}}),
                       {"Mcp-Session-Id": "session-42"})
        elif method == "tools/list":
            events = (f'event: message\ndata: {json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": 1})}\n\n'
                      'event: ping\ndata:\n\n'
                      f'data: {json.dumps({"jsonrpc": "2.0", "method": "notifications/progress"})}\n\n')
            self.reply(200, "text/event-stream", events)
        elif method == "broken":
            self.reply(500, "text/plain", "internal error")
        else:
            self.reply(202, "application/json", "")

    def reply(self, code, kind, text, headers=None):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def mcp_http(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _McpHttp)
    server.seen = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_serve_http_relays_json_and_sse_with_the_secret_header_and_the_session_id(mcp_stub, mcp_http):
    definition = {"name": "gh", "command": [], "args": [], "env": {}, "cwd": None,
                  "url": f"http://127.0.0.1:{mcp_http.server_port}/mcp",
                  "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}", "X-Plain": "yes"}}
    ours, thread = connected_pair(mcp_stub, mcp_stub.sidecar.serve_http, definition, {"GITHUB_TOKEN": "ghp_1"})
    requests = [{"jsonrpc": "2.0", "id": 1, "method": "initialize"},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                {"jsonrpc": "2.0", "id": 3, "method": "broken"},
                {"jsonrpc": "2.0", "method": "broken"}]

    answer = exchange(ours, b"".join(json.dumps(request).encode() + b"\n" for request in requests) + b"\n")
    thread.join(timeout=10)

    lines = [json.loads(line) for line in answer.splitlines()]
    assert lines[:3] == [{"jsonrpc": "2.0", "id": 1, "result": {}}, {"jsonrpc": "2.0", "id": 2, "result": 1},
                         {"jsonrpc": "2.0", "method": "notifications/progress"}]
    assert lines[3]["id"] == 3 and lines[3]["error"]["code"] == -32000
    assert lines[3]["error"]["message"].startswith("sidecar: HTTP Error 500")
    assert len(lines) == 4  # the failed notification has nobody to answer
    assert [body for _, body in mcp_http.seen] == requests
    for headers, _ in mcp_http.seen:
        assert headers["Authorization"] == "Bearer ghp_1"
        assert headers["X-Plain"] == "yes"
        assert headers["Content-Type"] == "application/json"
        assert headers["Accept"] == "application/json, text/event-stream"
    assert ["Mcp-Session-Id" in headers for headers, _ in mcp_http.seen] == [False, True, True, True, True]
    assert {headers.get("Mcp-Session-Id") for headers, _ in mcp_http.seen[1:]} == {"session-42"}


def test_serve_http_unreachable_server_answers_requests_with_errors(mcp_stub):
    definition = {"url": "http://127.0.0.1:9/mcp", "headers": {}}
    ours, thread = connected_pair(mcp_stub, mcp_stub.sidecar.serve_http, definition, {})

    answer = exchange(ours, b'{"jsonrpc": "2.0", "id": "a", "method": "initialize"}\nnot json\n')
    thread.join(timeout=10)

    (line,) = answer.splitlines()
    assert json.loads(line)["id"] == "a"
    assert json.loads(line)["error"]["message"].startswith("sidecar: ")


def relay_process(name: str, socket_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(STUB_PATH), "mcp-relay", name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "CODING_AGENTS_MCP_DIR": str(socket_dir)})


def test_mcp_relay_relays_stdin_and_stdout_to_the_sidecar_socket(bridge_dir):
    class Upper(socketserver.StreamRequestHandler):
        def handle(self):
            data = self.rfile.read()  # until the relay half-closes
            self.server.received.append(data)
            self.wfile.write(data.upper())

    server = socketserver.UnixStreamServer(str(bridge_dir / "keyed.sock"), Upper)
    server.received = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        relay = relay_process("keyed", bridge_dir)
        out, err = relay.communicate(b'{"id": 1}\n' + bytes(range(256)), timeout=20)
    finally:
        server.shutdown()
        server.server_close()

    assert relay.returncode == 0, err
    assert server.received == [b'{"id": 1}\n' + bytes(range(256))]
    assert out == (b'{"id": 1}\n' + bytes(range(256))).upper()


def test_mcp_relay_without_the_sidecar_gives_up(mcp_stub, capsys):
    assert mcp_stub.bridges.mcp_relay("keyed", timeout=0) == 1

    assert capsys.readouterr().err.startswith("ca-stub: the MCP sidecar does not serve keyed (")


def test_main_mcp_relay_needs_a_name(stub_module, capsys):
    assert stub_module.cli.main(["mcp-relay"]) == 2


def test_mcp_sidecar_serves_each_server_after_redeeming_its_capability(mcp_stub, monkeypatch, capsys, host_socket,
                                                                        bridge_dir):
    broker_answers(host_socket, {"cap-echo": {"secrets": {"API_KEY": "sk-1"}}})
    spec = {"servers": {"echo": echo_definition(), "stale": echo_definition(name="stale")},
            "capabilities": {"echo": "cap-echo", "stale": "cap-old"}}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(spec)))
    assert mcp_stub.sidecar.mcp_receive() == 0
    capsys.readouterr()
    handlers, seen = {}, {}

    def client_then_stop(_seconds):
        """The sidecar's main loop: play the agent's relays once, then SIGTERM."""
        if not seen:
            seen["modes"] = {name: mode_of(bridge_dir / f"{name}.sock") for name in ("echo", "stale")}
            seen["spec_left"] = os.path.exists(mcp_stub.paths.MCP_SPEC)
            with socket.socket(socket.AF_UNIX) as connection:
                connection.connect(str(bridge_dir / "echo.sock"))
                seen["echo"] = exchange(connection, b"hello\n")
            with socket.socket(socket.AF_UNIX) as connection:
                connection.connect(str(bridge_dir / "stale.sock"))
                connection.settimeout(10)
                seen["stale"] = connection.makefile("rb").read()
        handlers[signal.SIGTERM]()

    patch_everywhere(monkeypatch, mcp_stub, "signal", SimpleNamespace(
        SIGTERM=signal.SIGTERM, signal=lambda number, handler: handlers.__setitem__(number, handler)))
    patch_everywhere(monkeypatch, mcp_stub, "time", SimpleNamespace(sleep=client_then_stop, monotonic=time.monotonic))

    assert mcp_stub.sidecar.mcp_sidecar() == 0

    assert seen["modes"] == {"echo": 0o600, "stale": 0o600}
    assert seen["spec_left"] is False  # the capabilities live in the process only
    assert json.loads(seen["echo"])["token"] == "Bearer sk-1"
    assert seen["stale"] == b""  # refused: closed without a server
    out, err = capsys.readouterr()
    assert out.splitlines() == ["ca-stub: MCP sidecar ready: echo, stale", "ca-stub: serving echo"]
    assert err == "ca-stub: the broker refused stale: refused: not a capability this broker issued\n"


def test_mcp_sidecar_without_servers_gives_up(mcp_stub, monkeypatch, capsys):
    clock = iter(range(0, 1000, 60))
    patch_everywhere(monkeypatch, mcp_stub, "time", SimpleNamespace(sleep=lambda _: None, monotonic=lambda: next(clock)))

    assert mcp_stub.sidecar.mcp_sidecar() == 1

    assert capsys.readouterr().err == "ca-stub: no MCP servers arrived from the host\n"
