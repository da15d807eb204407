"""agents/session/decide.py: the launch decision on hand-made facts (no git, no engine, no fakes)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from agents import bridges, catalog, endpoints, records
from agents.config import Config
from agents.errors import AgentsError, UsageError
from agents.mcp import render, servers
from agents.session import decide, facts, model, naming
from agents.session.options import LaunchOptions

REPO = Path("/home/user/api")
HEAD = "a" * 40
AGENT_TIP = "b" * 40


def repo_facts(**changes) -> facts.RepoFacts:
    values = dict(root=REPO, head=HEAD, current_branch="main", branches={"main": HEAD},
                  identity=("Ann", "ann@example.com"), uncommitted=False)
    return facts.RepoFacts(**{**values, **changes})


def launch_facts(options: LaunchOptions, repo: facts.RepoFacts | None = None, existing=(),
                 **changes) -> facts.LaunchFacts:
    """The facts gather would return for options, on a repo and engine described by the arguments."""
    agent = catalog.get_agent(options.agent)
    repo = repo or repo_facts()
    branch = decide.choose_branch(options, agent, repo, tuple(existing))
    values = dict(
        agent=agent, repo=repo, existing=tuple(existing), branch=branch, invalid_branch=None,
        name=decide.choose_name(options, agent, repo.root, branch), name_owner=None, proxy_name_taken=False,
        volume_owners=(),
        endpoints=endpoints.Endpoints(), mcp=render.McpPlan(), mcp_refusal=None, secret_names=frozenset(),
        host_addresses=("192.0.2.10",), bridge=facts.BridgeFacts(), gpu_runtime=None,
    )
    return facts.LaunchFacts(**{**values, **changes})


def decided(config: Config | None = None, repo=None, existing=(), facts_changes=None, **options):
    launch_options = LaunchOptions(**{"agent": "claude", "path": str(REPO), **options})
    found = launch_facts(launch_options, repo, existing, **(facts_changes or {}))
    return decide.session_request(launch_options, config or Config(), found)


def session(branch: str, name: str, repo: Path = REPO) -> model.SessionInfo:
    return model.SessionInfo(name=name, agent="claude", repo=repo, branch=branch, base=HEAD, network="squid",
                             mode="launch", image="i", no_push=False, created="", state="running", container_id="c")


# --- the request ------------------------------------------------------------------------------


def test_a_fresh_session_starts_from_head_on_the_next_session_branch():
    request = decided()
    assert (request.branch, request.start_commit, request.name) == ("claude/session-1", HEAD, "claude-api-session-1")
    assert request.network == "squid" and request.policy is not None
    assert request.policy.host_addresses == ("192.0.2.10",)  # the engine host's own, from the facts
    assert request.identity == ("Ann", "ann@example.com")


def test_the_next_session_number_counts_host_branches_and_running_sessions():
    repo = repo_facts(branches={"main": HEAD, "claude/session-1": AGENT_TIP})
    request = decided(repo=repo, existing=[session("claude/session-2", "other")])
    assert request.branch == "claude/session-3" and request.start_commit == HEAD


def test_an_existing_agent_branch_is_continued_from_its_tip():
    request = decided(repo=repo_facts(branches={"main": HEAD, "claude/api": AGENT_TIP}), branch="api")
    assert (request.branch, request.start_commit) == ("claude/api", AGENT_TIP)


def test_the_current_branch_and_a_detached_head():
    assert decided(use_current_branch=True).branch == "claude/main"
    with pytest.raises(AgentsError, match="detached HEAD"):
        decided(repo=repo_facts(current_branch=None), use_current_branch=True)


def test_uncommitted_changes_are_carried_only_from_head():
    assert decided(repo=repo_facts(uncommitted=True), include_uncommitted=True).include_uncommitted
    repo = repo_facts(uncommitted=True, branches={"main": HEAD, "claude/api": AGENT_TIP})
    with pytest.raises(AgentsError, match="--include-uncommitted needs the session to start from HEAD"):
        decided(repo=repo, include_uncommitted=True, branch="api")


# --- refusals, each on its own fact ----------------------------------------------------------


@pytest.mark.parametrize("changes, options, message", [
    ({"invalid_branch": "claude/a..b"}, {"branch": "a..b"}, "'claude/a..b' is not a valid branch name"),
    ({"name_owner": "claude-api-session-1"}, {}, "a session named claude-api-session-1 already exists"),
    ({"name_owner": ""}, {}, "a container named claude-api-session-1 already exists"),
    ({}, {"gpu": True}, "--gpu: the Docker engine has no GPU runtime"),
])
def test_a_fact_that_stops_the_launch_is_refused_with_its_reason(changes, options, message):
    with pytest.raises(AgentsError) as refused:
        decided(facts_changes=changes, **options)
    assert refused.value.message.startswith(message) and refused.value.hint


def test_a_branch_another_session_of_the_repo_works_on_is_refused():
    with pytest.raises(AgentsError, match="claude/api is already being worked on by busy"):
        decided(existing=[session("claude/api", "busy")], branch="api")
    # The same branch of another repository is another branch.
    assert decided(existing=[session("claude/api", "busy", Path("/elsewhere"))], branch="api").branch == "claude/api"


@pytest.mark.parametrize("host_branch, option, clash", [("claude/api", "api/v2", "claude/api"),
                                                        ("claude/api/v2", "api", "claude/api/v2")])
def test_a_branch_git_cannot_store_next_to_a_host_branch_is_refused(host_branch, option, clash):
    with pytest.raises(AgentsError, match=f"cannot exist next to the host's {clash}"):
        decided(repo=repo_facts(branches={"main": HEAD, host_branch: AGENT_TIP}), branch=option)


def test_what_the_user_typed_is_refused_before_any_fact_matters():
    with pytest.raises(UsageError, match="only apply to --network-proxy squid"):
        decide.check_input(LaunchOptions(agent="claude", network="restricted", learn=True), Config())
    with pytest.raises(AgentsError, match="--cpu must be a positive number"):
        decide.check_input(LaunchOptions(agent="claude", cpus=0.0), Config())
    with pytest.raises(AgentsError, match="would have no network"):
        decide.check_input(LaunchOptions(agent="claude", network="restricted", prompt="hi"), Config())


# --- MCP servers and the bridge ----------------------------------------------------------------


def keyed_plan() -> render.McpPlan:
    keyed = servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"), source="repo")
    return render.McpPlan(servers=(keyed,), domains=("api.keyed.example",))


def test_mcp_servers_with_secrets_need_the_secrets():
    with pytest.raises(AgentsError, match="need the secret\\(s\\) API_TOKEN, which are not set"):
        decided(facts_changes={"mcp": keyed_plan()})
    request = decided(facts_changes={"mcp": keyed_plan(), "secret_names": frozenset({"API_TOKEN"})})
    assert request.mcp_sidecar and "api.keyed.example" in request.policy.allow


def test_the_repositorys_mcp_refusal_stops_the_launch():
    with pytest.raises(AgentsError, match="not approved"):
        decided(facts_changes={"mcp_refusal": AgentsError("keyed is not approved", hint="mcp approve keyed")})


def test_no_bridge_here_warns_when_only_logins_and_credentials_would_miss_it():
    found = facts.BridgeFacts(credential_hosts=("github.com",), problem="socat is not installed", host_logins=True)
    request = decided(facts_changes={"bridge": found})
    assert request.warnings == ("warning: socat is not installed: refreshed logins and git credentials will not "
                                "reach claude-api-session-1",)
    assert request.bridge.credential_hosts == ()


@pytest.mark.parametrize("found, message", [
    (facts.BridgeFacts(signing=bridges.Signing(format="openpgp", key="K"), signer="gpg", signer_installed=False),
     "the signer `gpg` is not installed here"),
    (facts.BridgeFacts(signing=bridges.Signing(format="openpgp", key="K"), signer="gpg", problem="no socat"),
     "commit signing (commit.gpgsign is on) needs the session's host bridge, but no socat"),
    (facts.BridgeFacts(ssh_agent="/tmp/not-a-socket"), "SSH_AUTH_SOCK (/tmp/not-a-socket) is not a socket"),
    (facts.BridgeFacts(ssh_agent=""), "SSH_AUTH_SOCK is not set"),
])
def test_a_bridge_that_cannot_work_is_refused(found, message):
    with pytest.raises(AgentsError) as refused:
        decided(facts_changes={"bridge": found})
    assert message in refused.value.message


def test_an_endpoint_on_this_machine_needs_its_port_open():
    plan = records.replace(endpoints.Endpoints(), host_alias_ports=(11434,))
    with pytest.raises(AgentsError, match="port 11434 of this machine"):
        decided(facts_changes={"endpoints": plan})
    assert decided(facts_changes={"endpoints": plan}, host_ports=("11434",)).policy.host_ports == (11434,)


# --- the module stays pure --------------------------------------------------------------------


def test_decide_asks_nothing_itself():
    """No subprocess, engine, git, file or environment access in decide.py: facts.py asks."""
    source = Path(decide.__file__).read_text()
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom | ast.Import)
                for alias in node.names}
    assert not imported & {"runner", "docker", "subprocess", "os", "secrets", "workspace"}, imported
    called = {f"{node.func.value.id}.{node.func.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name)}
    assert not {call for call in called if call.split(".")[0] in {"runner", "docker", "os", "subprocess"}}, called
    assert not {call for call in called if call.startswith("git.") and call != "git.next_session_number"}, called
    assert "open(" not in source and ".read_text(" not in source and "environ" not in source
    assert naming.validate_name("claude-api-session-1")  # the naming rules it uses are pure too


# --- a remote engine --------------------------------------------------------------------------

REMOTE = "the engine is remote (DOCKER_HOST=tcp://10.0.0.5:2376)"


def test_allow_host_port_is_refused_on_a_remote_engine():
    with pytest.raises(AgentsError) as caught:
        decided(facts_changes={"engine_remote": REMOTE}, host_ports=("8080",))

    assert caught.value.message == ("--allow-host-port needs the engine on this machine (the relay listens on the "
                                    f"session's network gateway, which is where the engine runs), but {REMOTE}")
    assert "leave out --allow-host-port" in caught.value.hint


def test_configured_host_ports_are_dropped_with_a_warning_on_a_remote_engine():
    config = records.replace(Config(), network=records.replace(Config().network, host_ports=(11434,)))

    remote = decided(config, facts_changes={"engine_remote": REMOTE})
    local = decided(config)

    assert remote.policy.host_ports == () and remote.bridge.host_ports == ()
    assert f"warning: {REMOTE}: [network] host_ports (11434) are not offered to {remote.name}" in remote.warnings
    assert local.policy.host_ports == (11434,) and local.bridge.host_ports == (11434,)


GATEWAY = "under rootful Podman this machine has an address on each squid session's network (its gateway), ..."


def test_squid_is_refused_where_this_machine_is_on_the_sessions_network():
    with pytest.raises(AgentsError) as caught:
        decided(facts_changes={"host_on_network": GATEWAY})

    assert caught.value.message == f"--network-proxy squid: {GATEWAY}"
    assert "[network] allow_host_gateway = true" in caught.value.hint
    assert caught.value.hint.startswith("use --network-proxy restricted")


def test_the_gateway_is_no_matter_offline_or_once_the_config_accepts_it():
    config = records.replace(Config(), network=records.replace(Config().network, allow_host_gateway=True))

    assert decided(facts_changes={"host_on_network": GATEWAY}, network="restricted").network == "restricted"
    assert decided(config, facts_changes={"host_on_network": GATEWAY}) == decided(config)


def test_a_remote_engine_changes_nothing_without_host_ports():
    assert decided(facts_changes={"engine_remote": REMOTE}) == decided()
    assert decided(facts_changes={"engine_remote": REMOTE}, network="restricted").warnings == ()


# --- the name, when the options decide it before the sessions are listed ----------------------------


@pytest.mark.parametrize("options, expected", [
    ({"name": "mine"}, "mine"),
    ({"branch": "api"}, None),  # the default name for claude/api in REPO: compared below
    ({}, None),  # claude/session-N: the repository's sessions decide N
    ({"use_current_branch": True}, None),  # the host's branch: the repository's facts decide it
    ({"name": "no spaces"}, None),  # refused later, in order, by choose_name
])
def test_name_known_early(options, expected):
    launch_options = LaunchOptions(**{"agent": "claude", "path": str(REPO), **options})
    agent = catalog.get_agent("claude")

    known = decide.name_known_early(launch_options, agent, REPO)

    if options == {"branch": "api"}:
        assert known == decide.choose_name(launch_options, agent, REPO, "claude/api")
        assert decide.early_branch(launch_options, agent) == "claude/api"
    else:
        assert known == expected


# --- volumes a session of that name would make, found already ---------------------------------------


def test_an_orphaned_sessions_volumes_refuse_the_name():
    with pytest.raises(AgentsError, match="a session named s1 already exists") as caught:
        decide.refuse_volumes_in_use("s1", (("s1-workspace", "s1"), ("s1-home", "s1")), mcp_sidecar=False)
    assert "remove-agent s1" in caught.value.hint


def test_a_foreign_volume_refuses_the_name_and_is_never_reused():
    with pytest.raises(AgentsError, match="a volume named s1-home already exists") as caught:
        decide.refuse_volumes_in_use("s1", (("s1-home", ""),), mcp_sidecar=False)
    assert "--name" in caught.value.hint


def test_the_mcp_volume_counts_only_for_a_session_with_a_sidecar():
    decide.refuse_volumes_in_use("s1", (("s1-mcp", ""),), mcp_sidecar=False)  # not refused: it makes none

    with pytest.raises(AgentsError, match="a volume named s1-mcp already exists"):
        decide.refuse_volumes_in_use("s1", (("s1-mcp", ""),), mcp_sidecar=True)


def test_the_facts_volumes_refuse_the_request():
    options = LaunchOptions(agent="claude", path=str(REPO), name="mine")
    found = launch_facts(options, volume_owners=(("mine-workspace", "mine"),))

    with pytest.raises(AgentsError, match="a session named mine already exists"):
        decide.session_request(options, Config(), found)


def test_a_taken_proxy_name_refuses_a_squid_session_only():
    options = LaunchOptions(agent="claude", path=str(REPO), name="mine", network="squid")
    with pytest.raises(AgentsError, match="a container named mine-proxy already exists") as caught:
        decide.session_request(options, Config(), launch_facts(options, proxy_name_taken=True))
    assert "--name" in caught.value.hint

    restricted = LaunchOptions(agent="claude", path=str(REPO), name="mine", network="restricted")
    assert decide.session_request(restricted, Config(), launch_facts(restricted, proxy_name_taken=True)).name == "mine"


@pytest.mark.parametrize("options, expected", [
    ({}, ()),  # claude/session-N: numbered by choose_branch, valid by construction
    ({"branch": "api"}, ("api", "claude/api")),
    ({"use_current_branch": True}, ("claude/main",)),
])
def test_branches_git_must_accept(options, expected):
    launch_options = LaunchOptions(**{"agent": "claude", "path": str(REPO), **options})
    branch = decide.choose_branch(launch_options, catalog.get_agent("claude"), repo_facts(), ())

    assert decide.branches_to_check(launch_options, branch) == expected


def test_every_agent_name_makes_a_numbered_branch_git_accepts():
    for name in catalog.agent_names():
        branch = decide.choose_branch(LaunchOptions(agent=name, path=str(REPO)), catalog.get_agent(name), repo_facts(), ())
        done = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, text=True)
        assert done.returncode == 0 and branch.startswith(f"{name}/session-"), (branch, done.stderr)


@pytest.mark.parametrize("repo, branch, refused", [
    (Path('/home/me/a,b'), "api", "the repository's path"),
    (Path('/home/me/say "hi"'), "api", "the repository's path"),
    (REPO, "a,b", "the branch"),
])
def test_podman_refuses_a_comma_or_quote_in_the_labels_values(repo, branch, refused):
    options = LaunchOptions(agent="claude", path=str(repo), branch=branch)
    found = launch_facts(options, repo=repo_facts(root=repo), engine_kind="podman")

    with pytest.raises(AgentsError, match=f"under Podman, {refused} cannot hold a comma or a double quote"):
        decide.session_request(options, Config(), found)
    assert decide.session_request(options, Config(), launch_facts(options, repo=repo_facts(root=repo))).repo == repo
