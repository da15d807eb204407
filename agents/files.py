"""Host files with secrets or trust in them: private folders, atomic private writes, private state
files (locks, logs, pid files) and audit lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agents.errors import AgentsError


def own_private_dir(path: Path) -> None:
    """Create path 0700, and refuse one someone else made (a shared /tmp is a place for traps)."""
    import stat

    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
        raise AgentsError(f"{path} is not a folder of yours", hint="remove it, or set XDG_RUNTIME_DIR")
    os.chmod(path, 0o700)


def write_private(target: Path, data: bytes, mtime_ns: int | None = None) -> None:
    """Replace target atomically with a 0600 file (fsynced; readers see the old or the new one)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.coding-agents-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mtime_ns is not None:
            os.utime(temporary, ns=(mtime_ns, mtime_ns))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def open_private(path: Path, mode: str = "a", encoding: str | None = None):
    """open() for our state files (locks, logs, pid files): created 0600, in a folder created 0700.

    An existing file of ours is made 0600 too (an older version made them 0644).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    opened = open(path, mode, encoding=encoding, opener=lambda name, flags: os.open(name, flags, 0o600))  # noqa: SIM115
    try:
        if os.fstat(opened.fileno()).st_uid == os.geteuid():
            os.fchmod(opened.fileno(), 0o600)
    except BaseException:
        opened.close()
        raise
    return opened


def append_audit(path: Path, **event: object) -> None:
    """One JSON line with the time, appended under a lock (several processes write at once)."""
    import fcntl
    from datetime import UTC, datetime

    line = json.dumps({"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **event})
    with open_private(path, "a") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(line + "\n")
