"""`list-agents`: list agent containers with branch, state and unsynced commits."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "list agent containers with branch, state and unsynced commits"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("list-agents", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--all", action="store_true", help="include stopped containers")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return _session_args.refuse_not_implemented("list-agents")
