"""`run-agent`: start an agent in a throwaway container and attach to it (removed when the agent exits)."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "start an agent in a throwaway container and attach to it (removed when the agent exits)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("run-agent", parents=[common], help=HELP, description=HELP + ".")
    _session_args.add_agent_argument(parser)
    _session_args.add_session_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import catalog

    catalog.get_agent(args.agent)  # an unknown agent is still a clear error
    return _session_args.refuse_not_implemented("run-agent")
