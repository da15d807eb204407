"""`_reap` (internal): wait for an ephemeral session's agent to exit, then sync and remove it."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_reap", parents=[common])
    parser.add_argument("name", help="the session to wait for")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.config import load_config
    from agents.session import finish

    return finish.reap(args.name, auto_commit=load_config().sessions.auto_commit)
