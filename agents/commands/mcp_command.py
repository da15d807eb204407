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


def _everything(path: str):
    import dataclasses

    from agents import git, mcp
    from agents.config import load_config

    repo = git.repo_root(path)
    config = load_config()
    repo_config = mcp.load_repo_config(repo)
    approvals = mcp.load_approvals(repo)
    # Each name once, as a session sees it: yours win; a repository cannot replace them.
    chosen: dict[str, mcp.Server] = {}

    def add(server, replace: bool) -> None:
        if server is not None and (replace or server.name not in chosen):
            chosen[server.name] = server

    for name in config.mcp.enable:
        add(mcp.catalog_server(name), True)
    for server in config.mcp_servers:
        add(server, True)
    for server in repo_config.servers if repo_config else ():
        add(server, False)
    for name in repo_config.enable if repo_config else ():
        found = mcp.catalog_server(name)
        add(dataclasses.replace(found, source="repo") if found else None, False)
    return repo, list(chosen.values()), approvals


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _status(server, approvals) -> str:
    if server.source != "repo" or not server.secrets:
        return "trusted" if server.source != "repo" else "no secrets"
    return "approved" if approvals.get(server.name) == server.digest else "NOT APPROVED"


def run_list(args: argparse.Namespace) -> int:
    from agents.output import print_json, print_table

    repo, servers, approvals = _everything(args.path)
    rows = [{
        "name": server.name, "source": server.source, "runs_in": "sidecar" if server.needs_sidecar else "agent",
        "target": _short(server.url or " ".join((*server.command, *server.args))), "secrets": ",".join(server.secrets),
        "status": _status(server, approvals),
    } for server in servers]
    if args.json:
        print_json(rows)
    elif rows:
        print_table(rows, ["name", "source", "runs_in", "secrets", "status", "target"])
    else:
        print(f"no MCP servers for {repo} (enable some: docs/mcp-setup.md)")
    return 0


def _find(args: argparse.Namespace):
    from agents.errors import AgentsError

    repo, servers, approvals = _everything(args.path)
    for server in servers:
        if server.name == args.name:
            return repo, server, approvals
    raise AgentsError(f"no MCP server named {args.name!r} for {repo}", hint=f"`coding-agents mcp list {repo}`")


def run_show(args: argparse.Namespace) -> int:
    import json

    repo, server, approvals = _find(args)
    print(json.dumps({"source": server.source, "definition": server.definition(), "sha256": server.digest,
                      "secrets": list(server.secrets), "status": _status(server, approvals)}, indent=2))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    import json

    from agents import mcp
    from agents.errors import AgentsError

    repo, server, _ = _find(args)
    if server.source != "repo":
        raise AgentsError(f"{server.name} comes from your {server.source}, which is trusted already",
                          hint="only a repository's own servers need an approval; sessions get this one as it is")
    print(json.dumps(server.definition(), indent=2))
    mcp.save_approval(repo, server.name, server.digest)
    print(f"approved {server.name} for {repo}: sha256 {server.digest}")
    print("any change to its definition in the repository needs a new approval")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from agents import git, mcp
    from agents.errors import AgentsError

    repo = git.repo_root(args.path)
    if args.name not in mcp.load_approvals(repo):
        raise AgentsError(f"{args.name} has no approval for {repo}",
                          hint=f"`coding-agents mcp list {repo}` shows each server's status")
    mcp.save_approval(repo, args.name, None)
    print(f"revoked the approval of {args.name} for {repo}")
    return 0
