"""agents/config.py: ~/.config/coding-agents/config.toml, validated strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import config
from agents.errors import AgentsError


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
        ("[images]\nregistry = 5\n", "[images] registry must be a str, not int"),
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

    assert config.config_path() == path
    assert config.load_config().images.registry == "from-override"


def test_config_path_honours_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CODING_AGENTS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    write_config(tmp_path / "xdg" / "coding-agents" / "config.toml", "[images]\nregistry = 'from-xdg'\n")

    assert config.config_path() == tmp_path / "xdg" / "coding-agents" / "config.toml"
    assert config.load_config().images.registry == "from-xdg"


def test_config_dir_defaults_to_home_dot_config(isolated_home, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")

    assert config.config_dir() == isolated_home / ".config" / "coding-agents"


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
        ("[sessions]\npids_limit = true\n", "[sessions] pids_limit must be a int, not bool"),
        ("[sessions]\npids_limit = 1.5\n", "[sessions] pids_limit must be a int, not float"),
        ("[sessions]\nauto_commit = 'yes'\n", "[sessions] auto_commit must be a bool, not str"),
        ("[sessions]\ncpus = true\n", "[sessions] cpus must be a float, not bool"),
        ("[sessions]\ncpus = '2'\n", "[sessions] cpus must be a float, not str"),
        ("[sessions]\nmemory = 512\n", "[sessions] memory must be a str, not int"),
        ("[sessions]\ndocker_args = '--env A=1'\n", "[sessions] docker_args must be a list, not str"),
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

    assert caught.value.hint == "known keys: network, auto_commit, pids_limit, memory, cpus, docker_args"


def test_load_config_unknown_section_hint_names_sessions(tmp_path):
    path = write_config(tmp_path / "config.toml", "[session]\nnetwork = 'x'\n")

    with pytest.raises(AgentsError) as caught:
        config.load_config(path)

    assert caught.value.hint == "known sections: [images], [network], [sessions], [credentials]"


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
        ("[network]\nallow = 'pypi.org'\n", "[network] allow must be a list, not str"),
        ("[network]\nallow = ['pypi.org', 3]\n", "[network] allow must be a list of strings"),
        ("[network]\nblock_private = 'no'\n", "[network] block_private must be a bool, not str"),
        ("[network]\nreply_max_mb = true\n", "[network] reply_max_mb must be a int, not bool"),
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
