"""`launch-agent`: start an agent in a persistent background container."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "start an agent in a persistent background container on its own branch"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "launch-agent",
        parents=[common],
        help=HELP,
        description=HELP + ". The container is named <agent>-<repo>-<branch> and keeps running "
        "until remove-agent; connect with connect-agent. With --prompt the agent runs "
        "non-interactively, its output is streamed, and its branch is synced when it finishes.",
    )
    _session_args.add_agent_argument(parser)
    _session_args.add_session_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    previewed = _session_args.dry_run(args, "launch")
    if previewed is not None:
        return previewed
    from agents.config import load_config
    from agents.session import attach, finish, launch, query

    with launch.launching(_session_args.launch_options(args, "launch"), load_config()) as info:
        # Until the agent is seen to start, Ctrl-C still undoes the launch.
        # Without network a CLI gives up on its API within seconds (Claude Code: ~2.5 s); wait for it.
        grace = 4.0 if attach.cannot_reach_its_model(info) else 1.0
        status = attach.exited_at_start(info.name, grace=grace) if args.prompt is None else None
    if args.prompt is not None:
        code = attach.stream_until_exit(info.name)
        if not info.no_push:
            finish.sync(query.get_session(info.name))
        print(f"{info.name} finished (exit {code}); its workspace is kept until remove-agent {info.name}")
        return code
    if status is not None:
        error = attach.exited_error(info, status)
        if finish.remove_if_untouched(query.get_session(info.name)):
            error.message += " (the session is removed: it had done nothing)"
        else:
            error.hint = f"its work is kept: remove-agent {info.name} brings {info.branch} home"
        raise error
    print(f"launched {info.name} ({info.agent} on {info.branch}, network {info.network})")
    print(f"connect:  connect-agent {info.name}")
    print(f"finish:   remove-agent {info.name}   (syncs {info.branch} into {info.repo})")
    return 0
