"""`coding-agents logs`: an agent's output, or its network decisions (--network)."""

from __future__ import annotations

import argparse

HELP = "show an agent's output, or with --network every allowed and denied request"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "logs",
        parents=[common],
        help=HELP,
        description=HELP + ". Network decisions are kept on the host in "
        "~/.local/state/coding-agents/network/NAME.log, also after the session is removed.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    parser.add_argument("--network", action="store_true", help="show proxy decisions (squid mode)")
    parser.add_argument("--denied", action="store_true", help="with --network: only denied requests")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new entries (Ctrl-C stops)")
    parser.add_argument("--json", action="store_true", help="with --network: JSON lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from agents import launcher, netlog, runner
    from agents.errors import AgentsError

    if not args.network:
        if args.denied or args.json:
            raise AgentsError("--denied and --json go with --network", hint=f"coding-agents logs {args.name} --network")
        argv = ["docker", "logs", *(["--follow"] if args.follow else []), args.name]
        runner.run(argv, stream=True)
        return 0
    known = netlog.log_path(args.name).exists()
    live = any(info.name == args.name for info in launcher.find_sessions())
    if not known and not live:
        raise AgentsError(f"no network log for {args.name!r}", hint="only --network-proxy squid sessions have one")

    def show(entries: list[dict]) -> None:
        for entry in entries:
            if args.denied and entry.get("decision") != "denied":
                continue
            print(json.dumps(entry) if args.json else netlog.format_entry(entry), flush=True)

    if live:
        netlog.collect(args.name)
    seen = netlog.read(args.name)
    show(seen)
    try:
        while args.follow:
            time.sleep(1.0)
            if netlog.collect(args.name):
                entries = netlog.read(args.name)
                show(entries[len(seen):])
                seen = entries
    except KeyboardInterrupt:
        return 0
    return 0
