"""agents/session/, the MCP parts: which servers a session gets, its manifest, and its sidecar.

Git and the secret broker run for real (the broker in a thread); docker is faked at the runner (fp).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from agents import bridges, broker, catalog, images, manifest, network, records, secrets
from agents.config import Config, McpConfig
from agents.errors import AgentsError
from agents.mcp import approvals, render
from agents.mcp import servers as mcp_servers
from agents.session import checks, planner, services
from agents.session.options import LaunchOptions
from tests.unit.brokers import broker_thread
from tests.unit.gitrepos import commit_files, init_repo

NAME = "claude-api-session-1"
CLAUDE = catalog.get_agent("claude")
IMAGE_ID = "sha256:" + "1" * 64
PROXY_ID = "sha256:" + "2" * 64
KEYED_TEXT = '[mcp_servers.keyed]\ncommand = "keyed-mcp"\nargs = ["--token", "${API_TOKEN}"]\n'
KEYED = mcp_servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"), source="repo")


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def repo(tmp_path) -> Path:
    return init_repo(tmp_path / "api").resolve()


def repo_file(repo: Path, text: str) -> Path:
    path = repo / ".coding-agents" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def github_config(**mcp_options) -> Config:
    return Config(mcp=McpConfig(**{"enable": ("github",), **mcp_options}))


# --- build_mcp -----------------------------------------------------------------------------------------


def test_build_mcp_nothing_configured(repo):
    assert checks.build_mcp(CLAUDE, repo, Config()) == render.McpPlan()


def test_build_mcp_catalog_and_user_servers(repo, data_home):
    secrets.set_secret("GITHUB_TOKEN", "ghp_x")
    mine = mcp_servers.Server("mine", url="https://mcp.mine.example/x")
    config = Config(mcp=McpConfig(enable=("github", "context7")), mcp_servers=(mine,))

    planned = checks.build_mcp(CLAUDE, repo, config)

    servers = (mcp_servers.catalog_server("github"), mcp_servers.catalog_server("context7"), mine)
    assert planned == render.McpPlan(servers, render.render("claude-json", servers),
                                  ("api.githubcopilot.com", "context7.com", ".context7.com", "mcp.mine.example"))
    assert planned.sidecar_servers == (mcp_servers.catalog_server("github"),)


@pytest.mark.parametrize("agent", ["copilot", "codex", "gemini"])
def test_build_mcp_renders_in_each_clis_format(repo, agent):
    planned = checks.build_mcp(catalog.get_agent(agent), repo, Config(mcp=McpConfig(enable=("context7",))))

    assert planned.rendered == render.render(catalog.get_agent(agent).mcp_format, (mcp_servers.catalog_server("context7"),))


def test_build_mcp_refuses_an_unapproved_repo_server(repo):
    repo_file(repo, KEYED_TEXT)

    with pytest.raises(AgentsError) as caught:
        checks.build_mcp(CLAUDE, repo, Config())

    assert caught.value.message == mcp_servers.unapproved_error(KEYED, repo).message
    assert caught.value.hint == mcp_servers.unapproved_error(KEYED, repo).hint


def test_build_mcp_takes_an_approved_repo_server_and_opens_nothing_for_it(repo, data_home):
    repo_file(repo, KEYED_TEXT)
    approvals.save(repo, "keyed", KEYED.digest)
    secrets.set_secret("API_TOKEN", "t")

    planned = checks.build_mcp(CLAUDE, repo, Config())

    assert planned.servers == (KEYED,)
    assert planned.sidecar_servers == (KEYED,)
    assert planned.domains == ()


def test_build_mcp_approvals_of_another_repository_do_not_count(repo, tmp_path):
    repo_file(repo, KEYED_TEXT)
    approvals.save(tmp_path / "elsewhere", "keyed", KEYED.digest)

    with pytest.raises(AgentsError, match="you have not approved that definition"):
        checks.build_mcp(CLAUDE, repo, Config())


def test_build_mcp_names_secrets_that_are_not_set(repo, data_home):
    secrets.set_secret("OTHER", "x")

    with pytest.raises(AgentsError) as caught:
        checks.build_mcp(CLAUDE, repo, github_config())

    assert caught.value.message == "MCP server(s) github need the secret(s) GITHUB_TOKEN, which are not set"
    assert caught.value.hint == "coding-agents secrets set GITHUB_TOKEN"


def test_build_mcp_secrets_work_with_a_remote_engine(repo, data_home, monkeypatch):
    """The broker reaches the sidecar through the session's relay, over the engine's own stream."""
    secrets.set_secret("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")

    assert [server.name for server in checks.build_mcp(CLAUDE, repo, github_config()).sidecar_servers] == ["github"]


def test_build_mcp_servers_without_secrets_work_with_a_remote_engine(repo, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")

    assert checks.build_mcp(CLAUDE, repo, Config(mcp=McpConfig(enable=("context7",)))).servers == \
        (mcp_servers.catalog_server("context7"),)


def test_build_mcp_an_agent_without_mcp_gets_nothing(repo):
    shell = catalog.get_agent("shell")

    assert checks.build_mcp(shell, repo, github_config()) == render.McpPlan()


def test_build_mcp_an_agent_without_mcp_ignores_unapproved_repo_servers(repo):
    repo_file(repo, KEYED_TEXT)

    assert checks.build_mcp(catalog.get_agent("shell"), repo, Config()) == render.McpPlan()


# --- build_request: what the session carries ------------------------------------------------------------------


@pytest.fixture
def engine(fp):
    fp.pass_command(["git", fp.any()], occurrences=100)
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", fp.any()], stdout="sha256:1\nsha256:2\n",
                occurrences=10)  # the images' ids, for the manifest
    fp.register(["docker", "inspect", "--type", "container", "--format",
                 '{{index .Config.Labels "coding-agents.session"}}', NAME], returncode=1,
                stderr=f"Error: No such container: {NAME}\n")
    fp.register(["docker", "volume", "inspect", f"{NAME}-workspace", f"{NAME}-home", f"{NAME}-mcp"], returncode=1,
                stdout="[]\n")  # none of the session's volumes exists yet
    fp.register(["docker", "inspect", "--format", "{{.State.Status}}", f"{NAME}-proxy"], returncode=1)
    return fp


def test_build_request_with_mcp_servers(engine, tmp_path, data_home, fake_which):
    fake_which("socat")
    repo = init_repo(tmp_path / "api").resolve()
    commit_files(repo, {"README.md": "x\n"}, "first")
    secrets.set_secret("GITHUB_TOKEN", "ghp_x")
    config = github_config(capability_hours=6)
    options = LaunchOptions(agent="claude", path=str(repo))

    request = checks.build_request(options, config, lambda repo: [])

    github = mcp_servers.catalog_server("github")
    assert request.mcp_sidecar is True
    assert request.bridge.mcp_sidecar == {"github": github.definition()}
    assert request.bridge.mcp_rendered == records.asdict(render.render("claude-json", (github,)))
    assert request.bridge.mcp_hours == 6
    assert "api.githubcopilot.com" in request.policy.allow
    assert request.manifest == ""  # launch() adds it once the images are known


def test_build_request_without_mcp(engine, tmp_path, fake_which):
    fake_which("socat")
    repo = init_repo(tmp_path / "api").resolve()
    commit_files(repo, {"README.md": "x\n"}, "first")

    request = checks.build_request(LaunchOptions(agent="claude", path=str(repo)), Config(), lambda repo: [])

    assert request.mcp_sidecar is False
    assert (request.bridge.mcp_sidecar, request.bridge.mcp_rendered) == (None, None)


# --- build_manifest ---------------------------------------------------------------------------------------------


def request_for(repo: Path, bridge: bridges.BridgeSettings | None, **overrides) -> planner.SessionRequest:
    values = {"agent": CLAUDE, "repo": repo, "branch": "claude/session-1", "start_commit": "a" * 40, "name": NAME,
              "image": images.image_ref("claude"), "mode": "launch", "proxy_image": images.image_ref("proxy"),
              "bridge": bridge, **overrides}
    return planner.SessionRequest(**values)


@pytest.fixture
def folder(tmp_path) -> Path:
    """The session's repository as build_manifest sees it: only a folder (and maybe its .coding-agents file)."""
    path = tmp_path / "api"
    path.mkdir()
    return path


def image_ids(fp, *pairs: tuple[str, str]) -> None:
    for ref, found in pairs:
        fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", ref], stdout=found + "\n")


def test_build_manifest_records_sources_rendered_servers_images_and_network(fp, folder, tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text('[mcp]\nenable = ["github"]\n')
    repo_text = '[mcp]\nenable = ["context7"]\n'
    repo_file(folder, repo_text)
    servers = (mcp_servers.catalog_server("github"), mcp_servers.catalog_server("context7"))
    rendered = render.render("claude-json", servers)
    bridge = bridges.BridgeSettings(session=NAME, agent="claude", repo=str(folder),
                                    mcp_rendered=records.asdict(rendered), mcp_sidecar=mcp_servers.sidecar_spec(servers))
    policy = network.Policy(allow=(".anthropic.com", "api.githubcopilot.com"))
    image_ids(fp, (images.image_ref("claude"), IMAGE_ID), (images.image_ref("proxy"), PROXY_ID))

    document = manifest.build(request_for(folder, bridge, network="squid", policy=policy),
                                       Config(path=config_file))

    assert document == {
        "version": 1,
        "session": NAME,
        "tool": {"path": "source", "sha256": None},
        "config_sources": {str(config_file): hashlib.sha256(config_file.read_bytes()).hexdigest(),
                           str(folder / ".coding-agents" / "config.toml"): hashlib.sha256(repo_text.encode()).hexdigest()},
        "rendered_mcp": {".claude/.claude.json": render.rendered_digest(rendered, rendered.content)},
        "mcp_servers": {"github": mcp_servers.catalog_server("github").digest},
        "images": {images.image_ref("claude"): IMAGE_ID, images.image_ref("proxy"): PROXY_ID},
        "network": "squid",
        "allow": [".anthropic.com", "api.githubcopilot.com"],
        "host_ports": [],
        "agent": CLAUDE_TOLD,
    }


def test_build_manifest_of_a_plain_session(fp, folder):
    image_ids(fp, (images.image_ref("claude"), IMAGE_ID))

    document = manifest.build(request_for(folder, None, network="restricted"), Config())

    assert document == {"version": 1, "session": NAME, "tool": {"path": "source", "sha256": None},
                        "config_sources": {}, "rendered_mcp": {}, "mcp_servers": {},
                        "images": {images.image_ref("claude"): IMAGE_ID}, "network": "restricted", "allow": [],
                        "host_ports": [], "agent": CLAUDE_TOLD}


# What a plain claude session's CLI is told in the default (full) autonomy mode.
CLAUDE_TOLD = {
    "name": "claude", "autonomy": "full", "command": ["claude", "--dangerously-skip-permissions"],
    "env": {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CONFIG_DIR": "/home/agent/.claude",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1"},
    "settings": {".claude/.claude.json": {"bypassPermissionsModeAccepted": True}},
    "endpoint_env": [], "endpoint_hosts": [], "host_settings": {},
}


def test_build_manifest_names_the_zipapp_and_its_hash(fp, folder, tmp_path, monkeypatch):
    pex = tmp_path / "coding-agents.pyz"
    pex.write_bytes(b"zipapp")
    monkeypatch.setenv("PEX", str(pex))
    image_ids(fp, (images.image_ref("claude"), IMAGE_ID))

    document = manifest.build(request_for(folder, None), Config())

    assert document["tool"] == {"path": str(pex), "sha256": hashlib.sha256(b"zipapp").hexdigest()}


def test_build_manifest_digest_changes_with_what_the_session_gets(fp, folder):
    image_ids(fp, (images.image_ref("claude"), IMAGE_ID), (images.image_ref("claude"), IMAGE_ID))
    plain = manifest.build(request_for(folder, None), Config())
    servers = (mcp_servers.catalog_server("context7"),)
    bridge = bridges.BridgeSettings(session=NAME, agent="claude", repo=str(folder),
                                    mcp_rendered=records.asdict(render.render("claude-json", servers)))

    with_mcp = manifest.build(request_for(folder, bridge), Config())

    assert manifest.digest_of(plain) != manifest.digest_of(with_mcp)


# --- start_sidecar / remove_sidecar --------------------------------------------------------------------------------

SIDECAR = f"{NAME}-mcp"
RECEIVE = ["docker", "exec", "-i", "--user", "1000", SIDECAR, "ca-stub", "mcp-receive"]
CREATE = ["docker", "run", "--detach", "--name", SIDECAR, "coding-agents-claude:test", "ca-stub", "mcp-sidecar"]
MANIFEST = {"version": 1, "session": NAME}


@pytest.fixture
def running_broker(monkeypatch, data_home, state_home, fp):
    secrets.set_secret("GITHUB_TOKEN", "ghp_secret")
    secrets.set_secret("API_TOKEN", "api_secret")
    # The `_bridge` helper's relay link into the sidecar is up (it is faked away here).
    monkeypatch.setattr(bridges, "wait_for_link", lambda name, container, timeout=10.0: True)
    with broker_thread(monkeypatch) as servers:
        yield servers


def sidecar_bridge(**overrides) -> bridges.BridgeSettings:
    spec = mcp_servers.sidecar_spec((mcp_servers.catalog_server("github"), records.replace(KEYED, source="user")))
    return bridges.BridgeSettings(**{"session": NAME, "agent": "claude", "repo": "/r", "mcp_sidecar": spec,
                                     "manifest": MANIFEST, "mcp_hours": 2, **overrides})


def test_start_sidecar_refuses_when_the_brokers_relay_does_not_come_up(running_broker, fp, monkeypatch):
    fp.register(CREATE)
    monkeypatch.setattr(bridges, "wait_for_link", lambda name, container, timeout=10.0: False)

    with pytest.raises(AgentsError) as caught:
        services.start_sidecar(NAME, sidecar_bridge(), CREATE)

    assert caught.value.message == f"the broker's relay into {NAME}-mcp did not start"
    assert fp.call_count(RECEIVE) == 0


def test_start_sidecar_issues_creates_and_hands_over_capabilities_that_redeem(running_broker, fp, capsys):
    received = []
    fp.register(CREATE)
    fp.register(RECEIVE, stdout='{"servers": ["github", "keyed"]}\n', stdin_callable=received.append)
    bridge = sidecar_bridge()

    services.start_sidecar(NAME, bridge, CREATE)

    assert [list(call) for call in fp.calls] == [CREATE, RECEIVE]
    handed = json.loads(received[0])
    assert handed["servers"] == bridge.mcp_sidecar
    assert sorted(handed["capabilities"]) == ["github", "keyed"]
    assert "ghp_secret" not in received[0] and "api_secret" not in received[0]
    assert capsys.readouterr().err == f"==> MCP sidecar {SIDECAR} serves: github, keyed (secrets stay out of {NAME})\n"
    # what the sidecar got redeems on the session's socket while the container carries the manifest label
    fp.register(["docker", "inspect", "--format", fp.any(min=1, max=1), NAME],
                stdout=f"{manifest.digest_of(MANIFEST)} true\n", occurrences=2)
    socket_path = broker.session_socket_dir(NAME) / "broker.sock"
    assert broker.call({"capability": handed["capabilities"]["github"]}, path=socket_path) == \
        {"secrets": {"GITHUB_TOKEN": "ghp_secret"}}
    assert broker.call({"capability": handed["capabilities"]["keyed"]}, path=socket_path) == \
        {"secrets": {"API_TOKEN": "api_secret"}}


def test_start_sidecar_capabilities_last_the_configured_hours(running_broker, fp, state_home):
    fp.register(CREATE)
    fp.register(RECEIVE)
    before = time.time()

    services.start_sidecar(NAME, sidecar_bridge(mcp_hours=3), CREATE)

    lines = (state_home / "coding-agents" / "broker" / "audit.log").read_text().splitlines()
    issued = [event for event in map(json.loads, lines) if event["event"] == "issue"]
    assert [event["server"] for event in issued] == ["github", "keyed"]
    assert all(before + 3 * 3600 <= event["expires"] <= time.time() + 3 * 3600 for event in issued)


@pytest.mark.parametrize(("state", "expected"), [("exited", ["docker", "start", SIDECAR]), ("running", None)])
def test_start_sidecar_after_a_restart_starts_the_existing_sidecar(running_broker, fp, state, expected):
    fp.register(["docker", "inspect", "--format", "{{.State.Status}}", SIDECAR], stdout=state + "\n")
    fp.register(["docker", "start", SIDECAR])
    fp.register(RECEIVE)

    services.start_sidecar(NAME, sidecar_bridge(), None)

    assert fp.call_count(["docker", "start", SIDECAR]) == (1 if expected else 0)
    assert fp.call_count(RECEIVE) == 1


def test_start_sidecar_that_does_not_take_its_servers(running_broker, fp):
    fp.register(CREATE)
    fp.register(RECEIVE, returncode=1, stderr="Error response from daemon: container is not running\n")

    with pytest.raises(AgentsError) as caught:
        services.start_sidecar(NAME, sidecar_bridge(), CREATE)

    assert caught.value.message == (f"the MCP sidecar of {NAME} did not take its servers: "
                                    "Error response from daemon: container is not running")
    assert caught.value.hint == f"see `coding-agents logs {SIDECAR}`"


def test_start_sidecar_with_a_secret_gone_since_the_launch_checks(running_broker, fp):
    secrets.remove_secret("API_TOKEN")

    with pytest.raises(AgentsError) as caught:
        services.start_sidecar(NAME, sidecar_bridge(), CREATE)

    assert caught.value.message == "the secret broker refused: MCP secret(s) not set: API_TOKEN"
    assert list(fp.calls) == []  # no sidecar without its capabilities


OWNER = ["docker", "inspect", "--format",
         '{{index .Config.Labels "coding-agents.session"}} {{index .Config.Labels "coding-agents.role"}}', SIDECAR]


def test_remove_sidecar_removes_ours_its_volume_and_revokes(running_broker, fp):
    fp.register(CREATE)
    fp.register(RECEIVE)
    services.start_sidecar(NAME, sidecar_bridge(), CREATE)
    socket_dir = broker.session_socket_dir(NAME)
    fp.register(OWNER, stdout=f"{NAME} mcp\n")
    fp.register(["docker", "rm", "--force", SIDECAR])
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-mcp"])

    assert socket_dir.exists()

    services.remove_sidecar(NAME)

    assert fp.call_count(["docker", "rm", "--force", SIDECAR]) == 1
    assert fp.call_count(["docker", "volume", "rm", "--force", f"{NAME}-mcp"]) == 1
    assert not socket_dir.exists()
    assert broker.call({"op": "revoke", "session": NAME}) == {"revoked": False}  # nothing left to revoke


@pytest.mark.parametrize("owner", ["other-session mcp\n", f"{NAME} proxy\n", None], ids=["other-session", "other-role",
                                                                                          "absent"])
def test_remove_sidecar_never_removes_a_container_that_is_not_this_sessions_sidecar(fp, owner):
    if owner is None:
        fp.register(OWNER, returncode=1, stderr=f"Error: No such object: {SIDECAR}\n")
    else:
        fp.register(OWNER, stdout=owner)
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-mcp"])

    services.remove_sidecar(NAME)  # no broker runs: nothing to revoke

    assert fp.call_count(["docker", "rm", "--force", SIDECAR]) == 0
    assert fp.call_count(["docker", "volume", "rm", "--force", f"{NAME}-mcp"]) == 1


# --- start_session_services: logins (with the MCP config) before the sidecar -----------------------------------------


def test_start_session_services_delivers_the_mcp_config_then_starts_the_sidecar(running_broker, fp, capsys):
    servers = (mcp_servers.catalog_server("github"),)
    rendered = render.render("claude-json", servers)
    bridge = sidecar_bridge(mcp_sidecar=mcp_servers.sidecar_spec(servers), mcp_rendered=records.asdict(rendered),
                            host_logins=False)
    logins_receive = ["docker", "exec", "-i", "--user", "1000", NAME, "ca-stub", "logins-receive"]
    bundles = []
    fp.register(logins_receive, stdin_callable=bundles.append)
    fp.register(CREATE)
    fp.register(RECEIVE)
    bridges.prepare(bridge)
    (bridges.session_dir(NAME) / "bridge.pid").write_text(str(os.getpid()))  # its helper runs

    services.start_session_services(NAME, CLAUDE, bridge, CREATE)

    assert [list(call) for call in fp.calls] == [logins_receive, CREATE, RECEIVE]
    (config_file,) = json.loads(bundles[0])["files"]
    assert config_file["path"] == "/home/agent/.claude/.claude.json"
    written = json.loads(base64.b64decode(config_file["data"]))
    assert written["mcpServers"] == render.render_claude(servers)["mcpServers"]
    assert "ghp_secret" not in bundles[0]
    assert os.path.exists(broker.session_socket_dir(NAME) / "broker.sock")
