#!/usr/bin/env python3
"""How fast a repository gets into a session's workspace volume, against local git clones.

    python3 bench/git_transfer.py [--commits 2000] [--files 2000] [--touch 5] [--runs 5]

Generates a synthetic repository with `git fast-import` in a temp dir (FILES files in the
first commit, then COMMITS-1 commits each rewriting TOUCH files), then times:

  git clone --local --no-hardlinks   an honest copy of the whole history, plus checkout
                                     (and once more with --no-checkout: the history alone)
  git clone --local                  hardlinks instead of copies, plus checkout
  git clone --depth 1 file://        git's own one-commit copy, plus checkout
  coding-agents fill                 agents.workspace.send_fill and filled: the objects of one
                                     commit (agents.git.objects_for_checkout), `git pack-objects
                                     --stdout` sent through the attached run of an agent
                                     container (as a launch makes it, on fresh volumes) to its
                                     started stub, which builds the repository (index-pack +
                                     checkout)

and, to split the last one up, `git pack-objects` alone and a `docker run --rm -i true` with
the same hardening flags. Prints medians of RUNS runs. Measures only; asserts nothing.
Every volume and temp dir it makes is removed; volumes carry the label coding-agents.bench.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents import catalog, git, hardening, images, runner, workspace  # noqa: E402
from agents.session import planner  # noqa: E402

BENCH_LABEL = "coding-agents.bench=git_transfer"
WORDS = (
    "alpha beta gamma delta return value index buffer socket parse token commit branch "
    "config request response handler session volume container image layer error hint "
    "import export module function class method string bytes list dict tuple int float"
).split()


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, **kwargs)


# --- the synthetic repository ----------------------------------------------------------


def file_lines(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(count)]


def fast_import_stream(commits: int, files: int, touch: int, seed: int = 1) -> Iterator[bytes]:
    """A fast-import stream: one commit adding `files` files, then commits rewriting `touch` files."""
    rng = random.Random(seed)
    paths = [f"src/pkg{i % 50:02d}/module{i:05d}.py" for i in range(files)]
    contents = {path: file_lines(rng, rng.randint(20, 80)) for path in paths}
    when = 1_700_000_000

    def commit(number: int, changed: list[str]) -> bytes:
        message = f"commit {number}\n".encode()
        parts = [
            b"commit refs/heads/main\n",
            f"author Bench <bench@example.invalid> {when + number * 60} +0000\n".encode(),
            f"committer Bench <bench@example.invalid> {when + number * 60} +0000\n".encode(),
            f"data {len(message)}\n".encode() + message,
        ]
        for path in changed:
            data = ("\n".join(contents[path]) + "\n").encode()
            parts.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        return b"".join(parts) + b"\n"

    yield commit(0, paths)
    for number in range(1, commits):
        changed = rng.sample(paths, min(touch, len(paths)))
        for path in changed:
            lines = contents[path]
            for _ in range(rng.randint(1, 4)):  # edit, insert or drop a line
                spot = rng.randrange(len(lines))
                action = rng.random()
                if action < 0.5:
                    lines[spot] = file_lines(rng, 1)[0]
                elif action < 0.8 or len(lines) < 10:
                    lines.insert(spot, file_lines(rng, 1)[0])
                else:
                    del lines[spot]
        yield commit(number, changed)


def make_repo(repo: Path, commits: int, files: int, touch: int) -> None:
    run(["git", "init", "-q", "-b", "main", str(repo)])
    importer = subprocess.Popen(
        ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert importer.stdin is not None
    for chunk in fast_import_stream(commits, files, touch):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit(f"git fast-import failed: {importer.stderr.read().decode() if importer.stderr else ''}")
    # Like a real repository: fully packed, with a checked-out work tree.
    run(["git", "-C", str(repo), "repack", "-a", "-d", "-q"])
    run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"])


def tree_bytes(path: Path) -> int:
    """Apparent size of the files under path (symlinks not followed)."""
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total


# --- the measurements ------------------------------------------------------------------


class Case:
    """One timed action with untimed set-up before and clean-up after each run."""

    def __init__(self, label: str, action: Callable[[], object], cleanup: Callable[[], object] = lambda: None,
                 prepare: Callable[[], object] = lambda: None):
        self.label = label
        self.action = action
        self.cleanup = cleanup
        self.prepare = prepare
        self.samples: list[float] = []

    def measure(self) -> None:
        self.prepare()
        os.sync()  # write back the previous case's files now, not during this one's timing
        try:
            started = time.perf_counter()
            self.action()
            self.samples.append(time.perf_counter() - started)
        finally:
            self.cleanup()


def clone_case(label: str, repo: Path, target: Path, *flags: str) -> Case:
    source = f"file://{repo}" if "--depth" in flags else str(repo)
    return Case(
        label,
        lambda: run(["git", "clone", "-q", *flags, source, str(target)]),
        cleanup=lambda: shutil.rmtree(target, ignore_errors=True),
    )


def session_request(repo: Path, head: str, name: str) -> planner.SessionRequest:
    """The request checks.build_request makes for `launch-agent shell REPO` (defaults elsewhere)."""
    agent = catalog.get_agent("shell")
    return planner.SessionRequest(
        agent=agent,
        repo=repo,
        branch="shell/session-1",
        start_commit=head,
        name=name,
        image=images.image_ref(agent.image_name),
        mode="launch",
    )


class Populate:
    """The fill (agents.workspace.send_fill, filled) into a fresh agent container per run, timed
    from its stub's start (it waits for the fill); the container and its volumes are removed after."""

    def __init__(self, repo: Path, head: str):
        self.repo = repo
        self.head = head
        self.count = 0
        self.plan: planner.LaunchPlan | None = None
        self.run: runner.Feed | None = None
        self.check = ""

    def prepare(self) -> None:
        self.count += 1
        name = f"bench-git-transfer-{os.getpid()}-{self.count}"
        self.plan = planner.plan_launch(session_request(self.repo, self.head, name))
        created = list(self.plan.create_argv)
        self.run = runner.Feed([*created[:2], "--label", BENCH_LABEL, *created[2:]])  # attached, as a launch runs it
        workspace.started(self.run)

    def action(self) -> None:
        assert self.plan is not None and self.run is not None
        workspace.send_fill(self.run, self.plan, self.repo, git.objects_for_checkout(self.repo, [self.head]))
        workspace.filled(self.run, self.plan)

    def cleanup(self) -> None:
        if self.run is not None:
            self.run.end()
            self.run = None
        if self.plan is None:
            return
        if not self.check:  # what the workspace looks like afterwards: reported, not asserted
            shown = subprocess.run(
                [
                    *planner.helper_run_args(self.plan.workspace_volume, images.image_ref("base"), 256),
                    "sh", "-c",
                    "printf '%s files, .git/shallow %s, git log %s' \"$(git ls-files | wc -l)\" "
                    "\"$(test -f .git/shallow && echo present || echo missing)\" "
                    "\"$(git log --oneline >/dev/null 2>&1 && echo works || echo fails)\"",
                ],
                capture_output=True, text=True,
            )
            self.check = shown.stdout.strip() or shown.stderr.strip()
        subprocess.run(["docker", "rm", "--force", self.plan.name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "--force", self.plan.workspace_volume, self.plan.home_volume],
                       capture_output=True)
        self.plan = None


def pack_case(repo: Path, head: str, pack_path: Path) -> Case:
    """Object list + `git pack-objects --stdout` into a file: the host half of populate."""
    list_path = pack_path.with_suffix(".list")

    def action() -> None:
        git.object_list_for_checkout(repo, [head], str(list_path))
        with open(list_path, "rb") as objects, open(pack_path, "wb") as out:
            subprocess.run(
                ["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], stdin=objects, stdout=out, check=True
            )

    return Case("  of which: object list + pack-objects", action)


def docker_floor_case(image: str) -> Case:
    argv = ["docker", "run", "--rm", "-i", "--network", "none", *hardening.hardening_args(1024), image, "true"]
    return Case("  of which: docker run --rm -i ... true", lambda: run(argv, stdin=subprocess.DEVNULL))


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000, help="commits of history (default 2000)")
    parser.add_argument("--files", type=int, default=2000, help="files in the checkout (default 2000)")
    parser.add_argument("--touch", type=int, default=5, help="files each later commit rewrites (default 5)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the median is shown (default 5)")
    args = parser.parse_args()
    image = images.image_ref("base")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        print(f"error: {image} is not present; run `coding-agents images build base`", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="bench-git-transfer-") as tmp:
        tmp_dir = Path(tmp)
        repo = tmp_dir / "repo"
        started = time.perf_counter()
        make_repo(repo, args.commits, args.files, args.touch)
        generated = time.perf_counter() - started
        head = run(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).stdout.strip()
        git_size = tree_bytes(repo / ".git")
        checkout_size = tree_bytes(repo) - git_size
        print(
            f"repo: {args.commits} commits, {args.files} files ({mib(checkout_size)} checked out), "
            f".git {mib(git_size)}; generated in {generated:.1f} s",
            flush=True,
        )

        target = tmp_dir / "clone"
        populate = Populate(repo, head)
        pack_path = tmp_dir / "checkout.pack"
        cases = [
            clone_case("git clone --local --no-hardlinks", repo, target, "--local", "--no-hardlinks"),
            clone_case("  the same, history only (--no-checkout)", repo, target, "--local", "--no-hardlinks",
                       "--no-checkout"),
            clone_case("git clone --local (hardlinks)", repo, target, "--local"),
            clone_case("git clone --depth 1 file://", repo, target, "--depth", "1"),
            Case("coding-agents fill (into a volume)", populate.action, populate.cleanup, populate.prepare),
            pack_case(repo, head, pack_path),
            docker_floor_case(image),
        ]
        # Round-robin, so a burst of load on a shared machine hits every method alike.
        try:
            for _ in range(args.runs):
                for case in cases:
                    case.measure()
        finally:
            populate.cleanup()
        pack_size = pack_path.stat().st_size

    print()
    print(f"{'method':42} {'median s':>9} {'best s':>8}")
    for case in cases:
        print(f"{case.label:42} {statistics.median(case.samples):9.2f} {min(case.samples):8.2f}")
    print()
    print(f"pack sent into the volume: {mib(pack_size)} ({pack_size / git_size:.0%} of the full .git, {mib(git_size)})")
    print(f"workspace after populate:  {populate.check}")
    print(f"machine: {os.cpu_count()} cores, git {run(['git', '--version'], text=True).stdout.split()[-1]}, "
          f"docker engine {run(['docker', 'version', '--format', '{{.Server.Version}}'], text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
