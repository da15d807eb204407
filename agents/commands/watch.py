"""`_watch NAME` (internal): run [sessions] notify and the bell when a session waits or ends."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_watch", parents=[common])
    parser.add_argument("name", help="the session to watch")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.session import activity

    return activity.watch(args.name)
