"""`connect-agent`: reattach to a running agent's tmux session."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "reattach to a running agent's tmux session"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("connect-agent", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("name", nargs="?", metavar="NAME", help="container name (default: the only running one)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return _session_args.refuse_not_implemented("connect-agent")
