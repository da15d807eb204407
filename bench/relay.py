#!/usr/bin/env python3
"""One bridge request through the relay, against the old read-only bind mount of the socket, same run.

    python3 bench/relay.py [--runs 300] [--size 2048]

Starts one container of the base image with the session's hardening and both ways in: the host
socket's folder bind-mounted read-only (how bridges worked before the relay, the raw baseline),
and the relay's tmpfs with `ca-stub relay` run through `docker exec -i --user 1001`, whose host end
(agents/relay.py) connects each connection to the same host socket. Inside, one Python process
makes RUNS requests of SIZE bytes each way, alternating the two paths, each as the stub makes
them (connect, send, half-close, read the answer to EOF), and prints the medians and p95. The
host socket answers at once, so the numbers are the transport alone; a real bridge request adds
its handler's start (the same on both paths). Measures only; removes its container.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_LABEL, ROOT, base_image, run  # noqa: E402

INSIDE = r"""
import json, socket, sys, time
runs, size = int(sys.argv[1]), int(sys.argv[2])
paths = {"bind mount (raw)": "/run/bench-bind/echo.sock", "relay": "/run/coding-agents/echo.sock"}
payload = b"x" * size
times = {name: [] for name in paths}
def once(path):
    started = time.perf_counter()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(path)
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := c.recv(65536):
            got += chunk
    assert len(got) == size, len(got)
    return time.perf_counter() - started
for name, path in paths.items():  # warm-up
    for _ in range(10):
        once(path)
for _ in range(runs):
    for name, path in paths.items():
        times[name].append(once(path))
print(json.dumps(times))
"""


def echo_server(path: Path) -> socket.socket:
    """The host socket: reads a request to EOF and sends it back, as fast as it can."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o666)  # the bind-mount path: uid 1000 inside connects directly
    listener.listen(128)

    def serve(connection: socket.socket) -> None:
        with connection:
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
            connection.sendall(data)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="requests on each path (default 300)")
    parser.add_argument("--size", type=int, default=2048, help="bytes of each request and answer (default 2048)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from agents import hardening, relay

    image = base_image()
    folder = Path(tempfile.mkdtemp(prefix="ca-bench-", dir="/tmp"))
    os.chmod(folder, 0o755)
    listener = echo_server(folder / "echo.sock")
    name = f"ca-bench-relay-{uuid.uuid4().hex[:8]}"
    link = None
    try:
        run(["docker", "run", "--detach", "--name", name, "--label", f"{BENCH_LABEL}=relay",
             *hardening.hardening_args(256), "--network", "none",
             "--mount", f"type=bind,source={folder},target=/run/bench-bind,readonly",
             *relay.tmpfs_args("/run/coding-agents"), image, "sleep", "infinity"])
        plan = relay.LinkPlan(name, "/run/coding-agents", (("echo.sock", str(folder / "echo.sock")),))
        ready = threading.Event()
        link = threading.Thread(target=relay.run_link, args=(plan, ready.set), daemon=True)
        link.start()
        if not ready.wait(30):
            raise SystemExit("error: the relay's container end did not start")
        done = subprocess.run(["docker", "exec", "-i", "--user", "1000", name, "python3", "-", str(args.runs),
                               str(args.size)], input=INSIDE, capture_output=True, text=True, check=True)
        times = json.loads(done.stdout)
    finally:
        run(["docker", "rm", "--force", name], check=False)
        listener.close()
        if link is not None:
            link.join(10)
        shutil.rmtree(folder, ignore_errors=True)
    base = quantile(times["bind mount (raw)"], 0.5)
    print(f"{args.runs} requests of {args.size} bytes each way, from inside the container (ms):")
    print(f"{'path':<20} {'median':>8} {'p95':>8} {'vs raw':>8}")
    for path, values in times.items():
        median = quantile(values, 0.5)
        print(f"{path:<20} {median * 1000:8.3f} {quantile(values, 0.95) * 1000:8.3f} {median / base:7.1f}x")
    print(f"added by the relay: {(quantile(times['relay'], 0.5) - base) * 1000:.3f} ms per request (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
