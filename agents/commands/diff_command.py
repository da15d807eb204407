"""`coding-agents diff`: what an agent changed since it started, without touching the host repo."""

from __future__ import annotations

import argparse

HELP = "show what an agent changed since its session started (committed and uncommitted work)"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "diff",
        parents=[common],
        help=HELP,
        description=HELP + ", against the commit the session started from. It runs git in the "
        "workspace (the running container, or a throwaway one on a stopped session's volume), so "
        "the host repository is not touched. Untracked files count as changes.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    parser.add_argument("--stat", action="store_true", help="only the files changed and how much (git diff --stat)")
    parser.add_argument("--committed", action="store_true", help="only the committed work on the agent's branch")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from agents import land_run
    from agents.errors import AgentsError
    from agents.runner import last_line
    from agents.session import query

    info = query.get_session(args.name)
    if not info.base:
        raise AgentsError(f"{info.name} does not say which commit it started from",
                          hint="it was made by an older release; compare by hand after `coding-agents sync`")
    done = land_run.diff(info, stat=args.stat, committed=args.committed, color=sys.stdout.isatty())
    if not done.ok:
        raise AgentsError(f"could not read the workspace of {info.name}: {last_line(done.stderr)}",
                          hint="check `coding-agents doctor`; the workspace volume is kept")
    sys.stdout.write(done.stdout)
    return 0
