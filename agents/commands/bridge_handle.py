"""`_bridge-handle` (internal): answer one request that socat hands over on stdin/stdout."""

from __future__ import annotations

import argparse

KINDS = ("logins", "git-credential", "sign")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_bridge-handle", parents=[common])
    parser.add_argument("kind", choices=KINDS, help="which socket the request came in on")
    parser.add_argument("name", help="the session it is for")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from agents import bridges

    settings = bridges.load_settings(args.name)
    request = sys.stdin.buffer.read(16 * 1024 * 1024)  # a login file or a commit: far below this
    if args.kind == "git-credential":
        from agents import credentials

        sys.stdout.write(credentials.answer(settings, request.decode("utf-8", "replace")))
    elif args.kind == "sign":
        from agents import signing

        sys.stdout.write(json.dumps(signing.sign(settings, json.loads(request))))
    else:
        from agents import logins

        sys.stdout.write(logins.accept_returned(settings, json.loads(request)) + "\n")
    return 0
