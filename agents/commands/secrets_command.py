"""`coding-agents secrets set|list|rm`: the host-side store the MCP broker draws from."""

from __future__ import annotations

import argparse

HELP = "store API keys for MCP servers on this host (encrypted; agents never see them)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "secrets", parents=[common], help=HELP,
        description=HELP + ". MCP servers refer to a secret as ${NAME} in their env, args or headers; "
        "the broker hands its value to the session's MCP sidecar only. See docs/mcp-setup.md.",
    )
    verbs = parser.add_subparsers(dest="secrets_command", metavar="SUBCOMMAND", help="what to do")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 0)[1])  # like --help, as the top level does
    set_parser = verbs.add_parser(
        "set", parents=[common], help="store a secret (value from a prompt, or from stdin when piped)",
        description="Store a secret. The value is read from a hidden prompt, or from stdin when stdin "
        "is not a terminal (one trailing newline is dropped); never from the command line.",
    )
    set_parser.add_argument("name", metavar="NAME", help="e.g. GITHUB_TOKEN")
    set_parser.set_defaults(handler=run_set)
    list_parser = verbs.add_parser("list", parents=[common], help="list the names of stored secrets (never values)")
    list_parser.add_argument("--json", action="store_true",
                             help='print a JSON list of {"name": ...} objects ([] for none); never values')
    list_parser.set_defaults(handler=run_list)
    remove_parser = verbs.add_parser("rm", parents=[common], help="remove a secret")
    remove_parser.add_argument("name", metavar="NAME", help="secret name (see secrets list)")
    remove_parser.set_defaults(handler=run_remove)


def run_set(args: argparse.Namespace) -> int:
    import sys

    from agents import secrets
    from agents.errors import AgentsError

    secrets.validate_name(args.name)
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value for {args.name} (hidden): ")
    else:
        try:
            value = sys.stdin.read()
        except UnicodeDecodeError:
            raise AgentsError("the secret is not UTF-8 text", hint="store it as text, e.g. base64-encoded") from None
        value = value[:-1] if value.endswith("\n") else value
    secrets.set_secret(args.name, value)
    print(f"stored {args.name}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from agents import secrets
    from agents.output import print_json

    names = secrets.names()
    if args.json:
        print_json([{"name": name} for name in names])
        return 0
    for name in names:
        print(name)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from agents import secrets
    from agents.errors import AgentsError

    if not secrets.remove_secret(args.name):
        raise AgentsError(f"no secret named {args.name}", hint="`coding-agents secrets list` shows the names")
    print(f"removed {args.name}")
    return 0
