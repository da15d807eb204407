"""`remove-agent`: sync an agent's branch home, then remove its container and volumes."""

from __future__ import annotations

import argparse

from agents.commands import _session_args

HELP = "sync an agent's branch into the host repo, then remove its container and volumes"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "remove-agent",
        parents=[common],
        help=HELP,
        description=HELP + ". Uncommitted work is auto-committed first. Refuses to lose commits: "
        "with --no-push it stops unless -y confirms discarding commits the host lacks.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    parser.add_argument("--no-push", action="store_true", help="do not sync the branch back (needs -y if commits would be lost)")
    parser.add_argument("--keep-branch", action="store_true", help="keep the agent branch even if HEAD already contains it")
    parser.add_argument("-y", "--yes", action="store_true", help="confirm discarding unsynced commits with --no-push")
    _session_args.add_dry_run(parser, "the removal")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.config import load_config
    from agents.session import finish, query

    info = query.get_session(args.name)
    if args.json and not args.dry_run:
        from agents.errors import UsageError

        raise UsageError("--json only goes with --dry-run here", hint="add --dry-run, or leave out --json")
    if args.dry_run:
        from agents.session import preview

        return _session_args.print_preview(preview.remove_preview(info, args.no_push, args.keep_branch), args.json)
    auto_commit = load_config().sessions.auto_commit
    finish.remove(info, no_push=args.no_push, yes=args.yes, keep_branch=args.keep_branch, auto_commit=auto_commit)
    return 0
