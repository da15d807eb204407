"""`coding-agents inspect NAME`: a session's manifest, and whether the container still matches it."""

from __future__ import annotations

import argparse

HELP = ("show a session's manifest (tool, configs, MCP servers, images, network) and check it still holds; "
        "the agent state it keeps against [sessions] state_size")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "inspect", parents=[common], help=HELP,
        description=HELP + ". Exit 1 when something no longer matches: the manifest label, the MCP "
        "servers in the agent's config files, or the image the container runs.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents)")
    parser.add_argument("--json", action="store_true", help="print the manifest and the checks as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json

    from agents import manifest, state_size
    from agents.session import query

    info = query.get_session(args.name)
    document, checks = manifest.verify(info)
    # Not a check: past the limit nothing is wrong with the session, it is only told.
    kept = state_size.measure(info, state_size.current_limit()) if state_size.keeps_state(info) else None
    if args.json:
        print(json.dumps({"manifest": document, "checks": checks, "history": kept and kept.as_json()}, indent=2))
    else:
        print(json.dumps(document, indent=2))
        for check in checks:
            print(f"{'ok ' if check['ok'] else 'BAD'}  {check['what']}: {check['detail']}")
        if kept is not None:
            print(f"history: {state_size.short(kept.used)} of {state_size.short(kept.limit)} ([sessions] state_size)"
                  + (f", {state_size.short(kept.free)} free on the engine's disk" if kept.free is not None else ""))
    if kept is not None and kept.over:
        state_size.warn(info.name, kept)
    return 0 if all(check["ok"] for check in checks) else 1
