#!/usr/bin/env python3
"""`list-agents` with N sessions, against `docker ps` with the same label filter, same run.

    python3 bench/list_agents.py [--sessions 50] [--runs 10] [--pyz PATH ...]

Makes N real sessions, `launch-agent shell --network-proxy restricted` of one bench repository, with
the last tool given (so the newest build's: its sessions have what it needs, such as the relay
link their stubs push health reports through, and the cost of that runs beside the timings);
with --fakes, `sleep` containers of the base image with a session's labels and a health check
that prints a report (the engine is then the only way a report reaches the host). It waits for
their first reports; then, per round: `docker ps --filter label=coding-agents.session`, and per
tool `list-agents` and `list-agents --all`, each twice:

- cold: without list-agents' copy of the reports (session.reports; deleted before the run), as the
  first run after a while sees it;
- warm: 2 s after that tool's previous warm run of the same command ended, as `watch list-agents`
  (every 2 s) sees it: the copy is there, and the reports that are more than one health interval
  old by then are asked of the engine.

Each tool gets its own XDG_CACHE_HOME (a temporary folder), so your own copy is left alone; the
sessions' state (XDG_STATE_HOME, XDG_DATA_HOME) is in a temporary folder too. Other sessions on
the engine (other people's, tests') are listed too, as a user would see them: their number is
printed. Removes exactly its sessions.
"""


from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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
    remove_session_leftovers,
    run,
    tools,
    wait_healthy,
)


class RealSessions:
    """Sessions made by `launch-agent` (argv: the tool), removed with `remove-agent`; only these."""

    def __init__(self, tag: str, argv: list[str], env: dict | None, repo: Path) -> None:
        self.tag, self.argv, self.env, self.repo = tag, argv, env, repo
        self.names: list[str] = []

    def _launch(self, index: int) -> str:
        name = f"{self.tag}-{index}"
        done = run([*self.argv, "launch-agent", "shell", str(self.repo), "--name", name, "--branch", name,
                    "--network-proxy", "restricted"], check=False, env=self.env)
        if done.returncode != 0:
            remove_session_leftovers(name)
            raise SystemExit(f"error: launching {name} failed: {done.stderr.strip().splitlines()[-1:]}")
        return name

    def grow_to(self, count: int) -> None:
        with ThreadPoolExecutor(4) as pool:  # the machine's own launches, a few at once
            self.names += list(pool.map(self._launch, range(len(self.names), count)))

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Until every session has its first engine health report (and so its first push)."""
        wait_healthy(self.names, timeout)

    def pushed(self) -> int:
        """How many sessions have a pushed report on this machine (0 for a tool without pushes)."""
        folder = Path(os.environ["XDG_STATE_HOME"]) / "coding-agents" / "pushed-reports"
        return sum((folder / f"{name}.json").is_file() for name in self.names)

    def remove(self) -> None:
        def remove_one(name: str) -> None:
            done = run([*self.argv, "remove-agent", name, "--no-push", "-y"], check=False, env=self.env)
            if done.returncode != 0:
                remove_session_leftovers(name)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(remove_one, self.names))
        self.names = []


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
    parser.add_argument("--fakes", action="store_true",
                        help="`sleep` containers with a printed health report instead of real sessions")
    add_tool_arguments(parser)
    args = parser.parse_args()
    image = base_image()
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        for variable in ("XDG_STATE_HOME", "XDG_DATA_HOME"):  # the sessions' host state: ours alone
            os.environ[variable] = str(Path(tmp) / variable.lower())
        tried = tools(args)
        repo = Path(tmp) / "repo"
        make_repo(repo)
        _, launcher, launcher_env = tried[-1]
        fakes = (FakeSessions(f"bench-list-{os.getpid()}", image, repo) if args.fakes
                 else RealSessions(f"bench-list-{os.getpid()}", launcher, launcher_env, repo))
        try:
            began = time.monotonic()
            fakes.grow_to(args.sessions)
            made = time.monotonic() - began
            fakes.wait_healthy()
            if not args.fakes:
                time.sleep(6.0)  # one more health interval: every session's stub has pushed by now
                print(json.dumps({"launched": args.sessions, "seconds": round(made, 1),
                                  "with a pushed report": fakes.pushed()}), file=sys.stderr, flush=True)
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
    kind = "fake sessions" if args.fakes else "sessions (launch-agent shell)"
    print_table(samples, f"docker ps --filter label={SESSION_LABEL}",
                f"{args.sessions} {kind} (+ {others} other containers with the session label); {args.runs} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
