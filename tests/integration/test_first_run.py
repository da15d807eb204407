"""The real agent CLIs with our login delivery and first-run answers: what the user sees first.

They cannot log in here (no internet), so "logged in" means a login the CLI accepts without
asking (an OAuth token variable, an API-key auth.json): then it must open straight into its
prompt, with no trust or onboarding question. Without a host login, the CLI's own login flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import agent_screen, docker, launched_name, wait_for, write_config


def wait_screen(name: str, wanted: str, timeout: float = 90) -> str:
    return wait_for(lambda: wanted in agent_screen(name) and agent_screen(name), timeout, f"{wanted!r} on {name}'s screen",
                    interval=1)


@pytest.fixture
def home(tmp_path, user_home) -> Path:
    """A host home of its own (same config as the suite's), so logins put here stay in this test."""
    fresh = tmp_path / "home"
    write_config(fresh)
    return fresh


def launch(cli, home: Path, repo: Path, agent: str, env: dict[str, str] | None = None) -> str:
    result = cli("launch-agent", agent, str(repo), "--network-proxy", "restricted",
                 env={"HOME": str(home), **(env or {})})
    return launched_name(result)


def test_claude_logged_in_opens_straight_at_its_prompt(cli, home, repo):
    name = launch(cli, home, repo, "claude", env={"CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-test-only-not-a-token"})

    shown = wait_screen(name, "❯")

    assert "/workspace" in shown
    for question in ("Welcome to Claude Code", "Choose the text style", "Do you trust", "Select login method"):
        assert question not in shown, shown
    # The answers went into the config file Claude reads (CLAUDE_CONFIG_DIR is the tmpfs).
    config = json.loads(docker("exec", name, "cat", "/home/agent/.claude/.claude.json").stdout)
    assert config["hasCompletedOnboarding"] is True
    assert config["projects"]["/workspace"]["hasTrustDialogAccepted"] is True


def test_claude_without_a_login_shows_its_own_onboarding_and_login(cli, home, repo):
    # Without a login (and without internet) Claude shows its welcome, then quits; launch says so.
    result = cli("launch-agent", "claude", str(repo), "--network-proxy", "restricted", env={"HOME": str(home)})

    assert "Welcome to Claude Code" in result.output  # onboarding was not skipped: its login comes next
    assert "Do you trust" not in result.output


def test_codex_logged_in_opens_straight_at_its_prompt(cli, home, repo):
    (home / ".codex").mkdir()
    (home / ".codex" / "auth.json").write_text(json.dumps(
        {"auth_mode": "apikey", "OPENAI_API_KEY": "sk-test-only-not-a-key", "tokens": None, "last_refresh": None}))

    name = launch(cli, home, repo, "codex")

    shown = wait_screen(name, "Ask Codex to do anything")
    for question in ("Sign in with ChatGPT", "Do you trust", "allow Codex to work in this folder"):
        assert question not in shown, shown


def test_codex_without_a_login_shows_its_sign_in(cli, home, repo):
    name = launch(cli, home, repo, "codex")

    wait_screen(name, "Sign in with ChatGPT")


def test_copilot_trusts_the_workspace_and_asks_for_its_login(cli, home, repo):
    name = launch(cli, home, repo, "copilot")

    shown = wait_screen(name, "/login")

    assert "Do you trust the files in this folder?" not in shown
    assert "/workspace" in shown


def test_gemini_trusts_the_workspace_and_shows_its_auth_dialog(cli, home, repo):
    name = launch(cli, home, repo, "gemini")

    shown = wait_screen(name, "How would you like to authenticate")

    assert "Do you trust" not in shown
    trusted = json.loads(docker("exec", name, "cat", "/home/agent/.gemini/trustedFolders.json").stdout)
    assert trusted == {"/workspace": "TRUST_FOLDER"}
