"""`coding-agents sync`: bring an agent's branch into the host repo now."""

from __future__ import annotations

import argparse

HELP = "bring an agent's branch into the host repo now (fast-forward only; the agent keeps running)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "sync",
        parents=[common],
        help=HELP,
        description=HELP + ". If the host branch has moved, the agent's commits are kept as "
        "<branch>-<timestamp>; no host commit is ever overwritten. Works on stopped sessions too.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.session import finish, query

    outcome = finish.sync(query.get_session(args.name))
    print(f"{outcome.status} {outcome.branch} {outcome.tip[:10]}".rstrip())
    return 0
