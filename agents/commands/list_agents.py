"""`list-agents`: the agent sessions, with branch, state and unsynced commits."""

from __future__ import annotations

import argparse

HELP = "list agent sessions: name, agent, repo, branch, state, network, age, unsynced commits"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("list-agents", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--all", action="store_true", help="include stopped sessions")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import launcher
    from agents.output import print_json, print_table

    infos = launcher.find_sessions(include_stopped=args.all)
    rows = launcher.session_rows(infos)
    if args.json:
        print_json(rows)
    elif not rows:
        print("no agent sessions" + ("" if args.all else " running (--all shows stopped ones)"))
    else:
        print_table(rows, ["name", "agent", "branch", "state", "network", "age", "unsynced", "denied", "repo"])
    return 0
