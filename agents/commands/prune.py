"""`coding-agents prune`: remove saved-aside and fully landed agent branches (after asking)."""

from __future__ import annotations

import argparse

HELP = "remove agents' saved-aside <branch>-<timestamp> branches and agent branches fully landed"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "prune",
        parents=[common],
        help=HELP,
        description=HELP + " on the target branch, listed first, removed when you confirm (or with "
        "--yes). A branch counts as landed when merging it into the target would change nothing, so "
        "rebased and squashed lands count. Never a checked-out branch, nor one a session still works on.",
    )
    parser.add_argument("repo", metavar="PATH", nargs="?", default=".", help="the repository (default: .)")
    parser.add_argument("--onto", metavar="BRANCH", help="the branch work must be landed on (default: the one checked out)")
    parser.add_argument("-y", "--yes", action="store_true", help="remove without asking")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from agents import catalog, git, land, land_run
    from agents.output import print_table, say
    from agents.session import query

    repo = git.repo_root(args.repo)
    target, target_sha = land_run.resolve_target(repo, args.onto)
    names = git.local_branches(repo, "")
    branches = {branch: git.branch_sha(repo, branch) or "" for branch in names}
    agent_branches = land.agent_branch_names(names, catalog.agent_names())
    live = {info.branch for info in query.find_sessions(include_stopped=True, repo=repo)}
    landed = land_run.landed_branches(repo, agent_branches, target_sha)
    asides = [branch for branch in names if land.is_saved_aside(branch)]
    counts = {branch: land_run.unlanded_count(repo, branch, target_sha) for branch in asides}
    remove, notes = land.prune_plan(branches, agent_branches, landed, live, git.checked_out_branches(repo),
                                    target, counts)
    for note in notes:
        say(f"==> {note}")
    land_run.forget_taken_results(repo)
    if not remove:
        print("nothing to prune")
        return 0
    print_table([{"branch": item.branch, "commit": item.sha[:10], "why": item.why} for item in remove],
                ["branch", "commit", "why"])
    if not args.yes:
        if not sys.stdin.isatty():
            say("==> nothing removed: add --yes to remove these")
            return 0
        answer = input(f"remove these {len(remove)} branch(es)? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            say("==> nothing removed")
            return 0
    for item in remove:
        if git.git(repo, "update-ref", "-d", f"refs/heads/{item.branch}", item.sha, check=False).ok:
            print(f"deleted {item.branch} (was {item.sha[:10]})")
        else:
            say(f"==> {item.branch} moved meanwhile; kept")
    return 0
