"""agents/session/services.py and friends, the bridge parts: what a session's bridge serves, starting it and the logins, and the last
copy-back of logins on removal. Git runs for real on repositories in tmp_path; docker is faked at the runner."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents import bridges, catalog, endpoints, paths
from agents.config import Config, CredentialsConfig
from agents.errors import AgentsError
from agents.session import checks, finish, model, query, services
from agents.session.options import LaunchOptions
from tests.unit.gitrepos import init_repo, run_git

NAME = "codex-api-session-1"
AUTH = "/home/agent/.codex/auth.json"
CODEX = catalog.get_agent("codex")


@pytest.fixture
def repo(tmp_path) -> Path:
    path = init_repo(tmp_path / "api")
    run_git(path, "remote", "add", "origin", "https://github.com/team/api.git")
    return path


def bridge_for(repo: Path, agent: catalog.Agent = CODEX, config: Config | None = None, **options) -> bridges.BridgeSettings:
    launch_options = LaunchOptions(**{"agent": agent.name, "path": str(repo), **options})
    return checks.build_bridge(NAME, agent, repo, launch_options, config or Config())


def expected(repo: Path, home: Path, **overrides) -> bridges.BridgeSettings:
    return bridges.BridgeSettings(**{
        "session": NAME, "agent": "codex", "repo": str(repo),
        "login_files": ((AUTH, str(home / ".codex" / "auth.json")),), "credential_hosts": ("github.com",),
        **overrides,
    })


# --- build_bridge -------------------------------------------------------------------------------


def test_build_bridge_defaults_serve_logins_and_the_repos_https_hosts(repo, isolated_home, fake_which):
    fake_which("socat")

    assert bridge_for(repo) == expected(repo, isolated_home)


def test_build_bridge_follows_codex_home(repo, isolated_home, fake_which, monkeypatch, tmp_path):
    fake_which("socat")
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-state"))

    assert bridge_for(repo).login_files == ((AUTH, str(tmp_path / "codex-state" / "auth.json")),)


def test_build_bridge_adds_configured_hosts_normalized_without_duplicates(repo, isolated_home, fake_which):
    fake_which("socat")
    config = Config(credentials=CredentialsConfig(git_hosts=("https://GitHub.com/other", "git.example.com:8443/")))

    assert bridge_for(repo, config=config).credential_hosts == ("github.com", "git.example.com:8443")


def test_build_bridge_git_credentials_off(repo, isolated_home, fake_which):
    fake_which("socat")
    config = Config(credentials=CredentialsConfig(git_credentials=False, git_hosts=("git.example.com",)))

    assert bridge_for(repo, config=config) == expected(repo, isolated_home, credential_hosts=())


@pytest.mark.parametrize("where", ["option", "config"])
def test_build_bridge_without_host_logins(repo, isolated_home, fake_which, where):
    fake_which("socat")
    if where == "option":
        settings = bridge_for(repo, host_logins=False)
    else:
        settings = bridge_for(repo, config=Config(credentials=CredentialsConfig(logins=False)))

    assert settings == expected(repo, isolated_home, login_files=(), host_logins=False)


def test_build_bridge_save_new_logins_comes_from_the_config(repo, isolated_home, fake_which):
    fake_which("socat")

    settings = bridge_for(repo, config=Config(credentials=CredentialsConfig(save_new_logins=False)))

    assert settings.save_new_logins is False


def test_build_bridge_agent_without_logins_nor_remotes_serves_nothing(tmp_path, fake_which):
    fake_which()  # not even socat: nothing to serve, nothing to check
    repo = init_repo(tmp_path / "plain")

    settings = bridge_for(repo, agent=catalog.get_agent("shell"))

    assert settings.enabled is False
    assert (settings.login_files, settings.credential_hosts, settings.signing) == ((), (), None)


def test_build_bridge_signing_host_key(repo, isolated_home, fake_which):
    fake_which("socat", "gpg")
    run_git(repo, "config", "commit.gpgsign", "true")
    run_git(repo, "config", "user.signingkey", "0123456789ABCDEF")

    assert bridge_for(repo).signing == bridges.Signing("openpgp", "0123456789ABCDEF")


def test_build_bridge_signing_off_in_the_config_ignores_the_repo(repo, isolated_home, fake_which):
    fake_which("socat")
    run_git(repo, "config", "commit.gpgsign", "true")
    run_git(repo, "config", "gpg.format", "x509")

    assert bridge_for(repo, config=Config(credentials=CredentialsConfig(signing=False))).signing is None


def test_build_bridge_signer_not_installed(repo, isolated_home, fake_which):
    fake_which("socat")
    run_git(repo, "config", "commit.gpgsign", "true")
    run_git(repo, "config", "gpg.format", "ssh")
    run_git(repo, "config", "user.signingkey", "key::ssh-ed25519 AAAA me")
    run_git(repo, "config", "gpg.ssh.program", "/opt/ssh/ssh-keygen")

    with pytest.raises(AgentsError) as caught:
        bridge_for(repo)

    assert caught.value.message == ("this repository signs commits (commit.gpgsign) but the signer "
                                    "`/opt/ssh/ssh-keygen` is not installed here")
    assert caught.value.hint == "install it, or set [credentials] signing = false"


def test_build_bridge_signing_needs_the_bridge(repo, isolated_home, fake_which):
    fake_which("gpg")
    run_git(repo, "config", "commit.gpgsign", "true")

    with pytest.raises(AgentsError) as caught:
        bridge_for(repo)

    assert caught.value.message == ("commit signing (commit.gpgsign is on) needs the session's host bridge, "
                                    "but socat is not installed on this machine (apt-get install socat)")
    assert caught.value.hint == "install socat, or set [credentials] signing = false"


def test_build_bridge_without_socat_drops_logins_and_credentials_with_a_warning(repo, isolated_home, fake_which,
                                                                                 capsys):
    fake_which()

    settings = bridge_for(repo)

    assert settings == expected(repo, isolated_home, login_files=(), credential_hosts=())
    assert capsys.readouterr().err == (
        "==> warning: socat is not installed on this machine (apt-get install socat): "
        f"refreshed logins and git credentials will not reach {NAME}\n"
    )


@pytest.fixture
def ssh_agent_socket():
    folder = tempfile.mkdtemp(prefix="ca-ssh-", dir="/tmp")
    path = os.path.join(folder, "agent.1")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    yield path
    listener.close()
    shutil.rmtree(folder)


def test_build_bridge_ssh_agent(repo, isolated_home, fake_which, monkeypatch, ssh_agent_socket):
    fake_which("socat")
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent_socket)

    assert bridge_for(repo, ssh_agent=True).ssh_agent == ssh_agent_socket
    assert bridge_for(repo, config=Config(credentials=CredentialsConfig(ssh_agent=True))).ssh_agent == ssh_agent_socket
    assert bridge_for(repo).ssh_agent is None


def test_build_bridge_ssh_agent_not_running(repo, isolated_home, fake_which):
    fake_which("socat")

    with pytest.raises(AgentsError) as caught:
        bridge_for(repo, ssh_agent=True)

    assert caught.value.message == "--ssh-agent needs a running ssh-agent, but SSH_AUTH_SOCK is not set"
    assert caught.value.hint == "start one (eval $(ssh-agent); ssh-add), or leave out --ssh-agent"


def test_build_bridge_ssh_agent_not_a_socket(repo, isolated_home, fake_which, monkeypatch, tmp_path):
    fake_which("socat")
    (tmp_path / "agent.sock").write_text("")
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))

    with pytest.raises(AgentsError) as caught:
        bridge_for(repo, ssh_agent=True)

    assert caught.value.message == (
        f"--ssh-agent needs a running ssh-agent, but SSH_AUTH_SOCK ({tmp_path}/agent.sock) is not a socket"
    )


def test_build_bridge_ssh_agent_with_a_remote_engine(repo, isolated_home, fake_which, monkeypatch, ssh_agent_socket):
    fake_which("socat")
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent_socket)
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")

    # The relay carries the agent's connections over the engine's stream: remote is no obstacle.
    assert bridge_for(repo, ssh_agent=True).ssh_agent == ssh_agent_socket


# --- start_session_services ---------------------------------------------------------------------------

BRIDGE_ARGV = [sys.executable, "-m", "agents", "_bridge", NAME]
RECEIVE = ["docker", "exec", "-i", "--user", "1000", NAME, "ca-stub", "logins-receive"]


def prepared(isolated_home: Path, **overrides) -> bridges.BridgeSettings:
    """A session's bridge settings with its relay link up (the faked `_bridge` makes none)."""
    settings = bridges.BridgeSettings(**{"session": NAME, "agent": "codex", "repo": "/home/me/api",
                                         "login_files": ((AUTH, str(isolated_home / ".codex" / "auth.json")),),
                                         **overrides})
    bridges.prepare(settings)
    Path(bridges.link_marker(NAME, NAME)).touch()
    return settings


def test_start_session_services_starts_the_bridge_then_delivers_logins(fp, state_home, isolated_home, capsys):
    settings = prepared(isolated_home)
    fp.register(BRIDGE_ARGV)
    received = []
    fp.register(RECEIVE, stdout='{"files": 1, "env": 0}\n', stdin_callable=received.append)

    services.start_session_services(NAME, CODEX, settings)

    assert [list(call) for call in fp.calls] == [BRIDGE_ARGV, RECEIVE]
    assert [item["path"] for item in json.loads(received[0])["files"]] == ["/home/agent/.codex/config.toml"]
    assert capsys.readouterr().err == (
        f"==> no host login for OpenAI Codex CLI ({isolated_home}/.codex/auth.json): "
        "log in inside; the login is then saved to the host\n"
    )
    assert paths.helper_log("bridge", NAME) == state_home / "coding-agents" / f"bridge-{NAME}.log"
    assert paths.helper_log("bridge", NAME).exists()  # where the error hint points is where the bridge logs


def test_start_session_services_leaves_a_running_bridge_alone(fp, state_home, isolated_home):
    settings = prepared(isolated_home)
    (bridges.session_dir(NAME) / "bridge.pid").write_text(str(os.getpid()))
    fp.register(RECEIVE)

    services.start_session_services(NAME, CODEX, settings)

    assert [list(call) for call in fp.calls] == [RECEIVE]


def test_start_session_services_bridge_that_never_listens(fp, state_home, isolated_home, monkeypatch):
    settings = prepared(isolated_home)
    fp.register(BRIDGE_ARGV)
    monkeypatch.setattr(bridges, "wait_for_link", lambda name, container, timeout=10.0: False)  # instead of 20 s

    with pytest.raises(AgentsError) as caught:
        services.start_session_services(NAME, CODEX, settings)

    assert caught.value.message == f"the host bridge of {NAME} did not start"
    assert caught.value.hint == f"see {paths.helper_log('bridge', NAME)}"
    assert fp.call_count(RECEIVE) == 0


@pytest.mark.parametrize("bridge", ["none", "no-host-logins"])
def test_start_session_services_without_host_logins_sends_only_the_answers(fp, state_home, isolated_home, capsys,
                                                                           bridge):
    (isolated_home / ".codex").mkdir()
    (isolated_home / ".codex" / "auth.json").write_text('{"token": "host"}')
    settings = None if bridge == "none" else prepared(isolated_home, login_files=(), host_logins=False)
    received = []
    fp.register(BRIDGE_ARGV)
    fp.register(RECEIVE, stdin_callable=received.append)

    services.start_session_services(NAME, CODEX, settings)

    # A session of this machine always has its helper (the link carries its health reports).
    assert [list(call) for call in fp.calls] == ([RECEIVE] if settings is None else [BRIDGE_ARGV, RECEIVE])
    assert "host" not in received[0]
    assert capsys.readouterr().err == "==> host logins not used: log in to OpenAI Codex CLI inside the session\n"


def test_start_session_services_without_listeners_starts_the_helper_and_does_not_wait_for_its_link(
        fp, state_home, isolated_home, monkeypatch):
    """Its only socket is the health reports' (best effort): the launch does not wait for it."""
    settings = prepared(isolated_home, login_files=())
    Path(bridges.link_marker(NAME, NAME)).unlink()
    fp.register(BRIDGE_ARGV)
    monkeypatch.setattr(bridges, "wait_for_link", lambda *args, **kwargs: pytest.fail("waited for the link"))

    services.start_session_services(NAME, catalog.get_agent("shell"), settings)

    assert [list(call) for call in fp.calls] == [BRIDGE_ARGV]


def test_start_session_services_shell_without_bridge_does_nothing(fp, state_home, capsys):
    services.start_session_services(NAME, catalog.get_agent("shell"), None)

    assert list(fp.calls) == []
    assert capsys.readouterr().err == ""


def test_start_session_services_sends_the_endpoint_variables_with_the_logins(fp, state_home, isolated_home):
    settings = prepared(isolated_home)
    (bridges.session_dir(NAME) / "bridge.pid").write_text(str(os.getpid()))
    received = []
    fp.register(RECEIVE, stdin_callable=received.append)
    plan = endpoints.Endpoints(env=(("OPENAI_BASE_URL", "https://llm.example.com/v1"),), hosts=("llm.example.com",))

    services.start_session_services(NAME, CODEX, settings, endpoint_plan=plan)

    assert json.loads(received[0])["env"] == {"OPENAI_BASE_URL": "https://llm.example.com/v1"}


def test_start_session_services_tells_the_autonomy_mode_through_the_logins(fp, state_home, isolated_home):
    received = []
    fp.register(RECEIVE, stdin_callable=received.append)

    services.start_session_services(NAME, catalog.get_agent("claude"), None, autonomy="ask")

    (claude_json,) = [item for item in json.loads(received[0])["files"]
                      if item["path"] == "/home/agent/.claude/.claude.json"]
    assert "bypassPermissionsModeAccepted" not in base64.b64decode(claude_json["data"]).decode()


def test_start_session_services_shell_gets_its_env_variables(fp, state_home):
    fp.register(RECEIVE)

    services.start_session_services(NAME, catalog.get_agent("shell"), None,
                                    endpoint_plan=endpoints.Endpoints(env=(("FOO", "bar"),)))

    assert fp.call_count(RECEIVE) == 1


# --- session_agent ------------------------------------------------------------------------------------


def session(agent: str, state: str = "running") -> model.SessionInfo:
    return model.SessionInfo(
        name=NAME, agent=agent, repo=Path("/nonexistent/api"), branch="codex/session-1", base="a" * 40,
        network="restricted", mode="launch", image="coding-agents-codex:1", no_push=False,
        created="2026-01-02T03:04:05Z", state=state, container_id="c" * 64,
    )


def write_user_config(isolated_home: Path, text: str) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "coding-agents" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_session_agent_built_in():
    assert query.session_agent(session("codex")) is CODEX


def test_session_agent_from_the_users_config(isolated_home):
    write_user_config(isolated_home, '[agents.codex-o3]\nbase = "codex"\ncommand = ["codex", "-m", "o3"]\n')

    found = query.session_agent(session("codex-o3"))

    assert found == catalog.custom_agent("codex-o3", "codex", command=("codex", "-m", "o3"))


@pytest.mark.parametrize("text", ["", "[agents.other]\nbase = 'codex'\n", "[agents.codex-o3]\nbase = 'nope'\n",
                                  "not toml ["],
                         ids=["no-agents", "other-agent", "broken-agent", "broken-file"])
def test_session_agent_unknown_is_none(isolated_home, text):
    write_user_config(isolated_home, text)

    assert query.session_agent(session("codex-o3")) is None


# --- remove: the last copy-back --------------------------------------------------------------------------

STATE = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
PUSH = ["docker", "exec", "--user", "1000", NAME, "ca-stub", "logins-push"]


def register_removal(fp, state: str = "running") -> None:
    """A session with nothing unsynced, removed with --no-push (no sync: git is not involved)."""
    fp.register(STATE, stdout=state + "\n", occurrences=3)
    health = json.dumps({"tip": None, "ahead": None, "unsynced": None, "dirty": False, "elsewhere": []})
    # in the container while it runs, else in a throwaway one on its workspace volume
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"], stdout="clean\n")
    fp.register(["docker", "exec", "--user", "1000", NAME, "env", fp.any()], stdout=health)
    fp.register(["docker", "run", "--rm", "-i", fp.any(), "ca-stub", "autocommit"], stdout="clean\n")
    fp.register(["docker", "run", "--rm", "-i", fp.any(), "ca-stub", "health"], stdout=health)
    fp.register(PUSH)
    fp.register(["docker", "rm", "--force", NAME])
    fp.register(["docker", "inspect", "--format", fp.any(min=1, max=1), f"{NAME}-proxy"], returncode=1)
    fp.register(["docker", "network", "inspect", fp.any()], returncode=1, occurrences=2)
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-workspace", f"{NAME}-home"])


def test_remove_pushes_refreshed_logins_before_the_container_goes(fp, state_home, isolated_home):
    register_removal(fp)
    prepared(isolated_home)

    finish.remove(session("codex"), no_push=True)

    calls = [list(call) for call in fp.calls]
    assert calls.count(PUSH) == 1
    assert calls.index(PUSH) < calls.index(["docker", "rm", "--force", NAME])
    assert not bridges.session_dir(NAME).exists()  # the bridge's folder goes with the session


def test_remove_custom_agent_also_pushes(fp, state_home, isolated_home):
    write_user_config(isolated_home, '[agents.codex-o3]\nbase = "codex"\n')
    register_removal(fp)

    finish.remove(session("codex-o3"), no_push=True)

    assert fp.call_count(PUSH) == 1


@pytest.mark.parametrize(("agent", "state"), [("codex", "exited"), ("shell", "running")],
                         ids=["stopped", "agent-without-logins"])
def test_remove_skips_the_push_when_there_is_nothing_to_push(fp, state_home, agent, state):
    register_removal(fp, state=state)

    finish.remove(session(agent, state=state), no_push=True)

    assert fp.call_count(PUSH) == 0
    assert fp.call_count(["docker", "rm", "--force", NAME]) == 1


# --- remove: the MCP sidecar goes with its session ------------------------------------------------------------

SIDECAR_OWNER = ["docker", "inspect", "--format",
                 '{{index .Config.Labels "coding-agents.session"}} {{index .Config.Labels "coding-agents.role"}}',
                 f"{NAME}-mcp"]


def test_remove_takes_the_mcp_sidecar_and_its_volume(fp, state_home, isolated_home):
    register_removal(fp)
    fp.register(SIDECAR_OWNER, stdout=f"{NAME} mcp\n")
    fp.register(["docker", "rm", "--force", f"{NAME}-mcp"])
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-mcp"])
    prepared(isolated_home, mcp_sidecar={"github": {"name": "github"}})

    finish.remove(session("codex"), no_push=True)

    calls = [list(call) for call in fp.calls]
    assert calls.index(["docker", "rm", "--force", NAME]) < calls.index(["docker", "rm", "--force", f"{NAME}-mcp"])
    assert fp.call_count(["docker", "volume", "rm", "--force", f"{NAME}-mcp"]) == 1


def test_remove_of_a_session_without_a_sidecar_leaves_mcp_alone(fp, state_home, isolated_home):
    register_removal(fp)
    prepared(isolated_home)

    finish.remove(session("codex"), no_push=True)

    assert fp.call_count(SIDECAR_OWNER) == 0
    assert not any(call[-1] == f"{NAME}-mcp" for call in fp.calls)


# --- resume_after_restart: the _bridge process saw its container start again -----------------------


@pytest.fixture
def resumed(monkeypatch):
    """What resume_after_restart would start (start_session_services faked), and the session it finds."""
    calls = []
    info = SimpleNamespace(name=NAME, autonomy="full")
    monkeypatch.setattr(query, "get_session", lambda name: info)
    monkeypatch.setattr(query, "session_agent", lambda found: CODEX)
    monkeypatch.setattr(services, "restart_endpoints", lambda agent: None)
    monkeypatch.setattr(services, "start_session_services", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def test_resume_after_a_restart_from_outside_delivers_the_logins_again(state_home, isolated_home, resumed):
    settings = prepared(isolated_home)

    services.resume_after_restart(NAME)

    assert resumed == [((NAME, CODEX, settings), {"autonomy": "full", "endpoint_plan": None, "sidecar": False})]


def test_resume_after_our_own_start_leaves_the_logins_to_it(state_home, isolated_home, resumed):
    prepared(isolated_home)
    services.starting_marker(NAME).write_text("")  # ensure_running wrote it before `docker start`

    services.resume_after_restart(NAME)

    assert resumed == []
    assert not services.starting_marker(NAME).exists()  # the next restart from outside is seen as such
