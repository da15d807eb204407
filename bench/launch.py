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
                                       until the pane shows a '$' prompt, and until it returns
then `remove-agent NAME --no-push -y` (timed too). The table gives medians and each one's ratio to
the raw baseline (the issue's "launch-to-prompt vs raw docker run -d + tmux" rows).

How the prompt is seen, the same way for the raw baseline and each launch: --poll inside (the
default) waits for the container's start with `docker events`, then polls the pane every 20 ms from
inside it (one `docker exec` of a shell loop of `tmux capture-pane`); --poll host runs `docker exec
NAME tmux capture-pane` from the host from the moment the launch starts (a docker client, an engine
exec and a runc per poll, competing with the launch on a small machine; the raw baseline is polled
only after its tmux started). Times include up to one poll.
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
from concurrent.futures import ThreadPoolExecutor
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
    """Polls a container's tmux pane from the host until it shows a shell prompt (env: the engine
    to ask, e.g. with DOCKER_HOST; default this process's). Each poll is a `docker exec` (a docker
    client, the engine's exec, a runc), and polls run from the moment the launch starts: load on
    two cores that the launch competes with and the raw baseline mostly does not (--poll host)."""

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


# Inside the container: the pane polled every 20 ms by a tmux client (no docker client, engine
# exec or runc per poll); one line when it shows a prompt.
WATCH_SCRIPT = ("until tmux capture-pane -p -t agent 2>/dev/null | grep -q '[$]'; do sleep 0.02; done; "
                "echo prompt")


class PromptWatch:
    """The same question asked from inside (--poll inside, the default): `docker events` waits for
    the container's start (one idle client, started before the launch or the raw run), then one
    `docker exec` runs WATCH_SCRIPT in it; the prompt's time is when its line arrives. Raw and
    launch-agent are watched the same way, from the container's start on."""

    def __init__(self, env: dict | None = None) -> None:
        self.env = env
        self.events: subprocess.Popen | None = None
        self.poll_times: list[float] = []  # (none: kept for the table's last line)

    def arm(self, name: str) -> None:
        """Before the container is made: listen for its start."""
        self.events = subprocess.Popen(["docker", "events", "--filter", f"container={name}", "--filter", "event=start",
                                        "--format", "{{.Status}}"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        time.sleep(0.05)  # its subscription is made before the run (the engine sends no past events without --since)

    def wait(self, name: str, user: str | None = None, launching: subprocess.Popen | None = None) -> None:
        assert self.events is not None and self.events.stdout is not None
        try:
            if not self._readable(self.events.stdout, launching):
                return  # launch-agent failed; the caller reports it
            self.events.stdout.readline()
        finally:
            self.events.kill()
            self.events.wait()
            self.events = None
        watcher = subprocess.Popen(["docker", "exec", *(["-u", user] if user else []), name, "sh", "-c", WATCH_SCRIPT],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        try:
            if not self._readable(watcher.stdout, launching):
                return
            if watcher.stdout.readline().strip() != "prompt":
                raise RuntimeError(f"the prompt watch in {name} ended without a prompt")
        finally:
            watcher.kill()
            watcher.wait()

    @staticmethod
    def _readable(stream, launching: subprocess.Popen | None) -> bool:
        """Until stream has a line (True), or launch-agent failed (False); RuntimeError at the timeout."""
        import select

        deadline = time.monotonic() + PROMPT_TIMEOUT
        while time.monotonic() < deadline:
            if select.select([stream], [], [], 0.05)[0]:
                return True
            if launching is not None and launching.poll():
                return False
        raise RuntimeError(f"no shell prompt within {PROMPT_TIMEOUT:.0f} s")


def launch_to_prompt(tool: list[str], env: dict | None, repo: Path, name: str, network: str,
                     prompt) -> tuple[float, float]:
    """(seconds to the prompt, seconds until launch-agent returned)."""
    if isinstance(prompt, PromptWatch):
        prompt.arm(name)
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
    parser.add_argument("--poll", choices=("inside", "host"), default="inside",
                        help="how the prompt is seen: a tmux poll inside the container from its start "
                             "(default), or a `docker exec` poll from the host from the launch's start "
                             "(the earlier rounds' figures)")
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
    prompt = PromptWatch() if args.poll == "inside" else Prompt()
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
                watching = None
                if isinstance(prompt, PromptWatch):  # watched from the container's start, as a launch is
                    prompt.arm(raw)
                    watching = ThreadPoolExecutor(1).submit(prompt.wait, raw)
                started = time.perf_counter()
                run(["docker", "run", "-d", "--name", raw, "--label", label, "--network", "none",
                     image, "sleep", "300"])
                run(["docker", "exec", raw, "tmux", "new-session", "-d", "-s", "agent", "-x", "200", "-y", "50",
                     "bash", "-l"])
                watching.result() if watching else prompt.wait(raw)
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
    if prompt.poll_times:
        print(f"{'(one capture-pane poll)':52} {statistics.median(prompt.poll_times):9.3f} {min(prompt.poll_times):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
