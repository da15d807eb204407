"""Your agent setup carried in: which files and settings keys, from where, layered under ours."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from agents import catalog, config, host_setup, logins, records
from agents.catalog import FirstRun, Told
from agents.errors import AgentsError

CLAUDE = catalog.get_agent("claude")
CODEX = catalog.get_agent("codex")
TOKEN = json.dumps({"refresh_token": "r", "access_token": "a"}).encode()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.fixture
def claude_home(tmp_path) -> Path:
    home = tmp_path / "home"
    write(home / ".claude" / "CLAUDE.md", "# my rules\n")
    write(home / ".claude" / "commands" / "review.md", "review it\n")
    write(home / ".claude" / "commands" / "deep" / "plan.md", "plan it\n")
    write(home / ".claude" / "agents" / "token.json", TOKEN)  # a token, whatever its name: never
    write(home / ".claude" / "projects" / "x.jsonl", "not carried\n")
    write(home / ".claude" / ".credentials.json", TOKEN)
    write(home / ".claude" / "settings.json", json.dumps({
        "model": "opus", "permissions": {"allow": ["Bash(npm test)"], "defaultMode": "plan"},
        "hooks": {"PostToolUse": [{"command": "curl evil"}]}, "apiKeyHelper": "/bin/print-key",
        "statusLine": {"command": "x"}, "env": {"SECRET": "s"}}))
    return home


def test_read_carries_instructions_and_commands_and_only_the_chosen_settings_keys(claude_home):
    carried = host_setup.read(CLAUDE, CLAUDE.host_setup.carry, claude_home, {})

    assert sorted(path for path, _, _ in carried.files) == [
        ".claude/CLAUDE.md", ".claude/commands/deep/plan.md", ".claude/commands/review.md"]
    assert carried.skipped == (str(claude_home / ".claude" / "agents" / "token.json"),)
    assert carried.settings == ((".claude/settings.json",
                                 {"model": "opus", "permissions": {"allow": ["Bash(npm test)"], "defaultMode": "plan"}}),)


def test_read_follows_the_variable_that_moves_the_cli_folder(tmp_path):
    moved = tmp_path / "elsewhere"
    write(moved / "AGENTS.md", "codex rules\n")
    write(tmp_path / "home" / ".codex" / "AGENTS.md", "not these\n")

    carried = host_setup.read(CODEX, (".codex/AGENTS.md",), tmp_path / "home", {"CODEX_HOME": str(moved)})

    assert [(path, data) for path, data, _ in carried.files] == [(".codex/AGENTS.md", b"codex rules\n")]


def test_bundle_layers_your_settings_under_ours(claude_home):
    # An agent told a boundary key in settings.json: ours wins, your other keys stay.
    told = FirstRun(".claude/settings.json", "json", '{"permissions": {"defaultMode": "bypassPermissions"}}')
    agent = records.replace(CLAUDE, autonomy=(("full", Told(settings=(told,))),))
    carried = host_setup.read(agent, agent.host_setup.carry, claude_home, {})

    bundle = logins.plan_bundle(agent, [], {}, carried=carried)

    by_path = {item["path"]: base64.b64decode(item["data"]) for item in bundle["files"]}
    settings = json.loads(by_path["/home/agent/.claude/settings.json"])
    assert settings == {"model": "opus", "permissions": {"allow": ["Bash(npm test)"], "defaultMode": "bypassPermissions"}}
    assert by_path["/home/agent/.claude/CLAUDE.md"] == b"# my rules\n"
    assert not any(b"curl evil" in data or b"print-key" in data for data in by_path.values())
    assert "/home/agent/.claude/.credentials.json" not in by_path  # logins come only as logins


def test_no_host_setup_carries_nothing(claude_home):
    assert logins.plan_bundle(CLAUDE, [], {}, carried=None)["files"] == logins.plan_bundle(CLAUDE, [], {})["files"]


@pytest.mark.parametrize(("entry", "why"), [
    ("../.ssh/id_rsa", "is not a plain path relative to your home"),
    ("/etc/passwd", "is not a plain path relative to your home"),
    (".ssh/config", "is not inside ~/.claude/"),
    (".claude/.credentials.json", "is a login or a file the launch writes"),
    (".claude", "is not inside ~/.claude/"),
])
def test_carry_entries_are_refused_outside_the_cli_folder_or_on_a_login(entry, why):
    assert host_setup.entry_refusal(CLAUDE, entry) == why


def test_config_carry_replaces_the_list_and_a_bad_entry_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[agents.claude]\ncarry = [".claude/CLAUDE.md"]\n\n[agents.mine]\nbase = "claude"\n')
    loaded = config.load_config(path)
    assert loaded.carry_for(CLAUDE) == (".claude/CLAUDE.md",)
    assert loaded.carry_for(loaded.agents[0]) == (".claude/CLAUDE.md",)  # a user's agent: its base agent's
    assert loaded.carry_for(CODEX) == CODEX.host_setup.carry

    path.write_text('[agents.claude]\ncarry = ["../.ssh/id_rsa"]\n')
    with pytest.raises(AgentsError) as caught:
        config.load_config(path)
    assert caught.value.message.endswith("[agents.claude] carry: '../.ssh/id_rsa' is not a plain path relative to your home")
    assert caught.value.hint.startswith("e.g. carry = ")


@pytest.mark.parametrize("agent", [agent for agent in catalog.AGENTS if agent.host_setup.carry])
def test_nothing_carried_is_ever_copied_back(agent, tmp_path):
    returned = {container for container, _ in logins.returned_files(agent, tmp_path, {})}
    carried = {f"/home/agent/{entry.rstrip('/')}" for entry in agent.host_setup.carry}
    assert returned and not any(path == entry or path.startswith(entry + "/") for path in returned for entry in carried)
    if agent.host_setup.settings:
        assert f"/home/agent/{agent.host_setup.settings}" not in returned
