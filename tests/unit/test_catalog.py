"""agents/catalog.py: the agent rows and every pinned version."""

from __future__ import annotations

import json
import re

import pytest

from agents import catalog, records
from agents.errors import AgentsError

EXACT_VERSION = re.compile(r"\d+(\.\d+)+")


def test_agents_names_are_unique():
    names = catalog.agent_names()

    assert len(names) == len(set(names))
    assert names == [agent.name for agent in catalog.AGENTS]


def test_agents_npm_packages_are_unique():
    packages = [agent.npm_package for agent in catalog.packaged_agents()]

    assert len(packages) == len(set(packages))


def test_get_agent_returns_row():
    assert catalog.get_agent("claude").title == "Claude Code"


def test_get_agent_unknown_lists_choices():
    with pytest.raises(AgentsError) as caught:
        catalog.get_agent("clippy")

    assert caught.value.message == "unknown agent 'clippy'"
    assert caught.value.hint == "choose one of: copilot, codex, claude, gemini, shell"


def test_agent_npm_spec_pins_version():
    agent = catalog.get_agent("codex")

    assert agent.npm_spec == f"@openai/codex@{agent.npm_version}"
    assert catalog.get_agent("shell").npm_spec is None


def test_agent_image_name_is_own_or_base():
    assert catalog.get_agent("gemini").image_name == "gemini"
    assert catalog.get_agent("shell").image_name == "base"


def test_packaged_agents_excludes_shell():
    names = [agent.name for agent in catalog.packaged_agents()]

    assert names == ["copilot", "codex", "claude", "gemini"]


@pytest.mark.parametrize("agent", catalog.packaged_agents(), ids=lambda agent: agent.name)
def test_packaged_agent_version_is_exact_pin(agent):
    assert EXACT_VERSION.fullmatch(agent.npm_version), f"{agent.name}: {agent.npm_version!r} is not an exact version"


def test_catalog_node_and_npm_versions_are_exact_pins():
    assert EXACT_VERSION.fullmatch(catalog.NODE_VERSION)
    assert EXACT_VERSION.fullmatch(catalog.NPM_VERSION)


@pytest.mark.parametrize("agent", catalog.AGENTS, ids=lambda agent: agent.name)
def test_agent_prompt_command_has_placeholder(agent):
    assert "{prompt}" in agent.prompt_command


# --- login state ----------------------------------------------------------------------------


def test_codex_login_rows():
    codex = catalog.get_agent("codex")

    assert codex.login_dirs == (".codex",)
    (auth,) = codex.login_files
    assert (auth.host, auth.container, auth.secret, auth.host_moved_by, auth.returned_keys) == (
        ".codex/auth.json", ".codex/auth.json", True, ("CODEX_HOME", "auth.json"), ())
    # Which account a returned auth.json is (a refresh may not swap it): see test_logins.py.
    assert ("tokens", "account_id") in auth.account.names
    assert auth.account.fixed == (("OPENAI_API_KEY",),)
    assert codex.login_env == ("OPENAI_API_KEY", "CODEX_API_KEY")
    assert codex.first_run == (
        catalog.FirstRun(".codex/config.toml", "toml", '[projects."/workspace"]\ntrust_level = "trusted"\n'),
    )


def test_login_file_defaults():
    assert catalog.LoginFile("a", "b") == catalog.LoginFile("a", "b", secret=True, host_moved_by=None,
                                                            returned_keys=(), account=None)


def test_copilot_gives_back_only_its_login_keys():
    (config,) = catalog.get_agent("copilot").login_files

    assert config.returned_keys == ("copilotTokens", "authTokens", "loggedInUsers", "lastLoggedInUser")
    # The first-run answers and Copilot's own state stay inside.
    assert not {"trustedFolders", "firstLaunchAt", "appTipShown"} & set(config.returned_keys)
    assert {path[0] for path in config.account.names} <= set(config.returned_keys)


@pytest.mark.parametrize("agent", catalog.AGENTS, ids=lambda agent: agent.name)
def test_login_files_live_in_a_login_dir_and_first_run_formats_are_known(agent):
    for login in agent.login_files:
        assert any(login.container.startswith(folder + "/") for folder in agent.login_dirs), login
    for answers in agent.first_run:
        assert answers.format in ("json", "toml")
        assert any(answers.container.startswith(folder + "/") for folder in agent.login_dirs), answers


# --- user-defined agents ---------------------------------------------------------------------


def test_custom_agent_is_its_base_with_other_commands():
    codex = catalog.get_agent("codex")

    agent = catalog.custom_agent("codex-o3", "codex", command=("codex", "-m", "o3"))

    assert agent == records.replace(codex, name="codex-o3", title="OpenAI Codex CLI (codex-o3)",
                                        command=("codex", "-m", "o3"), image="codex", program="codex",
                                        base="codex")
    assert agent.image_name == "codex"
    assert agent.npm_spec == codex.npm_spec


def test_custom_agent_of_the_shell_runs_in_the_base_image():
    agent = catalog.custom_agent("zsh", "shell", command=("zsh", "-l"), prompt_command=("zsh", "-lc", "{prompt}"),
                                 title="Z shell")

    assert (agent.title, agent.command, agent.prompt_command) == ("Z shell", ("zsh", "-l"), ("zsh", "-lc", "{prompt}"))
    assert (agent.image, agent.image_name) == ("base", "base")


def test_agent_image_overrides_the_image_name():
    assert records.replace(catalog.get_agent("gemini"), image="claude").image_name == "claude"


def test_custom_agent_cannot_replace_a_built_in_one():
    with pytest.raises(AgentsError) as caught:
        catalog.custom_agent("claude", "codex")

    assert caught.value.message == "[agents.claude] would replace the built-in agent claude"
    assert caught.value.hint == "pick another name"


@pytest.mark.parametrize("name", ["Codex", "my agent", "-x", "_x", "x.y", "x/y", ""])
def test_custom_agent_bad_names(name):
    with pytest.raises(AgentsError) as caught:
        catalog.custom_agent(name, "codex")

    assert caught.value.message == f"[agents.{name}]: agent names use lowercase letters, digits, '-' and '_'"


def test_custom_agent_unknown_base():
    with pytest.raises(AgentsError) as caught:
        catalog.custom_agent("mine", "clippy")

    assert caught.value.message == "[agents.mine] base = 'clippy' is not an agent"
    assert caught.value.hint == "choose one of: copilot, codex, claude, gemini, shell"


CUSTOM = (catalog.custom_agent("codex-o3", "codex", command=("codex", "-m", "o3")),)


def test_find_agent_built_in_custom_or_none():
    assert catalog.find_agent("claude") is catalog.get_agent("claude")
    assert catalog.find_agent("codex-o3") is None
    assert catalog.find_agent("codex-o3", CUSTOM) is CUSTOM[0]
    assert catalog.find_agent("clippy", CUSTOM) is None


def test_get_agent_finds_custom_agents_and_lists_them_when_unknown():
    assert catalog.get_agent("codex-o3", CUSTOM) is CUSTOM[0]

    with pytest.raises(AgentsError) as caught:
        catalog.get_agent("clippy", CUSTOM)

    assert caught.value.hint == "choose one of: copilot, codex, claude, gemini, shell, codex-o3"


# --- what each CLI is told: autonomy modes and quiet switches ----------------------------------


def missing_modes(agent: catalog.Agent) -> list[str]:
    """The autonomy modes an agent row says nothing about."""
    told = dict(agent.autonomy)
    return [mode for mode in catalog.AUTONOMY_MODES if mode not in told]


@pytest.mark.parametrize("agent", catalog.packaged_agents(), ids=lambda agent: agent.name)
def test_packaged_agent_has_a_row_for_every_autonomy_mode(agent):
    assert missing_modes(agent) == []


def test_missing_modes_catches_a_new_row_without_them():
    row = records.replace(catalog.get_agent("claude"), name="newcli", autonomy=(("full", catalog.Told()),))

    assert missing_modes(row) == ["ask"]
    assert missing_modes(records.replace(row, autonomy=())) == list(catalog.AUTONOMY_MODES)


@pytest.mark.parametrize("agent", catalog.AGENTS, ids=lambda agent: agent.name)
def test_agent_autonomy_rows_name_known_modes_once(agent):
    modes = [mode for mode, _ in agent.autonomy]

    assert len(modes) == len(set(modes))
    assert set(modes) <= set(catalog.AUTONOMY_MODES)


def test_default_autonomy_is_a_mode():
    assert catalog.DEFAULT_AUTONOMY in catalog.AUTONOMY_MODES


@pytest.mark.parametrize("mode", catalog.AUTONOMY_MODES)
@pytest.mark.parametrize("agent", catalog.AGENTS, ids=lambda agent: agent.name)
def test_told_settings_are_json_objects_or_prompt_rules_in_a_login_dir(agent, mode):
    for item in agent.told(mode).settings:
        assert item.format in ("json", "prompt-rules"), item
        assert item.format != "json" or isinstance(json.loads(item.content), dict), item
        assert any(item.container.startswith(folder + "/") for folder in agent.login_dirs), item


def test_agent_told_joins_the_mode_and_the_quiet_switches():
    claude = catalog.get_agent("claude")

    told = claude.told("full")

    assert told.args == ("--dangerously-skip-permissions",)
    assert told.env == (("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("DISABLE_TELEMETRY", "1"),
                        ("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1"))
    assert told.settings == (catalog.FirstRun(".claude/.claude.json", "json", '{"bypassPermissionsModeAccepted": true}'),)


def test_agent_told_puts_the_modes_flags_before_the_quiet_ones():
    codex = catalog.get_agent("codex")
    ask = dict(codex.autonomy)["ask"]

    assert codex.told("ask").args == (*ask.args, *codex.quiet.args)


def test_agent_told_quiet_settings_in_every_mode():
    gemini = catalog.get_agent("gemini")

    for mode in catalog.AUTONOMY_MODES:
        assert gemini.quiet.settings[0] in gemini.told(mode).settings


def test_agent_told_unknown_mode_is_only_the_quiet_switches():
    codex = catalog.get_agent("codex")

    assert codex.told("sideways") == codex.quiet


def test_agent_told_without_rows_is_nothing():
    assert catalog.get_agent("shell").told("full") == catalog.Told()


def test_with_told_puts_the_flags_right_after_the_program():
    codex = catalog.get_agent("codex")

    assert codex.with_told(("codex", "--no-daemon"), "full") == ["codex", *codex.told("full").args, "--no-daemon"]


def test_with_told_prompt_command_keeps_the_subcommand_after_the_flags():
    claude = catalog.get_agent("claude")

    assert claude.with_told(claude.prompt_command, "ask") == ["claude", "--permission-mode", "default", "-p", "{prompt}"]


@pytest.mark.parametrize("command", [("bash", "-c", "claude"), ("/usr/local/bin/claude",), ("npx", "claude")],
                         ids=["script", "full-path", "npx"])
def test_with_told_leaves_a_command_of_another_program_alone(command):
    assert catalog.get_agent("claude").with_told(command, "full") == list(command)


def test_with_told_empty_command_stays_empty():
    assert catalog.get_agent("claude").with_told((), "full") == []


def test_custom_agent_keeps_the_program_of_its_base():
    assert catalog.custom_agent("scripted", "claude", command=("bash", "-c", "claude -p hi")).executable == "claude"
    assert catalog.get_agent("codex").executable == "codex"


def test_custom_agent_running_a_script_gets_no_cli_flags():
    agent = catalog.custom_agent("scripted", "codex", command=("bash", "-c", "codex exec hi"))

    assert agent.with_told(agent.command, "full") == ["bash", "-c", "codex exec hi"]


def test_custom_agent_running_its_bases_program_gets_the_flags():
    agent = catalog.custom_agent("codex-o3", "codex", command=("codex", "-m", "o3"))

    assert agent.with_told(agent.command, "ask") == ["codex", *catalog.get_agent("codex").told("ask").args, "-m", "o3"]


def test_codex_ask_mode_asks_through_a_rules_file_never_its_sandbox():
    # Codex 0.171 refuses approval_policy "untrusted"; on-request with its sandbox off asks where
    # a rule says so, and the prompt-rules file says so for every program in the container.
    for mode in catalog.AUTONOMY_MODES:
        told = dict(catalog.get_agent("codex").autonomy)[mode]
        assert not told.refused
        assert 'sandbox_mode="danger-full-access"' in told.args
    ask = dict(catalog.get_agent("codex").autonomy)["ask"]

    assert 'approval_policy="on-request"' in ask.args
    assert [(item.container, item.format) for item in ask.settings] == [
        (".codex/rules/coding-agents-ask.rules", "prompt-rules")]
    assert not dict(catalog.get_agent("codex").autonomy)["full"].settings  # full: no rule could ask
