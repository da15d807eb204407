"""`coding-agents policy suggest`: an allowlist from what a session was seen doing."""

from __future__ import annotations

import argparse

HELP = "turn a session's recorded requests (e.g. from --learn) into an allowlist for config"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("policy", parents=[common], help=HELP, description=HELP + ".")
    verbs = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])
    suggest = verbs.add_parser(
        "suggest",
        parents=[common],
        help="print the minimal allowlist that would pass every request the session made",
        description="Print, as a [network] snippet for ~/.config/coding-agents/config.toml, the "
        "exact hosts a session contacted (run it with --network-proxy squid --learn first).",
    )
    suggest.add_argument("name", metavar="NAME", help="session name (its network log is kept after removal)")
    suggest.set_defaults(handler=run_suggest)


def run_suggest(args: argparse.Namespace) -> int:
    import json

    from agents import launcher, netlog, network
    from agents.errors import AgentsError

    if any(info.name == args.name for info in launcher.find_sessions()):
        netlog.collect(args.name)
    seen = netlog.decisions(args.name)
    if not seen:
        raise AgentsError(
            f"no requests recorded for {args.name!r}",
            hint="run the agent with --network-proxy squid --learn, use it, then ask again",
        )
    rules = network.suggest_allowlist(seen)
    print(f"# {len(seen)} requests seen by {args.name}; add to ~/.config/coding-agents/config.toml")
    print("[network]")
    print("allow = [" + ", ".join(json.dumps(rule) for rule in rules) + "]")
    return 0
