"""`coding-agents stop`: stop a session's containers, keeping its workspace, home and branch."""

from __future__ import annotations

import argparse

HELP = "stop a session (its agent, proxy and MCP sidecar), keeping everything; `start` resumes it"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "stop",
        parents=[common],
        help=HELP,
        description=HELP + ". The agent's uncommitted work is auto-committed as it stops (as on "
        "docker stop); the workspace and home volumes, the branch and the session's settings stay. "
        "A stopped session uses no memory or CPU.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.session import lifecycle, query

    lifecycle.stop(query.get_session(args.name))
    return 0
