"""`_broker` (internal): the secret broker daemon (see agents/broker.py); started on demand."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_broker", parents=[common])
    parser.add_argument("name", nargs="?", help=argparse.SUPPRESS)  # spawn_internal passes one
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import broker

    return broker.serve()
