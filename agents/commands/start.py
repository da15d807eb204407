"""`coding-agents start`: start a stopped session again, without attaching."""

from __future__ import annotations

import argparse

HELP = "start a stopped session again (workspace, home and branch as they were) without attaching"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "start",
        parents=[common],
        help=HELP,
        description=HELP + ". Its proxy, logins, bridges and MCP sidecar come back as after "
        "connect-agent; the agent starts afresh on the same workspace.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.session import lifecycle, query

    lifecycle.start(query.get_session(args.name))
    return 0
