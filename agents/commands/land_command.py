"""`coding-agents land`: an agent's branch onto a branch of yours, through a test in a sandbox."""

from __future__ import annotations

import argparse

HELP = "land an agent's work on a branch: integrate it and run a test in a sandbox, then fast-forward"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "land",
        parents=[common],
        help=HELP,
        description=HELP + ". The agent's commits are put on top of the target (rebase by default) "
        "in a throwaway sandbox with the sessions' hardening, the test command runs on the result in "
        "a second one (no network unless --test-network allow-all), and only when it passes does the "
        "target branch move on the host, by fast-forward. Your work tree, index and checked-out "
        "branch are never changed: when the target is checked out, you are told the command that "
        "takes the result. On a conflict or a red test nothing on the host moves and the log is kept. "
        "--all lands every session and agent branch of the repository in turn, each on the target as "
        "the ones before left it, and prints a summary.",
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="session name (see list-agents --all), or an agent branch")
    parser.add_argument("--all", action="store_true", help="every session and agent branch of the repository, in launch order")
    parser.add_argument("--repo", metavar="PATH", default=".", help="with --all: the repository (default: .)")
    parser.add_argument("--onto", metavar="BRANCH", help="the branch to land on (default: the one checked out)")
    parser.add_argument("--test", metavar="CMD", help="a shell command run on the result; the land needs it to exit 0")
    parser.add_argument("--test-network", choices=("restricted", "allow-all"), default="restricted",
                        help="the test's network (default: restricted, none at all)")
    parser.add_argument("--image", metavar="IMAGE", help="the test's image (default: the session's; base for a branch)")
    how = parser.add_mutually_exclusive_group()
    for mode in ("rebase", "merge", "squash"):
        how.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode,
                         help={"rebase": "replay the agent's commits on the target (default)",
                               "merge": "a merge commit on the target",
                               "squash": "one commit with all of the agent's changes"}[mode])
    parser.set_defaults(handler=run, mode="rebase")


def run(args: argparse.Namespace) -> int:
    from agents import git, land, land_run
    from agents.errors import UsageError
    from agents.output import print_table, say
    from agents.session import query

    if args.all and args.name:
        raise UsageError(f"land takes a NAME ({args.name}) or --all, not both",
                         hint="land NAME lands one session; land --all --repo PATH lands every one of a repository")
    if not args.all and not args.name:
        raise UsageError("name one session (land NAME) or give --all", hint="list-agents --all shows the sessions")
    if args.test is not None and not args.test.strip():
        raise UsageError("--test is empty", hint='e.g. --test "make test"')
    if args.all:
        repo = git.repo_root(args.repo)
        branch, sha = land_run.resolve_target(repo, args.onto)
        sessions = [info for info in query.find_sessions(include_stopped=True, repo=repo)]
        infos = {info.name: info for info in sessions}
        items = [land_run.session_item(info) for info in sessions]
        items += land_run.branch_items(repo, branch, sha, {info.branch for info in sessions})
        queue = [(item, infos.get(item.name) if item.session else None) for item in land.queue_order(items)]
        if not queue:
            say(f"==> nothing to land on {branch}: no sessions or agent branches with commits it lacks")
            return 0
    else:
        info = query.find_session(args.name)
        if info is None:
            repo = git.repo_root(args.repo)
            if git.branch_sha(repo, args.name) is None:
                from agents.errors import AgentsError

                raise AgentsError(f"no agent session or branch named {args.name!r}",
                                  hint="`list-agents --all` shows the sessions there are")
            queue = [(land.Item(args.name, args.name, "", session=False), None)]
        else:
            repo = info.repo
            if not repo.is_dir():
                from agents.errors import AgentsError

                raise AgentsError(f"the host repository {repo} of {info.name} is gone",
                                  hint="restore it (the agent's work is still in the session's volume)")
            queue = [(land_run.session_item(info), info)]
        branch, _ = land_run.resolve_target(repo, args.onto)
    outcomes, target = land_run.land_queue(repo, queue, branch, args.mode, args.test, args.test_network, args.image)
    if args.all or len(outcomes) > 1:
        print_table(land.summary_rows(outcomes), ["name", "branch", "result", "detail"])
        say(f"==> {land.summary_line(outcomes)}")
    else:
        outcome = outcomes[0]
        print(f"{outcome.status} {outcome.item.branch} {(outcome.result or '')[:10]}".rstrip())
        if outcome.status in land.FAILURES:
            from agents.errors import AgentsError

            what = f"{outcome.status}: " + land.summary_rows([outcome])[0]["detail"]
            raise AgentsError(f"{outcome.item.name} was not landed on {branch} ({what})",
                              hint=f"nothing on the host moved; the log is {outcome.log}" if outcome.log
                              else "nothing on the host moved")
    if target.checked_out and target.sha != target.host:
        say(f"==> {land_run.checked_out_hint(target)}")
    return 1 if any(outcome.status in land.FAILURES for outcome in outcomes) else 0
