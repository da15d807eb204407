"""The command line's parser: argparse, with our refusals, and only the module of the command run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agents import __version__
from agents.cli import PROG
from agents.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but its mistakes are ours: `error:` plus `hint:` and exit 2 (a UsageError), an
    empty value is refused rather than taken for "not given", and internal commands stay unlisted."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise UsageError(message, hint=f"`{self.prog} --help` shows what it takes")

    def _get_value(self, action: argparse.Action, arg_string: str):
        # `--branch ''` would otherwise mean "no --branch" wherever the code tests the value's truth.
        if isinstance(arg_string, str) and not arg_string.strip() and action.option_strings:
            option = "/".join(action.option_strings)
            raise UsageError(f"{option} needs a value, not an empty string",
                             hint=f"leave out {action.option_strings[0]} for its default; `{self.prog} --help`")
        if isinstance(arg_string, str) and not arg_string.strip() and not action.choices \
                and action.nargs != argparse.REMAINDER:  # `_complete -- run-claude ''`: completing an empty word
            raise UsageError(f"{action.metavar or action.dest} must not be empty",
                             hint=f"`{self.prog} --help` says what {action.metavar or action.dest} is")
        return super()._get_value(action, arg_string)

    def _check_value(self, action: argparse.Action, value) -> None:
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            public = ", ".join(name for name in action.choices if not name.startswith("_"))
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {public})")
        super()._check_value(action, value)


def build_parser(args: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; or, given the arguments of a run naming a known command, the parser with
    only that command (only its module is imported: a run starts faster)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="log every command run; show tracebacks"
    )
    parser = Parser(
        prog=PROG,
        description="Run AI coding agents (Copilot, Codex, Claude Code, Gemini) in hardened Docker "
        "containers, each on its own git branch.",
        epilog="Run `coding-agents COMMAND --help` for a command's options. Docs: docs/ in the source tree.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="log every command run; show tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", help="what to do (each has its own --help)")
    from agents.commands import ALIASES, COMMANDS, command_module  # here: main's Ctrl-C handling covers the imports

    # Top-level options take no value, so the first word that is not one is the command.
    named = next((word for word in args or () if not word.startswith("-")), None)
    named = ALIASES.get(named, named)
    for name in [named] if named in COMMANDS else COMMANDS:
        command_module(name).add_parser(subparsers, common)
    return parser
