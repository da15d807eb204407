"""Unit-test isolation: no test reads or writes the real home, and no ambient docker/pex state leaks in."""

from __future__ import annotations

import shutil
import tempfile
import threading

import pytest
from pytest_subprocess import process_dispatcher

from agents import catalog, engine, engine_program, runner
from agents.session import facts

# pytest-subprocess matches a command by walking its table, and a match may delete an entry: two
# threads starting commands at once (list-agents asks side by side) break that walk ("dictionary
# changed size during iteration"). One lock around the match makes the fake safe for threads.
_MATCH_LOCK = threading.Lock()
_unlocked_match = process_dispatcher.ProcessDispatcher._ProcessDispatcher__dispatch.__func__


def _locked_match(cls, command):
    with _MATCH_LOCK:
        return _unlocked_match(cls, command)


process_dispatcher.ProcessDispatcher._ProcessDispatcher__dispatch = classmethod(_locked_match)

# Variables that change which engine, program name or config a run sees.
_AMBIENT_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "CONTAINER_HOST", runner.ENGINE_VARIABLE, "CODING_AGENTS_PROG", "PEX", "_", "XDG_STATE_HOME",
                      "XDG_DATA_HOME", "XDG_CACHE_HOME", "SSH_AUTH_SOCK")
# A developer's own logins, endpoints (ANTHROPIC_BASE_URL...) and moved CLI homes (CODEX_HOME...) would
# otherwise reach the plans: launcher and logins read os.environ.
_AGENT_VARIABLES = tuple(sorted({
    *(name for agent in catalog.AGENTS for name in (*agent.login_env, *agent.endpoint_env)),
    *(item.host_moved_by[0] for agent in catalog.AGENTS for item in (*agent.login_files, *agent.host_settings)
      if item.host_moved_by),
}))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR into tmp_path (the other XDG roots then follow HOME);
    drop ambient docker/pex and agent CLI variables."""
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    config_dir = tmp_path / "xdg-config"
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_dir))
    monkeypatch.delenv("CODING_AGENTS_CONFIG", raising=False)
    for name in (*_AMBIENT_VARIABLES, *_AGENT_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    # Session sockets go to $XDG_RUNTIME_DIR/coding-agents: a short folder (socket paths max 107 bytes).
    runtime = tempfile.mkdtemp(prefix="ca-run-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    # Unit tests never talk to a real engine: a docker call that escapes the fakes fails fast.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine-in-unit-tests.sock")
    engine._current.cache_clear()  # the endpoint is asked once per process: not once per test run
    # The engine's program is chosen once per process too: docker here, whatever this machine has.
    monkeypatch.setattr(engine_program, "_chosen", "docker")
    monkeypatch.setattr(runner, "_engine_kinds", {"docker": "docker"})  # (even where docker is podman-docker's)
    yield home_dir
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def fake_which(monkeypatch):
    """Control which programs agents.runner.which finds: call it with the names that exist."""

    def install(*present: str) -> None:
        monkeypatch.setattr("agents.runner.which", lambda name: f"/usr/bin/{name}" if name in present else None)

    return install


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    """XDG_STATE_HOME in tmp_path: audit logs, bridge settings, the logins lock."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


@pytest.fixture(autouse=True)
def no_host_addresses(monkeypatch):
    """Plans and proxies never depend on the addresses of the engine's host the tests run with
    (they are a host fact; test_engine_host.py tests how they are read and asked)."""
    from agents import engine_host

    monkeypatch.setattr(facts, "engine_host_addresses", lambda: ())
    monkeypatch.setattr(engine_host, "learn", lambda image, fresh=False: ())
