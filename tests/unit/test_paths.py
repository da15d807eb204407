"""agents/paths.py: where the tool keeps things, XDG-aware, and at the places it always used.

The layout test pins every location to the path it had before paths.py existed: a change there
moves existing users' files (their config, secret store, logs), so it has to be deliberate.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agents import bridges, broker, netlog, paths, remote

XDG_ROOTS = {  # variable -> (the root it moves, its default under HOME)
    "XDG_CONFIG_HOME": (paths.config_dir, ".config"),
    "XDG_DATA_HOME": (paths.data_dir, ".local/share"),
    "XDG_STATE_HOME": (paths.state_dir, ".local/state"),
    "XDG_CACHE_HOME": (paths.cache_dir, ".cache"),
}


@pytest.fixture
def no_xdg(monkeypatch, isolated_home) -> Path:
    for variable in (*XDG_ROOTS, "XDG_RUNTIME_DIR", paths.CONFIG_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return isolated_home


def test_defaults_are_the_places_the_tool_always_used(no_xdg):
    home = no_xdg
    store = home / ".local/share/coding-agents/secrets"
    broker_id = hashlib.sha256(str(store).encode()).hexdigest()[:10]
    session_id = hashlib.sha256(b"claude-app-session-1").hexdigest()[:16]
    runtime = Path("/tmp") / f"coding-agents-{os.geteuid()}"

    assert {
        "config": paths.config_file(),
        "approvals": paths.mcp_approvals_file(),
        "secrets": paths.secrets_dir(),
        "network log": netlog.log_path("claude-app-session-1"),
        "bridge settings": bridges.settings_path("claude-app-session-1"),
        "bridge audit": bridges.audit_log("claude-app-session-1"),
        "broker audit": broker.audit_log(),
        "logins lock": paths.logins_lock(),
        "bridge log": paths.helper_log("bridge", "claude-app-session-1"),
        "broker log": paths.helper_log("broker", "broker"),
        "clone": remote.clone_path(remote.parse("https://git.example.com/team/app.git")),
        "sockets": bridges.sockets_dir("claude-app-session-1"),
        "broker sockets": broker.control_socket(),
    } == {
        "config": home / ".config/coding-agents/config.toml",
        "approvals": home / ".config/coding-agents/mcp-approvals.json",
        "secrets": store,
        "network log": home / ".local/state/coding-agents/network/claude-app-session-1.log",
        "bridge settings": home / ".local/state/coding-agents/bridges/claude-app-session-1/settings.json",
        "bridge audit": home / ".local/state/coding-agents/bridges/claude-app-session-1.log",
        "broker audit": home / ".local/state/coding-agents/broker/audit.log",
        "logins lock": home / ".local/state/coding-agents/logins.lock",
        "bridge log": home / ".local/state/coding-agents/bridge-claude-app-session-1.log",
        "broker log": home / ".local/state/coding-agents/broker-broker.log",
        "clone": home / ".cache/coding-agents/repos/git.example.com/team/app",
        "sockets": runtime / session_id,
        "broker sockets": runtime / f"broker-{broker_id}" / "control.sock",
    }


@pytest.mark.parametrize("variable", sorted(XDG_ROOTS))
def test_each_xdg_variable_moves_its_root(no_xdg, monkeypatch, tmp_path, variable):
    root, _ = XDG_ROOTS[variable]
    monkeypatch.setenv(variable, str(tmp_path / "elsewhere"))

    assert root() == tmp_path / "elsewhere" / "coding-agents"
    for other, (other_root, default) in XDG_ROOTS.items():
        if other != variable:
            assert other_root() == no_xdg / default / "coding-agents"


@pytest.mark.parametrize("value", ["", "relative/folder", "."], ids=["empty", "relative", "dot"])
@pytest.mark.parametrize("variable", sorted(XDG_ROOTS))
def test_an_empty_or_relative_xdg_variable_counts_as_unset(no_xdg, monkeypatch, variable, value):
    """The XDG spec: an empty variable means the default, and a relative path is to be ignored."""
    root, default = XDG_ROOTS[variable]
    monkeypatch.setenv(variable, value)

    assert root() == no_xdg / default / "coding-agents"


def test_the_roots_hold_their_folders(tmp_path, monkeypatch):
    for variable in XDG_ROOTS:
        monkeypatch.setenv(variable, str(tmp_path / variable))

    assert paths.secrets_dir() == tmp_path / "XDG_DATA_HOME/coding-agents/secrets"
    assert paths.network_dir() == tmp_path / "XDG_STATE_HOME/coding-agents/network"
    assert paths.bridges_dir() == tmp_path / "XDG_STATE_HOME/coding-agents/bridges"
    assert paths.broker_state_dir() == tmp_path / "XDG_STATE_HOME/coding-agents/broker"
    assert paths.helper_log("reap", "s1") == tmp_path / "XDG_STATE_HOME/coding-agents/reap-s1.log"
    assert paths.repos_dir() == tmp_path / "XDG_CACHE_HOME/coding-agents/repos"
    assert paths.mcp_approvals_file() == tmp_path / "XDG_CONFIG_HOME/coding-agents/mcp-approvals.json"


def test_the_runtime_folder_follows_xdg_runtime_dir_when_it_exists(no_xdg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))

    assert paths.runtime_dir() == tmp_path / "coding-agents"


@pytest.mark.parametrize("value", ["", "relative", "/no/such/folder"], ids=["empty", "relative", "absent"])
def test_the_runtime_folder_is_per_uid_in_tmp_without_a_usable_xdg_runtime_dir(no_xdg, monkeypatch, tmp_path, value):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", value)

    assert paths.runtime_dir() == Path("/tmp") / f"coding-agents-{os.geteuid()}"


def test_coding_agents_config_names_the_config_file(no_xdg, monkeypatch):
    monkeypatch.setenv("CODING_AGENTS_CONFIG", "mine.toml")  # our own variable: relative is fine

    assert paths.config_file() == Path("mine.toml")
    assert paths.mcp_approvals_file() == no_xdg / ".config/coding-agents/mcp-approvals.json"  # not beside it


def test_an_empty_coding_agents_config_means_the_default(no_xdg, monkeypatch):
    monkeypatch.setenv("CODING_AGENTS_CONFIG", "")

    assert paths.config_file() == no_xdg / ".config/coding-agents/config.toml"


def test_asking_creates_nothing(no_xdg):
    for where in (paths.config_file, paths.secrets_dir, paths.logins_lock, paths.repos_dir):
        assert not where().exists()

    assert list(no_xdg.iterdir()) == []
