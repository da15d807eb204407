"""agents/session/: checks before launch (checks, facts, decide), launch with rollback, finding (query) and removing (finish) sessions.

Docker is faked at the runner (pytest-subprocess); git runs for real on repositories in tmp_path.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from agents import bridges, catalog, endpoints, images, network, records, runner, workspace
from agents.config import Config, NetworkConfig, SessionsConfig
from agents.errors import AgentsError
from agents.session import (
    attach,
    checks,
    daemons,
    decide,
    finish,
    launch,
    model,
    naming,
    planner,
    proxies,
    query,
    services,
)
from agents.session.options import LaunchOptions
from agents.session.query import CONTAINER_FORMAT
from tests.unit.gitrepos import make_template, run_git
from tests.unit.ps_lines import ps_argv, ps_output, volume_lines, volume_ls_argv

PS_ALL = ps_argv()
AGENT_RUN = ["docker", "run", "--interactive", "--sig-proxy=false"]  # attached: the fill goes through it
VERSION_ARGV = ["docker", "version", "--format", "{{.Server.Version}}"]
IMAGE_ID = "sha256:" + "1" * 64
IMAGE_IDS_ARGV = ["docker", "image", "inspect", "--format", "{{.Id}}"]


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    return make_template(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture(scope="module")
def first_commit(template_repo) -> str:
    """The template's one commit, where every copy starts."""
    return run_git(template_repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, template_repo) -> Path:
    return Path(shutil.copytree(template_repo, tmp_path / "api", symlinks=True)).resolve()


def fetch_prefix(repo) -> list:
    return ["git", "-C", repo, "-c", "protocol.ext.allow=always", "fetch"]


@pytest.fixture(autouse=True)
def bridge_sockets_appear(monkeypatch):
    """The faked `_bridge` process starts no relay link; launch would wait 20 s for it."""
    monkeypatch.setattr(bridges, "wait_for_link", lambda name, container, timeout=10.0: True)


@pytest.fixture
def engine(fp):
    """fp with real git, except the two git calls whose other end is docker (registered first, so they win).

    `pack-objects` feeds a (fake) `docker run`; a fetch would run `docker exec` through its ext:: URL, so
    it is faked as "the agent's branch does not exist yet".
    """
    fp.register(["git", "-C", fp.any(min=1, max=1), "pack-objects", "--stdout", "-q"], stdout=b"PACK", occurrences=5)
    fp.register([*fetch_prefix(fp.any(min=1, max=1)), fp.any()], returncode=128,
                stderr="fatal: couldn't find remote ref refs/heads/claude/session-1\n", occurrences=5)
    fp.pass_command(["git", fp.any()], occurrences=200)
    # The images the session would use, asked once while the rest is gathered (present: their ids).
    fp.register(IMAGE_IDS_ARGV + [fp.any(min=1, max=1)], stdout=IMAGE_ID + "\n", occurrences=50)
    fp.register(IMAGE_IDS_ARGV + [fp.any(min=2, max=2)], stdout=IMAGE_ID + "\n" + IMAGE_ID + "\n", occurrences=50)
    return fp


def docker_calls(fp) -> list[list[str]]:
    return [list(call) for call in fp.calls if call[0] == "docker"]


def owner_argv(name: str) -> list[str]:
    """build_request's look at the chosen name: is there a container, and whose session is it?"""
    return ["docker", "inspect", "--type", "container", "--format", '{{index .Config.Labels "coding-agents.session"}}',
            name]


def image_ids_argv(*names: str) -> list[str]:
    """The facts' one look at the images a session would use (their ids go into the manifest)."""
    return [*IMAGE_IDS_ARGV, *(images.image_ref(name) for name in names)]


def volumes_argv(name: str) -> list[str]:
    """build_request's look at the volumes a session of this name would make (one query for all)."""
    return ["docker", "volume", "inspect", f"{name}-workspace", f"{name}-home", f"{name}-mcp"]


def name_questions(name: str) -> list[list[str]]:
    """What build_request asks about a squid session's name: its owner, its volumes, its proxy's name."""
    return [owner_argv(name), volumes_argv(name), proxy_state_argv(name)]


def no_container(fp, name: str, proxy: bool = True) -> None:
    """The name is free: no container has it, none of its volumes exists (and, with proxy, nothing
    has its proxy's name)."""
    fp.register(owner_argv(name), returncode=1, stderr=f"Error: No such container: {name}\n")
    fp.register(volumes_argv(name), returncode=1, stdout="[]\n", stderr=f"Error: No such volume: {name}-workspace\n")
    if proxy:
        fp.register(proxy_state_argv(name), returncode=1, stderr=f"Error: No such object: {name}-proxy\n")


def existing_session(repo: Path, branch: str, name: str = "claude-api-other") -> model.SessionInfo:
    return model.SessionInfo(
        name=name, agent="claude", repo=repo, branch=branch, base="a" * 40, network="restricted", mode="launch",
        image=images.image_ref("claude"), no_push=False, created="2026-01-02T03:04:05Z", state="running",
        container_id="c" * 64,
    )


def build(repo: Path, existing=(), config: Config | None = None, **options) -> planner.SessionRequest:
    launch_options = LaunchOptions(**{"agent": "claude", "path": str(repo), **options})
    return checks.build_request(launch_options, config or Config(), lambda repo: list(existing))


# --- build_request: branch and start commit -----------------------------------------------


def test_build_request_defaults(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo)

    assert request.branch == "claude/session-1"
    assert request.name == "claude-api-session-1"
    assert request.repo == repo
    assert request.start_commit == run_git(repo, "rev-parse", "HEAD")
    assert request.image == images.image_ref("claude")
    assert request.identity == ("Test User", "test@example.com")
    assert (request.network, request.mode, request.uncommitted_commit, request.prompt) == ("squid", "launch", None, None)
    # squid is the default: the agent's own hosts only, private addresses blocked, no learning.
    # (claude.ai is dropped: .claude.ai covers it.)
    assert request.policy == network.Policy(allow=(".anthropic.com", ".claude.ai", ".claude.com"))
    assert request.proxy_image == images.image_ref("proxy")
    assert sorted(docker_calls(engine)) == sorted([*name_questions("claude-api-session-1"),
                                                   image_ids_argv("claude", "proxy")])


def test_build_request_default_branch_skips_host_branches_and_sessions(engine, repo, tmp_path):
    no_container(engine, "claude-api-session-6")
    for branch in ("claude/session-1", "claude/session-3", "codex/session-8"):
        run_git(repo, "branch", branch)
    existing = [
        existing_session(repo, "claude/session-5", "claude-api-session-5"),
        existing_session(tmp_path / "elsewhere", "claude/session-9", "claude-elsewhere-session-9"),
    ]

    request = build(repo, existing)

    assert (request.branch, request.name) == ("claude/session-6", "claude-api-session-6")


def test_build_request_branch_gets_agent_prefix(engine, repo):
    no_container(engine, "claude-api-api")

    request = build(repo, branch="api")

    assert request.branch == "claude/api"
    assert request.start_commit == run_git(repo, "rev-parse", "HEAD")


def test_build_request_prefixed_branch_kept(engine, repo):
    no_container(engine, "claude-api-fix")

    assert build(repo, branch="claude/fix").branch == "claude/fix"


def test_build_request_existing_agent_branch_is_continued(engine, repo, first_commit):
    head = first_commit
    tip = run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "earlier agent work")
    run_git(repo, "branch", "claude/api", tip)
    no_container(engine, "claude-api-api")

    assert build(repo, branch="api").start_commit == tip


def test_build_request_use_current_branch(engine, repo):
    run_git(repo, "checkout", "-q", "-b", "feature/login")
    no_container(engine, "claude-api-feature-login")

    request = build(repo, use_current_branch=True)

    assert (request.branch, request.name) == ("claude/feature/login", "claude-api-feature-login")


def test_build_request_branch_and_current_branch_rejected(engine, repo):
    with pytest.raises(AgentsError, match="--branch and --use-current-branch cannot be combined"):
        build(repo, branch="api", use_current_branch=True)

    assert docker_calls(engine) == []


def test_build_request_detached_head_with_current_branch_rejected(engine, repo):
    run_git(repo, "checkout", "-q", "--detach")

    with pytest.raises(AgentsError, match="detached HEAD") as caught:
        build(repo, use_current_branch=True)

    assert "--branch" in caught.value.hint
    assert docker_calls(engine) == []


def test_build_request_invalid_branch_rejected(engine, repo):
    with pytest.raises(AgentsError, match="'a..b' is not a valid branch name"):
        build(repo, branch="a..b")

    # Nothing is asked about its name, not even early (--branch decides it before the sessions are listed).
    assert docker_calls(engine) == []


def test_build_request_a_name_given_is_asked_about_once_while_the_sessions_are_listed(engine, repo):
    no_container(engine, "mine")
    listed = threading.Event()

    def sessions(root):
        # The name's questions go out before this listing answers (--name decides the name).
        assert wait_for_call(engine, owner_argv("mine"))
        listed.set()
        return []

    request = checks.build_request(LaunchOptions(agent="claude", path=str(repo), name="mine"), Config(), sessions)

    assert listed.is_set() and request.name == "mine"
    for argv in (owner_argv("mine"), volumes_argv("mine"), image_ids_argv("claude", "proxy")):
        assert engine.call_count(argv) == 1, argv


def wait_for_call(fp, argv, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if fp.call_count(argv):
            return True
        time.sleep(0.01)
    return False


def test_build_request_branch_in_existing_session_rejected(engine, repo):
    existing = [existing_session(repo, "claude/api", "claude-api-busy")]
    no_container(engine, "claude-api-api")

    with pytest.raises(AgentsError, match="claude/api is already being worked on by claude-api-busy") as caught:
        build(repo, existing, branch="api")

    assert "connect-agent claude-api-busy" in caught.value.hint
    # the facts were asked; nothing was made
    assert sorted(docker_calls(engine)) == sorted([*name_questions("claude-api-api"), image_ids_argv("claude", "proxy")])


def test_build_request_same_branch_other_repo_is_fine(engine, repo, tmp_path):
    no_container(engine, "claude-api-api")

    assert build(repo, [existing_session(tmp_path / "other", "claude/api")], branch="api").branch == "claude/api"


def test_build_request_existing_container_name_rejected(engine, repo):
    engine.register(owner_argv("mine"), stdout="\n")  # a container, but no session's
    engine.register(volumes_argv("mine"), returncode=1, stdout="[]\n")
    engine.register(proxy_state_argv("mine"), returncode=1, stdout="")

    with pytest.raises(AgentsError, match="a container named mine already exists") as caught:
        build(repo, name="mine")

    assert "--name" in caught.value.hint


def test_build_request_invalid_name_rejected_before_docker(engine, repo):
    with pytest.raises(AgentsError, match="is not a valid container name"):
        build(repo, name="no spaces")

    assert docker_calls(engine) == []


def test_build_request_include_uncommitted_sees_the_changes_and_writes_nothing(engine, repo):
    no_container(engine, "claude-api-session-1")
    (repo / "README.md").write_text("changed\n")
    objects = sorted(path for path in (repo / ".git" / "objects").rglob("*") if path.is_file())

    request = build(repo, include_uncommitted=True)

    assert request.start_commit == run_git(repo, "rev-parse", "HEAD")
    assert request.include_uncommitted and request.uncommitted_commit is None
    # The snapshot commit is written when the launch runs (so --dry-run leaves the repo as it was).
    assert sorted(path for path in (repo / ".git" / "objects").rglob("*") if path.is_file()) == objects


def test_snapshot_uncommitted_is_a_commit_on_head_with_the_work_tree(repo):
    from agents import git

    (repo / "README.md").write_text("changed\n")
    head = run_git(repo, "rev-parse", "HEAD")
    snapshot = git.snapshot_uncommitted(repo, head)
    assert run_git(repo, "rev-parse", f"{snapshot}^") == head
    assert run_git(repo, "show", f"{snapshot}:README.md") == "changed"


def test_build_request_include_uncommitted_clean_tree_is_nothing_to_carry(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, include_uncommitted=True)
    assert not request.include_uncommitted and request.uncommitted_commit is None


def test_build_request_include_uncommitted_with_existing_agent_branch_rejected(engine, repo, first_commit):
    head = first_commit
    run_git(repo, "branch", "claude/api", run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "agent"))
    no_container(engine, "claude-api-api")
    (repo / "README.md").write_text("changed\n")

    with pytest.raises(AgentsError, match="--include-uncommitted needs the session to start from HEAD") as caught:
        build(repo, branch="api", include_uncommitted=True)

    assert "claude/api already exists" in caught.value.message


def test_build_request_takes_limits_from_config_and_options(engine, repo):
    no_container(engine, "claude-api-session-1")
    config = Config(sessions=SessionsConfig(
        network="allow-all", auto_commit=False, pids_limit=99, memory="4g", cpus=2.0, docker_args=("--env", "A=1"),
    ))

    request = build(repo, config=config, cpus=0.5, no_push=True, prompt="hi", mode="run")

    assert (request.network, request.auto_commit, request.pids_limit) == ("allow-all", False, 99)
    assert (request.memory, request.cpus) == ("4g", 0.5)
    assert request.extra_docker_args == ("--env", "A=1")
    assert (request.no_push, request.prompt, request.mode) == (True, "hi", "run")


def test_build_request_options_network_overrides_config(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=Config(sessions=SessionsConfig(network="allow-all")), network="restricted")

    assert request.network == "restricted"


# --- build_request: the network policy --------------------------------------------------


def test_build_request_squid_policy_joins_agent_config_and_cli_rules(engine, repo):
    no_container(engine, "claude-api-session-1")
    config = Config(network=NetworkConfig(allow=("PyPI.org", "*.npmjs.org", "api.anthropic.com"), block_private=False,
                                          request_max_mb=5, reply_max_mb=50))

    request = build(repo, config=config, allow_domains=("example.com.", "registry.npmjs.org"))

    expected = network.minimal_rules([*catalog.get_agent("claude").allowed_domains, "pypi.org", ".npmjs.org",
                                      "example.com"])
    assert request.policy == network.Policy(allow=tuple(expected), block_private=False, learn=False,
                                            request_max_mb=5, reply_max_mb=50)
    assert {"pypi.org", ".npmjs.org", "example.com", ".anthropic.com"} <= set(request.policy.allow)
    assert "api.anthropic.com" not in request.policy.allow  # covered by .anthropic.com
    assert "registry.npmjs.org" not in request.policy.allow  # covered by .npmjs.org


def test_build_request_learn_sets_learn_mode(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, learn=True)

    assert request.policy.learn is True and request.network == "squid"


def test_build_request_bad_allow_domain_is_refused(engine, repo):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError, match="'not a host' is not an allowlist rule") as caught:
        build(repo, allow_domains=("not a host",))

    assert ".example.com" in caught.value.hint


@pytest.mark.parametrize("network_mode", ["restricted", "allow-all"])
@pytest.mark.parametrize("extra", [{"allow_domains": ("pypi.org",)}, {"learn": True}], ids=["allow-domain", "learn"])
def test_build_request_squid_only_options_refused_in_other_modes(engine, repo, network_mode, extra):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError, match="--allow-domain, --allow-host-port and --learn only apply to --network-proxy squid") as caught:
        build(repo, network=network_mode, **extra)

    assert caught.value.hint == f"this session's network mode is {network_mode}"


@pytest.mark.parametrize("network_mode", ["restricted", "allow-all"])
def test_build_request_other_modes_have_no_policy(engine, repo, network_mode):
    no_container(engine, "claude-api-session-1")

    assert build(repo, network=network_mode).policy is None


# --- build_request: autonomy ---------------------------------------------------------------


def test_build_request_autonomy_defaults_to_full(engine, repo):
    no_container(engine, "claude-api-session-1")

    assert build(repo).autonomy == "full"


def test_build_request_autonomy_from_the_config(engine, repo):
    no_container(engine, "claude-api-session-1")

    assert build(repo, config=Config(sessions=SessionsConfig(autonomy="ask"))).autonomy == "ask"


def test_build_request_ask_option_wins_over_the_config(engine, repo):
    no_container(engine, "claude-api-session-1")

    assert build(repo, config=Config(sessions=SessionsConfig(autonomy="full")), autonomy="ask").autonomy == "ask"


def test_build_request_ask_with_a_prompt_refused(engine, repo):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, autonomy="ask", prompt="fix it", mode="run")

    assert caught.value.message == ("--ask keeps the agent's approval prompts, but with --prompt nobody is there to "
                                    "answer them")
    assert "--autonomy full" in caught.value.hint


def test_build_request_config_ask_with_a_prompt_refused_naming_the_config(engine, repo):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, config=Config(sessions=SessionsConfig(autonomy="ask")), prompt="fix it", mode="run")

    assert caught.value.message.startswith('[sessions] autonomy = "ask" keeps the agent\'s approval prompts')
    assert caught.value.hint == "run it interactively, or pass --autonomy full for this prompt"


def test_build_request_autonomy_full_lets_a_prompt_run_with_config_ask(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=Config(sessions=SessionsConfig(autonomy="ask")), autonomy="full", prompt="fix it",
                    mode="run")

    assert (request.autonomy, request.prompt) == ("full", "fix it")


def test_choose_autonomy_refuses_an_unknown_mode(repo):
    options = LaunchOptions(agent="claude", path=str(repo), autonomy="yolo")

    with pytest.raises(AgentsError) as caught:
        decide.choose_autonomy(options, Config())

    assert caught.value.message == "--autonomy 'yolo' is not a mode"
    assert caught.value.hint == "choose full or ask"


@pytest.mark.parametrize("options", [{"autonomy": "ask", "prompt": "fix it"}, {"host_ports": ("abc",)}],
                         ids=["ask-with-prompt", "bad-port"])
def test_build_request_refuses_bad_autonomy_and_ports_before_docker(engine, repo, options):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError):
        build(repo, **options)

    assert docker_calls(engine) == []


# --- build_request: model endpoints and host ports --------------------------------------------

ENDPOINT = "https://llm.example.com/v1"
LOCAL_ENDPOINT = f"http://{network.HOST_ALIAS}:11434"


def claude_env(url: str, **config) -> Config:
    return Config(agent_env=(("claude", (("ANTHROPIC_BASE_URL", url),)),), **config)


def test_build_request_carries_the_endpoints(engine, repo, fake_which):
    fake_which("socat")
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=claude_env(ENDPOINT))

    assert request.endpoints == endpoints.Endpoints(env=(("ANTHROPIC_BASE_URL", ENDPOINT),), hosts=("llm.example.com",))


def test_build_request_without_endpoints_carries_an_empty_plan(engine, repo):
    no_container(engine, "claude-api-session-1")

    assert build(repo).endpoints == endpoints.Endpoints()


def test_build_request_endpoint_host_joins_the_allowlist(engine, repo, fake_which):
    fake_which("socat")
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=claude_env(ENDPOINT))

    assert "llm.example.com" in request.policy.allow
    assert set(catalog.get_agent("claude").allowed_domains) - {"claude.ai"} <= set(request.policy.allow)


def test_build_request_hosts_endpoint_variable_joins_the_allowlist(engine, repo, fake_which, monkeypatch):
    fake_which("socat")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example.com/anthropic")
    no_container(engine, "claude-api-session-1")

    request = build(repo)

    assert request.endpoints.env == (("ANTHROPIC_BASE_URL", "https://gateway.example.com/anthropic"),)
    assert "gateway.example.com" in request.policy.allow


def test_build_request_codex_host_provider_joins_the_allowlist(engine, repo, fake_which, isolated_home):
    fake_which("socat")
    (isolated_home / ".codex").mkdir()
    (isolated_home / ".codex" / "config.toml").write_text(
        'model_provider = "corp"\n\n[model_providers.corp]\nbase_url = "https://corp-llm.example.com/v1"\n')
    no_container(engine, "codex-api-session-1")

    request = build(repo, agent="codex")

    assert "corp-llm.example.com" in request.policy.allow
    assert [container for container, _, _ in request.endpoints.settings] == [".codex/config.toml"]


def test_build_request_bad_endpoint_url_refused(engine, repo):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, config=claude_env("llm.example.com"))

    assert caught.value.message.startswith("ANTHROPIC_BASE_URL is not an http(s) URL")
    assert caught.value.hint == "e.g. https://llm.example.com/v1"


def test_build_request_endpoint_on_this_machine_without_a_port_refused(engine, repo):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, config=claude_env(LOCAL_ENDPOINT))

    assert caught.value.message == (f"claude's endpoint is port 11434 of this machine ({network.HOST_ALIAS}), "
                                    "but that port is not open to the session")
    assert "--allow-host-port" in caught.value.hint


def test_build_request_endpoint_on_this_machine_with_a_port(engine, repo, fake_which):
    fake_which("socat")
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=claude_env(LOCAL_ENDPOINT), host_ports=("11434",))

    assert network.HOST_ALIAS not in request.policy.allow  # reached through the host-port rules, not the allowlist
    assert request.policy.host_ports == (11434,)
    assert request.endpoints.hosts == (network.HOST_ALIAS,)


def test_build_request_endpoint_on_this_machine_with_a_configured_port(engine, repo, fake_which):
    fake_which("socat")
    no_container(engine, "claude-api-session-1")

    request = build(repo, config=claude_env(LOCAL_ENDPOINT, network=NetworkConfig(host_ports=(11434,))))

    assert request.policy.host_ports == (11434,)


def test_build_request_host_ports_go_to_the_policy_and_the_bridge(engine, repo, fake_which):
    fake_which("socat")
    no_container(engine, "claude-api-session-1")
    config = Config(network=NetworkConfig(host_ports=(8080, 11434)))

    request = build(repo, config=config, host_ports=("11434", "3000"))

    assert request.policy.host_ports == (3000, 8080, 11434)
    assert request.bridge.host_ports == (3000, 8080, 11434)
    assert request.bridge.enabled is True


@pytest.mark.parametrize("network_mode", ["restricted", "allow-all"])
def test_build_request_allow_host_port_refused_outside_squid(engine, repo, network_mode):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, network=network_mode, host_ports=("11434",))

    assert caught.value.message == "--allow-domain, --allow-host-port and --learn only apply to --network-proxy squid"
    assert caught.value.hint == f"this session's network mode is {network_mode}"


def test_build_request_configured_host_ports_are_not_used_outside_squid(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo, network="restricted", config=Config(network=NetworkConfig(host_ports=(11434,))))

    assert (request.policy, request.bridge.host_ports) == (None, ())


@pytest.mark.parametrize("port", ["abc", "0", "70000", "", "11434/tcp"])
def test_build_request_allow_host_port_that_is_not_a_port_refused(engine, repo, port):
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, host_ports=(port,))

    assert caught.value.message.startswith("--allow-host-port: ")
    assert caught.value.message.endswith(" is not a port number")
    assert caught.value.hint == "use a number from 1 to 65535, e.g. 11434"


def test_build_request_allow_host_port_needs_socat(engine, repo, fake_which):
    fake_which()
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, host_ports=("11434",))

    assert caught.value.message == ("--allow-host-port needs the session's host-side relay, but socat is not installed "
                                    "on this machine (apt-get install socat)")
    assert caught.value.hint == "install socat, or leave out --allow-host-port"


# --- build_request: branch-name clashes and limits ------------------------------------------


@pytest.mark.parametrize(
    ("host_branch", "option", "clash"),
    [("claude/api", "api/v2", "claude/api"), ("claude/api/v2", "api", "claude/api/v2")],
    ids=["parent-exists", "child-exists"],
)
def test_build_request_refuses_branch_that_clashes_with_host_branch(engine, repo, host_branch, option, clash):
    run_git(repo, "branch", host_branch)
    name = naming.default_name("claude", repo, naming.agent_branch("claude", option))
    no_container(engine, name)

    with pytest.raises(AgentsError) as caught:
        build(repo, branch=option)

    assert caught.value.message == (
        f"branch {naming.agent_branch('claude', option)} cannot exist next to the host's {clash} "
        "(git stores them as a file and a folder)"
    )
    assert caught.value.hint == "pick another --branch"
    # the facts were asked; nothing was made
    assert sorted(docker_calls(engine)) == sorted([*name_questions(name), image_ids_argv("claude", "proxy")])


@pytest.mark.parametrize(
    ("cpus", "memory"), [(0.5, None), (2.0, "4g"), (None, "512m"), (None, "1.5G"), (None, "1024"), (None, "100b")]
)
def test_validate_limits_accepts(cpus, memory):
    decide.validate_limits(cpus, memory)


@pytest.mark.parametrize(
    ("cpus", "memory", "expected"),
    [
        (0.0, None, "--cpu must be a positive number of cores, not 0"),
        (-1.5, None, "--cpu must be a positive number of cores, not -1.5"),
        (float("nan"), None, "--cpu must be a positive number of cores, not nan"),
        (None, "4gb", "--memory '4gb' is not a size"),
        (None, "0", "--memory '0' is not a size"),
        (None, "-1g", "--memory '-1g' is not a size"),
        (None, "g", "--memory 'g' is not a size"),
        (None, "4 g", "--memory '4 g' is not a size"),
    ],
)
def test_validate_limits_refuses(cpus, memory, expected):
    with pytest.raises(AgentsError) as caught:
        decide.validate_limits(cpus, memory)

    assert caught.value.message == expected
    assert caught.value.hint.startswith("e.g.")


def test_build_request_refuses_bad_limits_before_docker(engine, repo):
    with pytest.raises(AgentsError, match="--memory 'lots' is not a size"):
        build(repo, memory="lots")

    assert docker_calls(engine) == []


# --- build_request: what is checked first -------------------------------------------------


def test_build_request_unknown_agent_first(fp, tmp_path):
    with pytest.raises(AgentsError, match="unknown agent 'clippy'"):
        build(tmp_path / "missing", agent="clippy", network="squid")

    assert list(fp.calls) == []


def test_build_request_network_before_repo(fp, tmp_path):
    with pytest.raises(AgentsError, match="unknown network mode 'host'"):
        build(tmp_path / "missing", network="host")

    with pytest.raises(AgentsError, match="unknown network mode 'open'") as caught:
        build(tmp_path / "missing", config=Config(sessions=SessionsConfig(network="open")))

    assert "squid" in caught.value.hint
    assert list(fp.calls) == []


def test_build_request_not_a_repo(engine, tmp_path):
    (tmp_path / "plain").mkdir()

    with pytest.raises(AgentsError, match="is not inside a git repository"):
        build(tmp_path / "plain")


def test_build_request_repo_without_commits(engine, tmp_path):
    run_git(tmp_path, "init", "-q", "empty")

    with pytest.raises(AgentsError, match="has no commits yet"):
        build(tmp_path / "empty")


# --- launch: rollback -----------------------------------------------------------------------


def inspect_lines(items: list) -> str:
    """What `docker inspect --format CONTAINER_FORMAT` prints: one JSON object a line."""
    return "".join(json.dumps(item) + "\n" for item in items)


VOLUME_LS = volume_ls_argv()


def by_name_argv(name: str) -> list[str]:
    """get_session's one look at a session: its container and its proxy."""
    return ["docker", "inspect", "--type", "container", "--format", CONTAINER_FORMAT, name, f"{name}-proxy"]


def register_no_sessions(fp, occurrences: int = 1) -> None:
    fp.register(PS_ALL, stdout="", occurrences=occurrences)
    fp.register(VOLUME_LS, stdout="", occurrences=occurrences)


def volume_item(volume: str, session: str, repo: str = "/home/me/api", created: str = "2026-01-01T00:00:00Z") -> dict:
    """One entry of `docker volume inspect`, labelled like a session's volumes."""
    labels = {
        "coding-agents.managed": "true", "coding-agents.session": session, "coding-agents.agent": "claude",
        "coding-agents.repo": repo, "coding-agents.branch": "claude/session-1", "coding-agents.created": created,
    }
    return {"Name": volume, "Driver": "local", "Mountpoint": f"/var/lib/docker/volumes/{volume}/_data",
            "Labels": labels, "Scope": "local", "Options": None}


def collector_argv(name: str) -> list[str]:
    """The detached `_collect` process a squid launch leaves behind (faked: fp also intercepts Popen)."""
    return [sys.executable, "-m", "agents", "_collect", name]


def proxy_state_argv(name: str) -> list[str]:
    return ["docker", "inspect", "--format", "{{.State.Status}}", f"{name}-proxy"]


def register_proxy(fp, name: str, create_rc: int = 0, ready_rc: int = 0, existing: str | None = None,
                   proxy_owner: str | None = "{name} proxy") -> None:
    """The sidecar's calls in a squid launch (name free?, networks, create, connect, start, probe), then its removal.

    `existing` is the state of a container already named NAME-proxy (None: there is none); `proxy_owner`
    what that name's labels read by the time of a rollback (see register_proxy_removal).
    """
    if existing is None:
        fp.register(proxy_state_argv(name), returncode=1, stderr=f"Error: No such object: {name}-proxy\n")
    else:
        fp.register(proxy_state_argv(name), stdout=existing + "\n")
    fp.register(["docker", "network", "create", fp.any()], occurrences=2)
    fp.register(["docker", "create", "--name", f"{name}-proxy", fp.any()], returncode=create_rc,
                stderr=f'Error response from daemon: Conflict. The container name "/{name}-proxy" is already in use\n'
                if create_rc else "")
    fp.register(["docker", "network", "connect", f"{name}-egress", f"{name}-proxy"])
    fp.register(["docker", "start", f"{name}-proxy"])
    fp.register(["docker", "exec", f"{name}-proxy", "bash", "-c", fp.any()], returncode=ready_rc, occurrences=500)
    register_proxy_removal(fp, name, proxy_owner=proxy_owner)
    fp.register(collector_argv(name))


PROXY_OWNER_FORMAT = '{{index .Config.Labels "coding-agents.session"}} {{index .Config.Labels "coding-agents.role"}}'
NETWORK_OWNER_FORMAT = '{{index .Labels "coding-agents.session"}}'
NETWORK_MEMBERS_FORMAT = "{{range .Containers}}{{.Name}} {{end}}"


def proxy_owner_argv(name: str) -> list[str]:
    return ["docker", "inspect", "--format", PROXY_OWNER_FORMAT, f"{name}-proxy"]


def network_owner_argv(net: str) -> list[str]:
    return ["docker", "network", "inspect", "--format", NETWORK_OWNER_FORMAT, net]


def network_members_argv(net: str) -> list[str]:
    return ["docker", "network", "inspect", "--format", NETWORK_MEMBERS_FORMAT, net]


def register_proxy_removal(fp, name: str, members: str = "", proxy_owner: str | None = "{name} proxy",
                           network_owner: str | None = "{name}") -> None:
    """remove_proxy's calls: whose the container and each network are, then the removals.

    `proxy_owner` is what the container's session and role labels read (by default: the session's own
    sidecar; None: there is no such container); `network_owner` likewise for each network's session label.
    """
    proxy_owner = None if proxy_owner is None else proxy_owner.format(name=name)
    network_owner = None if network_owner is None else network_owner.format(name=name)
    if proxy_owner is None:
        fp.register(proxy_owner_argv(name), returncode=1, stderr=f"Error: No such object: {name}-proxy\n")
    else:
        fp.register(proxy_owner_argv(name), stdout=proxy_owner + "\n")
    fp.register(["docker", "rm", "--force", f"{name}-proxy"])
    for net in (f"{name}-internal", f"{name}-egress"):
        if network_owner is None:
            fp.register(network_owner_argv(net), returncode=1, stderr=f"Error: No such network: {net}\n")
        else:
            fp.register(network_owner_argv(net), stdout=network_owner + "\n")
        fp.register(network_members_argv(net), stdout=members + "\n")
        for member in members.split():
            fp.register(["docker", "network", "disconnect", "--force", net, member])
        fp.register(["docker", "network", "rm", net])


def register_launch(fp, name: str, populate_rc: int = 0, detach_rc: int = 0, found: list[dict] | None = None,
                    volumes: list[dict] | None = None, squid: bool = True, proxy_ready_rc: int = 0,
                    proxy_create_rc: int = 0, proxy_exists: str | None = None,
                    proxy_owner: str | None = "{name} proxy") -> None:
    """Every docker call of one launch, in order; the rollback calls too (they only run on failure)."""
    fp.register(VERSION_ARGV, stdout="27.3.1\n")
    # The sessions build_request compares against: containers, then volumes whose container is gone.
    # Only this repository's (a label filter): the launch's cost does not grow with other sessions.
    fp.register(ps_argv("--filter", fp.any(min=1, max=1)), stdout="")
    fp.register(volume_ls_argv("--filter", fp.any(min=1, max=1)), stdout=volume_lines(volumes or []))
    no_container(fp, name, proxy=False)
    if squid:
        register_proxy(fp, name, create_rc=proxy_create_rc, ready_rc=proxy_ready_rc, existing=proxy_exists,
                       proxy_owner=proxy_owner)
    fp.register(["docker", "volume", "create", fp.any()], occurrences=2)
    # The agent's run, attached: the fill goes to its stub (which holds the CLI until it is done)
    # through the run's stdin; its lines say it waits (the container runs), then how the fill went,
    # and the run's client is ended.
    fp.register([*AGENT_RUN, fp.any()], returncode=detach_rc,
                stdout="" if detach_rc else naming.FILL_WAITING + "\n" + (
                    (naming.FILL_FAILED + "workspace volume is not empty\n") if populate_rc else naming.FILL_DONE + "\n"),
                stderr="docker: Error response from daemon: failed to create task: OCI runtime create failed\n"
                if detach_rc else "")
    fp.register(["git", "-C", fp.any(min=1, max=1), "pack-objects", "--stdout", "-q"], stdout=b"PACK")
    # After the start: the detached host bridge (claude's refreshed logins come back through it),
    # then the login bundle the stub waits for.
    fp.register([sys.executable, "-m", "agents", "_bridge", name])
    fp.register(["docker", "exec", "-i", "--user", "1000", name, "ca-stub", "logins-receive"],
                stdout='{"files": 1, "env": 0}\n')
    fp.register(["docker", "rm", "--force", name])
    fp.register(["docker", "volume", "rm", "--force", fp.any()])
    if found is not None:  # get_session after a successful launch: by name, no listing
        fp.register(by_name_argv(name), stdout=inspect_lines(found))


def test_launch_unknown_agent_before_any_subprocess(fp):
    with pytest.raises(AgentsError, match="unknown agent 'clippy'"):
        launch.launch(LaunchOptions(agent="clippy"), Config())

    assert list(fp.calls) == []


def test_launch_unknown_network_before_any_subprocess(fp):
    with pytest.raises(AgentsError, match="unknown network mode 'host'"):
        launch.launch(LaunchOptions(agent="claude", network="host"), Config())

    assert list(fp.calls) == []


def proxy_removal_calls(fp, name: str) -> list[list[str]]:
    return [call for call in docker_calls(fp)
            if call == ["docker", "rm", "--force", f"{name}-proxy"] or call[:3] == ["docker", "network", "rm"]]


def test_launch_failed_docker_run_removes_container_and_volumes(engine, repo):
    name = "claude-api-session-1"
    register_launch(engine, name, detach_rc=125)

    with pytest.raises(runner.CommandFailed, match="OCI runtime create failed"):
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count([*AGENT_RUN, engine.any()]) == 1
    assert engine.call_count(["docker", "rm", "--force", name]) == 1
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == 1
    # The one teardown order of rollback and remove-agent: containers, then networks, then volumes.
    assert docker_calls(engine)[-10:] == [
        ["docker", "rm", "--force", name],
        proxy_owner_argv(name),  # the sidecar and both networks go too, once their labels say they are ours
        ["docker", "rm", "--force", f"{name}-proxy"],
        network_owner_argv(f"{name}-internal"),
        network_members_argv(f"{name}-internal"),
        ["docker", "network", "rm", f"{name}-internal"],
        network_owner_argv(f"{name}-egress"),
        network_members_argv(f"{name}-egress"),
        ["docker", "network", "rm", f"{name}-egress"],
        ["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"],
    ]
    assert engine.call_count(collector_argv(name)) == 0  # nothing to collect for a session that never started
    assert run_git(repo, "for-each-ref", "refs/heads/claude") == ""  # no branch was made


def test_launch_failed_populate_removes_the_container_and_volumes(engine, repo):
    name = "claude-api-session-1"
    register_launch(engine, name, populate_rc=1)

    with pytest.raises(AgentsError, match="could not copy the repository into the workspace"):
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count([*AGENT_RUN, engine.any()]) == 1
    assert engine.call_count(["docker", "rm", "--force", name]) == 1
    assert engine.call_count(["docker", "exec", "-i", "--user", "1000", name, "ca-stub", "logins-receive"]) == 0
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == 1
    assert len(proxy_removal_calls(engine, name)) == 3


def test_launch_proxy_that_never_listens_is_rolled_back_with_the_volumes(engine, repo, monkeypatch):
    name = "claude-api-session-1"
    register_launch(engine, name, proxy_ready_rc=1)
    engine.register(["docker", "logs", "--tail", "20", f"{name}-proxy"],
                    stderr="FATAL: Bungled /tmp/squid.conf line 3: http_port\n")
    monkeypatch.setattr(proxies, "start_proxy", functools.partial(proxies.start_proxy, timeout=0.0))

    with pytest.raises(AgentsError) as caught:
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert caught.value.message == (
        f"the network proxy {name}-proxy did not start: FATAL: Bungled /tmp/squid.conf line 3: http_port"
    )
    assert caught.value.hint == f"see `coding-agents logs {name}-proxy`"
    # The agent's container (whose run makes its volumes) is started (its stub waits for the fill)
    # while the proxy starts: what was made of it goes again, and no login was delivered to it.
    started = engine.call_count([*AGENT_RUN, engine.any()])
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == started
    assert engine.call_count(["docker", "rm", "--force", name]) == started
    assert engine.call_count(["docker", "exec", "-i", "--user", "1000", name, "ca-stub", "logins-receive"]) == 0
    assert len(proxy_removal_calls(engine, name)) == 3


def test_launch_never_removes_a_foreign_container_named_like_its_proxy(engine, repo):
    name = "claude-api-session-1"
    # The name was free when checked, then taken before `docker create` (e.g. by the agent container of a
    # session named NAME-proxy, which a concurrent launch just made).
    register_launch(engine, name, proxy_create_rc=125, proxy_owner="{name}-proxy agent")

    with pytest.raises(AgentsError, match="already in use"):
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count(proxy_owner_argv(name)) == 1
    assert engine.call_count(["docker", "rm", "--force", f"{name}-proxy"]) == 0
    # The two networks this launch made are still its own to remove.
    assert engine.call_count(["docker", "network", "rm", engine.any()]) == 2


@pytest.mark.parametrize("state", ["running", "exited", "created"])
def test_launch_refuses_when_a_container_already_has_the_proxy_name(engine, repo, state):
    name = "claude-api-session-1"
    register_launch(engine, name, proxy_exists=state)  # e.g. the agent container of a session named NAME-proxy

    with pytest.raises(AgentsError) as caught:
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert caught.value.message == f"a container named {name}-proxy already exists"
    assert "--name" in caught.value.hint
    assert engine.call_count(proxy_state_argv(name)) == 1
    # Refused before creating anything, so there is nothing to roll back, least of all that container.
    for argv in (["docker", "network", "create", engine.any()], ["docker", "create", engine.any()],
                 ["docker", "volume", "create", engine.any()], ["docker", "run", engine.any()],
                 proxy_owner_argv(name), ["docker", "rm", engine.any()], ["docker", "network", "rm", engine.any()],
                 ["docker", "volume", "rm", engine.any()], collector_argv(name)):
        assert engine.call_count(argv) == 0, argv
    assert run_git(repo, "for-each-ref", "refs/heads/claude") == ""


def test_launch_success_returns_session_and_removes_nothing(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    info = launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert (info.name, info.state, info.branch) == (name, "running", "claude/session-1")
    assert engine.call_count(["docker", "volume", "create", engine.any()]) == 0  # the run makes them
    assert engine.call_count(["docker", "rm", engine.any()]) == 0
    assert engine.call_count(["docker", "volume", "rm", engine.any()]) == 0
    assert engine.call_count(["docker", "network", "rm", engine.any()]) == 0


def test_launch_squid_call_sequence(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    steps = [call[:4] for call in engine.calls if call[0] == "docker" or call[:3] == collector_argv(name)[:3]]
    # The proxy comes up in a thread while the volumes are made, the agent's container starts (once
    # the internal network exists) and is filled: each of the two keeps its order. Claude's CLI waits for
    # its logins, which go in only after squid listens.
    proxy_steps = [
        ["docker", "network", "create", "--internal"], ["docker", "network", "create", "--label"],
        ["docker", "create", "--name", f"{name}-proxy"],
        ["docker", "network", "connect", f"{name}-egress"],
        ["docker", "start", f"{name}-proxy"],
        ["docker", "exec", f"{name}-proxy", "bash"],  # squid listens before the logins go in
    ]
    assert [step for step in steps if step in proxy_steps] == proxy_steps
    main_steps = [step for step in steps if step not in proxy_steps]
    # This repo's sessions (containers and volumes), side by side; then, for the name chosen, the
    # images' ids, whether the name is free, whether its volumes exist (in one query) and whether
    # its proxy's name is free, side by side.
    assert sorted(main_steps[:2]) == sorted([PS_ALL[:4], VOLUME_LS[:4]])  # (the version only if they fail)
    assert sorted(main_steps[2:6]) == sorted([IMAGE_IDS_ARGV[:4], ["docker", "inspect", "--type", "container"],
                                              ["docker", "volume", "inspect", f"{name}-workspace"],
                                              proxy_state_argv(name)[:4]])
    assert main_steps[6:] == [
        AGENT_RUN,  # the agent, its volumes made by the run; the fill goes to its stub through it
        [sys.executable, "-m", "agents", "_bridge"],  # its host bridge (logins come back through it)
        ["docker", "exec", "-i", "--user"],  # the login bundle the stub waits for
        collector_argv(name)[:4],  # then the host-side log collector
        by_name_argv(name)[:4],  # the session as launched: by name, no listing
    ]
    # The agent is on the internal network alone: it starts once that one exists.
    assert steps.index(proxy_steps[0]) < steps.index(AGENT_RUN)
    assert steps.index(proxy_steps[-1]) < steps.index(["docker", "exec", "-i", "--user"])
    agent_run = next(call for call in engine.calls if call[:4] == AGENT_RUN)
    assert f"{name}-internal" == agent_run[agent_run.index("--network") + 1]


def proxy_plan(name: str = "claude-api-session-1") -> planner.ProxyPlan:
    return planner.plan_proxy(name, (("coding-agents.session", name),), network.Policy(allow=("pypi.org",)),
                               images.image_ref("proxy"))


def test_start_proxy_denies_the_engine_hosts_addresses_it_learned(fp, monkeypatch):
    from agents import engine_host

    monkeypatch.setattr(engine_host, "learn", lambda image, fresh=False: ("198.51.100.9",))
    plan = proxy_plan()
    fp.register(["docker", "network", "create", fp.any()], occurrences=2)
    fp.register(["docker", "create", fp.any()])
    for argv in (plan.connect_argv, plan.start_argv, plan.ready_argv):
        fp.register(list(argv))

    gateway = proxies.start_proxy(plan, timeout=30.0)

    create = next(list(call) for call in fp.calls if call[:2] == ["docker", "create"])
    assert create == plan.create_argv_for(gateway, ("198.51.100.9",))
    assert "coding-agents.host-addresses=198.51.100.9" in create


def test_start_proxy_waits_until_squid_accepts_connections(fp, monkeypatch):
    plan = proxy_plan()
    fp.register(["docker", "network", "create", fp.any()], occurrences=2)
    fp.register(["docker", "create", fp.any()])
    for argv in (plan.connect_argv, plan.start_argv):
        fp.register(list(argv))
    fp.register(list(plan.ready_argv), returncode=1, occurrences=2)
    fp.register(list(plan.ready_argv))
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    gateway = proxies.start_proxy(plan, timeout=30.0)

    assert fp.call_count(list(plan.ready_argv)) == 3
    calls = [list(call) for call in fp.calls]
    assert [call[-1] for call in calls[:2]] == [plan.internal_network, plan.egress_network]
    assert gateway == calls[1][calls[1].index("--gateway") + 1]
    assert calls[2:5] == [plan.create_argv_for(gateway), list(plan.connect_argv), list(plan.start_argv)]


OVERLAP = "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n"


def test_create_networks_skips_subnets_in_use(fp):
    plan = proxy_plan()
    candidates = network.candidate_subnets("10.213.0.0/16", plan.container)

    def on(argv, subnet):
        return [*argv[:-1], "--subnet", subnet, "--gateway", network.gateway_of(subnet), argv[-1]]

    fp.register(on(plan.network_argvs[0], candidates[0]), returncode=1, stderr=OVERLAP)
    fp.register(on(plan.network_argvs[0], candidates[1]))
    fp.register(on(plan.network_argvs[1], candidates[0]), returncode=1, stderr=OVERLAP)
    fp.register(on(plan.network_argvs[1], candidates[2]))

    chosen = proxies.create_networks(plan, "10.213.0.0/16")

    subnets = [call[call.index("--subnet") + 1] for call in fp.calls]
    # The internal network's subnet (candidates[1]) is not offered to the egress network.
    assert subnets == [candidates[0], candidates[1], candidates[0], candidates[2]]
    assert chosen == {plan.internal_network: candidates[1], plan.egress_network: candidates[2]}


def test_create_networks_other_failures_are_not_retried(fp):
    plan = proxy_plan()
    fp.register(["docker", "network", "create", fp.any()], returncode=1,
                stderr="Error response from daemon: network with name x already exists\n")

    with pytest.raises(runner.CommandFailed, match="already exists"):
        proxies.create_networks(plan, "10.213.0.0/16")

    assert len(fp.calls) == 1


def test_create_networks_full_pool_says_so(fp):
    plan = proxy_plan()
    fp.register(["docker", "network", "create", fp.any()], returncode=1, stderr=OVERLAP, occurrences=4)

    with pytest.raises(AgentsError) as caught:
        proxies.create_networks(plan, "10.9.0.0/26")

    assert caught.value.message == f"no free subnet left in 10.9.0.0/26 for {plan.internal_network}"
    assert "subnet_pool" in caught.value.hint
    assert len(fp.calls) == 4


def test_launch_restricted_has_no_proxy_nor_collector(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, squid=False,
                    found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    launch.launch(LaunchOptions(agent="claude", path=str(repo), network="restricted"), Config())

    assert engine.call_count(["docker", "network", engine.any()]) == 0
    assert engine.call_count(["docker", "create", engine.any()]) == 0
    assert not any("proxy" in " ".join(part for part in call if part != "--sig-proxy=false")  # (the agent's run)
                   for call in docker_calls(engine)
                   if call != by_name_argv(name) and call[:2] != ["docker", "ps"]
                   and call[:3] != ["docker", "volume", "ls"])  # the listings' formats name our labels
    assert engine.call_count(collector_argv(name)) == 0


def test_launch_never_removes_volumes_of_an_orphaned_session(engine, repo):
    # A session of another checkout also named "api" lost its container; its volumes hold the agent's commits.
    name = "claude-api-session-1"
    orphan = [volume_item(f"{name}-workspace", name, repo="/elsewhere/api"),
              volume_item(f"{name}-home", name, repo="/elsewhere/api")]
    register_launch(engine, name, populate_rc=1, volumes=orphan)

    with pytest.raises(AgentsError):
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert engine.call_count(["docker", "volume", "rm", engine.any()]) == 0


# --- finding sessions -----------------------------------------------------------------------


def inspect_item(name: str, created: str, **labels: str) -> dict:
    all_labels = {
        "coding-agents.managed": "true", "coding-agents.session": name, "coding-agents.agent": "claude",
        "coding-agents.repo": "/home/me/api", "coding-agents.branch": f"claude/{name}", "coding-agents.created": created,
        **labels,
    }
    return {"Id": name * 2, "State": {"Status": "running"}, "Config": {"Labels": all_labels}}


def test_find_sessions_one_container_and_one_volume_query(fp):
    fp.register(PS_ALL, stdout=ps_output([
        inspect_item("later", "2026-01-03T00:00:00Z"),
        {"Id": "id2", "State": {"Status": "running"}, "Config": {"Labels": {"other": "x"}}},
        inspect_item("earlier", "2026-01-01T00:00:00Z", **{"coding-agents.no-push": "true"}),
    ]))
    names = ["later-workspace", "later-home", "orphan-workspace", "orphan-home"]
    fp.register(VOLUME_LS, stdout=volume_lines(
        [volume_item(volume, volume.rsplit("-", 1)[0], created="2026-01-02T00:00:00Z") for volume in names]))

    found = query.find_sessions()

    assert [(info.name, info.state) for info in found] == [
        ("earlier", "running"), ("orphan", "orphaned"), ("later", "running"),
    ]
    assert found[0].no_push is True and found[2].no_push is False
    assert found[1].running is False and found[1].repo == Path("/home/me/api")
    for argv in (PS_ALL, VOLUME_LS):
        assert fp.call_count(argv) == 1
    # The labels and states come with the listings.
    assert fp.call_count(["docker", "inspect", fp.any()]) == fp.call_count(["docker", "volume", "inspect", fp.any()]) == 0


def test_find_sessions_none_skips_inspects(fp):
    register_no_sessions(fp)

    assert query.find_sessions() == []
    assert fp.call_count(["docker", "inspect", fp.any()]) == 0
    assert fp.call_count(["docker", "volume", "inspect", fp.any()]) == 0


def test_find_sessions_running_only_skips_volumes(fp):
    fp.register(PS_ALL, stdout="")

    assert query.find_sessions(include_stopped=False) == []
    assert fp.call_count(VOLUME_LS) == 0


def test_find_sessions_garbage_from_ps_is_agents_error(fp):
    fp.register(PS_ALL, stdout="id1\n")
    fp.register(VOLUME_LS, stdout="")

    with pytest.raises(AgentsError, match="`docker ps` printed something unexpected"):
        query.find_sessions()


def test_find_sessions_garbage_from_volume_ls_is_agents_error(fp):
    fp.register(PS_ALL, stdout="")
    fp.register(VOLUME_LS, stdout="v\n")

    with pytest.raises(AgentsError, match="`docker volume ls` printed something unexpected"):
        query.find_sessions()


def test_get_session_unknown_name(fp):
    fp.register(by_name_argv("nope"), returncode=1, stdout="", stderr="Error: No such container: nope\n")
    fp.register(["docker", "volume", "inspect", "nope-workspace"], returncode=1, stdout="[]\n",
                stderr="Error: No such volume: nope-workspace\n")

    with pytest.raises(AgentsError, match="no agent session named 'nope'") as caught:
        query.get_session("nope")

    assert "list-agents --all" in caught.value.hint


# --- remove ---------------------------------------------------------------------------------

NAME = "claude-api-session-1"


def report(tip: str | None, ahead: int | None, elsewhere: list | None = None) -> dict:
    """What `ca-stub health` prints."""
    return {"tip": tip, "ahead": ahead, "dirty": False, "elsewhere": elsewhere or []}


def register_in_workspace(fp, autocommit: str = "clean\n", health: dict | None = None, squid: bool = False) -> None:
    """A running session's autocommit and health (every removal asks), then the removal itself."""
    state = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
    fp.register(state, stdout="running\n", occurrences=3)  # autocommit, health, and a sync's fetch
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"], stdout=autocommit)
    health = report(None, None) if health is None else health
    fp.register(["docker", "exec", "--user", "1000", NAME, "env", fp.any()], stdout=json.dumps(health))
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "logins-push"])  # claude has logins
    # Its history is kept for --resume (none here: the CLI never wrote any).
    fp.register(["docker", "exec", "--user", "1000", NAME, "ca-stub", "state-save"])
    fp.register(["docker", "cp", f"{NAME}:/home/agent/.coding-agents-state/.", "-"], returncode=1,
                stderr="Error: Could not find the file /home/agent/.coding-agents-state/. in container\n")
    fp.register(["docker", "rm", "--force", NAME])
    fp.register(["docker", "volume", "rm", "--force", f"{NAME}-workspace", f"{NAME}-home"])
    if squid:
        register_proxy_removal(fp, NAME)
    else:  # whatever the mode, removal asks after a sidecar and its networks; outside squid mode there are none
        register_proxy_removal(fp, NAME, proxy_owner=None, network_owner=None)


def removal_calls(fp) -> int:
    """The session's container and volumes (the proxy's removal is counted by proxy_removal_calls)."""
    return fp.call_count(["docker", "rm", "--force", NAME]) + fp.call_count(["docker", "volume", "rm", fp.any()])


def test_remove_no_push_with_unsynced_commits_refuses_without_yes(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=3))
    info = existing_session(repo, "claude/session-1", NAME)

    with pytest.raises(AgentsError, match="has 3 commit\\(s\\) that are not on the host") as caught:
        finish.remove(info, no_push=True)

    assert "-y" in caught.value.hint
    assert removal_calls(engine) == 0


def test_remove_no_push_label_also_guards(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=1))
    info = records.replace(existing_session(repo, "claude/session-1", NAME), no_push=True)

    with pytest.raises(AgentsError, match="not on the host") as caught:
        finish.remove(info)

    assert "-y" in caught.value.hint
    assert removal_calls(engine) == 0


def test_remove_no_push_the_host_decides_not_the_agents_count(engine, repo):
    run_git(repo, "update-ref", f"refs/coding-agents/sessions/{NAME}", "HEAD")
    # The agent says nothing is unsynced, but its tip is a commit the host does not have.
    register_in_workspace(engine, health={**report("d" * 40, ahead=1), "unsynced": 0})

    with pytest.raises(AgentsError, match="has 1 commit\\(s\\) that are not on the host"):
        finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    health_call = [call for call in engine.calls if call[:2] == ["docker", "exec"] and "env" in call][0]
    assert not any("SYNCED" in part for part in health_call)  # the host keeps what it synced to itself


def test_remove_no_push_with_yes_removes(engine, repo):
    register_in_workspace(engine, autocommit="committed\n", health=report("d" * 40, ahead=2))
    run_git(repo, "update-ref", f"refs/coding-agents/sessions/{NAME}", "HEAD")

    finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=True, yes=True)

    assert engine.call_count(["docker", "rm", "--force", NAME]) == 1
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{NAME}-workspace", f"{NAME}-home"]) == 1
    assert proxy_removal_calls(engine, NAME) == []  # a restricted session has no sidecar to remove
    assert run_git(repo, "for-each-ref", "refs/coding-agents") == ""


def test_remove_no_push_nothing_unsynced_needs_no_yes(engine, repo):
    synced = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "update-ref", f"refs/coding-agents/sessions/{NAME}", synced)  # the host fetched the tip
    register_in_workspace(engine, health=report(synced, ahead=4))

    finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    assert removal_calls(engine) == 2


def test_remove_no_push_when_host_branch_has_the_tip(engine, repo, first_commit):
    head = first_commit
    tip = run_git(repo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "agent")
    run_git(repo, "branch", "claude/session-1", tip)
    register_in_workspace(engine, health=report(tip, ahead=1))

    finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=True)

    assert removal_calls(engine) == 2


def test_remove_without_auto_commit_skips_it(engine, repo):
    register_in_workspace(engine, health=report("a" * 40, ahead=0))  # still at the session's base

    finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=True, auto_commit=False)

    assert engine.call_count(["docker", "exec", "--user", "1000", NAME, "ca-stub", "autocommit"]) == 0
    assert removal_calls(engine) == 2


def test_remove_syncs_first_by_default(engine, repo):
    register_in_workspace(engine)

    finish.remove(existing_session(repo, "claude/session-1", NAME))

    assert engine.call_count([*fetch_prefix(str(repo)), engine.any()]) == 1
    assert removal_calls(engine) == 2
    health_at = next(n for n, call in enumerate(engine.calls) if "health" in list(call))
    fetch_at = next(n for n, call in enumerate(engine.calls) if list(call[:6]) == fetch_prefix(str(repo)))
    assert health_at < fetch_at  # the health check (commits elsewhere?) comes before the sync


ELSEWHERE = [{"ref": "experiment", "commits": 2}, {"ref": "HEAD (detached)", "commits": 1}]


@pytest.mark.parametrize("no_push", [False, True])
def test_remove_refuses_commits_elsewhere_without_yes(engine, repo, no_push):
    register_in_workspace(engine, health=report("d" * 40, ahead=0, elsewhere=ELSEWHERE))

    with pytest.raises(AgentsError) as caught:
        finish.remove(existing_session(repo, "claude/session-1", NAME), no_push=no_push)

    assert caught.value.message == (
        f"{NAME} has commits outside claude/session-1 that a sync would not bring home: "
        "experiment (2 commit(s)), HEAD (detached) (1 commit(s))"
    )
    assert caught.value.hint == (
        f"merge them into claude/session-1 inside (connect-agent {NAME}), or add -y to discard them"
    )
    assert removal_calls(engine) == 0 and proxy_removal_calls(engine, NAME) == []
    assert engine.call_count([*fetch_prefix(str(repo)), engine.any()]) == 0  # refused before syncing


def test_remove_commits_elsewhere_with_yes_syncs_and_removes(engine, repo):
    register_in_workspace(engine, health=report("d" * 40, ahead=0, elsewhere=ELSEWHERE))

    finish.remove(existing_session(repo, "claude/session-1", NAME), yes=True)

    assert engine.call_count([*fetch_prefix(str(repo)), engine.any()]) == 1
    assert removal_calls(engine) == 2


def test_remove_squid_session_keeps_network_log_and_removes_proxy(engine, repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    register_in_workspace(engine, squid=True)
    engine.register(["docker", "inspect", "--format", "{{.Id}}", f"{NAME}-proxy"], stdout="p" * 64 + "\n")
    engine.register(["docker", "logs", f"{NAME}-proxy"],
                    stdout="1767225600.000 CONNECT evil.example:443 403 3900 TCP_DENIED 172.18.0.3\n")
    info = records.replace(existing_session(repo, "claude/session-1", NAME), network="squid")

    finish.remove(info)

    log_path = tmp_path / "state" / "coding-agents" / "network" / f"{NAME}.log"
    assert json.loads(log_path.read_text())["host"] == "evil.example"
    assert f"==> network log kept at {log_path}" in capsys.readouterr().err
    assert removal_calls(engine) == 2 and len(proxy_removal_calls(engine, NAME)) == 3


def test_remove_proxy_detaches_other_members_before_removing_networks(fp):
    register_proxy_removal(fp, NAME, members=f"{NAME}-proxy test-server")

    proxies.remove_proxy(NAME)

    for net in (f"{NAME}-internal", f"{NAME}-egress"):
        assert fp.call_count(["docker", "network", "disconnect", "--force", net, "test-server"]) == 1
        assert fp.call_count(["docker", "network", "rm", net]) == 1


@pytest.mark.parametrize(
    "proxy_owner",
    ["claude-api-other proxy", f"{NAME}-proxy agent", f"{NAME} agent", " "],
    ids=["another-sessions-proxy", "agent-of-a-session-named-NAME-proxy", "wrong-role", "unlabelled"],
)
def test_remove_proxy_leaves_a_container_it_does_not_own_alone(fp, proxy_owner):
    register_proxy_removal(fp, NAME, proxy_owner=proxy_owner)

    proxies.remove_proxy(NAME)

    assert fp.call_count(proxy_owner_argv(NAME)) == 1
    assert fp.call_count(["docker", "rm", fp.any()]) == 0
    assert fp.call_count(["docker", "network", "rm", fp.any()]) == 2  # the session's own networks still go


@pytest.mark.parametrize("network_owner", ["claude-api-other", ""], ids=["another-session", "unlabelled"])
def test_remove_proxy_leaves_networks_it_does_not_own_alone(fp, network_owner):
    register_proxy_removal(fp, NAME, members=f"{NAME}-proxy test-server", network_owner=network_owner)

    proxies.remove_proxy(NAME)

    assert fp.call_count(["docker", "rm", "--force", f"{NAME}-proxy"]) == 1  # the session's own sidecar goes
    for net in (f"{NAME}-internal", f"{NAME}-egress"):
        assert fp.call_count(network_owner_argv(net)) == 1
        assert fp.call_count(network_members_argv(net)) == 0
    assert fp.call_count(["docker", "network", "disconnect", fp.any()]) == 0
    assert fp.call_count(["docker", "network", "rm", fp.any()]) == 0


def test_remove_proxy_without_sidecar_or_networks_removes_nothing(fp):
    register_proxy_removal(fp, NAME, proxy_owner=None, network_owner=None)

    proxies.remove_proxy(NAME)

    assert [list(call) for call in fp.calls] == [
        proxy_owner_argv(NAME), network_owner_argv(f"{NAME}-internal"), network_owner_argv(f"{NAME}-egress"),
    ]


# --- rows for list-agents -------------------------------------------------------------------


def test_session_rows_keys_and_dirty_state(tmp_path):
    info = existing_session(tmp_path / "api", "claude/session-1", NAME)
    dirty = records.replace(info, dirty=True, state="exited")

    rows = query.session_rows([info, dirty])

    assert {"name", "agent", "repo", "branch", "state", "network", "created", "unsynced", "denied"} <= set(rows[0])
    assert rows[0]["name"] == NAME and rows[0]["repo"] == str(tmp_path / "api")
    assert (rows[0]["state"], rows[1]["state"]) == ("running", "exited (dirty)")
    assert rows[0]["unsynced"] is None
    assert json.loads(json.dumps(rows)) == rows  # list-agents --json prints them as they are


def test_session_rows_denied_counts_squid_sessions_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log_path = tmp_path / "state" / "coding-agents" / "network" / f"{NAME}.log"
    log_path.parent.mkdir(parents=True)
    log_path.write_text("".join(json.dumps({"decision": decision}) + "\n" for decision in ("denied", "allowed", "denied")))
    info = existing_session(tmp_path / "api", "claude/session-1", NAME)

    squid_row, restricted_row = query.session_rows([records.replace(info, network="squid"), info])

    assert (squid_row["denied"], restricted_row["denied"]) == (2, None)


# --- the proxy of a running session ---------------------------------------------------------

SQUID_LABELS = {
    "coding-agents.session": NAME, "coding-agents.network": "squid", "coding-agents.role": "agent",
    "coding-agents.allow": ".anthropic.com pypi.org", "coding-agents.learn": "false",
    "coding-agents.block-private": "true",
}


def squid_session(tmp_path) -> model.SessionInfo:
    info = existing_session(tmp_path / "api", "claude/session-1", NAME)
    return records.replace(info, network="squid", labels=SQUID_LABELS)


def proxy_state(fp, state: str | None) -> None:
    argv = ["docker", "inspect", "--format", "{{.State.Status}}", f"{NAME}-proxy"]
    if state is None:
        fp.register(argv, returncode=1, stderr=f"Error: No such object: {NAME}-proxy\n")
    else:
        fp.register(argv, stdout=state + "\n")


OWNER_FORMAT = '{{index .Config.Labels "coding-agents.session"}} {{index .Config.Labels "coding-agents.role"}}'
NET_OWNER_FORMAT = '{{index .Labels "coding-agents.session"}}'


def proxy_owner(fp, owner: str | None) -> None:
    """The label lookup ensure_proxy does first: 'NAME proxy' when the sidecar is ours, None when gone."""
    argv = ["docker", "inspect", "--format", OWNER_FORMAT, f"{NAME}-proxy"]
    if owner is None:
        fp.register(argv, returncode=1, stderr=f"Error: No such object: {NAME}-proxy\n")
    else:
        fp.register(argv, stdout=owner + "\n")


def network_owner(fp, owner: str | None, occurrences: int = 2) -> None:
    argv = ["docker", "network", "inspect", "--format", NET_OWNER_FORMAT, fp.any()]
    if owner is None:
        fp.register(argv, returncode=1, stderr="Error: No such network\n", occurrences=occurrences)
    else:
        fp.register(argv, stdout=owner + "\n", occurrences=occurrences)


def test_ensure_proxy_nothing_to_do_outside_squid_mode(fp, tmp_path):
    proxies.ensure_proxy(existing_session(tmp_path / "api", "claude/session-1", NAME))

    assert list(fp.calls) == []


def test_ensure_proxy_running_is_left_alone(fp, tmp_path):
    proxy_owner(fp, f"{NAME} proxy")
    proxy_state(fp, "running")

    proxies.ensure_proxy(squid_session(tmp_path))

    assert len(fp.calls) == 2


def test_ensure_proxy_refuses_a_container_of_someone_else(fp, tmp_path):
    proxy_owner(fp, "other-session agent")

    with pytest.raises(AgentsError, match="is not the proxy of"):
        proxies.ensure_proxy(squid_session(tmp_path))

    assert fp.call_count(["docker", "rm", fp.any()]) == 0
    assert fp.call_count(["docker", "start", fp.any()]) == 0


def test_ensure_proxy_refuses_a_network_of_another_session(fp, tmp_path):
    proxy_owner(fp, None)
    fp.register(["docker", "rm", "--force", f"{NAME}-proxy"])
    network_owner(fp, "other-session", occurrences=1)

    with pytest.raises(AgentsError, match="belongs to another session") as caught:
        proxies.ensure_proxy(squid_session(tmp_path))

    assert caught.value.hint == "remove that session first (`coding-agents remove-agent other-session`)"
    assert fp.call_count(["docker", "create", fp.any()]) == 0


def test_ensure_proxy_stopped_is_started(fp, tmp_path):
    proxy_owner(fp, f"{NAME} proxy")
    proxy_state(fp, "exited")
    fp.register(["docker", "start", f"{NAME}-proxy"])

    proxies.ensure_proxy(squid_session(tmp_path))

    assert [list(call) for call in fp.calls][-1] == ["docker", "start", f"{NAME}-proxy"]
    assert fp.call_count(["docker", "create", fp.any()]) == 0


def denied_label(fp, addresses: str) -> None:
    fp.register(["docker", "inspect", "--format", '{{index .Config.Labels "coding-agents.host-addresses"}}',
                 f"{NAME}-proxy"], stdout=addresses + "\n")


def test_ensure_proxy_stopped_is_started_when_it_denies_the_hosts_addresses_of_now(fp, tmp_path, monkeypatch):
    from agents import engine_host

    asked = []
    monkeypatch.setattr(engine_host, "learn", lambda image, fresh=False: asked.append(fresh) or ("192.0.2.7",))
    proxy_owner(fp, f"{NAME} proxy")
    proxy_state(fp, "exited")
    denied_label(fp, "127.0.0.1 192.0.2.7")
    fp.register(["docker", "start", f"{NAME}-proxy"])

    proxies.ensure_proxy(squid_session(tmp_path))

    assert asked == [True]  # asked anew at each start: the cache may be older than the host's change
    assert [list(call) for call in fp.calls][-1] == ["docker", "start", f"{NAME}-proxy"]
    assert fp.call_count(["docker", "create", fp.any()]) == 0


def test_ensure_proxy_stopped_is_recreated_when_the_host_got_a_new_address(fp, tmp_path, monkeypatch, capsys):
    from agents import engine_host

    monkeypatch.setattr(engine_host, "learn", lambda image, fresh=False: ("192.0.2.7", "198.51.100.9"))
    proxy_owner(fp, f"{NAME} proxy")
    proxy_state(fp, "exited")
    denied_label(fp, "192.0.2.7")
    fp.register(["docker", "rm", "--force", f"{NAME}-proxy"])
    network_owner(fp, NAME)
    fp.register(["docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                 f"{NAME}-egress"], stdout="10.213.7.16/28 \n")
    fp.register(["docker", "create", "--name", f"{NAME}-proxy", fp.any()])
    fp.register(["docker", "network", "connect", f"{NAME}-egress", f"{NAME}-proxy"])
    fp.register(["docker", "start", f"{NAME}-proxy"])

    proxies.ensure_proxy(squid_session(tmp_path))

    create = next(list(call) for call in fp.calls if call[:2] == ["docker", "create"])
    policy = network.Policy(allow=(".anthropic.com", "pypi.org"),
                            host_addresses=("10.213.7.17", "192.0.2.7", "198.51.100.9"))
    assert f"SQUID_CONF={network.squid_config(policy)}" in create
    assert "coding-agents.host-addresses=192.0.2.7 198.51.100.9" in create
    assert f"==> the engine host has new addresses; recreating the network proxy of {NAME}" in capsys.readouterr().err


def test_ensure_proxy_gone_is_recreated_from_the_labels(fp, tmp_path, capsys):
    proxy_owner(fp, None)
    fp.register(["docker", "rm", "--force", f"{NAME}-proxy"])
    network_owner(fp, NAME)  # both networks are still there, and ours
    fp.register(["docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                 f"{NAME}-egress"], stdout="10.213.7.16/28 \n")
    fp.register(["docker", "create", "--name", f"{NAME}-proxy", fp.any()])
    fp.register(["docker", "network", "connect", f"{NAME}-egress", f"{NAME}-proxy"])
    fp.register(["docker", "start", f"{NAME}-proxy"])

    proxies.ensure_proxy(squid_session(tmp_path))

    create = next(list(call) for call in fp.calls if call[:2] == ["docker", "create"])
    policy = network.Policy(allow=(".anthropic.com", "pypi.org"), host_addresses=("10.213.7.17",))
    assert f"SQUID_CONF={network.squid_config(policy)}" in create
    assert "coding-agents.role=proxy" in create
    assert fp.call_count(["docker", "network", "create", fp.any()]) == 0
    assert f"==> recreating the network proxy of {NAME}" in capsys.readouterr().err


def test_ensure_proxy_recreated_keeps_the_size_limits_of_the_labels(fp, tmp_path):
    proxy_owner(fp, None)
    fp.register(["docker", "rm", "--force", f"{NAME}-proxy"])
    network_owner(fp, NAME)
    fp.register(["docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                 f"{NAME}-egress"], stdout="10.213.7.16/28 \n")
    fp.register(["docker", "create", "--name", f"{NAME}-proxy", fp.any()])
    fp.register(["docker", "network", "connect", f"{NAME}-egress", f"{NAME}-proxy"])
    fp.register(["docker", "start", f"{NAME}-proxy"])
    info = squid_session(tmp_path)
    info = records.replace(info, labels={**info.labels, "coding-agents.proxy-limits": "5 50"})

    proxies.ensure_proxy(info)

    create = next(list(call) for call in fp.calls if call[:2] == ["docker", "create"])
    policy = network.Policy(allow=(".anthropic.com", "pypi.org"), request_max_mb=5, reply_max_mb=50,
                            host_addresses=("10.213.7.17",))  # the egress gateway is the host
    assert f"SQUID_CONF={network.squid_config(policy)}" in create
    assert "coding-agents.proxy-limits=5 50" in create  # and a later recreation reads them again


def test_ensure_running_recreates_missing_networks_in_the_given_pool(fp, tmp_path):
    proxy_owner(fp, None)
    fp.register(["docker", "rm", "--force", f"{NAME}-proxy"])
    network_owner(fp, None)
    fp.register(["docker", "network", "create", fp.any()], occurrences=2)
    fp.register(["docker", "create", "--name", f"{NAME}-proxy", fp.any()])
    fp.register(["docker", "network", "connect", f"{NAME}-egress", f"{NAME}-proxy"])
    fp.register(["docker", "start", f"{NAME}-proxy"])
    fp.register(["docker", "inspect", "--format", "{{.State.Status}}", NAME], stdout="running\n")

    services.ensure_running(squid_session(tmp_path), "10.99.0.0/16")

    subnets = [call[call.index("--subnet") + 1] for call in fp.calls if call[:3] == ["docker", "network", "create"]]
    assert subnets == network.candidate_subnets("10.99.0.0/16", f"{NAME}-proxy")[:2]
    assert fp.call_count(["docker", "start", NAME]) == 0  # the agent was running


def test_connect_passes_the_configured_subnet_pool(tmp_path, monkeypatch):
    from agents.commands import connect

    config_file = tmp_path / "config.toml"
    config_file.write_text('[network]\nsubnet_pool = "10.99.0.0/16"\n')
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config_file))
    info = squid_session(tmp_path)
    pools = []
    monkeypatch.setattr(query, "pick_session", lambda name: info)
    monkeypatch.setattr(services, "ensure_running", lambda session, subnet_pool: pools.append((session, subnet_pool)))
    monkeypatch.setattr(attach, "attach", lambda session: 0)  # then a detach: the agent keeps running
    monkeypatch.setattr(attach, "agent_ended", lambda name: False)

    assert connect.run(argparse.Namespace(name=NAME)) == 0

    assert pools == [(info, "10.99.0.0/16")]


def test_collect_while_alive_stops_when_the_session_is_gone(fp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    fp.register(["docker", "inspect", "--format", "{{.Id}}", f"{NAME}-proxy"], stdout="p" * 64 + "\n", occurrences=2)
    fp.register(["docker", "logs", f"{NAME}-proxy"], occurrences=2,
                stdout="1767225600.000 CONNECT pypi.org:443 200 10 TCP_TUNNEL 172.18.0.3\n")
    state = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
    fp.register(state, stdout="running\n")
    fp.register(state, returncode=1, stderr=f"Error: No such object: {NAME}\n")
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    assert daemons.collect_while_alive(NAME) == 0

    assert fp.call_count(state) == 2
    log_path = tmp_path / "state" / "coding-agents" / "network" / f"{NAME}.log"
    assert len(log_path.read_text().splitlines()) == 1  # the second pass found nothing new


# --- Ctrl-C during a launch ----------------------------------------------------------------------


def interrupt_me(process=None) -> None:
    """The terminal's Ctrl-C, as it lands while a faked child runs."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGINT)


def test_launch_ctrl_c_while_the_agent_starts_removes_everything_and_says_so(engine, repo):
    name = "claude-api-session-1"
    engine.register([*AGENT_RUN, engine.any()], callback=interrupt_me)  # wins: registered first
    register_launch(engine, name)

    with pytest.raises(KeyboardInterrupt) as caught:
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert str(caught.value) == f"the launch of {name} is undone; nothing of it is left"
    # The docker run finished (its own process group: the Ctrl-C could not cut it short), then all went.
    assert docker_calls(engine)[-10:] == [
        ["docker", "rm", "--force", name],
        proxy_owner_argv(name), ["docker", "rm", "--force", f"{name}-proxy"],
        network_owner_argv(f"{name}-internal"), network_members_argv(f"{name}-internal"),
        ["docker", "network", "rm", f"{name}-internal"],
        network_owner_argv(f"{name}-egress"), network_members_argv(f"{name}-egress"),
        ["docker", "network", "rm", f"{name}-egress"],
        ["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"],
    ]
    assert engine.call_count([sys.executable, "-m", "agents", "_bridge", name]) == 0  # nothing started after it
    assert engine.call_count(collector_argv(name)) == 0
    assert not bridges.session_dir(name).exists()


def test_launch_ctrl_c_while_a_volume_is_created_removes_that_volume_too(engine, repo, monkeypatch):
    monkeypatch.setattr(planner, "run_makes_volumes", lambda: False)  # as under Podman: the volumes are made first
    name = "claude-api-session-1"
    engine.register(["docker", "volume", "create", engine.any()], callback=interrupt_me)
    register_launch(engine, name)

    with pytest.raises(KeyboardInterrupt):
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    # Noted before the calls (made side by side): the engine may have made them even though the
    # calls were interrupted.
    assert engine.call_count(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"]) == 1
    assert engine.call_count(["docker", "run", engine.any()]) == 0


def test_launch_ctrl_c_before_anything_exists_removes_nothing(engine, repo):
    name = "claude-api-session-1"
    engine.register(owner_argv(name), returncode=1, callback=interrupt_me)
    register_launch(engine, name)

    with pytest.raises(KeyboardInterrupt) as caught:
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert str(caught.value) == ""  # main says just "interrupted"
    for argv in (["docker", "network", engine.any()], ["docker", "volume", "create", engine.any()],
                 ["docker", "volume", "rm", engine.any()], ["docker", "rm", engine.any()],
                 ["docker", "create", engine.any()]):
        assert engine.call_count(argv) == 0, argv


def test_launching_ctrl_c_in_the_callers_block_undoes_the_launch(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    engine.register(["docker", "inspect", "--format", "{{.State.Status}}", name], stdout="running\n",
                    callback=interrupt_me)
    register_launch(engine, name, found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    with pytest.raises(KeyboardInterrupt, match=f"the launch of {name} is undone"):
        with launch.launching(LaunchOptions(agent="claude", path=str(repo)), Config()) as info:
            assert info.name == name
            workspace.session_state(name)  # e.g. exited_at_start watching the agent start
            raise AssertionError("the interrupt comes at that checkpoint")

    assert engine.call_count(["docker", "rm", "--force", name]) == 1
    assert engine.call_count(["docker", "network", "rm", engine.any()]) == 2


def test_launching_a_finished_block_keeps_the_session(engine, repo):
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    with launch.launching(LaunchOptions(agent="claude", path=str(repo)), Config()) as info:
        pass

    assert info.name == name
    assert engine.call_count(["docker", "rm", engine.any()]) == 0


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_stop_helpers_ends_a_helper_with_its_children(tmp_path):
    import time

    pid = runner.spawn_detached(["sh", "-c", "sleep 60 & sleep 60 & wait"], tmp_path / "log")
    deadline = time.monotonic() + 10
    while len(group_members(pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(pid)) == 3

    launch.stop_helpers([pid, 0, 1])  # 0 and 1 are never signalled (a fake's pid; init)

    deadline = time.monotonic() + 10
    while group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pid) == []


# --- --gpu ---------------------------------------------------------------------------------------

DOCKER_INFO = ["docker", "info", "--format", "{{json .}}"]
NO_GPU_INFO = {"ServerVersion": "27.3.1", "Runtimes": {"runc": {"path": "runc"}}, "CDISpecDirs": ["/etc/cdi"]}


def test_build_request_gpu_refused_when_the_engine_has_no_gpu_runtime(engine, repo):
    engine.register(DOCKER_INFO, stdout=json.dumps(NO_GPU_INFO))
    no_container(engine, "claude-api-session-1")

    with pytest.raises(AgentsError) as caught:
        build(repo, gpu=True)

    assert caught.value.message.startswith("--gpu: the Docker engine has no GPU runtime")
    assert "NVIDIA Container Toolkit" in caught.value.hint and "leave out --gpu" in caught.value.hint
    # Refused on the facts, before anything is created.
    assert sorted(docker_calls(engine)) == sorted([DOCKER_INFO, *name_questions("claude-api-session-1"),
                                                   image_ids_argv("claude", "proxy")])


@pytest.mark.parametrize("info", [
    {**NO_GPU_INFO, "Runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "nvidia-container-runtime"}}},
    {**NO_GPU_INFO, "DiscoveredDevices": [{"Source": "cdi", "ID": "nvidia.com/gpu=all"}]},
], ids=["nvidia-runtime", "cdi-device"])
def test_build_request_gpu_passes_the_gpus_through(engine, repo, info):
    engine.register(DOCKER_INFO, stdout=json.dumps(info))
    no_container(engine, "claude-api-session-1")

    request = build(repo, gpu=True)
    argv = list(planner.plan_launch(request).create_argv)

    assert request.gpu is True
    assert argv[argv.index("--gpus") + 1] == "all"
    assert argv.index("--gpus") < argv.index(request.image)  # a docker option, not the agent's


def test_build_request_without_gpu_asks_nothing_and_passes_none(engine, repo):
    no_container(engine, "claude-api-session-1")

    request = build(repo)

    assert "--gpus" not in planner.plan_launch(request).create_argv
    assert engine.call_count(DOCKER_INFO) == 0


def test_find_sessions_sees_the_proxy_of_each_squid_session_in_the_same_query(fp):
    squid = {"coding-agents.network": "squid"}
    dead_proxy = inspect_item("a", "2026-01-01T00:00:00Z", **squid, **{"coding-agents.role": "proxy"})
    dead_proxy["State"] = {"Status": "exited"}
    fp.register(PS_ALL, stdout=ps_output([
        inspect_item("a", "2026-01-01T00:00:00Z", **squid), dead_proxy,
        inspect_item("b", "2026-01-02T00:00:00Z", **squid),  # its proxy is gone altogether
        inspect_item("c", "2026-01-03T00:00:00Z", **{"coding-agents.network": "restricted"}),
    ]))

    found = query.find_sessions(include_stopped=False)

    assert [(info.name, info.proxy_state, info.proxy_down) for info in found] == [
        ("a", "exited", True), ("b", "missing", True), ("c", None, False)]
    assert fp.call_count(VOLUME_LS) == 0


def test_session_rows_say_when_a_running_sessions_proxy_is_down(fp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    info = records.replace(squid_session(tmp_path), proxy_state="exited", ahead=0, tip="t")
    monkeypatch.setattr(workspace, "unsynced_commits", lambda session, refs=None: 0)

    (row,) = query.session_rows([info])

    assert row["state"].endswith("(proxy down)") and row["proxy"] == "exited"


# --- an agent that exits at start ----------------------------------------------------------------


def logs_of(fp, name: str, text: str) -> None:
    fp.register(["docker", "logs", "--tail", "60", name], stdout=text)


def test_exited_error_in_restricted_mode_names_the_network_and_the_way_out(fp, tmp_path, capsys):
    info = records.replace(existing_session(tmp_path / "api", "claude/session-1", NAME), network="restricted")
    logs_of(fp, NAME, "Unable to connect to Anthropic services\n[ca-stub: the agent exited with status 1]\n")

    error = attach.exited_error(info, 1)

    assert error.message == (f"Claude Code in {NAME} exited at start with status 1: the session has no network "
                             "(restricted), so the CLI cannot reach its model API")
    assert "--network-proxy squid" in error.hint and error.exit_code == 1
    assert "    Unable to connect to Anthropic services" in capsys.readouterr().err  # its last screen, shown


def test_exited_error_elsewhere_keeps_the_agents_status(fp, tmp_path, capsys):
    info = squid_session(tmp_path)
    logs_of(fp, NAME, "boom\n")

    error = attach.exited_error(info, 3)

    assert error.message == f"Claude Code in {NAME} exited at start with status 3"
    assert error.exit_code == 3 and error.hint


def test_remove_if_untouched_keeps_a_session_with_work(tmp_path, monkeypatch):
    info = existing_session(tmp_path / "api", "claude/session-1", NAME)
    removed = []
    monkeypatch.setattr(finish, "remove", lambda *args, **kwargs: removed.append(args))
    for report, expected in (({"tip": "d" * 40, "ahead": 1}, False), ({"dirty": True}, False),
                             ({"elsewhere": [{"ref": "x"}]}, False), ({"tip": None, "dirty": False}, True)):
        monkeypatch.setattr(workspace, "health", lambda session, r=report: r)
        assert finish.remove_if_untouched(info) is expected
    assert len(removed) == 1


def test_choose_autonomy_refuses_a_mode_the_cli_cannot_do_here():
    # No built-in CLI has such a mode today (Codex's ask asks through a rules file): a row that says so.
    codex = records.replace(catalog.get_agent("codex"), autonomy=(
        *catalog.get_agent("codex").autonomy[:1], ("ask", catalog.Told(refused="it cannot ask in here"))))

    with pytest.raises(AgentsError) as caught:
        decide.choose_autonomy(LaunchOptions(agent="codex", autonomy="ask"), Config(), codex)

    assert caught.value.message.startswith("--autonomy ask for OpenAI Codex CLI: ")
    assert caught.value.exit_code == 2 and "--autonomy full" in caught.value.hint
    assert decide.choose_autonomy(LaunchOptions(agent="codex"), Config(), codex) == "full"


# --- lookups by name and by repo: what the engine is asked does not grow with the sessions there are ---


def test_get_session_by_name_is_one_inspect_and_sees_its_proxy(fp):
    name = "claude-api-session-1"
    agent = inspect_item(name, "2026-01-01T00:00:00Z", **{"coding-agents.network": "squid"})
    proxy = {"Id": "p", "State": {"Status": "exited"},
             "Config": {"Labels": {"coding-agents.session": name, "coding-agents.role": "proxy"}}}
    fp.register(by_name_argv(name), stdout=inspect_lines([agent, proxy]))

    info = query.get_session(name)

    assert (info.name, info.proxy_state, info.proxy_down) == (name, "exited", True)
    assert [list(call) for call in fp.calls] == [by_name_argv(name)]


def test_get_session_by_name_ignores_a_foreign_container_named_like_its_proxy(fp):
    name = "claude-api-session-1"
    agent = inspect_item(name, "2026-01-01T00:00:00Z", **{"coding-agents.network": "squid"})
    other = {"Id": "p", "State": {"Status": "running"},
             "Config": {"Labels": {"coding-agents.session": f"{name}-proxy", "coding-agents.role": "agent"}}}
    fp.register(by_name_argv(name), stdout=inspect_lines([agent, other]))

    assert query.get_session(name).proxy_state == "missing"  # as find_sessions reports it


def test_get_session_by_name_finds_an_orphaned_session_from_its_volume(fp):
    name = "claude-api-gone"
    fp.register(by_name_argv(name), returncode=1, stdout="", stderr=f"Error: No such container: {name}\n")
    fp.register(["docker", "volume", "inspect", f"{name}-workspace"],
                stdout=json.dumps([volume_item(f"{name}-workspace", name)]))

    info = query.get_session(name)

    assert (info.name, info.state) == (name, "orphaned")
    assert not any(call[:2] == ["docker", "ps"] for call in fp.calls)


def test_launch_with_the_engine_down_says_so_and_creates_nothing(engine, repo):
    down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    engine.register(ps_argv("--filter", engine.any(min=1, max=1)), returncode=1, stderr=down)
    engine.register(volume_ls_argv("--filter", engine.any(min=1, max=1)), returncode=1, stderr=down)
    engine.register(VERSION_ARGV, returncode=1, stderr=down)

    with pytest.raises(AgentsError, match="cannot reach the Docker engine") as caught:
        launch.launch(LaunchOptions(agent="claude", path=str(repo)), Config())

    assert "start the engine" in caught.value.hint
    assert [call[:2] for call in docker_calls(engine) if call[1] in ("run", "create", "volume")
            and call[:3] != ["docker", "volume", "ls"]] == []


def test_get_session_engine_down_says_so(fp):
    fp.register(by_name_argv("x"), returncode=1, stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n")

    with pytest.raises(AgentsError, match="cannot reach the Docker engine"):
        query.get_session("x")


def test_find_sessions_of_a_repo_asks_the_engine_to_filter(fp):
    fp.register(ps_argv("--filter", "label=coding-agents.repo=/home/me/api"), stdout="")
    fp.register(volume_ls_argv("--filter", "label=coding-agents.repo=/home/me/api"), stdout="")

    assert query.find_sessions(repo=Path("/home/me/api")) == []


@pytest.mark.parametrize("others", [1, 50])
def test_launch_engine_calls_do_not_grow_with_other_sessions(engine, repo, others):
    """The clash checks ask for this repo's sessions (a label filter) and the chosen name only: the
    other sessions on the engine (which the filter leaves out) are never listed nor inspected."""
    name = "claude-api-session-1"
    labels = {"coding-agents.session": name, "coding-agents.repo": str(repo), "coding-agents.branch": "claude/session-1"}
    register_launch(engine, name, squid=False,
                    found=[{"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}])

    launch.launch(LaunchOptions(agent="claude", path=str(repo), network="restricted"), Config())

    calls = docker_calls(engine)
    listings = [call for call in calls if call[:2] == ["docker", "ps"] or call[:3] == ["docker", "volume", "ls"]]
    assert len(listings) == 2
    assert all(f"label=coding-agents.repo={repo}" in call for call in listings)
    assert len(calls) == 8  # the same whatever the number of sessions elsewhere (the fill: through the run)
    assert engine.call_count(VERSION_ARGV) == 0  # asked only when the sessions cannot be listed


def test_session_rows_read_the_synced_refs_once_per_repo(fp, tmp_path):
    repo = tmp_path / "api"
    repo.mkdir()
    infos = [records.replace(existing_session(repo, f"claude/s{i}", name=f"s{i}"), tip="t" * 40, ahead=2)
             for i in range(5)]
    fp.register(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)",
                 "refs/coding-agents/sessions/"], stdout=f"refs/coding-agents/sessions/s0 {'t' * 40}\n")

    rows = query.session_rows(infos)

    assert [row["unsynced"] for row in rows] == [0, 2, 2, 2, 2]
    assert len([call for call in fp.calls if call[0] == "git"]) == 1


def test_session_rows_ask_git_nothing_for_sessions_whose_tip_is_still_their_base(fp, tmp_path):
    """A session that has not committed (its tip is the base the host made) needs no synced ref;
    one that has still gets its repository's refs read, once."""
    repo = tmp_path / "api"
    repo.mkdir()
    fresh = [existing_session(repo, f"claude/s{i}", name=f"s{i}") for i in range(3)]
    fresh = [records.replace(info, tip=info.base, ahead=0) for info in fresh]

    assert [row["unsynced"] for row in query.session_rows(fresh)] == [0, 0, 0]
    assert list(fp.calls) == []  # (pytest-subprocess refuses any call not registered, too)

    worked = records.replace(fresh[0], tip="t" * 40, ahead=1)
    fp.register(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)",
                 "refs/coding-agents/sessions/"], stdout="")
    assert [row["unsynced"] for row in query.session_rows([worked, *fresh[1:]])] == [1, 0, 0]
    assert len([call for call in fp.calls if call[0] == "git"]) == 1


def test_a_squid_session_released_before_its_proxy_only_when_nothing_in_it_uses_the_network_yet():
    """Its container may start once the networks exist (squid is waited for before the logins):
    so when the stub holds the CLI for its logins, or it is an interactive shell; never with host
    ports (their relay needs the proxy's gateway first), and never without a proxy."""
    from types import SimpleNamespace

    claude, shell = catalog.get_agent("claude"), catalog.get_agent("shell")
    policy = network.Policy(allow=("pypi.org",))

    def request(agent, prompt=None, policy=policy, host_ports=()):
        bridge = SimpleNamespace(host_ports=host_ports)
        return SimpleNamespace(agent=agent, prompt=prompt, policy=policy, bridge=bridge, endpoints=None)

    assert launch.released_before_its_proxy(request(claude))
    assert launch.released_before_its_proxy(request(claude, prompt="fix it"))  # the stub still waits for logins
    assert launch.released_before_its_proxy(request(shell))
    assert not launch.released_before_its_proxy(request(shell, prompt="curl https://pypi.org"))  # runs at once
    assert not launch.released_before_its_proxy(request(claude, host_ports=(8080,)))
    assert not launch.released_before_its_proxy(request(shell, policy=None))  # restricted / allow-all: no proxy
