"""What the session benchmarks share: which tools to time, fake sessions, a terminal, the table.

Every container, volume and network a benchmark makes carries BENCH_LABEL (plus its own run tag),
and each benchmark removes exactly what it made.
"""

from __future__ import annotations

import json
import os
import pty
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYZ = ROOT / "dist" / "coding-agents.pyz"
sys.path.insert(0, str(ROOT))

BENCH_LABEL = "coding-agents.bench"
SESSION_LABEL = "coding-agents.session"
HEALTH_INTERVAL = "5s"  # the stub's (planner: --health-interval): how long list-agents' copy of a report holds


def run(argv: Sequence[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, **kwargs)


def add_tool_arguments(parser) -> None:
    parser.add_argument("--pyz", action="append", type=Path, metavar="PATH",
                        help="a zipapp to time (repeat to compare builds in the same run; default "
                             "dist/coding-agents.pyz, or `python3 -m agents` from this tree)")


def tools(args) -> list[tuple[str, list[str], dict | None]]:
    """[(shown name, argv prefix, env)] for each tool to time; each is warmed up once."""
    found = []
    for path in args.pyz or ([PYZ] if PYZ.is_file() else []):
        found.append((path.stem, [str(path.resolve())], None))
    if not found:
        found.append(("source", [sys.executable, "-m", "agents"], {**os.environ, "PYTHONPATH": str(ROOT)}))
    for _, argv, env in found:
        run([*argv, "--version"], env=env)  # a fresh zipapp unpacks its venv on its first run
    return found


def base_image() -> str:
    from agents import images

    image = images.image_ref("base")
    if run(["docker", "image", "inspect", image], check=False).returncode != 0:
        raise SystemExit(f"error: {image} is not present; run `coding-agents images build base`")
    return image


def make_repo(repo: Path, files: int = 20) -> None:
    """A small repository with two commits."""
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


class FakeSessions:
    """Containers that look like sessions to list-agents (the session labels, a health report)
    without being one: `sleep` in the base image. Only what this object made is removed."""

    def __init__(self, tag: str, image: str, repo: Path, running: bool = True) -> None:
        self.tag, self.image, self.repo, self.running = tag, image, repo, running
        self.names: list[str] = []
        self.tip = run(["git", "-C", str(repo), "rev-parse", "HEAD"]).stdout.strip()

    def _create(self, name: str) -> None:
        report = json.dumps({"tip": self.tip, "ahead": 0, "dirty": False})
        labels = {BENCH_LABEL: self.tag, SESSION_LABEL: name, "coding-agents.managed": "true",
                  "coding-agents.agent": "shell", "coding-agents.repo": str(self.repo),
                  "coding-agents.branch": f"shell/{name}", "coding-agents.base": self.tip,
                  "coding-agents.network": "restricted", "coding-agents.mode": "launch",
                  "coding-agents.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "coding-agents.role": "agent"}
        argv = ["docker", "run" if self.running else "create", *(["-d"] if self.running else []),
                "--name", name, "--network", "none", "--entrypoint", "sleep",
                *[arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")],
                "--health-cmd", f"echo '{report}'", "--health-interval", HEALTH_INTERVAL, "--health-start-period", "0s",
                self.image, "infinity"]
        run(argv)

    def grow_to(self, count: int) -> None:
        new = [f"{self.tag}-fake-{index}" for index in range(len(self.names), count)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._create, new))
        self.names += new

    def shrink_to(self, count: int) -> None:
        gone, self.names = self.names[count:], self.names[:count]
        if gone:
            run(["docker", "rm", "--force", *gone], check=False)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every running fake has its first health report (as a real session soon does)."""
        if self.running:
            wait_healthy(self.names, timeout)

    def remove(self) -> None:
        self.shrink_to(0)


def wait_healthy(names: Sequence[str], timeout: float) -> None:
    """Until every one of the containers has its first engine health report (or timeout)."""
    deadline = time.monotonic() + timeout
    while names and time.monotonic() < deadline:
        states = run(["docker", "inspect", "--format", "{{.State.Health.Status}}", *names],
                     check=False).stdout.split()
        if states and all(state == "healthy" for state in states):
            return
        time.sleep(0.5)


def remove_session_leftovers(name: str) -> None:
    """Whatever a failed launch of `name` (a name this benchmark chose) may have left."""
    run(["docker", "rm", "--force", name, f"{name}-proxy", f"{name}-mcp"], check=False)
    run(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home", f"{name}-mcp"], check=False)
    run(["docker", "network", "rm", f"{name}-internal", f"{name}-egress"], check=False)


def time_to_screen(argv: Sequence[str], env: dict | None = None, marker: bytes = b"$",
                   detach: bytes = b"\x02d", timeout: float = 30.0) -> float:
    """Seconds from starting argv in a new terminal (80x24) until its output shows `marker` after
    the terminal was cleared or drawn (a tmux attach), then detach (Ctrl-b d) and wait for it to end."""
    import fcntl
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes argv in the terminal
        try:
            os.execvpe(argv[0], list(argv), env or os.environ)
        finally:
            os._exit(127)
    started = time.perf_counter()
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    shown = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if shown is None and b"\x1b[" in seen and marker in seen:
                shown = time.perf_counter() - started
                os.write(fd, detach)
        if shown is None:
            raise RuntimeError(f"no screen from {' '.join(argv)} within {timeout:.0f} s: {seen[-300:]!r}")
        return shown
    finally:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                if select.select([fd], [], [], 0.05)[0]:
                    os.read(fd, 65536)
            except OSError:
                time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def interleave(cases: dict[str, Callable[[], float | None]], runs: int) -> dict[str, list[float]]:
    """Each case once per round, round after round; a case returning None times itself by the call."""
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for index in range(1, runs + 1):
        for label, case in cases.items():
            started = time.perf_counter()
            value = case()
            samples[label].append(time.perf_counter() - started if value is None else value)
        print(f"round {index}/{runs} done", file=sys.stderr, flush=True)
    return samples


def print_table(samples: dict[str, list[float]], baseline: str, title: str) -> None:
    """Each row's median and best, and its ratio to the baseline's median; where the rows were
    sampled in rounds (one value of each per round), also the median of the round-by-round ratios
    (paired: a machine whose speed drifts during the run moves both sides of each ratio alike)."""
    print(title)
    base = statistics.median(samples[baseline])
    print(f"{'what':52} {'median s':>9} {'best s':>8} {'x baseline':>10} {'x paired':>9}")
    for label, values in samples.items():
        median = statistics.median(values)
        paired = ""
        if len(values) == len(samples[baseline]) and all(samples[baseline]):
            paired = f"{statistics.median(v / b for v, b in zip(values, samples[baseline], strict=True)):8.2f}x"
        print(f"{label:52} {median:9.3f} {min(values):8.3f} {median / base:9.1f}x {paired:>9}")
