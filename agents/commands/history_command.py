"""`coding-agents history export|import`: an agent's state (transcripts, prompt history) moved
between sessions and machines, with a manifest and checksums; never a login."""

from __future__ import annotations

import argparse

HELP = "export an agent session's history (transcripts, prompt history) or import one for --resume"


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
