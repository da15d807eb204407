"""agents/catalog.py: the agent rows and every pinned version."""

from __future__ import annotations

import re

import pytest

from agents import catalog
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
