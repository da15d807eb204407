"""`remove-agent`: stop and remove an agent container after syncing its branch home."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "stop and remove an agent container after syncing its branch home"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("remove-agent", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("name", metavar="NAME", help="container name (see list-agents)")
    parser.add_argument("--no-push", action="store_true", help="do not sync the branch back first")
    parser.add_argument("--keep-branch", action="store_true", help="keep the agent branch in the host repo")
    parser.add_argument("-y", "--yes", action="store_true", help="answer yes to confirmations")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return _session_args.refuse_not_implemented("remove-agent")
