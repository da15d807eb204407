"""`coding-agents mcp list|show|approve|revoke`: the MCP servers a session of a repository gets."""

from __future__ import annotations

import argparse

HELP = "MCP servers: what a session gets, and approvals for a repository's own servers"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "mcp", parents=[common], help=HELP,
        description=HELP + ". Servers come from the built-in catalog ([mcp] enable), your config "
        "([mcp_servers.NAME]) and the repository's .coding-agents/config.toml, whose servers may use a "
        "secret only after you approve their exact definition. See docs/mcp-setup.md.",
    )
    verbs = parser.add_subparsers(dest="mcp_command", metavar="SUBCOMMAND", help="what to do")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 0)[1])  # like --help, as the top level does
    listing = verbs.add_parser("list", parents=[common], help="the servers a session in PATH's repository gets")
    listing.add_argument("path", nargs="?", default=".", metavar="PATH", help="a folder in the repository (default: .)")
    listing.add_argument("--json", action="store_true", help="print a JSON list, one object per server ([] for none)")
    listing.set_defaults(handler=run_list)
    for verb, text, handler in (
        ("show", "print a server's definition and the hash an approval pins", run_show),
        ("approve", "let a repository's server use the secrets it names (pins this exact definition)", run_approve),
        ("revoke", "withdraw an approval", run_revoke),
    ):
        sub = verbs.add_parser(verb, parents=[common], help=text, description=text + ".")
        sub.add_argument("name", metavar="NAME", help="server name (see mcp list)")
        sub.add_argument("path", nargs="?", default=".", metavar="PATH", help="a folder in the repository (default: .)")
        sub.set_defaults(handler=handler)


def _selection(path: str):
    """The repository of path and what a session there gets: the very rule launch applies."""
    from agents import git
    from agents.config import load_config
    from agents.mcp import servers

    repo = git.repo_root(path)
    return repo, servers.for_repo(repo, load_config())


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _row(choice) -> dict:
    server = choice.server
    target = (server.url or " ".join((*server.command, *server.args))) if server else ""
    return {
        "name": choice.name, "source": choice.source,
        "runs_in": ("sidecar" if server.needs_sidecar else "agent") if server else "",
        "target": _short(target), "secrets": ",".join(server.secrets) if server else "", "status": choice.status,
        "selected": choice.selected, "reason": choice.reason,
    }


def run_list(args: argparse.Namespace) -> int:
    from agents.output import print_json, print_table

    repo, selection = _selection(args.path)
    rows = [_row(choice) for choice in selection.choices]
    if args.json:
        print_json(rows)
    elif rows:
        print_table(rows, ["name", "source", "runs_in", "secrets", "status", "target"])
        for choice in selection.choices:
            if not choice.selected:
                print(f"{choice.name}: {choice.reason}")
        refused = selection.refusal(repo)
        if refused is not None:
            print(f"a launch here refuses; {refused.hint}")
    else:
        print(f"no MCP servers for {repo} (enable some: docs/mcp-setup.md)")
    return 0


def _find(args: argparse.Namespace):
    """The server a session would know by that name (yours before a repository's refused one)."""
    from agents.errors import AgentsError

    repo, selection = _selection(args.path)
    for choice in selection.choices:
        if choice.name == args.name and choice.server is not None:
            return repo, choice
    raise AgentsError(f"no MCP server named {args.name!r} for {repo}", hint=f"`coding-agents mcp list {repo}`")


def run_show(args: argparse.Namespace) -> int:
    import json

    _, choice = _find(args)
    server = choice.server
    print(json.dumps({"source": server.source, "definition": server.definition(), "sha256": server.digest,
                      "secrets": list(server.secrets), "status": choice.status}, indent=2))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    import json

    from agents.errors import AgentsError
    from agents.mcp import approvals, servers

    repo, choice = _find(args)
    server = choice.server
    if server.source != "repo":
        raise AgentsError(f"{server.name} comes from your {server.source}, which is trusted already",
                          hint="only a repository's own servers need an approval; sessions get this one as it is")
    if choice.status == servers.REFUSED:  # no approval makes a session take it
        raise AgentsError(choice.reason, hint=choice.hint)
    print(json.dumps(server.definition(), indent=2))
    approvals.save(repo, server.name, server.digest)
    print(f"approved {server.name} for {repo}: sha256 {server.digest}")
    print("any change to its definition in the repository needs a new approval")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from agents import git
    from agents.errors import AgentsError
    from agents.mcp import approvals

    repo = git.repo_root(args.path)
    if args.name not in approvals.load(repo):
        raise AgentsError(f"{args.name} has no approval for {repo}",
                          hint=f"`coding-agents mcp list {repo}` shows each server's status")
    approvals.save(repo, args.name, None)
    print(f"revoked the approval of {args.name} for {repo}")
    return 0
