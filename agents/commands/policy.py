"""`coding-agents policy suggest`: an allowlist from what a session was seen doing."""

from __future__ import annotations

import argparse

HELP = "turn a session's recorded requests (e.g. from --learn) into an allowlist for config"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("policy", parents=[common], help=HELP, description=HELP + ".")
    verbs = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", help="what to do")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 0)[1])  # like --help, as the top level does
    suggest = verbs.add_parser(
        "suggest",
        parents=[common],
        help="print the minimal allowlist that would pass every request the session made",
        description="Print, as a [network] snippet for ~/.config/coding-agents/config.toml, the "
        "exact hosts a session contacted (run it with --network-proxy squid --learn first).",
    )
    suggest.add_argument("name", metavar="NAME", help="session name (its network log is kept after removal)")
    suggest.add_argument("--json", action="store_true",
                         help="print {session, requests, allow, skipped} as one JSON document")
    suggest.set_defaults(handler=run_suggest)


def run_suggest(args: argparse.Namespace) -> int:
    import json

    from agents import netlog, network
    from agents.config import load_config
    from agents.errors import AgentsError
    from agents.session import naming, query

    naming.validate_name(args.name)  # it names a file under the state folder: no '/' or '..'

    if any(info.name == args.name for info in query.find_sessions()):
        netlog.collect(args.name)
    seen = netlog.decisions(args.name)
    if not seen:
        raise AgentsError(
            f"no requests recorded for {args.name!r}",
            hint="run the agent with --network-proxy squid --learn, use it, then ask again",
        )
    block_private = load_config().network.block_private
    rules = network.suggest_allowlist(seen, block_private)
    skipped = {}  # (host, port) -> why no rule would pass it, each once
    for decision in seen:
        reason = network.never_allowed(decision, block_private) if decision.host and decision.status else None
        if reason:
            skipped.setdefault((decision.host.lower(), decision.port), reason)
    if args.json:
        print(json.dumps({"session": args.name, "requests": len(seen), "allow": rules,
                          "skipped": [{"host": host, "port": port, "reason": reason}
                                      for (host, port), reason in sorted(skipped.items())]}, indent=2))
        return 0
    print(f"# {len(seen)} requests seen by {args.name}; add to ~/.config/coding-agents/config.toml")
    if skipped:
        print("# left out, as no allowlist entry would let them through:")
        for (host, port), reason in sorted(skipped.items()):
            print(f"#   {f'[{host}]' if ':' in host else host}:{port}  {reason}")
    print("[network]")
    print("allow = [" + ", ".join(json.dumps(rule) for rule in rules) + "]")
    return 0
