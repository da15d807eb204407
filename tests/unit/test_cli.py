"""agents/cli.py: wiring of every command and shim name, help, errors and exit codes."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from agents import __version__, cli
from agents.commands import (
    bridge,
    bridge_handle,
    broker_daemon,
    code,
    collect,
    connect,
    doctor,
    inspect_command,
    launch,
    list_agents,
    logs,
    mcp_command,
    policy,
    reap,
    remove,
    run_agent,
    secrets_command,
    sync,
)
from agents.commands import images as images_command
from agents.errors import AgentsError

REPO_ROOT = Path(__file__).resolve().parents[2]

# argv -> (command module, handler attribute) that must receive it.
COMMAND_HANDLERS = [
    (["run-agent", "claude"], run_agent, "run"),
    (["launch-agent", "codex"], launch, "run"),
    (["connect-agent"], connect, "run"),
    (["list-agents"], list_agents, "run"),
    (["remove-agent", "claude-repo-main"], remove, "run"),
    (["sync", "claude-repo-main"], sync, "run"),
    (["logs", "claude-repo-main", "--network"], logs, "run"),
    (["policy", "suggest", "claude-repo-main"], policy, "run_suggest"),
    (["_reap", "claude-repo-main"], reap, "run"),
    (["code", "claude-repo-main"], code, "run"),
    (["_collect", "claude-repo-main"], collect, "run"),
    (["_bridge", "claude-repo-main"], bridge, "run"),
    (["_bridge-handle", "logins", "claude-repo-main"], bridge_handle, "run"),
    (["_broker"], broker_daemon, "run"),
    (["inspect", "claude-repo-main"], inspect_command, "run"),
    (["mcp", "list"], mcp_command, "run_list"),
    (["mcp", "show", "github"], mcp_command, "run_show"),
    (["mcp", "approve", "tool"], mcp_command, "run_approve"),
    (["mcp", "revoke", "tool"], mcp_command, "run_revoke"),
    (["secrets", "set", "GITHUB_TOKEN"], secrets_command, "run_set"),
    (["secrets", "list"], secrets_command, "run_list"),
    (["secrets", "rm", "GITHUB_TOKEN"], secrets_command, "run_remove"),
    (["doctor"], doctor, "run"),
    (["verify-prerequisites"], doctor, "run"),
    (["images"], images_command, "_missing_verb"),
    (["images", "build", "claude"], images_command, "run_build"),
    (["images", "list"], images_command, "run_list"),
    (["images", "bootstrap-base"], images_command, "run_bootstrap"),
    (["images", "export", "images.tar"], images_command, "run_export"),
    (["images", "import", "images.tar"], images_command, "run_import"),
    (["images", "scan"], images_command, "run_scan"),
]

# Aliases print their canonical command's usage.
ALIASES = {"verify-prerequisites": "doctor"}

# Extra arguments a shim needs so its expanded argv parses.
SHIM_ARGS = {"run-agent": ["gemini"], "launch-agent": ["codex"], "remove-agent": ["claude-repo-main"]}


def handler_key(module, attr: str) -> str:
    return f"{module.__name__}.{attr}"


@pytest.fixture
def handlers(monkeypatch):
    """Replace every command handler with a recorder; returns the list of (handler, args) calls."""
    calls: list[tuple[str, object]] = []
    for _, module, attr in COMMAND_HANDLERS:
        key = handler_key(module, attr)

        def record(args, key=key):
            calls.append((key, args))
            return 0

        monkeypatch.setattr(module, attr, record)
    return calls


def subcommand_names(parser: argparse.ArgumentParser) -> set[str]:
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return set(actions[0].choices) if actions else set()


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return action.choices[name]


def run_help(capsys, argv: list[str], prog: str = "coding-agents") -> str:
    with pytest.raises(SystemExit) as caught:
        cli.main([*argv, "--help"], prog=prog)
    assert caught.value.code == 0
    return capsys.readouterr().out


# --- wiring -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "module", "attr"), COMMAND_HANDLERS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_main_dispatches_command_to_its_handler(handlers, argv, module, attr):
    assert cli.main(argv, prog="coding-agents") == 0

    assert [key for key, _ in handlers] == [handler_key(module, attr)]


def test_main_every_parser_command_is_covered():
    parser = cli.build_parser()

    assert subcommand_names(parser) == {argv[0] for argv, _, _ in COMMAND_HANDLERS}
    for command in ("images", "policy"):
        assert subcommand_names(subparser(parser, command)) == {
            argv[1] for argv, _, _ in COMMAND_HANDLERS if len(argv) > 1 and argv[0] == command
        }


@pytest.mark.parametrize(("shim", "prefix"), cli.SHIM_COMMANDS.items(), ids=list(cli.SHIM_COMMANDS))
def test_main_dispatches_shim_name(handlers, shim, prefix):
    extra = SHIM_ARGS.get(shim, [])
    module = {argv[0]: module for argv, module, _ in COMMAND_HANDLERS}[prefix[0]]

    assert cli.main(extra, prog=shim) == 0

    assert [key for key, _ in handlers] == [handler_key(module, "run")]
    args = handlers[0][1]
    if len(prefix) > 1:
        assert args.agent == prefix[1]


def test_main_shim_passes_options_through(handlers):
    assert cli.main(["../repo", "--branch", "fix-1", "--prompt", "two words"], prog="run-claude") == 0

    args = handlers[0][1]
    assert (args.agent, args.path, args.branch, args.prompt) == ("claude", "../repo", "fix-1", "two words")


def test_entry_dispatches_on_argv0(handlers, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/list-agents", "--all"])

    with pytest.raises(SystemExit) as caught:
        cli.entry()

    assert caught.value.code == 0
    assert handlers[0][0] == handler_key(list_agents, "run")
    assert handlers[0][1].all is True


def test_main_without_command_prints_help_and_returns_2(capsys):
    assert cli.main([], prog="coding-agents") == 2

    assert "usage: coding-agents" in capsys.readouterr().err


def test_main_images_without_verb_prints_help_and_returns_2(capsys):
    assert cli.main(["images"], prog="coding-agents") == 2

    assert "usage: coding-agents images" in capsys.readouterr().out


def test_main_policy_without_verb_prints_help_and_returns_2(capsys):
    assert cli.main(["policy"], prog="coding-agents") == 2

    assert "usage: coding-agents policy" in capsys.readouterr().out


def test_main_internal_commands_are_hidden_from_top_level_help(capsys):
    out = run_help(capsys, [])

    assert "_collect" not in out and "_reap" not in out


def test_main_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["run-agent", "claude", "--network-proxy", "open"], prog="coding-agents")

    assert caught.value.code == 2
    assert "invalid choice: 'open'" in capsys.readouterr().err


# --- help and version -------------------------------------------------------------------


def all_command_words() -> list[list[str]]:
    parser = cli.build_parser()
    words = [[name] for name in sorted(subcommand_names(parser))]
    for command in ("images", "policy"):
        words += [[command, verb] for verb in sorted(subcommand_names(subparser(parser, command)))]
    return words


@pytest.mark.parametrize("words", all_command_words(), ids=lambda words: " ".join(words))
def test_main_help_on_every_command(capsys, words):
    out = run_help(capsys, words)
    shown = [ALIASES.get(word, word) for word in words]

    assert out.startswith(f"usage: coding-agents {' '.join(shown)}")
    assert "--debug" in out


def test_main_top_level_help_lists_every_command(capsys):
    out = run_help(capsys, [])

    for name in (
        "run-agent",
        "launch-agent",
        "connect-agent",
        "list-agents",
        "remove-agent",
        "sync",
        "logs",
        "policy",
        "images",
        "doctor",
    ):
        assert name in out


def test_main_version(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"], prog="coding-agents")

    assert caught.value.code == 0
    assert capsys.readouterr().out == f"coding-agents {__version__}\n"
    assert __version__ == "0.1.0"


def test_main_shim_help_shows_run_agent_usage(capsys):
    out = run_help(capsys, [], prog="run-claude")

    assert out.startswith("usage: coding-agents run-agent")
    assert "--use-current-branch" in out


def test_main_module_runs_cli_main():
    done = subprocess.run(
        [sys.executable, "-m", "agents", "--version"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )

    assert done.returncode == 0
    assert done.stdout == f"coding-agents {__version__}\n"


# --- program names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("/home/me/bin/coding-agents.pyz", "coding-agents"),
        ("run-claude.py", "run-claude"),
        ("coding-agents.pex", "coding-agents"),
        ("C:/tools/run-codex.exe", "run-codex"),
        ("/usr/bin/list-agents", "list-agents"),
        (None, "coding-agents"),
        ("", "coding-agents"),
    ],
)
def test_program_name_strips_path_and_suffix(argv0, expected):
    assert cli.program_name(argv0) == expected


def test_expand_shim_prefixes_known_names_only():
    assert cli.expand_shim("run-codex", ["-y"]) == ["run-agent", "codex", "-y"]
    assert cli.expand_shim("coding-agents", ["doctor"]) == ["doctor"]


def test_invoked_name_uses_argv0(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/opt/bin/remove-agent.pyz"])

    assert cli.invoked_name() == "remove-agent"


def test_invoked_name_honours_coding_agents_prog(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/opt/coding-agents.pyz"])
    monkeypatch.setenv("CODING_AGENTS_PROG", "/somewhere/run-codex")

    assert cli.invoked_name() == "run-codex"


@pytest.fixture
def pex_zipapp(tmp_path, monkeypatch):
    """A stand-in zipapp; pex's --sh-boot launcher puts its real path in argv[0] and $PEX."""
    zipapp_path = tmp_path / "coding-agents.pyz"
    zipapp_path.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(zipapp_path)])
    monkeypatch.setenv("PEX", str(zipapp_path))
    return zipapp_path


def test_invoked_name_trusts_underscore_linked_to_pex(pex_zipapp, tmp_path, monkeypatch):
    link_path = tmp_path / "bin" / "run-claude"
    link_path.parent.mkdir()
    link_path.symlink_to(pex_zipapp)
    monkeypatch.setenv("_", str(link_path))

    assert cli.invoked_name() == "run-claude"


def test_invoked_name_ignores_underscore_linked_elsewhere(pex_zipapp, tmp_path, monkeypatch):
    other_path = tmp_path / "other-program"
    other_path.write_text("#!/bin/sh\n")
    link_path = tmp_path / "run-claude"
    link_path.symlink_to(other_path)
    monkeypatch.setenv("_", str(link_path))

    assert cli.invoked_name() == "coding-agents"


def test_invoked_name_ignores_underscore_that_is_not_a_shim(pex_zipapp, tmp_path, monkeypatch):
    link_path = tmp_path / "my-alias"
    link_path.symlink_to(pex_zipapp)
    monkeypatch.setenv("_", str(link_path))

    assert cli.invoked_name() == "coding-agents"


def test_invoked_name_ignores_underscore_without_pex(pex_zipapp, tmp_path, monkeypatch):
    link_path = tmp_path / "run-claude"
    link_path.symlink_to(pex_zipapp)
    monkeypatch.setenv("_", str(link_path))
    monkeypatch.delenv("PEX")

    assert cli.invoked_name() == "coding-agents"


# --- errors and exit codes --------------------------------------------------------------


def raise_in_doctor(monkeypatch, error: BaseException) -> None:
    def explode(args):
        raise error

    monkeypatch.setattr(doctor, "run", explode)


def test_main_agents_error_prints_error_and_hint_without_traceback(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, AgentsError("the engine is on fire", hint="call the fire brigade", exit_code=4))

    assert cli.main(["doctor"], prog="coding-agents") == 4

    captured = capsys.readouterr()
    assert captured.err == "error: the engine is on fire\nhint: call the fire brigade\n"
    assert captured.out == ""


def test_main_agents_error_without_hint_prints_one_line(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, AgentsError("plain failure"))

    assert cli.main(["doctor"], prog="coding-agents") == 1
    assert capsys.readouterr().err == "error: plain failure\n"


@pytest.mark.parametrize("argv", [["doctor", "--debug"], ["--debug", "doctor"]], ids=["after", "before"])
def test_main_debug_shows_traceback_for_agents_error(monkeypatch, capsys, argv):
    raise_in_doctor(monkeypatch, AgentsError("the engine is on fire", hint="call the fire brigade"))

    assert cli.main(argv, prog="coding-agents") == 1

    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("error: the engine is on fire\nhint: call the fire brigade\n")


def test_main_unexpected_exception_is_exit_3_internal_error(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, RuntimeError("kaput"))

    assert cli.main(["doctor"], prog="coding-agents") == 3

    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: internal error: RuntimeError: kaput"
    assert "--debug" in err.splitlines()[1]
    assert "Traceback" not in err


def test_main_unexpected_exception_with_debug_shows_traceback(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, KeyError("missing"))

    assert cli.main(["doctor", "--debug"], prog="coding-agents") == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_main_ctrl_c_is_exit_130(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, KeyboardInterrupt())

    assert cli.main(["doctor"], prog="coding-agents") == 130
    assert capsys.readouterr().err == "\ninterrupted\n"


def test_main_broken_pipe_is_exit_1_quietly(monkeypatch):
    raise_in_doctor(monkeypatch, BrokenPipeError())
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)

    assert cli.main(["doctor"], prog="coding-agents") == 1
    assert stderr.closed


@pytest.mark.parametrize("command", ["launch-agent", "run-agent"])
def test_main_unknown_agent_is_clear_error(capsys, command):
    assert cli.main([command, "clippy"], prog="coding-agents") == 1

    err = capsys.readouterr().err
    assert err == "error: unknown agent 'clippy'\nhint: choose one of: copilot, codex, claude, gemini, shell\n"


def test_main_unknown_agent_through_shim(capsys):
    assert cli.main(["clippy"], prog="run-agent") == 1
    assert "error: unknown agent 'clippy'" in capsys.readouterr().err

