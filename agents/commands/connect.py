"""`connect-agent`: reattach to a running agent's tmux session."""

from __future__ import annotations

import argparse

HELP = "reattach to an agent's tmux session (detach again with Ctrl-b d)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "connect-agent",
        parents=[common],
        help=HELP,
        description=HELP + ". Without NAME, picks the only running agent. A stopped agent "
        "is started again first (its workspace is intact).",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="session name (see list-agents)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import launcher, runner
    from agents.errors import AgentsError

    info = launcher.pick_session(args.name)
    if not info.interactive:
        raise AgentsError(
            f"{info.name} runs a --prompt task, which has no terminal to attach to",
            hint=f"follow its output with `docker logs -f {info.name}`; collect it with remove-agent {info.name}",
        )
    from agents.config import load_config

    launcher.ensure_running(info, load_config().network.subnet_pool)
    launcher.wait_ready(info)
    runner.exec_replace(launcher.attach_argv(info.name))
    return 0
