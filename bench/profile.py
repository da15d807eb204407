#!/usr/bin/env python3
"""Where one command's time goes: every program it starts, with start offset and duration.

    python3 bench/profile.py [--pyz PATH] -- connect-agent NAME
    python3 bench/profile.py -- list-agents --all

Runs the command in this process (from this tree, or from the modules inside --pyz) with
subprocess.Popen wrapped, and prints to stderr, after the command ends, one line per child:
the offset from the start of the process (so imports and Python's start count too), its duration,
the thread it ran in, and the argv (cut at 120 characters). With PROFILE_OUT=FILE the report is
appended to FILE instead (for commands that own the terminal, like connect-agent). Nothing is changed on the engine
beyond what the command itself does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

STARTED = time.perf_counter()
_records: list[tuple[float, float, str, str]] = []
_lock = threading.Lock()
_Popen = subprocess.Popen


class _TimedPopen(_Popen):
    def __init__(self, args, *rest, **kwargs):
        self._profile_start = time.perf_counter()
        self._profile_argv = " ".join(str(a) for a in (args if isinstance(args, (list, tuple)) else [args]))
        self._profile_noted = False
        super().__init__(args, *rest, **kwargs)

    def _note(self) -> None:
        if not self._profile_noted and self.returncode is not None:
            self._profile_noted = True
            with _lock:
                _records.append((self._profile_start - STARTED, time.perf_counter() - self._profile_start,
                                 threading.current_thread().name, self._profile_argv))

    def wait(self, *args, **kwargs):
        code = super().wait(*args, **kwargs)
        self._note()
        return code

    def communicate(self, *args, **kwargs):
        out = super().communicate(*args, **kwargs)
        self._note()
        return out

    def poll(self):
        code = super().poll()
        self._note()
        return code


def report(out) -> None:
    total = time.perf_counter() - STARTED
    print(f"\n--- profile: {total:.3f} s in all, {len(_records)} children", file=out)
    for start, took, thread, argv in sorted(_records):
        print(f"  +{start:6.3f}  {took:6.3f} s  {thread[:12]:12}  {argv[:120]}", file=out)


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--pyz"]:
        import zipfile

        pyz = argv[1]
        argv = argv[2:]
        with zipfile.ZipFile(pyz) as archive:  # the zipapp's own modules, unpacked once
            target = f"/tmp/profile-{os.path.basename(pyz)}-{int(os.path.getmtime(pyz))}"
            if not os.path.isdir(target):
                archive.extractall(target)
        sys.path.insert(0, target)
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if argv[:1] == ["--"]:
        argv = argv[1:]
    subprocess.Popen = _TimedPopen
    from agents import cli

    imported = time.perf_counter() - STARTED
    try:
        code = cli.main(argv, prog="coding-agents")
    finally:
        # PROFILE_OUT=FILE: the report goes there (when the command owns the terminal, e.g. an attach)
        out = open(os.environ["PROFILE_OUT"], "a") if os.environ.get("PROFILE_OUT") else sys.stderr
        print(f"\n--- imports of agents.cli took {imported:.3f} s", file=out)
        report(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
