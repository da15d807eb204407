#!/usr/bin/env python3
"""Launch-to-prompt time of `launch-agent shell REPO`, against a raw `docker run` baseline, same run.

    python3 bench/launch.py [--runs 5] [--files 200] [--network restricted --network squid]
                            [--pyz dist/coding-agents.pyz --pyz /tmp/other.pyz] [--source]

Each round, in turn:
  docker run --rm IMAGE true           the engine's floor for one container
  raw docker run -d + tmux             `docker run -d IMAGE sleep`, then `docker exec tmux
                                       new-session bash -l`, until the pane shows a '$' prompt
  launch-agent shell REPO              per tool and per --network-proxy mode: the whole tool (engine
                                       checks, volumes, proxy, repo copy, hardened container, tmux),
                                       until `docker exec -u 1000 NAME tmux capture-pane -p -t agent`
                                       shows a '$' prompt (polled while it runs), and until it returns
then `remove-agent NAME --no-push -y` (timed too). The table gives medians and each one's ratio to
the raw baseline (the issue's "launch-to-prompt vs raw docker run -d + tmux" rows). The prompt is
polled with `docker exec`, so times include up to one poll (its median is printed too).
Measures only; asserts nothing. Removes every container, volume and temp dir it makes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_LABEL,
    add_tool_arguments,
    base_image,
    make_repo,
    print_table,
    remove_session_leftovers,
    run,
    tools,
)

PROMPT_TIMEOUT = 60.0


class Prompt:
    """Polls a container's tmux pane until it shows a shell prompt (env: the engine to ask, e.g.
    with DOCKER_HOST; default this process's)."""

    def __init__(self, env: dict | None = None) -> None:
        self.env = env
        self.poll_times: list[float] = []

    def wait(self, name: str, user: str | None = None, launching: subprocess.Popen | None = None) -> None:
        argv = ["docker", "exec", *(["-u", user] if user else []), name, "tmux", "capture-pane", "-p", "-t", "agent"]
        deadline = time.monotonic() + PROMPT_TIMEOUT
        while time.monotonic() < deadline:
            if launching is not None and launching.poll():
                return  # launch-agent failed; the caller reports it
            started = time.perf_counter()
            shown = run(argv, check=False, env=self.env)
            self.poll_times.append(time.perf_counter() - started)
            if shown.returncode == 0 and "$" in shown.stdout:
                return
            time.sleep(0.02)
        raise RuntimeError(f"no shell prompt in {name} within {PROMPT_TIMEOUT:.0f} s")


def launch_to_prompt(tool: list[str], env: dict | None, repo: Path, name: str, network: str,
                     prompt: Prompt) -> tuple[float, float]:
    """(seconds to the prompt, seconds until launch-agent returned)."""
    started = time.perf_counter()
    launching = subprocess.Popen([*tool, "launch-agent", "shell", str(repo), "--name", name,
                                  "--network-proxy", network],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        prompt.wait(name, user="1000", launching=launching)
        at_prompt = time.perf_counter() - started
        out, err = launching.communicate()
        if launching.returncode != 0:
            raise subprocess.CalledProcessError(launching.returncode, launching.args, out, err)
        return at_prompt, time.perf_counter() - started
    finally:
        if launching.poll() is None:
            launching.kill()
            launching.communicate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds; medians are shown (default 5)")
    parser.add_argument("--files", type=int, default=200, help="files in the test repository (default 200)")
    parser.add_argument("--network", action="append", choices=("restricted", "squid", "allow-all"),
                        help="--network-proxy mode to launch with (repeat for several; default restricted and squid)")
    add_tool_arguments(parser)
    args = parser.parse_args()
    networks = args.network or ["restricted", "squid"]
    image = base_image()
    tried = tools(args)

    samples: dict[str, list[float]] = {"docker run --rm IMAGE true": [], "raw docker run -d + tmux, to prompt": []}
    for shown, _, _ in tried:
        for network in networks:
            samples[f"{shown}: launch-agent {network}, to prompt"] = []
            samples[f"{shown}: launch-agent {network}, returns"] = []
            samples[f"{shown}: remove-agent ({network})"] = []
    prompt = Prompt()
    tag = f"bench-launch-{os.getpid()}"
    label = f"{BENCH_LABEL}={tag}"
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, args.files)
        for index in range(1, args.runs + 1):
            started = time.perf_counter()
            run(["docker", "run", "--rm", "--label", label, image, "true"])
            samples["docker run --rm IMAGE true"].append(time.perf_counter() - started)

            raw = f"{tag}-raw-{index}"
            try:
                started = time.perf_counter()
                run(["docker", "run", "-d", "--name", raw, "--label", label, "--network", "none",
                     image, "sleep", "300"])
                run(["docker", "exec", raw, "tmux", "new-session", "-d", "-s", "agent", "-x", "200", "-y", "50",
                     "bash", "-l"])
                prompt.wait(raw)
                samples["raw docker run -d + tmux, to prompt"].append(time.perf_counter() - started)
            finally:
                run(["docker", "rm", "--force", raw], check=False)

            for number, (shown, tool, env) in enumerate(tried):
                for network in networks:
                    name = f"{tag}-{index}-{number}-{network}"
                    try:
                        at_prompt, returned = launch_to_prompt(tool, env, repo, name, network, prompt)
                        samples[f"{shown}: launch-agent {network}, to prompt"].append(at_prompt)
                        samples[f"{shown}: launch-agent {network}, returns"].append(returned)
                        started = time.perf_counter()
                        run([*tool, "remove-agent", name, "--no-push", "-y"], env=env)
                        samples[f"{shown}: remove-agent ({network})"].append(time.perf_counter() - started)
                    except (subprocess.CalledProcessError, RuntimeError) as error:
                        detail = error.stderr.strip() if isinstance(error, subprocess.CalledProcessError) else str(error)
                        print(f"error: round {index} ({shown}, {network}) failed: {detail}", file=sys.stderr)
                        return 1
                    finally:
                        remove_session_leftovers(name)
            print(f"round {index}/{args.runs} done", file=sys.stderr, flush=True)

    print_table(samples, "raw docker run -d + tmux, to prompt",
                f"image {image}; repo of {args.files + 1} files; {args.runs} rounds")
    print(f"{'(one capture-pane poll)':52} {statistics.median(prompt.poll_times):9.3f} {min(prompt.poll_times):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
