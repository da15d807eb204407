"""The fake-process plugin under threads: commands our code starts side by side (list-agents' asks,
a launch's concurrent checks) must match their registered fakes (tests/unit/conftest.py's lock)."""

from __future__ import annotations

import subprocess
import threading

COMMANDS = 4000  # a long table, each entry used once (a match deletes it): what broke without the lock
THREADS = 8


def test_commands_started_by_many_threads_at_once_each_get_their_fake(fp):
    for number in range(COMMANDS):
        fp.register(["echo", str(number)], stdout=str(number))
    errors: list[str] = []
    outputs: dict[int, str] = {}

    def start(first: int) -> None:
        try:
            for number in range(first, first + COMMANDS // THREADS):
                outputs[number] = subprocess.run(["echo", str(number)], capture_output=True, text=True).stdout
        except Exception as error:  # noqa: BLE001 - any failure of the fake is the finding
            errors.append(repr(error))

    threads = [threading.Thread(target=start, args=(index * COMMANDS // THREADS,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert outputs == {number: str(number) for number in range(COMMANDS)}
