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
        "is started again first (its workspace is intact). Exits 0 after a detach, and with the "
        "agent's own exit status when the agent ends while attached.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="session name (see list-agents)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import launcher
    from agents.errors import AgentsError
    from agents.output import say

    info = launcher.pick_session(args.name)
    if not info.interactive:
        raise AgentsError(
            f"{info.name} runs a --prompt task, which has no terminal to attach to",
            hint=f"follow its output with `coding-agents logs -f {info.name}`; collect it with remove-agent {info.name}",
        )
    from agents.config import load_config

    launcher.ensure_running(info, load_config().network.subnet_pool)
    # Not exec'd: when the agent ends, tmux's client exits 1 ("[server exited]") whatever the agent
    # did, so the agent's own status is asked for instead (a detach keeps the client's 0).
    code = launcher.attach(info)
    if not launcher.agent_ended(info.name):
        return code
    status = launcher.exit_status(info.name)
    after = "it cleans up after itself" if info.mode == "run" else f"remove-agent {info.name} brings {info.branch} home"
    say(f"==> the agent in {info.name} exited with status {status}; {after}")
    return status
