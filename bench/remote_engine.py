#!/usr/bin/env python3
"""What a remote engine costs: launch-to-prompt and a 2,000-file sync, against the local one.

Both engines are timed in the same run, rounds interleaved.

    python3 bench/remote_engine.py [--runs 5] [--files 200] [--change 2000]
                                   [--network restricted] [--context] [--pyz PATH] [--tag TAG]

The remote engine is the integration suite's second engine (tests/integration/engines: a dockerd
in a container of this machine's engine, sharing none of its files, reached over tcp on loopback),
started the way the suite's `test_engine` fixture starts it, with the base image (and, for squid,
the proxy image) loaded into it. So "remote" here is the engine's own path (tcp, a fresh
storage, a nested engine), not a network: on a real server add its round trips to every engine call.

Each round, for the local engine, then the remote one through DOCKER_HOST (and with --context,
through a docker context):
  docker run --rm IMAGE true        the engine's floor for one container
  launch-agent shell REPO           until the session's tmux pane shows a '$' prompt (bench/launch.py's
                                    poll, asked of the same engine)
  sync NAME                         after CHANGE new files were committed inside the session (not
                                    timed): `git fetch` over `docker exec -i`, then the host branch
  remove-agent NAME                 (its branch is already home, so nothing is left to sync)
then, for one more session on the local and the DOCKER_HOST engine, how many engine calls each
command makes itself (from its --debug log). Medians and best of RUNS, each engine against the
local one; one tool (the first --pyz). Measures only; asserts nothing.
Removes what it made: the sessions (by their names), the second engine with its storage and its
docker config, the temp repository. The engine's image stays, as the test suite leaves it (a layer
cache); its container is named coding-agents-test-engine-TAG.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402  (puts the repository on sys.path too)
    BENCH_LABEL,
    add_tool_arguments,
    base_image,
    interleave,
    make_repo,
    print_table,
    remove_session_leftovers,
    run,
    tools,
)
from launch import Prompt, launch_to_prompt  # noqa: E402

from agents import __version__, images  # noqa: E402
from tests.integration import engines  # noqa: E402

# Written inside the session as the agent user: CHANGE files of ~1 KiB each, then one commit.
CHANGE_SCRIPT = """\
import os, subprocess, sys
count, stamp = int(sys.argv[1]), sys.argv[2]
for index in range(count):
    folder = f"bench-change/d{index % 40:02d}"
    os.makedirs(folder, exist_ok=True)
    with open(f"{folder}/f{index:05d}.txt", "w") as out:
        out.write("".join(f"{stamp} file {index} line {line}\\n" for line in range(24)))
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-q", "-m", f"{count} files"], check=True)
"""


def default_ca_cert() -> str | None:
    """The CA bundle the test suite builds the engine's image with (scripts/test.sh), so the image
    is the suite's cached one."""
    found = os.environ.get("CODING_AGENTS_TEST_CA_CERT")
    if found:
        return found
    return "/etc/ssl/certs/ca-certificates.crt" if os.path.isfile("/etc/ssl/certs/ca-certificates.crt") else None


class EngineCases:
    """The timed cases of one tool on one engine; each round's session lives from launch to remove."""

    def __init__(self, label: str, tool: list[str], env: dict[str, str], repo: Path, image: str,
                 network: str, change: int, tag: str, bench_label: str) -> None:
        self.label, self.tool, self.env, self.repo, self.image = label, tool, env, repo, image
        self.network, self.change, self.tag, self.bench_label = network, change, tag, bench_label
        self.prompt = Prompt(env)
        self.count = 0
        self.name: str | None = None
        self.names: list[str] = []  # every session this object launched, for the clean-up

    def floor(self) -> float:
        started = time.perf_counter()
        run(["docker", "run", "--rm", "--label", self.bench_label, "--network", "none", self.image, "true"],
            env=self.env)
        return time.perf_counter() - started

    def launch(self) -> float:
        self.count += 1
        self.name = f"{self.tag}-{self.label.split(',')[0].replace(' ', '-')}-{self.count}"
        self.names.append(self.name)
        at_prompt, _returned = launch_to_prompt(self.tool, self.env, self.repo, self.name, self.network, self.prompt)
        return at_prompt

    def sync(self) -> float:
        assert self.name is not None
        run(["docker", "exec", "--user", "1000", "--workdir", "/workspace", self.name, "python3", "-c",
             CHANGE_SCRIPT, str(self.change), self.name], env=self.env)
        started = time.perf_counter()
        run([*self.tool, "sync", self.name], env=self.env)
        return time.perf_counter() - started

    def remove(self) -> float:
        assert self.name is not None
        started = time.perf_counter()
        run([*self.tool, "remove-agent", self.name, "-y"], env=self.env)
        return time.perf_counter() - started


    def engine_calls(self) -> dict[str, int]:
        """How many engine calls each command makes itself (its --debug log; its background
        helpers not counted), for one more session: each call is one more round trip, and with
        ssh:// one more ssh connection unless ssh multiplexes them."""
        name = f"{self.tag}-{self.label.split(',')[0].replace(' ', '-')}-calls"
        self.names.append(name)
        counts = {}
        steps = (("launch-agent", ["launch-agent", "shell", str(self.repo), "--name", name,
                                   "--network-proxy", self.network]),
                 ("sync", ["sync", name]), ("remove-agent", ["remove-agent", name, "-y"]))
        for step, argv in steps:
            if step == "sync":
                run(["docker", "exec", "--user", "1000", "--workdir", "/workspace", name, "python3", "-c",
                     CHANGE_SCRIPT, str(self.change), name], env=self.env)
            done = run([*self.tool, *argv, "--debug"], env=self.env)
            counts[step] = sum(1 for line in done.stderr.splitlines()
                               if ENGINE_CALL.match(line) and "docker " in line)
        return counts


# A command the tool ran, in its --debug log (runner.py); `spawn:` starts a helper, not counted.
ENGINE_CALL = re.compile(r"debug: (run|pipe|start|exec): ")


def with_env(base: dict | None, extra: dict[str, str]) -> dict[str, str]:
    return {**(base if base is not None else os.environ), **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds; medians are shown (default 5)")
    parser.add_argument("--files", type=int, default=200, help="files in the test repository (default 200)")
    parser.add_argument("--change", type=int, default=2000, help="files of the change that is synced (default 2000)")
    parser.add_argument("--network", choices=("restricted", "squid"), default="restricted",
                        help="--network-proxy of the sessions (default restricted; squid loads the proxy image too)")
    parser.add_argument("--context", action="store_true", help="also reach the second engine through a docker context")
    parser.add_argument("--ca-cert", default=default_ca_cert(), metavar="PATH",
                        help="CA bundle for the engine's image, as the test suite's (default "
                             "$CODING_AGENTS_TEST_CA_CERT, else /etc/ssl/certs/ca-certificates.crt)")
    parser.add_argument("--tag", default=f"bench-remote-{os.getpid()}",
                        help="prefix of every session name; also names the second engine (default bench-remote-PID)")
    add_tool_arguments(parser)
    args = parser.parse_args()
    image = base_image()
    loaded = (image, *((images.image_ref("proxy"),) if args.network == "squid" else ()))
    for ref in loaded[1:]:
        if run(["docker", "image", "inspect", ref], check=False).returncode != 0:
            raise SystemExit(f"error: {ref} is not present; run `coding-agents images build proxy`")
    shown, tool, tool_env = tools(args)[0]  # one tool: the engines are what is compared
    bench_label = f"{BENCH_LABEL}={args.tag}"

    print(f"starting the second engine (tests/integration/engines) with {', '.join(loaded)} ...",
          file=sys.stderr, flush=True)
    engine = engines.start(__version__, bench_label, args.ca_cert, loaded)
    cases: list[EngineCases] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
            repo = Path(tmp) / "repo"
            make_repo(repo, args.files)
            common = dict(tool=tool, repo=repo, image=image, network=args.network, change=args.change,
                          tag=args.tag, bench_label=bench_label)
            cases.append(EngineCases("local", env=with_env(tool_env, {}), **common))
            cases.append(EngineCases("remote, DOCKER_HOST", env=with_env(tool_env, engine.host_env), **common))
            if args.context:
                cases.append(EngineCases("remote context, docker context", env=with_env(tool_env, engine.context_env),
                                         **common))
            for case in cases:  # a first launch of each, untimed: the zipapp's and the engine's caches
                case.launch()
                case.remove()
            kinds = ("docker run --rm IMAGE true", f"launch-agent {args.network}, to prompt",
                     f"sync of a {args.change}-file change", "remove-agent")
            order: dict = {}  # (what, engine) -> case, round after round
            for case in cases:
                for kind, action in zip(kinds, (case.floor, case.launch, case.sync, case.remove), strict=True):
                    order[(kind, case.label)] = action
            samples = interleave(order, args.runs)
            calls = {case.label: case.engine_calls() for case in cases[:2]}
    except subprocess.CalledProcessError as error:
        print(f"error: {' '.join(error.cmd[-4:])} failed: {(error.stderr or '').strip()}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # no prompt in time
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        for case in cases:
            if case.label == "local":
                for name in case.names:
                    remove_session_leftovers(name)
        engines.stop(engine)  # the second engine, all it held, and its docker config

    print(f"{shown}; image {image}; repo of {args.files + 1} files; change of {args.change} files; "
          f"{args.runs} rounds; {os.cpu_count()} cores")
    setup = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in engine.timings.items())
    print(f"second engine {engine.host}: {setup}")
    for kind in kinds:
        print()
        print_table({engine_label: values for (what, engine_label), values in samples.items() if what == kind},
                    "local", kind)
    print()
    print("engine calls each command makes itself (--debug; helpers not counted)")
    for label, counts in calls.items():
        print(f"{label:52} " + ", ".join(f"{step} {count}" for step, count in counts.items()))
    polls = [poll for case in cases for poll in case.prompt.poll_times]
    if polls:
        print(f"\n{'(one capture-pane poll)':52} {statistics.median(polls):9.3f} {min(polls):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
