#!/usr/bin/env python3
"""`list-agents` with N sessions, against `docker ps` with the same label filter, same run.

    python3 bench/list_agents.py [--sessions 50] [--runs 10] [--pyz PATH ...]

Makes N fake sessions: `sleep` containers of the base image with a session's labels and a health
check that reports like ca-stub's (tip, ahead, dirty), all in one bench repository; waits for
their first reports; then, per round: `docker ps --filter label=coding-agents.session`, and per
tool `list-agents` and `list-agents --all`. Other sessions on the engine (other people's, tests')
are listed too, as a user would see them: their number is printed. Removes exactly its fakes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SESSION_LABEL,
    FakeSessions,
    add_tool_arguments,
    base_image,
    interleave,
    make_repo,
    print_table,
    run,
    tools,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="fake sessions to make (default 50)")
    parser.add_argument("--runs", type=int, default=10, help="rounds; medians are shown (default 10)")
    add_tool_arguments(parser)
    args = parser.parse_args()
    image = base_image()
    tried = tools(args)
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo)
        fakes = FakeSessions(f"bench-list-{os.getpid()}", image, repo)
        try:
            fakes.grow_to(args.sessions)
            fakes.wait_healthy()
            filter_argv = ["docker", "ps", "--filter", f"label={SESSION_LABEL}"]
            others = len(run([*filter_argv, "--all", "--quiet"]).stdout.split()) - args.sessions
            cases = {f"docker ps --filter label={SESSION_LABEL}": lambda: run(filter_argv) and None}
            for shown, argv, env in tried:
                cases[f"{shown}: list-agents"] = lambda argv=argv, env=env: run([*argv, "list-agents"], env=env) and None
                cases[f"{shown}: list-agents --all"] = (
                    lambda argv=argv, env=env: run([*argv, "list-agents", "--all"], env=env) and None)
            samples = interleave(cases, args.runs)
        finally:
            fakes.remove()
    print_table(samples, f"docker ps --filter label={SESSION_LABEL}",
                f"{args.sessions} fake sessions (+ {others} other containers with the session label); {args.runs} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
