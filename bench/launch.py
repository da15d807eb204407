#!/usr/bin/env python3
"""Launch-to-prompt time of `launch-agent shell REPO`, against raw `docker run` baselines.

    python3 bench/launch.py [--runs 5] [--files 200] [--source]

Each run, in turn:
  docker run --rm IMAGE true           the engine's floor for one container
  raw docker run -d + tmux             `docker run -d IMAGE sleep`, then `docker exec tmux
                                       new-session bash -l`, until the pane shows a '$' prompt
  launch-agent shell REPO              the whole tool (engine checks, volumes, repo copy,
                                       hardened container, tmux), until
                                       `docker exec -u 1000 NAME tmux capture-pane -p -t agent`
                                       shows a '$' prompt (polled while it runs), and until
                                       the command returns
then `remove-agent NAME --no-push -y` (timed too). Uses dist/coding-agents.pyz when present
(else, or with --source, `python3 -m agents` from this tree). Prints medians. The prompt is
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

ROOT = Path(__file__).resolve().parents[1]
PYZ = ROOT / "dist" / "coding-agents.pyz"
sys.path.insert(0, str(ROOT))

from agents import images  # noqa: E402

BENCH_LABEL = "coding-agents.bench=launch"
PROMPT_TIMEOUT = 60.0


def run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def make_repo(repo: Path, files: int) -> None:
    """A small repository with two commits and `files` files."""
    run(["git", "init", "-q", "-b", "main", str(repo)])
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.invalid")):
        run(["git", "-C", str(repo), "config", key, value])
    for i in range(files):
        path = repo / "src" / f"module{i:04d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"VALUE = {i}\n" * 20)
    run(["git", "-C", str(repo), "add", "-A"])
    run(["git", "-C", str(repo), "commit", "-qm", "first"])
    (repo / "README").write_text("bench\n")
    run(["git", "-C", str(repo), "add", "-A"])
    run(["git", "-C", str(repo), "commit", "-qm", "second"])


class Prompt:
    """Polls a container's tmux pane until it shows a shell prompt."""

    def __init__(self) -> None:
        self.poll_times: list[float] = []

    def wait(self, name: str, user: str | None = None, launching: subprocess.Popen | None = None) -> None:
        argv = ["docker", "exec", *(["-u", user] if user else []), name, "tmux", "capture-pane", "-p", "-t", "agent"]
        deadline = time.monotonic() + PROMPT_TIMEOUT
        while time.monotonic() < deadline:
            if launching is not None and launching.poll():
                return  # launch-agent failed; the caller reports it
            started = time.perf_counter()
            shown = run(argv, check=False)
            self.poll_times.append(time.perf_counter() - started)
            if shown.returncode == 0 and "$" in shown.stdout:
                return
            time.sleep(0.02)
        raise RuntimeError(f"no shell prompt in {name} within {PROMPT_TIMEOUT:.0f} s")


def remove_leftovers(name: str) -> None:
    """Whatever a failed run may have left under this name (absent objects are fine)."""
    run(["docker", "rm", "--force", name], check=False)
    run(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions; medians are shown (default 5)")
    parser.add_argument("--files", type=int, default=200, help="files in the test repository (default 200)")
    parser.add_argument("--source", action="store_true", help="run `python3 -m agents` even if the zipapp exists")
    args = parser.parse_args()

    image = images.image_ref("base")
    if run(["docker", "image", "inspect", image], check=False).returncode != 0:
        print(f"error: {image} is not present; run `coding-agents images build base`", file=sys.stderr)
        return 1
    if PYZ.is_file() and not args.source:
        tool, env, shown_tool = [str(PYZ)], None, "dist/coding-agents.pyz"
    else:
        tool, env, shown_tool = [sys.executable, "-m", "agents"], {**os.environ, "PYTHONPATH": str(ROOT)}, "python3 -m agents"
    run([*tool, "--version"], env=env)  # warm-up: a fresh zipapp unpacks its venv on first run

    samples: dict[str, list[float]] = {
        "docker run --rm IMAGE true": [],
        "raw docker run -d + tmux, to prompt": [],
        "launch-agent shell, to prompt": [],
        "launch-agent shell, command returns": [],
        "remove-agent --no-push -y": [],
    }
    prompt = Prompt()
    tag = f"bench-launch-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, args.files)
        for index in range(1, args.runs + 1):
            started = time.perf_counter()
            run(["docker", "run", "--rm", "--label", BENCH_LABEL, image, "true"])
            samples["docker run --rm IMAGE true"].append(time.perf_counter() - started)

            raw = f"{tag}-raw-{index}"
            try:
                started = time.perf_counter()
                run(["docker", "run", "-d", "--name", raw, "--label", BENCH_LABEL, "--network", "none",
                     image, "sleep", "300"])
                run(["docker", "exec", raw, "tmux", "new-session", "-d", "-s", "agent", "-x", "200", "-y", "50",
                     "bash", "-l"])
                prompt.wait(raw)
                samples["raw docker run -d + tmux, to prompt"].append(time.perf_counter() - started)
            finally:
                run(["docker", "rm", "--force", raw], check=False)

            name = f"{tag}-{index}"
            launching = None
            try:
                # The prompt is polled while launch-agent still runs: it may return later than that.
                started = time.perf_counter()
                launching = subprocess.Popen(
                    [*tool, "launch-agent", "shell", str(repo), "--name", name],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                prompt.wait(name, user="1000", launching=launching)
                at_prompt = time.perf_counter() - started
                out, err = launching.communicate()
                if launching.returncode != 0:
                    raise subprocess.CalledProcessError(launching.returncode, launching.args, out, err)
                samples["launch-agent shell, command returns"].append(time.perf_counter() - started)
                samples["launch-agent shell, to prompt"].append(at_prompt)
                started = time.perf_counter()
                run([*tool, "remove-agent", name, "--no-push", "-y"], env=env)
                samples["remove-agent --no-push -y"].append(time.perf_counter() - started)
            except (subprocess.CalledProcessError, RuntimeError) as error:
                detail = error.stderr.strip() if isinstance(error, subprocess.CalledProcessError) else str(error)
                print(f"error: run {index} failed: {detail}", file=sys.stderr)
                return 1
            finally:
                if launching is not None and launching.poll() is None:
                    launching.kill()
                    launching.communicate()
                remove_leftovers(name)
            print(f"run {index}/{args.runs} done", file=sys.stderr, flush=True)

    print(f"tool: {shown_tool}; image {image}; repo of {args.files + 1} files; {args.runs} runs")
    print(f"{'what':40} {'median s':>9} {'best s':>8}")
    for label, values in samples.items():
        print(f"{label:40} {statistics.median(values):9.2f} {min(values):8.2f}")
    print(f"{'(one capture-pane poll)':40} {statistics.median(prompt.poll_times):9.2f} {min(prompt.poll_times):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
