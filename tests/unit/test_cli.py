"""agents/cli.py: wiring of every command and shim name, help, errors and exit codes."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from agents import __version__, catalog, cli
from agents.commands import (
    bridge,
    bridge_handle,
    broker_daemon,
    code,
    collect,
    complete,
    connect,
    diff_command,
    doctor,
    history_command,
    inspect_command,
    land_command,
    launch,
    list_agents,
    logs,
    mcp_command,
    policy,
    prune,
    reap,
    remove,
    run_agent,
    secrets_command,
    start,
    stop,
    sync,
    watch,
)
from agents.commands import images as images_command
from agents.config import load_config
from agents.errors import AgentsError, UsageError
from tests.unit.probes import fresh_python

REPO_ROOT = Path(__file__).resolve().parents[2]

# argv -> (command module, handler attribute) that must receive it.
COMMAND_HANDLERS = [
    (["run-agent", "claude"], run_agent, "run"),
    (["launch-agent", "codex"], launch, "run"),
    (["connect-agent"], connect, "run"),
    (["list-agents"], list_agents, "run"),
    (["remove-agent", "claude-repo-main"], remove, "run"),
    (["sync", "claude-repo-main"], sync, "run"),
    (["stop", "claude-repo-main"], stop, "run"),
    (["start", "claude-repo-main"], start, "run"),
    (["diff", "claude-repo-main", "--stat"], diff_command, "run"),
    (["land", "claude-repo-main", "--test", "make test", "--squash"], land_command, "run"),
    (["land", "--all", "--onto", "main"], land_command, "run"),
    (["prune", "--yes"], prune, "run"),
    (["logs", "claude-repo-main", "--network"], logs, "run"),
    (["policy", "suggest", "claude-repo-main"], policy, "run_suggest"),
    (["_reap", "claude-repo-main"], reap, "run"),
    (["code", "claude-repo-main"], code, "run"),
    (["_collect", "claude-repo-main"], collect, "run"),
    (["_watch", "claude-repo-main"], watch, "run"),
    (["_bridge", "claude-repo-main"], bridge, "run"),
    (["_bridge-handle", "logins", "claude-repo-main"], bridge_handle, "run"),
    (["_broker"], broker_daemon, "run"),
    (["_complete", "--", "coding-agents", ""], complete, "run"),
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
    (["history", "export", "claude-repo-main", "h.tar.gz"], history_command, "run_export"),
    (["history", "import", "h.tar.gz"], history_command, "run_import"),
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


def test_the_command_table_names_what_each_module_registers_in_help_order():
    from agents.commands import ALIASES, COMMANDS, command_module

    for name in COMMANDS:
        alone = cli.build_parser([name])
        # The module registers the name it is listed under (and its aliases, listed too).
        assert subcommand_names_in_order(alone) == [name, *(alias for alias, to in ALIASES.items() if to == name)]
        assert hasattr(command_module(name), "add_parser")
    assert [name for name in subcommand_names_in_order(cli.build_parser()) if name not in ALIASES] == list(COMMANDS)
    assert subcommand_names_in_order(cli.build_parser(["verify-prerequisites"]))[0] == "doctor"


def test_a_run_imports_only_its_own_command_module():
    probe = ("import sys; from agents import cli; cli.build_parser(['--debug', 'connect-agent', 'x']); "
             "print(sorted(m for m in sys.modules if m.startswith('agents.commands.')))")
    assert fresh_python(probe) == "['agents.commands.connect']"


def test_connect_agent_name_execs_its_attach_before_argparse_or_logging_is_imported():
    probe = ("import sys; from agents.commands import connect; seen = {}\n"
             "def fake(name):\n"
             "    seen.update(name=name, loaded=[m for m in ('argparse', 'logging') if m in sys.modules])\n"
             "    return 0, False\n"
             "connect.fast_attach = fake\n"
             "from agents import cli; print(cli.main(['connect-agent', 's'], prog='coding-agents'), seen)")
    assert fresh_python(probe) == "0 {'name': 's', 'loaded': []}"


def test_connect_agents_fast_attach_argv_needs_neither_runner_nor_dataclasses():
    """The engine's program comes from agents/engine_program.py alone on the fast path."""
    probe = ("import os, sys; os.environ['CODING_AGENTS_ENGINE'] = 'podman'\n"
             "from agents.commands import connect\n"
             "argv = connect.fast_attach_argv('s')\n"
             "print(argv[:2], [m for m in ('agents.runner', 'agents.engine', 'dataclasses', 'argparse', 're', 'pathlib',"
             " 'shutil') if m in sys.modules])")
    assert fresh_python(probe) == "['podman', 'exec'] []"


def test_list_agents_with_plain_flags_lists_before_argparse_is_imported():
    probe = ("import sys; from agents.commands import list_agents; seen = []\n"
             "def fake(args):\n"
             "    seen.append((args.json, args.all, [m for m in ('argparse', 'logging') if m in sys.modules]))\n"
             "    return 0\n"
             "list_agents.run = fake\n"
             "from agents import cli\n"
             "print(cli.main(['list-agents'], prog='coding-agents'), cli.main(['--all', '--json'], prog='list-agents'), seen)")
    assert fresh_python(probe) == "0 0 [(False, False, []), (True, True, [])]"


@pytest.mark.parametrize("words", [["--help"], ["--json", "--json"], ["--bogus"], ["extra"], ["--json", ""]])
def test_list_agents_leaves_anything_but_its_plain_flags_to_the_parser(words):
    from agents.commands import list_agents

    assert list_agents.plain_options(words) is None
    assert list_agents.plain_options(["--debug", "--all"]).all is True


def test_list_agents_mistakes_still_get_the_parsers_refusal(capsys):
    assert cli.main(["list-agents", "--bogus"], prog="coding-agents") == 2
    err = capsys.readouterr().err
    assert "error: unrecognized arguments: --bogus" in err and "hint:" in err


def test_main_every_parser_command_is_covered():
    parser = cli.build_parser()

    assert subcommand_names(parser) == {argv[0] for argv, _, _ in COMMAND_HANDLERS}
    for command in ("images", "policy"):
        assert subcommand_names(subparser(parser, command)) == {
            argv[1] for argv, _, _ in COMMAND_HANDLERS if len(argv) > 1 and argv[0] == command
        }


@pytest.mark.parametrize("shim", cli.shim_names())
def test_main_dispatches_shim_name(handlers, shim):
    prefix = cli.shim_prefix(shim)
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


@pytest.fixture(autouse=True)
def sigint_kept():
    """entry() ignores SIGINT once main has returned: not in the test process afterwards."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_entry_ignores_a_ctrl_c_once_the_command_is_done():
    # A SIGINT at the very end (here: while Python exits) must not turn a finished command's
    # status into a death by signal, nor print a traceback.
    script = ("import atexit, os, signal; from agents import cli; cli.main = lambda: 0; "
              "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT)); cli.entry()")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)

    assert (done.returncode, done.stderr) == (0, "")


def test_entry_dispatches_on_argv0(handlers, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/list-agents", "--all"])

    with pytest.raises(SystemExit) as caught:
        cli.entry()

    assert caught.value.code == 0
    assert handlers[0][0] == handler_key(list_agents, "run")
    assert handlers[0][1].all is True


def test_entry_after_ctrl_c_leaves_with_130_directly(monkeypatch):
    # CPython 3.11 would otherwise end the process by SIGINT when the interrupt passed through exec().
    monkeypatch.setattr(cli, "main", lambda: 130)
    left = []
    monkeypatch.setattr(cli.os, "_exit", left.append)

    with pytest.raises(SystemExit):  # only because the faked os._exit returns
        cli.entry()

    assert left == [130]


@pytest.mark.parametrize("words", [[], ["images"], ["policy"], ["mcp"], ["secrets"]],
                         ids=["top-level", "images", "policy", "mcp", "secrets"])
def test_main_without_a_verb_prints_the_same_help_as_dash_h_to_stdout(capsys, words):
    dash_h = run_help(capsys, words)

    assert cli.main(words, prog="coding-agents") == 0

    captured = capsys.readouterr()
    assert captured.out == dash_h
    assert captured.out.startswith(" ".join(["usage: coding-agents", *words]))
    assert captured.err == ""


def test_main_internal_commands_are_hidden_from_top_level_help(capsys):
    out = run_help(capsys, [])

    assert "_collect" not in out and "_reap" not in out


def test_main_usage_error_exits_2_with_error_and_hint(capsys):
    assert cli.main(["run-agent", "claude", "--network-proxy", "open"], prog="coding-agents") == 2

    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("usage: coding-agents run-agent")
    assert lines[-2].startswith("error: argument --network-proxy: invalid choice: 'open' (choose from ")
    assert all(mode in lines[-2] for mode in ("restricted", "squid", "allow-all"))
    assert lines[-1] == "hint: `coding-agents run-agent --help` shows what it takes"


def test_main_unknown_command_lists_only_public_commands(capsys):
    assert cli.main(["frobnicate"], prog="coding-agents") == 2

    error = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("error: "))
    assert "invalid choice: 'frobnicate'" in error
    listed = error.split("(choose from ", 1)[1].rstrip(")").split(", ")
    assert listed == [name for name in subcommand_names_in_order(cli.build_parser()) if not name.startswith("_")]
    assert "run-agent" in listed and not any(name.startswith("_") for name in listed)


def test_main_unknown_sub_verb_lists_its_verbs(capsys):
    assert cli.main(["images", "nosuch"], prog="coding-agents") == 2

    assert ("error: argument SUBCOMMAND: invalid choice: 'nosuch' "
            "(choose from build, list, bootstrap-base, export, import, scan)") in capsys.readouterr().err


def test_main_internal_commands_still_parse(handlers):
    assert cli.main(["_reap", "claude-repo-main"], prog="coding-agents") == 0


def test_main_missing_argument_is_usage_error_with_hint(capsys):
    assert cli.main(["logs"], prog="coding-agents") == 2

    err = capsys.readouterr().err
    assert "error: the following arguments are required: NAME\n" in err
    assert err.endswith("hint: `coding-agents logs --help` shows what it takes\n")


def subcommand_names_in_order(parser: argparse.ArgumentParser) -> list[str]:
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return list(action.choices)


def walk_actions(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """Every (command words, action) in the parser tree, internal commands included."""
    for action in parser._actions:
        yield words, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk_actions(sub, (*words, name))


def test_parser_every_argument_and_option_has_help():
    missing = [" ".join(["coding-agents", *words, *(action.option_strings or [action.metavar or action.dest])])
               for words, action in walk_actions(cli.build_parser()) if not action.help]

    assert missing == []


def test_parser_every_public_command_and_sub_verb_has_a_help_line():
    listed, public = set(), set()
    for words, action in walk_actions(cli.build_parser()):
        if isinstance(action, argparse._SubParsersAction):
            public |= {(*words, name) for name in action.choices if not name.startswith("_")}
            listed |= {(*words, choice.dest) for choice in action._choices_actions if choice.help}

    assert public - listed == {("verify-prerequisites",)}  # an alias, listed with doctor


# Every option that takes a value, with a command line it belongs to.
VALUE_OPTIONS = sorted({
    (words, action.option_strings[0])
    for words, action in walk_actions(cli.build_parser())
    if action.option_strings and action.nargs != 0 and not isinstance(action, argparse._HelpAction)
    and not any(word.startswith("_") or word == "verify-prerequisites" for word in words)
})
POSITIONAL_NEEDS = {("run-agent",): ["claude"], ("launch-agent",): ["claude"], ("logs",): ["s"],
                    ("policy", "suggest"): ["s"], ("images", "bootstrap-base"): [], ("images", "build"): []}


@pytest.mark.parametrize(("words", "option"), VALUE_OPTIONS, ids=[" ".join((*w, o)) for w, o in VALUE_OPTIONS])
@pytest.mark.parametrize("empty", ["", "  "], ids=["empty", "blank"])
def test_main_refuses_an_empty_value_for_every_option(handlers, capsys, words, option, empty):
    argv = [*words, *POSITIONAL_NEEDS.get(words, []), option, empty]

    assert cli.main(argv, prog="coding-agents") == 2

    assert handlers == []
    err = capsys.readouterr().err
    assert f"error: {option}" in err and "needs a value, not an empty string" in err
    assert f"hint: leave out {option} for its default" in err


@pytest.mark.parametrize("argv", [["run-agent", ""], ["run-agent", "claude", ""], ["logs", ""], ["sync", " "],
                                  ["secrets", "set", ""], ["images", "build", ""], ["images", "export", ""]],
                         ids=lambda argv: " ".join(argv))
def test_main_refuses_an_empty_argument(handlers, capsys, argv):
    assert cli.main(argv, prog="coding-agents") == 2

    assert handlers == []
    err = capsys.readouterr().err
    assert "must not be empty\n" in err and "\nhint: " in err


@pytest.mark.parametrize(
    ("value_args", "error"),
    [
        (["--cpu", "abc"], "error: --cpu 'abc' is not a number of cores"),
        (["--cpu", "0"], "error: --cpu must be a number of cores from 0.01 up, not 0"),
        (["--cpu", "-3"], "error: --cpu must be a number of cores from 0.01 up, not -3"),
        (["--cpu", "inf"], "error: --cpu must be a number of cores from 0.01 up, not inf"),
        (["--cpu", "nan"], "error: --cpu must be a number of cores from 0.01 up, not nan"),
        (["--memory", "lots"], "error: --memory 'lots' is not a size"),
        (["--memory", "0"], "error: --memory '0' is less than the engine's minimum of 6m"),
        (["--memory", "1k"], "error: --memory '1k' is less than the engine's minimum of 6m"),
        (["--allow-domain", "not a host"], "error: --allow-domain: 'not a host' is not an allowlist rule"),
        (["--allow-host-port", "0"], "error: --allow-host-port: 0 is not a port number"),
        (["--allow-host-port", "http"], "error: --allow-host-port: 'http' is not a port number"),
        (["--branch", "x", "--use-current-branch"],
         "error: argument --use-current-branch: not allowed with argument --branch"),
        (["--autonomy", "yolo"], "error: argument --autonomy: invalid choice: 'yolo'"),
    ],
    ids=["cpu-word", "cpu-zero", "cpu-negative", "cpu-inf", "cpu-nan", "memory-word", "memory-zero", "memory-tiny",
         "allow-domain", "host-port-zero", "host-port-word", "branch-and-current", "autonomy"],
)
@pytest.mark.parametrize("command", ["run-agent", "launch-agent"])
def test_main_bad_session_values_are_usage_errors(handlers, capsys, command, value_args, error):
    assert cli.main([command, "claude", *value_args], prog="coding-agents") == 2

    assert handlers == []
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(error)
    assert lines[lines.index(errors[0]) + 1].startswith("hint: ")


@pytest.mark.parametrize(("text", "normalized"), [("4g", "4g"), ("512m", "512m"), ("1.5g", "1536m"), ("2GiB", "2g"),
                                                  ("4 g", "4g"), ("6m", "6m"), ("1t", "1t"), ("8388608", "8m")])
def test_main_memory_sizes_reach_the_handler_normalized(handlers, text, normalized):
    assert cli.main(["launch-agent", "claude", "--memory", text], prog="coding-agents") == 0

    assert handlers[0][1].memory == normalized


def test_main_session_values_pass_through_as_given(handlers):
    argv = ["run-agent", "claude", "--cpu", "0.5", "--allow-domain", "*.example.com", "--allow-host-port", "11434"]

    assert cli.main(argv, prog="coding-agents") == 0

    args = handlers[0][1]
    assert (args.cpu, args.allow_domain, args.allow_host_port) == (0.5, ["*.example.com"], ["11434"])


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
    assert cli.main(["--version"], prog="coding-agents") == 0

    assert capsys.readouterr().out == f"coding-agents {__version__}\n"
    assert __version__ == "0.1.0"


def test_main_version_imports_no_command_module():
    script = ("import sys; from agents import cli; cli.main(['--version']); "
              "print(sorted(name for name in sys.modules if name.startswith('agents.commands.')))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)

    assert done.stdout.splitlines() == [f"coding-agents {__version__}", "[]"], done.stderr


def test_main_version_with_other_words_goes_through_argparse(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--debug", "--version"], prog="coding-agents")

    assert caught.value.code == 0
    assert capsys.readouterr().out == f"coding-agents {__version__}\n"


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


@pytest.mark.parametrize(("prog", "prefix"), [
    ("run-agent", ["run-agent"]),
    ("list-agents", ["list-agents"]),
    ("run-claude", ["run-agent", "claude"]),
    ("run-my-codex", ["run-agent", "my-codex"]),  # a user's own [agents.my-codex], linked so
    ("run-", None),
    ("run-Claude", None),
    ("sync", None),
    ("doctor", None),
    ("coding-agents", None),
])
def test_shim_prefix_commands_and_any_agent(prog, prefix):
    assert cli.shim_prefix(prog) == prefix


def test_shim_names_are_the_commands_then_every_agent_of_the_table():
    assert cli.shim_names() == [*cli.COMMAND_SHIMS, *(f"run-{agent.name}" for agent in catalog.AGENTS)]
    assert all(cli.shim_prefix(name) for name in cli.shim_names())


def test_main_through_a_link_named_for_a_users_own_agent(handlers, tmp_path, monkeypatch):
    config_path = tmp_path / "config.toml"
    config_path.write_text('[agents.my-codex]\nbase = "codex"\n')
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config_path))

    assert cli.main([], prog="run-my-codex") == 0

    assert handlers[0][1].agent == "my-codex"
    assert catalog.get_agent("my-codex", load_config().agents).base == "codex"


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


def test_main_agents_error_without_hint_gets_the_fallback_hint(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, AgentsError("plain failure"))

    assert cli.main(["doctor"], prog="coding-agents") == 1
    assert capsys.readouterr().err == f"error: plain failure\nhint: {cli.FALLBACK_HINT}\n"


def test_main_usage_error_is_exit_2(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, UsageError("--frob goes with --blah", hint="add --blah"))

    assert cli.main(["doctor"], prog="coding-agents") == 2
    assert capsys.readouterr().err == "error: --frob goes with --blah\nhint: add --blah\n"


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
    assert capsys.readouterr().err == "interrupted\n"  # not a terminal: no line break for an echoed ^C


def test_main_ctrl_c_says_what_was_undone_in_one_line(monkeypatch, capsys):
    raise_in_doctor(monkeypatch, KeyboardInterrupt("the launch of x is undone; nothing of it is left"))

    assert cli.main(["doctor"], prog="coding-agents") == 130
    assert capsys.readouterr().err == "interrupted: the launch of x is undone; nothing of it is left\n"


def test_main_broken_pipe_is_exit_1_quietly(monkeypatch):
    raise_in_doctor(monkeypatch, BrokenPipeError())
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)

    assert cli.main(["doctor"], prog="coding-agents") == 1
    assert stderr.closed


@pytest.mark.parametrize("command", ["launch-agent", "run-agent"])
def test_main_unknown_agent_is_clear_error(capsys, command):
    assert cli.main([command, "clippy"], prog="coding-agents") == 2  # a usage error, like an unknown choice

    err = capsys.readouterr().err
    assert err == "error: unknown agent 'clippy'\nhint: choose one of: copilot, codex, claude, gemini, shell\n"


def test_main_unknown_agent_through_shim(capsys):
    assert cli.main(["clippy"], prog="run-agent") == 2
    assert "error: unknown agent 'clippy'" in capsys.readouterr().err

