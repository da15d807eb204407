"""The contract between the host and the code inside containers: agents/session/naming.py on one
side, the stub's paths (stub/ca_stub/paths.py) and images/ on the other. Each name the two share
must agree."""

from __future__ import annotations

import importlib.util
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from agents import bridges
from agents.session import naming, planner

ROOT = Path(__file__).resolve().parents[2]
STUB_PATHS = ROOT / "stub" / "ca_stub" / "paths.py"


@pytest.fixture
def stub(monkeypatch):
    """The stub's paths module, loaded on its own (it imports nothing of ours)."""
    # It reads a few locations from variables the launch sets; its defaults must agree too.
    for key in ("CODING_AGENTS_BRIDGE_DIR", "CODING_AGENTS_MCP_DIR", "CODING_AGENTS_BROKER_SOCKET"):
        monkeypatch.delenv(key, raising=False)
    loader = SourceFileLoader("ca_stub_paths", str(STUB_PATHS))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("ca_stub_paths", loader))
    loader.exec_module(module)
    return module


def test_container_paths_and_the_tmux_session_agree(stub):
    assert stub.WORKSPACE == naming.WORKSPACE
    assert stub.TMUX_SESSION == naming.TMUX_SESSION
    assert stub.BRIDGE_DIR == bridges.CONTAINER_DIR
    assert stub.MCP_SOCKETS == naming.MCP_DIR
    assert Path(stub.BROKER_SOCKET).parent == Path(naming.BROKER_DIR)


def test_the_fill_lines_agree(stub):
    """What the stub prints on the container's output while the launch's run reads it."""
    assert (stub.FILL_WAITING, stub.FILL_DONE, stub.FILL_FAILED) == (naming.FILL_WAITING, naming.FILL_DONE, naming.FILL_FAILED)
    assert stub.WORKSPACE_FILLED == naming.WORKSPACE_FILLED
    assert stub.WAIT_WORKSPACE_VAR == naming.WAIT_WORKSPACE_VAR


def test_the_bridge_sockets_the_stub_calls_are_the_ones_the_host_serves(stub):
    from tests.unit.test_bridges import LOGIN_FILES, SSH, settings

    served = {listener.socket: listener.handler for listener in bridges.listeners(
        settings(login_files=LOGIN_FILES, credential_hosts=("github.com",), signing=SSH))}
    assert served[stub.LOGINS_SOCKET] == "logins"
    assert served[stub.CREDENTIAL_SOCKET] == "git-credential"
    assert served[stub.SIGN_SOCKET] == "sign"


def test_the_agent_user_of_the_image_is_the_uid_and_home_the_host_uses():
    dockerfile = (ROOT / "images" / "base" / "Dockerfile").read_text()
    created = re.search(r"useradd --uid (\d+) .*--create-home .* agent", dockerfile)
    assert created and int(created.group(1)) == naming.AGENT_UID
    assert naming.HOME == "/home/agent"  # useradd's --create-home for user "agent"
    assert naming.agent_exec("s", "true") == ["docker", "exec", "--user", str(naming.AGENT_UID), "s", "true"]


def test_every_variable_the_stub_reads_is_one_the_launch_sets():
    # paths.py names every variable the stub reads (test_stub checks no other module does).
    read = set(re.findall(r'"(CODING_AGENTS_[A-Z_]+)"', STUB_PATHS.read_text()))
    from tests.unit.test_session_planner import make_request

    argv = " ".join(planner.plan_launch(make_request()).create_argv)
    set_by_launch = set(re.findall(r"\b(CODING_AGENTS_[A-Z_]+)=", argv))
    # Not on every agent container: the logins wait (only when there are logins), the bridge
    # folder (only with a bridge); the MCP and broker locations are never set, the stub's
    # defaults (checked above) are the contract.
    elsewhere = {"CODING_AGENTS_WAIT_LOGINS", "CODING_AGENTS_BRIDGE_DIR", "CODING_AGENTS_MCP_DIR",
                 "CODING_AGENTS_BROKER_SOCKET"}
    assert read - set_by_launch <= elsewhere, read - set_by_launch - elsewhere
    assert {"CODING_AGENTS_SESSION", "CODING_AGENTS_BRANCH", "CODING_AGENTS_BASE"} <= set_by_launch
