"""agents/endpoints.py: which model API a session's CLI talks to, and which hosts the proxy lets through."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from agents import catalog, endpoints
from agents.errors import AgentsError
from agents.network import HOST_ALIAS

CLAUDE = catalog.get_agent("claude")
CODEX = catalog.get_agent("codex")
GEMINI = catalog.get_agent("gemini")
(CODEX_SETTINGS,) = CODEX.host_settings

PROVIDERS_TOML = """\
model = "llama3"
model_provider = "ollama"
model_reasoning_effort = "high"
approval_policy = "never"
sandbox_mode = "workspace-write"

[model_providers.ollama]
name = "Ollama"
base_url = "http://host.coding-agents.internal:11434/v1"

[model_providers.corp]
name = "Corp"
base_url = "https://LLM.example.com/v1"
env_key = "CORP_KEY"

[mcp_servers.host_only]
command = "/usr/local/bin/tool"

[projects."/home/me/src"]
trust_level = "trusted"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- plan: variables ------------------------------------------------------------------------------


def test_plan_without_endpoints_is_empty(tmp_path):
    assert endpoints.plan(CLAUDE, {}, {}, tmp_path) == endpoints.Endpoints()


def test_plan_takes_the_hosts_endpoint_variable(tmp_path):
    environ = {"ANTHROPIC_BASE_URL": "https://gateway.example.com/anthropic", "HOME": str(tmp_path)}

    found = endpoints.plan(CLAUDE, {}, environ, tmp_path)

    assert found == endpoints.Endpoints(env=(("ANTHROPIC_BASE_URL", "https://gateway.example.com/anthropic"),),
                                        hosts=("gateway.example.com",))


def test_plan_ignores_another_agents_endpoint_variable(tmp_path):
    assert endpoints.plan(CLAUDE, {}, {"OPENAI_BASE_URL": "https://llm.example.com"}, tmp_path).env == ()


def test_plan_ignores_an_empty_host_variable(tmp_path):
    assert endpoints.plan(CLAUDE, {}, {"ANTHROPIC_BASE_URL": ""}, tmp_path) == endpoints.Endpoints()


def test_plan_config_env_wins_over_the_hosts_variable(tmp_path):
    found = endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": "https://corp.example.com"},
                           {"ANTHROPIC_BASE_URL": "https://host.example.com"}, tmp_path)

    assert found.env == (("ANTHROPIC_BASE_URL", "https://corp.example.com"),)
    assert found.hosts == ("corp.example.com",)


def test_plan_config_env_keeps_other_variables_without_taking_their_hosts(tmp_path):
    config_env = {"ANTHROPIC_MODEL": "claude-x", "ANTHROPIC_BASE_URL": "http://llm.example.com:8080"}

    found = endpoints.plan(CLAUDE, config_env, {}, tmp_path)

    assert dict(found.env) == config_env
    assert found.env_names == ("ANTHROPIC_MODEL", "ANTHROPIC_BASE_URL")
    assert found.hosts == ("llm.example.com",)  # a model name is not a URL


def test_plan_hosts_of_every_endpoint_variable_without_duplicates(tmp_path):
    config_env = {"GOOGLE_GEMINI_BASE_URL": "https://a.example.com/v1", "GOOGLE_VERTEX_BASE_URL": "https://A.example.com"}

    assert endpoints.plan(GEMINI, config_env, {}, tmp_path).hosts == ("a.example.com",)


def test_plan_refuses_an_empty_config_value(tmp_path):
    with pytest.raises(AgentsError) as caught:
        endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": ""}, {"ANTHROPIC_BASE_URL": "https://host.example.com"}, tmp_path)

    assert caught.value.message == "[agents.claude] env ANTHROPIC_BASE_URL is empty"
    assert caught.value.hint == "give it a value, or remove ANTHROPIC_BASE_URL from the table"


@pytest.mark.parametrize("url", ["llm.example.com", "ftp://llm.example.com", "file:///etc/passwd", "https://",
                                 "http://llm.example.com:port/v1", "http://[::1", "  "])
def test_plan_refuses_an_endpoint_that_is_not_an_http_url(tmp_path, url):
    with pytest.raises(AgentsError) as caught:
        endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": url}, {}, tmp_path)

    assert caught.value.message.startswith("ANTHROPIC_BASE_URL is not an http(s) URL (")
    assert caught.value.hint == "e.g. https://llm.example.com/v1"


def test_plan_refusal_never_echoes_the_whole_url(tmp_path):
    # An endpoint URL may carry a password: the refusal names the scheme and host only.
    with pytest.raises(AgentsError) as caught:
        endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": "ftp://user:hunter2@llm.example.com/x"}, {}, tmp_path)

    assert "hunter2" not in caught.value.message
    assert caught.value.message == "ANTHROPIC_BASE_URL is not an http(s) URL (ftp://llm.example.com)"


def test_plan_refuses_a_bad_host_variable_too(tmp_path):
    with pytest.raises(AgentsError, match=r"^ANTHROPIC_BASE_URL is not an http\(s\) URL"):
        endpoints.plan(CLAUDE, {}, {"ANTHROPIC_BASE_URL": "localhost:8080"}, tmp_path)


# --- url_host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "host"), [
    ("https://llm.example.com/v1", "llm.example.com"),
    ("http://LLM.Example.COM:8080", "llm.example.com"),
    ("  https://llm.example.com  ", "llm.example.com"),
    ("https://user:secret@llm.example.com/", "llm.example.com"),
    ("http://10.0.0.5:11434", "10.0.0.5"),
    (f"http://{HOST_ALIAS}:11434/v1", HOST_ALIAS),
])
def test_url_host_is_the_lowercase_host_name(url, host):
    assert endpoints.url_host(url, "X") == host


def test_url_host_names_where_the_url_came_from():
    with pytest.raises(AgentsError, match=r"^\.codex/config\.toml model_providers\.\*\.base_url is not"):
        endpoints.url_host("x", ".codex/config.toml model_providers.*.base_url")


# --- Codex host settings ---------------------------------------------------------------------------


def test_read_host_settings_without_a_file_is_empty(tmp_path):
    assert endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {}) == {}


def test_read_host_settings_picks_only_the_model_keys(tmp_path):
    write(tmp_path / ".codex" / "config.toml", PROVIDERS_TOML)

    chosen = endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {})

    assert chosen == {
        "model": "llama3", "model_provider": "ollama", "model_reasoning_effort": "high",
        "model_providers": tomllib.loads(PROVIDERS_TOML)["model_providers"],
    }


def test_read_host_settings_follows_codex_home(tmp_path):
    write(tmp_path / ".codex" / "config.toml", 'model = "from-home"\n')
    write(tmp_path / "codex-state" / "config.toml", 'model = "from-codex-home"\n')

    chosen = endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {"CODEX_HOME": str(tmp_path / "codex-state")})

    assert chosen == {"model": "from-codex-home"}


def test_read_host_settings_empty_codex_home_is_ignored(tmp_path):
    write(tmp_path / ".codex" / "config.toml", 'model = "from-home"\n')

    assert endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {"CODEX_HOME": ""}) == {"model": "from-home"}


def test_read_host_settings_refuses_a_file_that_is_not_toml(tmp_path):
    path = write(tmp_path / ".codex" / "config.toml", "model = \n")

    with pytest.raises(AgentsError) as caught:
        endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {})

    assert caught.value.message.startswith(f"{path} is not valid TOML: ")
    assert caught.value.hint == "fix the file, or move it aside"


def test_read_host_settings_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_bytes(b'model = "\xff"\n')

    with pytest.raises(AgentsError) as caught:
        endpoints.read_host_settings(CODEX_SETTINGS, tmp_path, {})

    assert caught.value.message.startswith(f"cannot read {path}: ")
    assert caught.value.hint == "fix the file, or move it aside"


def test_read_host_settings_json_file(tmp_path):
    item = catalog.HostSettings(".x/settings.json", ".x/settings.json", "json", keys=("model",))
    write(tmp_path / ".x" / "settings.json", json.dumps({"model": "m", "theme": "dark"}))

    assert endpoints.read_host_settings(item, tmp_path, {}) == {"model": "m"}


def test_read_host_settings_json_that_is_not_an_object_is_empty(tmp_path):
    item = catalog.HostSettings(".x/settings.json", ".x/settings.json", "json", keys=("model",))
    write(tmp_path / ".x" / "settings.json", "[1, 2]")

    assert endpoints.read_host_settings(item, tmp_path, {}) == {}


def test_plan_codex_brings_the_host_settings_and_their_provider_hosts(tmp_path):
    write(tmp_path / ".codex" / "config.toml", PROVIDERS_TOML)

    found = endpoints.plan(CODEX, {}, {}, tmp_path)

    ((container, file_format, chosen),) = found.settings
    assert (container, file_format) == (".codex/config.toml", "toml")
    assert set(chosen) == {"model", "model_provider", "model_providers", "model_reasoning_effort"}
    assert found.hosts == (HOST_ALIAS, "llm.example.com")


def test_plan_codex_host_settings_hosts_join_the_endpoint_variables(tmp_path):
    write(tmp_path / ".codex" / "config.toml", PROVIDERS_TOML)

    found = endpoints.plan(CODEX, {"OPENAI_BASE_URL": "https://llm.example.com/openai"}, {}, tmp_path)

    assert found.hosts == ("llm.example.com", HOST_ALIAS)  # once each


def test_plan_codex_host_file_without_model_keys_brings_no_settings(tmp_path):
    write(tmp_path / ".codex" / "config.toml", 'approval_policy = "never"\n')

    assert endpoints.plan(CODEX, {}, {}, tmp_path).settings == ()


def test_plan_codex_refuses_a_provider_url_that_is_not_http(tmp_path):
    write(tmp_path / ".codex" / "config.toml", '[model_providers.x]\nbase_url = "unix:///run/llm.sock"\n')

    with pytest.raises(AgentsError) as caught:
        endpoints.plan(CODEX, {}, {}, tmp_path)

    assert caught.value.message == ".codex/config.toml model_providers.*.base_url is not an http(s) URL (unix://?)"
    assert caught.value.hint == "e.g. https://llm.example.com/v1"


def test_plan_codex_refuses_a_host_file_that_is_not_toml(tmp_path):
    write(tmp_path / ".codex" / "config.toml", "[model_providers\n")

    with pytest.raises(AgentsError, match="is not valid TOML") as caught:
        endpoints.plan(CODEX, {}, {}, tmp_path)

    assert caught.value.hint == "fix the file, or move it aside"


# --- urls_at and uses_host_alias ----------------------------------------------------------------------


PROVIDERS = {"model_providers": {"a": {"base_url": "http://a"}, "b": {"name": "B"}, "c": {"base_url": "http://c"},
                                 "d": "not a table", "e": {"base_url": 5}}}


def test_urls_at_star_is_any_table_name():
    assert endpoints.urls_at(PROVIDERS, ("model_providers", "*", "base_url")) == ["http://a", "http://c"]


def test_urls_at_a_named_path():
    assert endpoints.urls_at(PROVIDERS, ("model_providers", "a", "base_url")) == ["http://a"]


@pytest.mark.parametrize("path", [("missing", "*", "base_url"), ("model_providers", "b", "base_url"),
                                  ("model_providers",), ()])
def test_urls_at_finds_nothing_off_the_path_or_at_a_table(path):
    assert endpoints.urls_at(PROVIDERS, path) == []


def test_urls_at_empty_path_of_a_string_is_the_string():
    assert endpoints.urls_at("http://x", ()) == ["http://x"]


def test_uses_host_alias_true_when_an_endpoint_is_this_machine():
    assert endpoints.uses_host_alias(endpoints.Endpoints(hosts=("llm.example.com", HOST_ALIAS))) is True


def test_uses_host_alias_false_otherwise():
    assert endpoints.uses_host_alias(endpoints.Endpoints(hosts=("llm.example.com",))) is False
    assert endpoints.uses_host_alias(endpoints.Endpoints()) is False


def test_plan_named_endpoint_off_80_and_443_keeps_its_port_for_the_proxy(tmp_path):
    plan = endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": "http://model.test:8000"}, {}, tmp_path)

    assert plan.host_ports == (("model.test", 8000),)
    assert endpoints.plan(CLAUDE, {"ANTHROPIC_BASE_URL": "https://llm.example.com"}, {}, tmp_path).host_ports == ()
