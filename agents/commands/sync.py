"""`sync`: bring an agent's branch into the host repo now (fast-forward only)."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "bring an agent's branch into the host repo now (fast-forward only)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("sync", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("name", metavar="NAME", help="container name (see list-agents)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return _session_args.refuse_not_implemented("sync")
