"""agents/files.py: the files we keep in the state and runtime folders are private to the user."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agents import bridges, files, netlog, paths, runner


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    """022, as on most machines (files would be 0644 without our care); restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("open_mode", ["a", "ab", "w", "wb"])
def test_open_private_creates_a_0600_file_in_a_0700_folder(tmp_path, open_mode):
    path = tmp_path / "new" / "state.lock"

    with files.open_private(path, open_mode) as opened:
        opened.write(b"x" if "b" in open_mode else "x")

    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
    assert opened.name == str(path)


def test_open_private_appends_and_makes_an_old_0644_file_private(tmp_path):
    path = tmp_path / "old.log"
    path.write_text("first\n")
    path.chmod(0o644)

    with files.open_private(path, "a", encoding="utf-8") as log:
        log.write("second\n")

    assert path.read_text() == "first\nsecond\n"
    assert mode(path) == 0o600


def test_state_files_we_create_are_private(state_home, fp, tmp_path):
    files.append_audit(bridges.audit_log("s1"), decision="x")
    with files.open_private(paths.logins_lock(), "a"):
        pass
    fp.register(["docker", "inspect", fp.any()], returncode=1)
    netlog.collect("s1")
    fp.register(["true"])
    runner.spawn_detached(["true"], tmp_path / "helper.log")

    state = state_home / "coding-agents"
    found = {str(path.relative_to(state)): mode(path) for path in state.rglob("*") if path.is_file()}
    assert found == {"bridges/s1.log": 0o600, "logins.lock": 0o600, "network/s1.lock": 0o600}
    assert mode(tmp_path / "helper.log") == 0o600
    assert json.loads(bridges.audit_log("s1").read_text())["decision"] == "x"
