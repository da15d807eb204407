"""`_complete` (internal): the words that may come next, for the shell completion in shell/completion/."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("_complete", parents=[common])
    parser.add_argument("words", nargs=argparse.REMAINDER,
                        help="-- then the command line so far, program name first; the last word is being completed")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import cli, completion

    words = args.words[1:] if args.words[:1] == ["--"] else args.words
    found = completion.candidates(cli.build_parser(), words, completion.session_names, completion.agent_names,
                                  completion.secret_names)
    for word in found:
        print(word)
    return 0
