"""`_collect` (internal): copy a squid session's proxy decisions to the host log while it lives."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_collect", parents=[common])
    parser.add_argument("name", help="the session whose proxy log to copy")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.session import daemons

    return daemons.collect_while_alive(args.name)
