"""agents/config.py: ~/.config/coding-agents/config.toml, validated strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import catalog, config, netmodes, paths
from agents.errors import AgentsError
from agents.mcp import servers


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_missing_file_gives_defaults():
    loaded = config.load_config()

    assert loaded.path is None
    assert loaded.images == config.ImagesConfig()
    assert loaded.images.npm_registry == "https://registry.npmjs.org"
    assert loaded.images.registry is None


def test_load_config_parses_valid_file(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        '[images]\nregistry = "registry.example.com/team"\nbase_image = "debian:bookworm"\n'
        'npm_registry = "https://npm.example.com"\n',
    )

    loaded = config.load_config(path)

    assert loaded.path == path
    assert loaded.images.registry == "registry.example.com/team"
    assert loaded.images.base_image == "debian:bookworm"
    assert loaded.images.npm_registry == "https://npm.example.com"
    assert loaded.images.debian_mirror == "http://deb.debian.org/debian"


def test_load_config_empty_file_gives_defaults(tmp_path):
    path = write_config(tmp_path / "config.toml", "")

    assert config.load_config(path).images == config.ImagesConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[images\n", "is not valid TOML"),
        ("[imagez]\nregistry = 'x'\n", "unknown section [imagez]"),
        ("[images]\nregsitry = 'x'\n", "unknown key 'regsitry' in [images]"),
        ("[images]\nregistry = 5\n", "[images] registry must be a string, not a whole number"),
        ("images = 'x'\n", "images must be a table"),
    ],
    ids=["invalid-toml", "unknown-section", "unknown-key", "wrong-type", "not-a-table"],
)
def test_load_config_rejects_bad_file_naming_it(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


def test_load_config_unknown_key_hint_lists_known_keys(tmp_path):
    path = write_config(tmp_path / "config.toml", "[images]\nbogus = 'x'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known keys: registry, base_image, ca_cert, npm_registry, debian_mirror"


def test_load_config_unreadable_path_is_agents_error(tmp_path):
    with pytest.raises(AgentsError, match=f"^cannot read config file {tmp_path}"):
        config.load_config(tmp_path)  # a directory


def test_config_path_honours_coding_agents_config(tmp_path, monkeypatch):
    path = write_config(tmp_path / "elsewhere.toml", "[images]\nregistry = 'from-override'\n")
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(path))

    assert paths.config_file() == path
    assert config.load_config().images.registry == "from-override"


def test_config_path_honours_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CODING_AGENTS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    write_config(tmp_path / "xdg" / "coding-agents" / "config.toml", "[images]\nregistry = 'from-xdg'\n")

    assert paths.config_file() == tmp_path / "xdg" / "coding-agents" / "config.toml"
    assert config.load_config().images.registry == "from-xdg"


def test_load_config_explicit_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(tmp_path / "absent.toml"))

    with pytest.raises(AgentsError, match="absent.toml does not exist"):
        config.load_config()


# --- [sessions] -------------------------------------------------------------------------


def test_load_config_sessions_defaults():
    loaded = config.load_config()

    assert loaded.sessions == config.SessionsConfig()
    assert (loaded.sessions.network, loaded.sessions.auto_commit, loaded.sessions.pids_limit) == ("squid", True, 1024)
    assert (loaded.sessions.memory, loaded.sessions.cpus, loaded.sessions.docker_args) == (None, None, ())


def test_load_config_parses_sessions_section(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        '[sessions]\nnetwork = "allow-all"\nauto_commit = false\npids_limit = 512\nmemory = "8g"\ncpus = 2.5\n'
        'docker_args = ["--env", "FOO=1", "--label", "team=x"]\n',
    )

    sessions = config.load_config(path).sessions

    assert sessions == config.SessionsConfig(
        network="allow-all", auto_commit=False, pids_limit=512, memory="8g", cpus=2.5,
        docker_args=("--env", "FOO=1", "--label", "team=x"),
    )


def test_load_config_sessions_integer_cpus_becomes_float(tmp_path):
    path = write_config(tmp_path / "config.toml", "[sessions]\ncpus = 2\n")

    cpus = config.load_config(path).sessions.cpus

    assert cpus == 2.0 and isinstance(cpus, float)


def test_load_config_sessions_and_images_together(tmp_path):
    path = write_config(tmp_path / "config.toml", "[images]\nregistry = 'r.example'\n\n[sessions]\nmemory = '2g'\n")

    loaded = config.load_config(path)

    assert loaded.images.registry == "r.example"
    assert loaded.sessions.memory == "2g"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sessions]\npids_limit = true\n", "[sessions] pids_limit must be a whole number, not a boolean"),
        ("[sessions]\npids_limit = 1.5\n", "[sessions] pids_limit must be a whole number, not a decimal number"),
        ("[sessions]\nauto_commit = 'yes'\n", "[sessions] auto_commit must be a boolean, not a string"),
        ("[sessions]\ncpus = true\n", "[sessions] cpus must be a number, not a boolean"),
        ("[sessions]\ncpus = '2'\n", "[sessions] cpus must be a number, not a string"),
        ("[sessions]\nmemory = 512\n", "[sessions] memory must be a string, not a whole number"),
        ("[sessions]\ndocker_args = '--env A=1'\n", "[sessions] docker_args must be a list, not a string"),
        ("[sessions]\ndocker_args = ['--env', 1]\n", "[sessions] docker_args must be a list of strings"),
        ("[sessions]\nnetwrok = 'restricted'\n", "unknown key 'netwrok' in [sessions]"),
        ("sessions = 1\n", "sessions must be a table"),
    ],
    ids=["pids-bool", "pids-float", "auto-commit-str", "cpus-bool", "cpus-str", "memory-int", "args-str",
         "args-not-strings", "unknown-key", "not-a-table"],
)
def test_load_config_rejects_bad_sessions_values(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


def test_load_config_sessions_unknown_key_hint_lists_sessions_keys(tmp_path):
    path = write_config(tmp_path / "config.toml", "[sessions]\nbogus = 1\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known keys: network, auto_commit, pids_limit, memory, cpus, docker_args, autonomy, notify, bell, state_size, history_size"


def test_load_config_sessions_autonomy_defaults_to_full():
    assert config.load_config().sessions.autonomy == "full"


@pytest.mark.parametrize("mode", ["full", "ask"])
def test_load_config_sessions_autonomy_modes(tmp_path, mode):
    path = write_config(tmp_path / "config.toml", f"[sessions]\nautonomy = '{mode}'\n")

    assert config.load_config(path).sessions.autonomy == mode


@pytest.mark.parametrize("mode", ["yolo", "Full", "none"])
def test_load_config_sessions_autonomy_other_modes_refused_with_hint(tmp_path, mode):
    path = write_config(tmp_path / "config.toml", f"[sessions]\nautonomy = '{mode}'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: [sessions] autonomy = {mode!r} is not a mode"
    assert caught.value.hint == "choose 'full' or 'ask'"


def test_load_config_sessions_autonomy_must_be_a_string(tmp_path):
    path = write_config(tmp_path / "config.toml", "[sessions]\nautonomy = true\n")

    with pytest.raises(AgentsError, match=r"\[sessions\] autonomy must be a string, not a boolean"):
        config.load_config(path)


def test_load_config_unknown_section_hint_names_sessions(tmp_path):
    path = write_config(tmp_path / "config.toml", "[session]\nnetwork = 'x'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known sections: [images], [network], [sessions], [mcp], [credentials], [engine]"


# --- [network] --------------------------------------------------------------------------


def test_load_config_network_defaults():
    loaded = config.load_config()

    assert loaded.network == config.NetworkConfig()
    assert (loaded.network.allow, loaded.network.block_private) == ((), True)
    assert (loaded.network.request_max_mb, loaded.network.reply_max_mb) == (100, 2048)


def test_load_config_parses_network_section(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        '[network]\nallow = ["pypi.org", ".pythonhosted.org"]\nblock_private = false\n'
        "request_max_mb = 10\nreply_max_mb = 500\n",
    )

    assert config.load_config(path).network == config.NetworkConfig(
        allow=("pypi.org", ".pythonhosted.org"), block_private=False, request_max_mb=10, reply_max_mb=500,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[network]\nallow = 'pypi.org'\n", "[network] allow must be a list, not a string"),
        ("[network]\nallow = ['pypi.org', 3]\n", "[network] allow must be a list of strings"),
        ("[network]\nblock_private = 'no'\n", "[network] block_private must be a boolean, not a string"),
        ("[network]\nreply_max_mb = true\n", "[network] reply_max_mb must be a whole number, not a boolean"),
        ("[network]\nallowed = []\n", "unknown key 'allowed' in [network]"),
    ],
    ids=["allow-str", "allow-not-strings", "block-private-str", "reply-bool", "unknown-key"],
)
def test_load_config_rejects_bad_network_values(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


def test_load_config_network_host_ports_default_to_none():
    assert config.load_config().network.host_ports == ()


def test_load_config_network_host_ports(tmp_path):
    path = write_config(tmp_path / "config.toml", "[network]\nhost_ports = [11434, 1, 65535]\n")

    assert config.load_config(path).network.host_ports == (11434, 1, 65535)


@pytest.mark.parametrize(("port", "shown"), [("0", "0"), ("70000", "70000"), ("65536", "65536"), ("-1", "-1"),
                                             ("'abc'", "'abc'"), ("true", "True"), ("1.5", "1.5"), ("''", "''")],
                         ids=["zero", "too-big", "just-too-big", "negative", "word", "bool", "float", "empty"])
def test_load_config_network_host_ports_refuses_what_is_not_a_port(tmp_path, port, shown):
    path = write_config(tmp_path / "config.toml", f"[network]\nhost_ports = [8080, {port}]\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: [network] host_ports: {shown} is not a port number"
    assert caught.value.hint == "use a number from 1 to 65535, e.g. 11434"


def test_load_config_network_host_ports_must_be_a_list(tmp_path):
    path = write_config(tmp_path / "config.toml", "[network]\nhost_ports = 11434\n")

    with pytest.raises(AgentsError, match=r"\[network\] host_ports must be a list, not a whole number"):
        config.load_config(path)


@pytest.mark.parametrize(("text", "port"), [("11434", 11434), (" 8080 ", 8080), (8080, 8080)])
def test_parse_host_port_takes_digits_from_a_command_line(text, port):
    assert config.parse_host_port(text, "--allow-host-port") == port


def test_parse_host_port_refuses_a_superscript_digit():
    with pytest.raises(AgentsError, match="is not a port number"):
        config.parse_host_port("\u00b2", "--allow-host-port")


# --- [credentials] ------------------------------------------------------------------------


def test_load_config_credentials_defaults():
    assert config.load_config().credentials == config.CredentialsConfig(
        logins=True, save_new_logins=True, git_credentials=True, git_hosts=(), signing=True, ssh_agent=False,
    )


def test_load_config_parses_credentials_section(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        "[credentials]\nlogins = false\nsave_new_logins = false\ngit_credentials = false\n"
        'git_hosts = ["https://git.example.com:8443/team", "gitlab.example.com"]\nsigning = false\nssh_agent = true\n',
    )

    credentials = config.load_config(path).credentials

    assert credentials == config.CredentialsConfig(
        logins=False, save_new_logins=False, git_credentials=False,
        git_hosts=("https://git.example.com:8443/team", "gitlab.example.com"), signing=False, ssh_agent=True,
    )
    assert isinstance(credentials.git_hosts, tuple)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[credentials]\nlogins = 'yes'\n", "[credentials] logins must be a boolean, not a string"),
        ("[credentials]\nssh_agent = 1\n", "[credentials] ssh_agent must be a boolean, not a whole number"),
        ("[credentials]\ngit_hosts = 'github.com'\n", "[credentials] git_hosts must be a list, not a string"),
        ("[credentials]\ngit_hosts = ['github.com', 443]\n", "[credentials] git_hosts must be a list of strings"),
        ("[credentials]\ntoken = 'x'\n", "unknown key 'token' in [credentials]"),
        ("credentials = true\n", "credentials must be a table"),
    ],
    ids=["logins-str", "ssh-agent-int", "hosts-str", "hosts-not-strings", "unknown-key", "not-a-table"],
)
def test_load_config_rejects_bad_credentials_values(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


def test_load_config_credentials_unknown_key_hint_lists_credentials_keys(tmp_path):
    path = write_config(tmp_path / "config.toml", "[credentials]\nbogus = 1\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known keys: logins, save_new_logins, git_credentials, git_hosts, signing, ssh_agent"


# --- [agents.NAME] ------------------------------------------------------------------------


def test_load_config_without_agents_has_none():
    assert config.load_config().agents == ()


def test_load_config_custom_agent_runs_in_its_base_image_with_its_logins(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        '[agents.codex-fast]\nbase = "codex"\ncommand = ["codex", "--model", "o4-mini"]\n'
        'prompt_command = ["codex", "exec", "--model", "o4-mini", "{prompt}"]\ntitle = "Codex (fast)"\n',
    )

    (agent,) = config.load_config(path).agents

    codex = catalog.get_agent("codex")
    assert (agent.name, agent.title) == ("codex-fast", "Codex (fast)")
    assert agent.command == ("codex", "--model", "o4-mini")
    assert agent.prompt_command == ("codex", "exec", "--model", "o4-mini", "{prompt}")
    assert (agent.image, agent.image_name) == ("codex", "codex")
    assert (agent.login_dirs, agent.login_files, agent.login_env) == (codex.login_dirs, codex.login_files, codex.login_env)
    assert (agent.first_run, agent.allowed_domains) == (codex.first_run, codex.allowed_domains)


def test_load_config_custom_agent_defaults_come_from_its_base(tmp_path):
    path = write_config(tmp_path / "config.toml", '[agents.sh2]\nbase = "shell"\n\n[agents.cl]\nbase = "claude"\n')

    shell2, claude2 = config.load_config(path).agents

    assert (shell2.title, shell2.command, shell2.image_name) == ("Login shell (no AI; same sandbox) (sh2)", ("bash", "-l"),
                                                                 "base")
    assert (claude2.command, claude2.prompt_command, claude2.image_name) == (
        ("claude",), ("claude", "-p", "{prompt}"), "claude",
    )


def test_load_config_custom_agent_sits_next_to_other_sections(tmp_path):
    path = write_config(tmp_path / "config.toml", "[sessions]\nmemory = '2g'\n\n[agents.x]\nbase = 'gemini'\n")

    loaded = config.load_config(path)

    assert loaded.sessions.memory == "2g"
    assert [agent.name for agent in loaded.agents] == ["x"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[agents.x]\ncommand = ['codex']\n", '[agents.x] needs base = "<agent>"'),
        ("[agents.x]\nbase = 'codex'\nimage = 'mine'\n", "unknown key 'image' in [agents.x]"),
        ("[agents.x]\nbase = 'codex'\ncommand = []\n", "[agents.x] command must not be empty"),
        ("[agents.x]\nbase = 'codex'\nprompt_command = []\n", "[agents.x] prompt_command must not be empty"),
        ("[agents.x]\nbase = 'codex'\ncommand = ['codex', 1]\n", "[agents.x] command must be a list of strings"),
        ("[agents.x]\nbase = 'codex'\ncommand = 'codex --fast'\n", "[agents.x] command must be a list of strings"),
        ("[agents.x]\nbase = 5\n", "[agents.x] base must be a string"),
        ("[agents.x]\nbase = 'codex'\ntitle = ['t']\n", "[agents.x] title must be a string"),
        ("[agents]\nx = 'codex'\n", "[agents.x] must be a table"),
        ("agents = ['codex']\n", "agents must be tables ([agents.NAME])"),
    ],
    ids=["missing-base", "unknown-key", "empty-command", "empty-prompt-command", "non-string-item", "command-str",
         "base-int", "title-list", "agent-not-table", "agents-not-table"],
)
def test_load_config_rejects_bad_agent_tables_naming_the_file(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[agents.x]\nbase = 'clippy'\n", "[agents.x] base = 'clippy' is not an agent"),
        ("[agents.x]\nbase = 'x'\n", "[agents.x] base = 'x' is not an agent"),
        ("[agents.codex]\nbase = 'claude'\n", "[agents.codex] would replace the built-in agent codex"),
        ("[agents.'Fast Codex']\nbase = 'codex'\n",
         "[agents.Fast Codex]: agent names use lowercase letters, digits, '-' and '_'"),
        ("[agents.-x]\nbase = 'codex'\n", "[agents.-x]: agent names use lowercase letters, digits, '-' and '_'"),
    ],
    ids=["unknown-base", "self-base", "builtin-name", "bad-name", "leading-dash"],
)
def test_load_config_rejects_bad_custom_agents(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert expected in caught.value.message


def test_load_config_custom_agent_unknown_key_hint(tmp_path):
    path = write_config(tmp_path / "config.toml", "[agents.x]\nbase = 'codex'\nenvironment = {}\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known keys: base, command, prompt_command, title, env, carry"


# --- [agents.NAME] env --------------------------------------------------------------------------------

ENDPOINT = "https://llm.example.com/v1"


def test_load_config_builtin_agent_env(tmp_path):
    path = write_config(tmp_path / "config.toml",
                        f'[agents.claude]\nenv = {{ANTHROPIC_BASE_URL = "{ENDPOINT}", ANTHROPIC_MODEL = "m"}}\n')

    loaded = config.load_config(path)

    assert loaded.agent_env == (("claude", (("ANTHROPIC_BASE_URL", ENDPOINT), ("ANTHROPIC_MODEL", "m"))),)
    assert loaded.agents == ()  # variables for the built-in agent, not an agent of its own


def test_load_config_builtin_agent_env_as_a_sub_table(tmp_path):
    path = write_config(tmp_path / "config.toml", f'[agents.codex.env]\nOPENAI_BASE_URL = "{ENDPOINT}"\n')

    assert config.load_config(path).agent_env == (("codex", (("OPENAI_BASE_URL", ENDPOINT),)),)


@pytest.mark.parametrize("line", ["base = 'codex'", "command = ['claude', '--x']", "prompt_command = ['claude']",
                                  "title = 'Mine'"], ids=["base", "command", "prompt-command", "title"])
def test_load_config_builtin_agent_table_takes_only_env(tmp_path, line):
    path = write_config(tmp_path / "config.toml", f"[agents.claude]\nenv = {{}}\n{line}\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: [agents.claude] would replace the built-in agent claude"
    assert caught.value.hint == ("pick another name for your own agent; a built-in agent's table takes only: env, carry")


def test_load_config_builtin_agent_unknown_key_hint(tmp_path):
    path = write_config(tmp_path / "config.toml", "[agents.gemini]\nmodel = 'x'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: unknown key 'model' in [agents.gemini]"
    assert caught.value.hint == "a built-in agent's table takes: env, carry"


def test_load_config_custom_agent_env(tmp_path):
    path = write_config(tmp_path / "config.toml",
                        f'[agents.mine]\nbase = "codex"\nenv = {{OPENAI_BASE_URL = "{ENDPOINT}"}}\n')

    loaded = config.load_config(path)

    assert [(agent.name, agent.image_name) for agent in loaded.agents] == [("mine", "codex")]
    assert loaded.agent_env == (("mine", (("OPENAI_BASE_URL", ENDPOINT),)),)


@pytest.mark.parametrize("name", ["1ABC", "A-B", '"A B"', '"A.B"', '"Ä"', '""'],
                         ids=["leading-digit", "dash", "space", "dot", "non-ascii", "empty"])
def test_load_config_agent_env_refuses_bad_variable_names(tmp_path, name):
    path = write_config(tmp_path / "config.toml", f"[agents.claude]\nenv = {{{name} = 'x'}}\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    shown = name.strip('"')
    assert caught.value.message == f"config file {path}: [agents.claude] env: {shown!r} is not a variable name"
    assert caught.value.hint == "use letters, digits and '_'"


@pytest.mark.parametrize("value", ["1", "true", "['a']", "{x = 'y'}", '"a\\u0000b"'],
                         ids=["int", "bool", "list", "table", "nul"])
def test_load_config_agent_env_refuses_values_that_are_not_strings(tmp_path, value):
    path = write_config(tmp_path / "config.toml", f"[agents.mine]\nbase = 'codex'\nenv = {{API_X = {value}}}\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: [agents.mine] env: API_X must be a string"
    assert caught.value.hint == 'e.g. API_X = "https://llm.example.com"'


def test_load_config_agent_env_must_be_a_table(tmp_path):
    path = write_config(tmp_path / "config.toml", "[agents.claude]\nenv = 'A=1'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path}: [agents.claude] env must be a table of variables"


ENV_TABLES = (
    '[agents.codex]\nenv = {OPENAI_BASE_URL = "https://base.example.com", MODE = "base"}\n\n'
    '[agents.mine]\nbase = "codex"\nenv = {MODE = "mine", EXTRA = "1"}\n\n'
    '[agents.plain]\nbase = "codex"\n'
)


def test_config_env_for_a_builtin_agent_is_its_table(tmp_path):
    loaded = config.load_config(write_config(tmp_path / "config.toml", ENV_TABLES))

    assert loaded.env_for(catalog.get_agent("codex")) == {"OPENAI_BASE_URL": "https://base.example.com", "MODE": "base"}


def test_config_env_for_an_agent_without_a_table_is_empty(tmp_path):
    loaded = config.load_config(write_config(tmp_path / "config.toml", ENV_TABLES))

    assert loaded.env_for(catalog.get_agent("claude")) == {}


def test_config_env_for_a_custom_agent_is_its_bases_then_its_own(tmp_path):
    loaded = config.load_config(write_config(tmp_path / "config.toml", ENV_TABLES))
    mine = catalog.get_agent("mine", loaded.agents)

    assert loaded.env_for(mine) == {"OPENAI_BASE_URL": "https://base.example.com", "MODE": "mine", "EXTRA": "1"}


def test_config_env_for_a_custom_agent_without_a_table_is_its_bases(tmp_path):
    loaded = config.load_config(write_config(tmp_path / "config.toml", ENV_TABLES))
    plain = catalog.get_agent("plain", loaded.agents)

    assert loaded.env_for(plain) == {"OPENAI_BASE_URL": "https://base.example.com", "MODE": "base"}


def test_config_env_for_a_custom_agent_of_the_shell_is_the_shells(tmp_path):
    path = write_config(tmp_path / "config.toml",
                        '[agents.shell]\nenv = {FOO = "shell"}\n\n[agents.myshell]\nbase = "shell"\n')
    loaded = config.load_config(path)

    assert loaded.env_for(catalog.get_agent("myshell", loaded.agents)) == {"FOO": "shell"}


def test_config_env_for_never_takes_an_unrelated_agents_table(tmp_path):
    path = write_config(tmp_path / "config.toml",
                        '[agents.base]\nbase = "codex"\nenv = {FOO = "not yours"}\n\n'
                        '[agents.myshell]\nbase = "shell"\n')
    loaded = config.load_config(path)

    assert loaded.env_for(catalog.get_agent("myshell", loaded.agents)) == {}


# --- [mcp] and [mcp_servers.NAME] -----------------------------------------------------------------


def test_load_config_mcp_defaults():
    loaded = config.load_config()

    assert loaded.mcp == config.McpConfig(enable=(), capability_hours=24)
    assert loaded.mcp_servers == ()


def test_load_config_parses_mcp_and_servers(tmp_path):
    path = write_config(
        tmp_path / "config.toml",
        '[mcp]\nenable = ["github", "playwright"]\ncapability_hours = 8\n\n'
        '[mcp_servers.tool]\ncommand = "npx"\nargs = ["-y", "@acme/tool"]\nenv = {KEY = "${ACME_KEY}"}\n\n'
        '[mcp_servers.docs]\nurl = "https://docs.example.com/mcp"\nheaders = {Authorization = "Bearer ${DOCS}"}\n',
    )

    loaded = config.load_config(path)

    assert loaded.mcp == config.McpConfig(enable=("github", "playwright"), capability_hours=8)
    assert loaded.mcp_servers == (
        servers.Server("tool", command=("npx",), args=("-y", "@acme/tool"), env=(("KEY", "${ACME_KEY}"),), source="user"),
        servers.Server("docs", url="https://docs.example.com/mcp", headers=(("Authorization", "Bearer ${DOCS}"),),
                   source="user"),
    )


def test_load_config_mcp_servers_next_to_other_sections(tmp_path):
    path = write_config(tmp_path / "config.toml",
                        '[sessions]\nnetwork = "restricted"\n[mcp_servers.tool]\ncommand = "t"\n[mcp]\nenable = []\n')

    loaded = config.load_config(path)

    assert (loaded.sessions.network, [s.name for s in loaded.mcp_servers], loaded.mcp.enable) == \
        ("restricted", ["tool"], ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[mcp]\nenable = 'github'\n", "[mcp] enable must be a list"),
        ("[mcp]\nenable = ['slack']\n", "[mcp] enable names 'slack', which is not in the catalog"),
        ("[mcp]\ncapability_hours = '8'\n", "[mcp] capability_hours must be a whole number, not a string"),
        ("[mcp]\ncapability_hours = true\n", "[mcp] capability_hours must be a whole number, not a boolean"),
        ("[mcp]\nservers = []\n", "unknown key 'servers' in [mcp]"),
        ("mcp_servers = 'x'\n", "mcp_servers must be tables ([mcp_servers.NAME])"),
        ("[mcp_servers.Tool]\ncommand = 'x'\n", "MCP server name 'Tool' is not valid"),
        ("[mcp_servers.tool]\ncommand = 'x'\nheaders = {A = 'b'}\n", "[mcp_servers.tool] headers only apply to a url server"),
        ("[mcp_servers.tool]\nargs = ['x']\n", "[mcp_servers.tool] needs either command (a local server) or url"),
    ],
    ids=["enable-string", "enable-unknown", "hours-string", "hours-bool", "unknown-key", "servers-not-tables",
         "bad-name", "headers-on-command", "no-command"],
)
def test_load_config_rejects_bad_mcp_naming_the_file(tmp_path, text, expected):
    path = write_config(tmp_path / "config.toml", text)

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message.startswith(f"config file {path}")
    assert expected in caught.value.message


def test_load_config_mcp_unknown_key_hint_lists_mcp_keys(tmp_path):
    path = write_config(tmp_path / "config.toml", "[mcp]\nenabled = ['github']\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known keys: enable, capability_hours"


@pytest.mark.parametrize("hours", [0, -1])
def test_load_config_capability_hours_must_be_positive(tmp_path, hours):
    path = write_config(tmp_path / "config.toml", f"[mcp]\ncapability_hours = {hours}\n")

    with pytest.raises(AgentsError):
        config.load_config(path)


# --- values of the right type that make no sense: refused, never quietly replaced -------------


def refused(tmp_path, text: str) -> AgentsError:
    path = write_config(tmp_path / "config.toml", text)
    with pytest.raises(AgentsError) as caught:
        config.load_config(path)
    assert caught.value.message.startswith(f"config file {path}")
    assert caught.value.hint, caught.value.message  # every refusal says how to fix it
    assert caught.value.exit_code == 1  # a bad file is not a bad command line
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sessions]\npids_limit = 0\n", "[sessions] pids_limit = 0 is too small (the engine would then set no limit"),
        ("[sessions]\npids_limit = -1\n", "[sessions] pids_limit = -1 is too small (the engine would then set no limit"),
        ("[sessions]\npids_limit = 10\n", "[sessions] pids_limit = 10 is too small"),
        ("[sessions]\nmemory = ''\n", "[sessions] memory is empty"),
        ("[sessions]\nmemory = '  '\n", "[sessions] memory is empty"),
        ("[sessions]\nmemory = 'lots'\n", "[sessions] memory 'lots' is not a size"),
        ("[sessions]\nmemory = '1k'\n", "[sessions] memory '1k' is less than the engine's minimum of 6m"),
        ("[sessions]\ncpus = 0\n", "[sessions] cpus must be a number of cores from 0.01 up, not 0"),
        ("[sessions]\ncpus = -2.5\n", "[sessions] cpus must be a number of cores from 0.01 up, not -2.5"),
        ("[sessions]\ncpus = nan\n", "[sessions] cpus must be a number of cores from 0.01 up, not nan"),
        ("[sessions]\ncpus = inf\n", "[sessions] cpus must be a number of cores from 0.01 up, not inf"),
        ("[sessions]\nnetwork = 'open'\n", "[sessions] network = 'open' is not a network mode"),
        ("[sessions]\nnetwork = ''\n", "[sessions] network is empty"),
        ("[sessions]\nautonomy = ''\n", "[sessions] autonomy is empty"),
        ("[sessions]\ndocker_args = ['--shm-size', '']\n", "[sessions] docker_args has an empty entry"),
        ("[network]\nrequest_max_mb = 0\n", "[network] request_max_mb = 0 would refuse every request that has a body"),
        ("[network]\nreply_max_mb = -1\n", "[network] reply_max_mb = -1 would refuse every reply"),
        ("[network]\nsubnet_pool = 'lots'\n", "[network] subnet_pool = 'lots' is not an address range (CIDR)"),
        ("[network]\nsubnet_pool = '10.213.0.0/33'\n", "[network] subnet_pool = '10.213.0.0/33' is not an address"),
        ("[network]\nsubnet_pool = 'fd00::/64'\n", "[network] subnet_pool = 'fd00::/64' is not a private IPv4 range"),
        ("[network]\nsubnet_pool = '8.8.0.0/16'\n", "[network] subnet_pool = '8.8.0.0/16' is not a private IPv4 range"),
        ("[network]\nsubnet_pool = '127.0.0.0/8'\n", "[network] subnet_pool = '127.0.0.0/8' is not a private IPv4"),
        ("[network]\nsubnet_pool = '10.0.0.0/29'\n", "[network] subnet_pool = '10.0.0.0/29' is too small"),
        ("[network]\nsubnet_pool = ''\n", "[network] subnet_pool is empty"),
        ("[network]\nallow = ['pypi.org', '']\n", "[network] allow has an empty entry"),
        ("[network]\nallow = ['not a host']\n", "[network] allow: 'not a host' is not an allowlist rule"),
        ("[network]\nallow = ['pypi.org', 3]\n", "[network] allow must be a list of strings"),
        ("[images]\nregistry = ''\n", "[images] registry is empty"),
        ("[images]\nbase_image = ' '\n", "[images] base_image is empty"),
        ("[images]\nnpm_registry = 'registry.npmjs.org'\n", "[images] npm_registry 'registry.npmjs.org' is not an"),
        ("[images]\ndebian_mirror = 'ftp://deb.example/debian'\n", "[images] debian_mirror 'ftp://deb.example/debian'"),
        ("[images]\nnpm_registry = 'http://[::1/npm'\n", "[images] npm_registry 'http://[::1/npm' is not an"),
        ("[sessions]\nmemory = '99999999999999999999p'\n", "is more than the engine can count"),
        ("[credentials]\ngit_hosts = ['']\n", "[credentials] git_hosts has an empty entry"),
        ("[mcp]\ncapability_hours = 0\n", "[mcp] capability_hours must be at least 1, not 0"),
        ("[agents.x]\nbase = 'codex'\ntitle = ''\n", "[agents.x] title is empty"),
        ("[agents.x]\nbase = 'codex'\ncommand = ['codex', ' ']\n", "[agents.x] command is empty or has an empty entry"),
        ("[agents.x]\nbase = ''\n", "[agents.x] base is empty"),
        ("[mcp_servers.s]\ncommand = 'tool'\ncwd = ''\n", "[mcp_servers.s] cwd is empty"),
    ],
    ids=["pids-zero", "pids-minus-one", "pids-tiny", "memory-empty", "memory-blank", "memory-word", "memory-tiny",
         "cpus-zero", "cpus-negative", "cpus-nan", "cpus-inf", "network-mode", "network-empty", "autonomy-empty",
         "docker-args-empty", "request-zero", "reply-negative", "pool-word", "pool-prefix", "pool-ipv6",
         "pool-public", "pool-loopback", "pool-tiny", "pool-empty", "allow-empty", "allow-bad-rule",
         "allow-not-strings", "registry-empty", "base-image-blank", "npm-not-url", "mirror-ftp", "npm-unclosed-bracket", "memory-huge",
         "git-hosts-empty",
         "hours-zero", "agent-title-empty", "agent-command-entry-empty", "agent-base-empty", "mcp-cwd-empty"],
)
def test_load_config_refuses_nonsense_values_with_a_hint(tmp_path, text, expected):
    assert expected in refused(tmp_path, text).message


def test_load_config_pids_limit_hint_gives_the_floor_and_default(tmp_path):
    error = refused(tmp_path, "[sessions]\npids_limit = 0\n")

    assert error.hint == f"use at least {config.MIN_PIDS_LIMIT}; the default is 1024"


@pytest.mark.parametrize("text", ["[images\n", "[imagez]\nregistry = 'x'\n", "[images]\nregsitry = 'x'\n",
                                  "[images]\nregistry = 5\n", "images = 'x'\n", "agents = 1\n",
                                  "[agents.x]\nbase = 'codex'\ncommand = []\n", "[mcp_servers.s]\n",
                                  "[mcp]\nenable = 'github'\n", "[network]\nhost_ports = [0]\n"],
                         ids=["toml", "section", "key", "type", "table", "agents", "agent-command", "mcp-server",
                              "mcp-enable", "host-port"])
def test_load_config_every_refusal_has_a_hint(tmp_path, text):
    refused(tmp_path, text)


def test_load_config_type_error_hint_shows_an_example(tmp_path):
    assert refused(tmp_path, "[sessions]\npids_limit = '512'\n").hint == "e.g. pids_limit = 1024"


def test_load_config_not_utf8_is_a_clean_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"[images]\nbase_image = \"caf\xe9\"\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.message == f"config file {path} is not UTF-8 text (byte 0xe9 at offset 26)"
    assert "UTF-8" in caught.value.hint


def test_load_config_memory_is_normalized_for_the_engine(tmp_path):
    path = write_config(tmp_path / "config.toml", "[sessions]\nmemory = '1.5g'\n")

    assert config.load_config(path).sessions.memory == "1536m"


@pytest.mark.parametrize(("pool", "ok"), [("10.213.0.0/16", True), ("172.20.0.0/20", True), ("192.168.64.0/27", True),
                                          ("10.213.5.0/16", True)], ids=["ten", "172", "smallest", "host-bits"])
def test_load_config_subnet_pool_takes_private_ranges(tmp_path, pool, ok):
    path = write_config(tmp_path / "config.toml", f"[network]\nsubnet_pool = '{pool}'\n")

    assert config.load_config(path).network.subnet_pool == pool


def test_config_network_modes_and_the_command_line_choices_come_from_one_table(tmp_path):
    from agents.cli import build_parser

    assert set(netmodes.NAMES) == set(netmodes.MODES)
    for mode in netmodes.NAMES:
        path = write_config(tmp_path / f"{mode}.toml", f"[sessions]\nnetwork = '{mode}'\n")
        assert config.load_config(path).sessions.network == mode
        assert build_parser().parse_args(["launch-agent", "shell", "--network-proxy", mode]).network_proxy == mode
    with pytest.raises(AgentsError):
        config.load_config(write_config(tmp_path / "other.toml", "[sessions]\nnetwork = 'vpn'\n"))
