#!/usr/bin/env python3
"""Launch cost as sessions grow: `launch-agent shell` with 1 vs N other sessions on the engine.

    python3 bench/launch_scaling.py [--others 50] [--runs 5] [--network restricted] [--pyz PATH ...]

Per round: with 1 fake session (a labelled `sleep` container, see bench/list_agents.py) of
another repository, launch-agent of each tool until it returns, then remove-agent; then the same
with N fakes (made concurrently before, removed after, so rounds interleave). A flat launch has
the same median in both. The raw `docker run -d` + tmux baseline is timed in the same rounds.
Other sessions already on the engine count too; their number is printed. Removes exactly its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_LABEL,
    SESSION_LABEL,
    FakeSessions,
    add_tool_arguments,
    base_image,
    make_repo,
    print_table,
    remove_session_leftovers,
    run,
    tools,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=50, help="other sessions in the big case (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="rounds; medians are shown (default 5)")
    parser.add_argument("--network", default="restricted", choices=("restricted", "squid", "allow-all"))
    add_tool_arguments(parser)
    args = parser.parse_args()
    image = base_image()
    tried = tools(args)
    tag = f"bench-scale-{os.getpid()}"
    samples: dict[str, list[float]] = {"raw docker run -d + tmux": []}
    for shown, _, _ in tried:
        samples[f"{shown}: launch-agent, 1 other session"] = []
        samples[f"{shown}: launch-agent, {args.others} other sessions"] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        repo, elsewhere = Path(tmp) / "repo", Path(tmp) / "elsewhere"
        make_repo(repo)
        make_repo(elsewhere)
        fakes = FakeSessions(tag, image, elsewhere, running=False)
        try:
            before = len(run(["docker", "ps", "--all", "--quiet", "--filter", f"label={SESSION_LABEL}"]).stdout.split())
            for index in range(1, args.runs + 1):
                raw = f"{tag}-raw-{index}"
                started = time.perf_counter()
                run(["docker", "run", "-d", "--name", raw, "--label", f"{BENCH_LABEL}={tag}", "--network", "none",
                     image, "sleep", "300"])
                run(["docker", "exec", raw, "tmux", "new-session", "-d", "-s", "agent", "bash", "-l"])
                samples["raw docker run -d + tmux"].append(time.perf_counter() - started)
                run(["docker", "rm", "--force", raw], check=False)
                for count, label in ((1, "1 other session"), (args.others, f"{args.others} other sessions")):
                    fakes.grow_to(count)
                    fakes.shrink_to(count)
                    for number, (shown, tool, env) in enumerate(tried):
                        name = f"{tag}-{index}-{number}-{count}"
                        try:
                            started = time.perf_counter()
                            run([*tool, "launch-agent", "shell", str(repo), "--name", name,
                                 "--network-proxy", args.network], env=env)
                            samples[f"{shown}: launch-agent, {label}"].append(time.perf_counter() - started)
                            run([*tool, "remove-agent", name, "--no-push", "-y"], env=env, check=False)
                        finally:
                            remove_session_leftovers(name)
                fakes.shrink_to(1)
                print(f"round {index}/{args.runs} done", file=sys.stderr, flush=True)
        finally:
            fakes.remove()
    print_table(samples, "raw docker run -d + tmux",
                f"--network-proxy {args.network}; {before} sessions on the engine besides; {args.runs} rounds; "
                "launch-agent until it returns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
