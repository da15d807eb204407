"""`coding-agents history export|import|list|prune`: an agent's state (transcripts, prompt history)
moved between sessions and machines, with a manifest and checksums, never a login; and the host's
copies that remove-agent keeps for --resume, listed and removed after asking."""

from __future__ import annotations

import argparse

from agents.errors import UsageError
from agents.output import say

HELP = ("export an agent session's history (transcripts, prompt history), import one for --resume, "
        "or list and prune the copies kept on this machine")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "history", parents=[common], help=HELP,
        description=HELP + ". An archive holds a manifest (agent, branch, repository, each file's "
        "SHA-256) and the CLI's state files; logins, files the launch writes and any JSON file holding "
        "a token are never in one. See docs/agent-state.md.",
    )
    verbs = parser.add_subparsers(dest="history_command", metavar="SUBCOMMAND", help="what to do")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 0)[1])
    export = verbs.add_parser(
        "export", parents=[common], help="write a session's history to FILE (running or stopped)",
        description="Write the history of session NAME (running or stopped) to FILE, a .tar.gz "
        "archive (0600) with a manifest and checksums.",
    )
    export.add_argument("name", metavar="NAME", help="session name (see list-agents --all)")
    export.add_argument("file", metavar="FILE", help="the archive to write, e.g. claude-api.tar.gz")
    export.set_defaults(handler=run_export)
    imported = verbs.add_parser(
        "import", parents=[common], help="check an archive and keep it as its branch's history (for --resume)",
        description="Check FILE (its manifest, every checksum, nothing that may not be in it) and keep "
        "it as the history of its branch in the repository at PATH; then `launch-agent AGENT --branch B "
        "--resume` starts from it.",
    )
    imported.add_argument("file", metavar="FILE", help="an archive from `history export`")
    imported.add_argument("path", nargs="?", default=".", metavar="PATH",
                          help="any folder inside the repository the history belongs to (default: .)")
    imported.add_argument("--force", action="store_true",
                          help="keep it even when it was made in a repository with another first commit")
    imported.set_defaults(handler=run_import)
    listed = verbs.add_parser(
        "list", parents=[common], help="the host's copies of removed sessions' history, for --resume",
        description="List the history remove-agent kept on this machine (one copy per repository and "
        "agent branch, in ~/.local/share/coding-agents/history): its repository, branch, agent, size, when "
        "it was saved, and whether a session still works on that branch or the branch is gone.",
    )
    listed.add_argument("--repo", metavar="PATH", help="only the copies of the repository at PATH")
    listed.add_argument("--json", action="store_true", help="one JSON list (sizes in bytes, times in UTC)")
    listed.set_defaults(handler=run_list)
    pruned = verbs.add_parser(
        "prune", parents=[common], help="remove host copies of history (listed first, asked unless --yes)",
        description="Remove copies of removed sessions' history from this machine. With no filter: the "
        "copies whose branch or repository is gone (a --resume of them would start a new branch). With "
        "--older-than and/or --branch: every copy matching them, branch there or not. Never a copy whose "
        "branch a session (running or stopped) still works on: its remove-agent replaces it. What goes is "
        "listed, and removed when you confirm (or with --yes).",
    )
    pruned.add_argument("--older-than", metavar="DAYS", help="only copies saved more than DAYS days ago")
    pruned.add_argument("--branch", metavar="BRANCH",
                        help="only this branch's copies: claude/api, or api for every agent's api branch")
    pruned.add_argument("--repo", metavar="PATH", help="only the copies of the repository at PATH")
    pruned.add_argument("-y", "--yes", action="store_true", help="remove without asking")
    pruned.set_defaults(handler=run_prune)


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agents import history
    from agents.errors import AgentsError
    from agents.session import query

    info = query.get_session(args.name)
    agent = query.session_agent(info)
    if agent is None:
        raise AgentsError(f"{info.name} runs an agent this configuration no longer has ({info.agent})",
                          hint=f"add [agents.{info.agent}] back to the config")
    archive = history.export(info, agent, Path(args.file))
    left = archive.manifest.get("left_out") or []
    print(f"exported {len(archive.files)} file(s) of {info.name} ({info.branch}) to {args.file}"
          + (f"; left out {len(left)} that may hold a login" if left else ""))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agents import git, history

    repo = git.repo_root(args.path)
    archive, target = history.import_archive(Path(args.file), repo, force=args.force)
    branch = archive.branch
    agent = branch.split("/", 1)[0]
    short = branch.split("/", 1)[1] if "/" in branch else branch
    print(f"kept {len(archive.files)} file(s) as the history of {branch} in {repo} ({target})")
    print(f"resume:   launch-agent {agent} --branch {short} --resume")
    return 0


def copies_in_view(repo_path: str | None, need_sessions: bool):
    """The host's copies (of one repository with --repo) with their facts. The sessions come from
    the engine; when it does not answer, a listing says so and a prune refuses (it cannot tell
    which copies a session still works on)."""
    from agents import git, history, history_copies
    from agents.errors import AgentsError
    from agents.session import query

    copies = history_copies.kept_copies()
    if repo_path is not None:
        key = history.repo_key(git.repo_root(repo_path))
        copies = [copy for copy in copies if copy.key == key]
    try:
        sessions = query.find_sessions(include_stopped=True) if copies else []
    except AgentsError as error:
        if need_sessions:
            raise AgentsError(f"cannot tell which history copies a session still works on: {error.message}",
                              hint="start the engine (coding-agents doctor says how), then prune again") from error
        say(f"==> the engine did not answer ({error.message}): which branches a session works on is not shown")
        sessions = []
    return history_copies.with_facts(copies, sessions)


def run_list(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from agents import history_copies, paths
    from agents.output import print_json, print_table
    from agents.session import query

    copies = copies_in_view(args.repo, need_sessions=False)
    now = datetime.now(UTC)
    if args.json:
        print_json([{"repo": copy.repo or None, "repo_key": copy.key, "branch": copy.branch or None,
                     "agent": copy.agent or None, "bytes": copy.size, "saved": copy.saved,
                     "files": len((copy.manifest or {}).get("files", [])), "session": copy.session,
                     "session_state": copy.session_state, "branch_there": copy.branch_there,
                     "readable": copy.manifest is not None, "path": str(copy.path)} for copy in copies])
        return 0
    if not copies:
        print(f"no history copies in {paths.history_dir()}")
        return 0
    print_table([{"repo": shown_path(copy.repo), "branch": copy.branch, "agent": copy.agent,
                  "size": history_copies.shown_size(copy.size), "saved": query.age(copy.saved, now) + " ago",
                  "state": history_copies.standing(copy)} for copy in copies],
                ["repo", "branch", "agent", "size", "saved", "state"])
    total = sum(copy.size for copy in copies)
    say(f"==> {len(copies)} copy(ies), {history_copies.shown_size(total)} in {paths.history_dir()}; "
        "remove old ones with `coding-agents history prune`")
    return 0


def shown_path(path: str) -> str:
    """A repository's path with the home as ~ (the table stays narrow)."""
    from pathlib import Path

    home = str(Path.home())
    return "~" + path[len(home):] if path == home or path.startswith(home + "/") else path


def older_than_days(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        days = float(text)
    except ValueError:
        days = float("nan")
    if not days >= 0 or days == float("inf"):  # (nan is neither)
        raise UsageError(f"--older-than {text!r} is not a number of days",
                         hint="give a whole or decimal number of days, 0 or more, e.g. --older-than 30")
    return days


def run_prune(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from agents import history_copies
    from agents.output import confirm, print_table
    from agents.session import query

    older_than = older_than_days(args.older_than)
    if args.branch is not None and not args.branch.strip("/"):  # (an empty one is refused by the CLI)
        raise UsageError(f"--branch {args.branch!r} names no branch",
                         hint="give an agent branch, e.g. --branch claude/api (or api)")
    copies = copies_in_view(args.repo, need_sessions=True)
    remove, notes = history_copies.prune_plan(copies, datetime.now(UTC), older_than=older_than, branch=args.branch)
    for note in notes:
        say(f"==> {note}")
    if not remove:
        print("no history copies to remove" + ("" if args.older_than or args.branch else
                                               " (with no filter, only those whose branch is gone; "
                                               "see --older-than and --branch)"))
        return 0
    now = datetime.now(UTC)
    print_table([{"repo": shown_path(copy.repo), "branch": copy.branch, "size": history_copies.shown_size(copy.size),
                  "saved": query.age(copy.saved, now) + " ago", "why": why} for copy, why in remove],
                ["repo", "branch", "size", "saved", "why"])
    total = sum(copy.size for copy, _ in remove)
    if not confirm(f"remove these {len(remove)} history copy(ies), {history_copies.shown_size(total)}?", args.yes):
        return 0
    for copy, _ in remove:
        if history_copies.remove_copy(copy):
            print(f"removed the history of {copy.branch or copy.path.name} ({shown_path(copy.repo) or copy.key})")
    return 0
