"""`run-agent` (and run-claude, run-codex, ...): an agent in a throwaway container."""

from __future__ import annotations

import argparse
import time

from agents.commands import _session_args

HELP = "start an agent and attach to it; when it exits, sync its branch and remove the container"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run-agent",
        parents=[common],
        help=HELP,
        description=HELP + ". Detaching (tmux: Ctrl-b d) leaves it running; it still syncs and "
        "cleans up after itself when the agent exits. With --prompt the agent runs non-interactively "
        "and its output is streamed.",
    )
    _session_args.add_agent_argument(parser)
    _session_args.add_session_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    previewed = _session_args.dry_run(args, "run")
    if previewed is not None:
        return previewed
    from agents.config import load_config
    from agents.errors import AgentsError
    from agents.session import attach, checks, daemons, finish, launch, query

    config = load_config()
    with launch.launching(_session_args.launch_options(args, "run"), config) as info:
        if args.prompt is None:
            # Until the agent's terminal is up, Ctrl-C still undoes the launch.
            try:
                attach.wait_ready(info)
            except AgentsError:
                # The agent is gone before it could be attached: an ephemeral session ends here too.
                finish.remove(query.get_session(info.name), no_push=args.no_push, yes=args.yes,
                                auto_commit=config.sessions.auto_commit)
                raise
    if args.prompt is not None:
        try:
            code = attach.stream_until_exit(info.name)
        except KeyboardInterrupt:
            daemons.spawn_reaper(info.name)
            print(f"\nstopped watching; {info.name} keeps running and cleans up after itself when done")
            return 130

    else:
        attached = time.monotonic()
        try:
            attach.attach(info)
        except AgentsError:
            # The agent is gone before it could be attached: an ephemeral session ends here too.
            finish.remove(query.get_session(info.name), no_push=args.no_push, yes=args.yes,
                            auto_commit=load_config().sessions.auto_commit)
            raise
        code = 0
        if attach.agent_ended(info.name):
            code = attach.exit_status(info.name)
            if code != 0 and time.monotonic() - attached < 5.0:
                # It quit at once (the attach may still have caught its tmux session): say why.
                error = attach.exited_error(info, code)
                finish.remove(query.get_session(info.name), no_push=args.no_push, yes=args.yes,
                                auto_commit=load_config().sessions.auto_commit)
                raise error
        else:
            daemons.spawn_reaper(info.name)
            print(f"detached: {info.name} keeps running; connect-agent {info.name} to return")
            print("when the agent exits, its branch is synced and the container removed")
            return 0
    auto_commit = load_config().sessions.auto_commit
    finish.remove(query.get_session(info.name), no_push=args.no_push, yes=args.yes, auto_commit=auto_commit)
    note = checks.clone_note(info)
    if note:
        print(note)
    return code
