"""`coding-agents code`: open VS Code attached to an agent's container, in /workspace."""

from __future__ import annotations

import argparse

HELP = "open VS Code attached to an agent's container at /workspace (or print the URI)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "code",
        parents=[common],
        help=HELP,
        description=HELP + ". Needs VS Code with the Dev Containers extension. Writes the "
        "extension's per-image attach config so VS Code connects as the agent user.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="session name (default: the only running one)")
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the URI; do not start VS Code")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import runner, vscode
    from agents.config import load_config
    from agents.session import query, services

    info = query.pick_session(args.name)
    services.ensure_running(info, load_config().network.subnet_pool)
    config_path = vscode.write_image_config(info.image)
    uri = vscode.attach_uri(info.name)
    code = runner.which("code")
    if args.print_only or code is None:
        print(uri)
        if code is None and not args.print_only:
            print(f"`code` is not on PATH; open it with: code --folder-uri {uri}")
        print(f"attach config: {config_path}")
        return 0
    runner.run([code, "--folder-uri", uri])
    print(f"opened VS Code on {info.name} (attach config: {config_path})")
    return 0
