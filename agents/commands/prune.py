"""`coding-agents prune`: remove saved-aside and fully landed agent branches, and the history
copies of the branches that go (or are gone), after asking."""

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
        "rebased and squashed lands count. Never a checked-out branch, nor one a session still works on. "
        "The history remove-agent kept of the branches that go (and of this repository's branches already "
        "gone) is listed and removed with them (see also `coding-agents history prune`).",
    )
    parser.add_argument("repo", metavar="PATH", nargs="?", default=".", help="the repository (default: .)")
    parser.add_argument("--onto", metavar="BRANCH", help="the branch work must be landed on (default: the one checked out)")
    parser.add_argument("-y", "--yes", action="store_true", help="remove without asking")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import catalog, git, history, history_copies, land, land_run
    from agents.output import confirm, print_table, say
    from agents.session import query

    repo = git.repo_root(args.repo)
    target, target_sha = land_run.resolve_target(repo, args.onto)
    names = git.local_branches(repo, "")
    branches = {branch: git.branch_sha(repo, branch) or "" for branch in names}
    from agents.config import load_config

    agent_branches = land.agent_branch_names(names, catalog.agent_names(load_config().agents))  # yours too
    sessions = query.find_sessions(include_stopped=True, repo=repo)
    live = {info.branch for info in sessions}
    landed = land_run.landed_branches(repo, agent_branches, target_sha)
    asides = [branch for branch in names if land.is_saved_aside(branch)]
    counts = {branch: land_run.unlanded_count(repo, branch, target_sha) for branch in asides}
    remove, notes = land.prune_plan(branches, agent_branches, landed, live, git.checked_out_branches(repo),
                                    target, counts)
    for note in notes:
        say(f"==> {note}")
    land_run.forget_taken_results(repo)
    # The history remove-agent kept of those branches (and of ones already gone), asked together.
    key = history.repo_key(repo)
    copies = history_copies.with_facts([copy for copy in history_copies.kept_copies() if copy.key == key], sessions)
    copies_out = history_copies.pruned_with_branches(copies, repo, {item.branch for item in remove})
    if not remove and not copies_out:
        print("nothing to prune")
        return 0
    if remove:
        print_table([{"branch": item.branch, "commit": item.sha[:10], "why": item.why} for item in remove],
                    ["branch", "commit", "why"])
    if copies_out:
        print(("\n" if remove else "") + "history kept for --resume (coding-agents history list):")
        print_table([{"branch": copy.branch, "size": history_copies.shown_size(copy.size), "why": why}
                     for copy, why in copies_out], ["branch", "size", "why"])
    what = " and ".join(part for part in (f"{len(remove)} branch(es)" if remove else "",
                                          f"{len(copies_out)} history copy(ies)" if copies_out else "") if part)
    if not confirm(f"remove these {what}?", args.yes):
        return 0
    kept_branches = set()
    for item in remove:
        if git.git(repo, "update-ref", "-d", f"refs/heads/{item.branch}", item.sha, check=False).ok:
            print(f"deleted {item.branch} (was {item.sha[:10]})")
        else:
            kept_branches.add(item.branch)
            say(f"==> {item.branch} moved meanwhile; kept")
    for copy, _ in copies_out:
        if copy.branch in kept_branches:
            say(f"==> the history of {copy.branch}: kept with its branch")
        elif history_copies.remove_copy(copy):
            print(f"removed the history of {copy.branch}")
    return 0
