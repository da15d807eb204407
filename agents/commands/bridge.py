"""`_bridge` (internal): serve a session's host-side sockets (logins, git credentials, signing,
ssh-agent) and its relay links while it exists. See agents/bridges.py and agents/relay.py."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_bridge", parents=[common])
    parser.add_argument("name", help="the session whose host sockets to serve")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import bridges
    from agents.session import services

    return bridges.serve(args.name, on_new_run=services.resume_after_restart)
