#!/usr/bin/env python3
"""`list-agents` with N sessions, against `docker ps` with the same label filter, same run.

    python3 bench/list_agents.py [--sessions 50] [--runs 10] [--pyz PATH ...]

Makes N fake sessions: `sleep` containers of the base image with a session's labels and a health
check that reports like ca-stub's (tip, ahead, dirty; every 5 s, as the stub's), all in one bench
repository; waits for their first reports; then, per round: `docker ps --filter
label=coding-agents.session`, and per tool `list-agents` and `list-agents --all`, each twice:

- cold: without list-agents' copy of the reports (session.reports; deleted before the run), as the
  first run after a while sees it;
- warm: 2 s after that tool's previous warm run of the same command ended, as `watch list-agents`
  (every 2 s) sees it: the copy is there, and the reports that are more than one health interval
  old by then are asked of the engine.

Each tool gets its own XDG_CACHE_HOME (a temporary folder), so your own copy is left alone. Other
sessions on the engine (other people's, tests') are listed too, as a user would see them: their
number is printed. Removes exactly its fakes.
"""


from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
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


def cold_case(argv: list[str], env: dict | None, cache: Path):
    """A run without list-agents' copy of the reports (it is deleted first, untimed)."""
    env = {**(env or os.environ), "XDG_CACHE_HOME": str(cache)}

    def case() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        started = time.perf_counter()
        run(argv, env=env)
        return time.perf_counter() - started

    return case


def warm_case(argv: list[str], env: dict | None, cache: Path):
    """A run 2 s after this case's previous run ended, as `watch` makes them (the first call primes
    the copy and waits 2 s); only the run itself is timed."""
    env = {**(env or os.environ), "XDG_CACHE_HOME": str(cache)}
    ended: list[float] = []

    def case() -> float:
        if not ended:
            run(argv, env=env)
            ended.append(time.monotonic())
        time.sleep(max(0.0, 2.0 - (time.monotonic() - ended[-1])))
        started = time.perf_counter()
        run(argv, env=env)
        took = time.perf_counter() - started
        ended.append(time.monotonic())
        return took

    return case


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
            for index, (shown, argv, env) in enumerate(tried):
                for flags in ([], ["--all"]):
                    words = " ".join(["list-agents", *flags])
                    cold = Path(tmp) / f"cache-{index}-cold{len(flags)}"  # each case its own copy
                    cases[f"{shown}: {words} (cold)"] = cold_case([*argv, "list-agents", *flags], env, cold)
                    warm = Path(tmp) / f"cache-{index}-warm{len(flags)}"
                    cases[f"{shown}: {words} (warm, 2 s later)"] = warm_case([*argv, "list-agents", *flags], env, warm)
            samples = interleave(cases, args.runs)
        finally:
            fakes.remove()
    print_table(samples, f"docker ps --filter label={SESSION_LABEL}",
                f"{args.sessions} fake sessions (+ {others} other containers with the session label); {args.runs} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
