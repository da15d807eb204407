"""agents/mcp/render.py: each CLI's own spelling of the selected MCP servers, chosen by the agent's
mcp_format, and the plan a session carries."""

from __future__ import annotations

import json
import tomllib

import pytest

from agents import catalog
from agents.config import Config, McpConfig
from agents.errors import AgentsError
from agents.mcp import render, servers

LOCAL = servers.Server("tool", command=("npx",), args=("-y", "@acme/tool"), env=(("MODE", "fast"),), cwd="/srv")
KEYED = servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"),
                       env=(("OTHER", "${OTHER_KEY}"),))
REMOTE = servers.Server("docs", url="https://docs.example.com/mcp", headers=(("X-Team", "core"),))
RELAY = {"command": "ca-stub", "args": ["mcp-relay", "keyed"]}


def test_agent_side_of_each_kind():
    assert render.agent_side(LOCAL) == {"command": "npx", "args": ["-y", "@acme/tool"], "env": {"MODE": "fast"},
                                        "cwd": "/srv", "url": None, "headers": {}}
    assert render.agent_side(KEYED) == {**RELAY, "env": {}, "cwd": None, "url": None, "headers": {}}
    assert render.agent_side(REMOTE) == {"command": None, "args": [], "env": {}, "cwd": None,
                                         "url": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}}


def test_agent_side_of_a_secret_using_url_server_is_the_relay():
    github = servers.catalog_server("github")

    assert render.agent_side(github)["command"] == "ca-stub"
    assert render.agent_side(github)["args"] == ["mcp-relay", "github"]
    assert "${GITHUB_TOKEN}" not in json.dumps(render.render_claude((github,)))


def test_render_copilot():
    assert render.render_copilot((LOCAL, KEYED, REMOTE)) == {"mcpServers": {
        "tool": {"type": "local", "command": "npx", "args": ["-y", "@acme/tool"], "env": {"MODE": "fast"},
                 "tools": ["*"], "cwd": "/srv"},
        "keyed": {"type": "local", **RELAY, "env": {}, "tools": ["*"]},
        "docs": {"type": "http", "url": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}, "tools": ["*"]},
    }}


def test_render_claude():
    assert render.render_claude((LOCAL, KEYED, REMOTE)) == {"mcpServers": {
        "tool": {"type": "stdio", "command": "npx", "args": ["-y", "@acme/tool"], "env": {"MODE": "fast"}},
        "keyed": {"type": "stdio", **RELAY, "env": {}},
        "docs": {"type": "http", "url": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}},
    }}


def test_render_gemini():
    assert render.render_gemini((LOCAL, KEYED, REMOTE)) == {"mcpServers": {
        "tool": {"command": "npx", "args": ["-y", "@acme/tool"], "env": {"MODE": "fast"}, "cwd": "/srv"},
        "keyed": {**RELAY, "env": {}},
        "docs": {"httpUrl": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}},
    }}


def test_render_codex():
    assert render.render_codex((LOCAL, KEYED, REMOTE)) == (
        '[mcp_servers.tool]\ncommand = "npx"\nargs = ["-y", "@acme/tool"]\nenv = {MODE = "fast"}\ncwd = "/srv"\n\n'
        '[mcp_servers.keyed]\ncommand = "ca-stub"\nargs = ["mcp-relay", "keyed"]\n\n'
        '[mcp_servers.docs]\nurl = "https://docs.example.com/mcp"\nhttp_headers = {X-Team = "core"}\n'
    )


def test_render_codex_quotes_odd_keys_and_values_and_stays_valid_toml():
    odd = servers.Server("odd", command=('say "hi"\\',), args=("a\nb",), env=(("WEIRD KEY", "v'\""),))
    remote = servers.Server("r", url="https://h.example/mcp")

    text = render.render_codex((odd, remote))

    assert tomllib.loads(text) == {"mcp_servers": {
        "odd": {"command": 'say "hi"\\', "args": ["a\nb"], "env": {"WEIRD KEY": "v'\""}},
        "r": {"url": "https://h.example/mcp"},
    }}


def test_render_picks_the_format_from_the_table():
    chosen = (LOCAL, KEYED)

    assert render.render(None, chosen) is None
    assert render.render("copilot-json", chosen) == render.Rendered(
        ".copilot/mcp-config.json", "json", json.dumps(render.render_copilot(chosen)), "mcpServers")
    assert render.render("claude-json", chosen) == render.Rendered(
        ".claude/.claude.json", "json", json.dumps(render.render_claude(chosen)), "mcpServers")
    assert render.render("gemini-json", chosen) == render.Rendered(
        ".gemini/settings.json", "json", json.dumps(render.render_gemini(chosen)), "mcpServers")
    assert render.render("codex-toml", chosen) == render.Rendered(
        ".codex/config.toml", "toml", render.render_codex(chosen), "mcp_servers")


def test_render_unknown_format():
    with pytest.raises(AgentsError) as caught:
        render.render("cursor-json", ())

    assert (caught.value.message, caught.value.hint) == ("no MCP renderer for 'cursor-json'",
                                                          "this is a bug: please report it")


def test_every_catalog_agent_format_has_a_row_and_renders():
    formats = {agent.mcp_format for agent in catalog.AGENTS} - {None}

    assert formats == set(render.FORMATS)
    for agent in catalog.AGENTS:
        rendered = render.render(agent.mcp_format, servers.CATALOG)
        assert (rendered is None) == (agent.mcp_format is None)


def test_rendered_digest_json_ignores_the_rest_of_the_file():
    rendered = render.render("claude-json", (LOCAL,))
    file_text = json.dumps({"projects": {"/workspace": {}}, **json.loads(rendered.content), "numStartups": 4})

    digest = render.rendered_digest(rendered, file_text)

    assert digest == render.rendered_digest(rendered, rendered.content)
    assert digest == render.rendered_digest(rendered, json.dumps({"numStartups": 9, **json.loads(rendered.content)}))
    assert digest != render.rendered_digest(rendered, json.dumps({"mcpServers": {}}))
    assert render.rendered_digest(rendered, "{}") == render.rendered_digest(rendered, '{"mcpServers": {}}')


def test_rendered_digest_toml_ignores_the_rest_of_the_file():
    rendered = render.render("codex-toml", (LOCAL, KEYED))
    file_text = '[projects."/workspace"]\ntrust_level = "trusted"\n\n' + rendered.content

    assert render.rendered_digest(rendered, file_text) == render.rendered_digest(rendered, rendered.content)
    tampered = file_text.replace('"fast"', '"evil"')
    assert render.rendered_digest(rendered, tampered) != render.rendered_digest(rendered, rendered.content)


def test_rendered_digest_unreadable_file_is_a_value_error():
    with pytest.raises(ValueError):
        render.rendered_digest(render.render("codex-toml", (LOCAL,)), "[broken")
    with pytest.raises(ValueError):
        render.rendered_digest(render.render("gemini-json", (LOCAL,)), "{broken")


# --- plan: what a session carries --------------------------------------------------------------------------


def test_plan_renders_the_selected_servers_with_their_domains():
    repo_keyed = servers.Server("keyed", command=("keyed-mcp",), args=("${API_TOKEN}",), source="repo")
    config = Config(mcp=McpConfig(enable=("github", "context7")), mcp_servers=(LOCAL,))
    selection = servers.select(config, servers.RepoConfig(servers.REPO_CONFIG, "d" * 64, (repo_keyed,)),
                               {"keyed": repo_keyed.digest})

    planned = render.plan("claude-json", selection)

    chosen = (servers.catalog_server("github"), servers.catalog_server("context7"), LOCAL, repo_keyed)
    assert planned == render.McpPlan(chosen, render.render("claude-json", chosen), selection.domains)
    assert planned.domains == ("api.githubcopilot.com", "context7.com", ".context7.com")
    assert planned.sidecar_servers == (servers.catalog_server("github"), repo_keyed)


def test_plan_leaves_out_what_is_not_selected():
    repo_keyed = servers.Server("keyed", command=("keyed-mcp",), args=("${API_TOKEN}",), source="repo")
    selection = servers.select(Config(), servers.RepoConfig(servers.REPO_CONFIG, "d" * 64, (repo_keyed,)), {})

    assert render.plan("codex-toml", selection) == render.McpPlan()


def test_plan_without_servers_renders_nothing():
    assert render.plan("claude-json", servers.Selection(())) == render.McpPlan()
