"""The secret broker daemon (agents.broker.serve) in a thread of the test process, for unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from agents import broker


@contextmanager
def broker_thread(monkeypatch) -> Iterator[list]:
    """Run broker.serve() until the block ends; yields the socket servers it made (control first)."""
    servers: list[broker._Server] = []

    class Recorded(broker._Server):
        def __init__(self, path, answer):
            super().__init__(path, answer)
            servers.append(self)

        def serve_forever(self, poll_interval=0.01):  # shutdown() then takes 10 ms, not 500
            super().serve_forever(poll_interval)

    monkeypatch.setattr(broker, "_Server", Recorded)
    thread = threading.Thread(target=broker.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not broker.running():
        if time.monotonic() > deadline:
            raise RuntimeError("the broker did not start")
        time.sleep(0.01)
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        thread.join(timeout=5)
