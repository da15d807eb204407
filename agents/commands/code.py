"""`coding-agents code`: open VS Code attached to an agent's container, in /workspace."""

from __future__ import annotations

import argparse
import json

CONTAINER_FORMAT = '{"name":{{json .Name}},"image":{{json .Config.Image}}}'
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
    # The name and image as the engine reports them, which is what the extension looks up (Podman:
    # "NAME", "localhost/IMAGE"; Docker: "/NAME", the image as given to run).
    seen = runner.run_json(runner.engine_argv("inspect", "--type", "container", "--format",
                                              CONTAINER_FORMAT, info.name))
    config_path = vscode.write_image_config(seen["image"])
    uri = vscode.attach_uri(seen["name"])
    docker_path = vscode.docker_path_needed(runner.engine_kind(), runner.which(runner.engine()) or runner.engine())
    code = runner.which("code")
    if args.print_only or code is None:
        print(uri)
        if code is None and not args.print_only:
            print(f"`code` is not on PATH; open it with: code --folder-uri {uri}")
    else:
        runner.run([code, "--folder-uri", uri])
        print(f"opened VS Code on {info.name}")
    print(f"attach config: {config_path}")
    if docker_path:
        print(f'VS Code setting needed ({runner.engine_kind()}): "{vscode.DOCKER_PATH_SETTING}": '
              f'{json.dumps(docker_path)} in {vscode.code_user_dir() / vscode.SETTINGS_FILE}')
    return 0
