"""agents/session/naming.py and planner.py: session names, labels and the argv that create a session (pure; no fakes needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from agents import bridges, catalog, engine, hardening, network, records, runner
from agents.errors import AgentsError
from agents.session import model, naming, planner

START = "a" * 40
IMAGE = "coding-agents-claude:1.2.3"
PROXY_IMAGE = "coding-agents-proxy:1.2.3"
NAME = "claude-api-session-1"
POLICY = network.Policy(allow=(".anthropic.com", "pypi.org"))


def make_request(**overrides) -> planner.SessionRequest:
    values = {
        "agent": catalog.get_agent("claude"),
        "repo": Path("/home/me/src/api"),
        "branch": "claude/session-1",
        "start_commit": START,
        "name": NAME,
        "image": IMAGE,
        "mode": "launch",
        "identity": ("Ada Lovelace", "ada@example.com"),
        "created": "2026-01-02T03:04:05Z",
        **overrides,
    }
    return planner.SessionRequest(**values)


def values_of(argv, flag: str) -> list[str]:
    """Every value given to flag in argv ('--env A --env B' -> ['A', 'B'])."""
    return [argv[n + 1] for n, arg in enumerate(argv[:-1]) if arg == flag]


def volume_mounts(argv) -> list[str]:
    """Every named volume the argv mounts, as 'volume:target', in order (--volume and --mount type=volume)."""
    mounts = []
    for n, arg in enumerate(argv[:-1]):
        if arg == "--volume":
            mounts.append(argv[n + 1])
        elif arg == "--mount":
            fields = dict(field.partition("=")[::2] for field in next(csv.reader([argv[n + 1]])))
            assert fields["type"] == "volume", argv[n + 1]  # never a host path
            mounts.append(f"{fields['src']}:{fields['dst']}")
    return mounts


def volumes_made_by_run(argv) -> dict[str, list[str]]:
    """volume -> the labels the engine gives it when the run makes it (--mount's volume-label fields)."""
    made = {}
    for n, arg in enumerate(argv[:-1]):
        if arg == "--mount":
            fields = next(csv.reader([argv[n + 1]]))
            source = next(field for field in fields if field.startswith("src="))[4:]
            made[source] = [field[len("volume-label="):] for field in fields if field.startswith("volume-label=")]
    return made


def contains_run(argv, run: list[str]) -> bool:
    return any(list(argv[n : n + len(run)]) == run for n in range(len(argv)))


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api", "api"),
        ("my repo (copy)", "my-repo-copy"),
        ("--lead.and.trail..", "lead.and.trail"),
        ("ünïcode/ßtuff", "n-code-tuff"),
        ("///", "x"),
        ("keep_under.scores-ok", "keep_under.scores-ok"),
    ],
)
def test_sanitize_cases(text, expected):
    assert naming.sanitize(text) == expected


def test_default_name_strips_agent_prefix():
    assert naming.default_name("claude", Path("/home/me/api"), "claude/session-1") == "claude-api-session-1"


def test_default_name_odd_characters_become_a_valid_name():
    name = naming.default_name("codex", Path("/home/me/My Project!"), "feature/Big Thing#2")

    assert name.startswith("codex-My-Project-") and name.endswith("-feature-Big-Thing-2")
    assert naming.validate_name(name) == name


def test_default_name_is_capped_at_120_characters():
    assert len(naming.default_name("claude", Path("/r") / ("x" * 200), "claude/y")) == 120


@pytest.mark.parametrize("name", ["claude-api-session-1", "a", "A.b_c-9"])
def test_validate_name_accepts(name):
    assert naming.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "-lead", ".lead", "_lead", "has space", "a/b", "x" * 121])
def test_validate_name_rejects(name):
    with pytest.raises(AgentsError, match="is not a valid container name"):
        naming.validate_name(name)


@pytest.mark.parametrize(
    ("branch", "expected"),
    [("api", "claude/api"), ("claude/api", "claude/api"), ("claudex/api", "claude/claudex/api"), ("claude", "claude/claude")],
)
def test_agent_branch_prefixes_once(branch, expected):
    assert naming.agent_branch("claude", branch) == expected


def test_labels_for_carries_the_session_facts():
    labels = dict(planner.labels_for(make_request(no_push=True, network="allow-all", mode="run")))

    assert labels.items() >= {
        "coding-agents.managed": "true",
        "coding-agents.session": NAME,
        "coding-agents.agent": "claude",
        "coding-agents.repo": "/home/me/src/api",
        "coding-agents.branch": "claude/session-1",
        "coding-agents.base": START,
        "coding-agents.network": "allow-all",
        "coding-agents.mode": "run",
        "coding-agents.image-ref": IMAGE,
        "coding-agents.no-push": "true",
        "coding-agents.created": "2026-01-02T03:04:05Z",
    }.items()
    assert labels["coding-agents.interactive"] == "true"
    assert dict(planner.labels_for(make_request(prompt="go")))["coding-agents.interactive"] == "false"


# --- network ----------------------------------------------------------------------------


def test_network_args_restricted_has_no_network():
    assert planner.network_args("restricted") == ["--network", "none"]


def test_network_args_allow_all_is_bridge():
    assert planner.network_args("allow-all") == ["--network", "bridge"]


def test_network_args_squid_joins_the_sessions_internal_network():
    assert planner.network_args("squid", NAME) == [
        "--network", f"{NAME}-internal", "--dns-option", "timeout:1", "--dns-option", "attempts:1",
    ]


def test_session_network_and_proxy_names():
    assert naming.internal_network(NAME) == f"{NAME}-internal"
    assert naming.egress_network(NAME) == f"{NAME}-egress"
    assert naming.proxy_name(NAME) == f"{NAME}-proxy"


def test_network_args_unknown_mode():
    with pytest.raises(AgentsError, match="unknown network mode 'host'") as caught:
        planner.network_args("host")

    assert "allow-all" in caught.value.hint


# --- the launch plan --------------------------------------------------------------------


def test_plan_launch_names_two_labelled_volumes_that_dockers_run_makes():
    plan = planner.plan_launch(make_request())

    assert (plan.name, plan.workspace_volume, plan.home_volume) == (NAME, f"{NAME}-workspace", f"{NAME}-home")
    assert plan.volumes == (f"{NAME}-workspace", f"{NAME}-home")
    assert plan.volume_argvs == ()  # no engine call before the run: it makes them
    assert plan.volumes_made_by_run == plan.volumes and plan.volumes_made_first == ()
    made = volumes_made_by_run(plan.create_argv)
    assert list(made) == [f"{NAME}-workspace", f"{NAME}-home"]
    for labels in made.values():
        assert labels == [f"{key}={value}" for key, value in plan.labels]
        assert f"coding-agents.session={NAME}" in labels and "coding-agents.managed=true" in labels


def test_plan_launch_under_podman_makes_the_volumes_first(monkeypatch):
    monkeypatch.setattr(runner, "_engine_kinds", {"docker": "podman"})  # podman-docker: its --mount has no volume-label
    plan = planner.plan_launch(make_request())

    assert [argv[:3] + argv[-1:] for argv in plan.volume_argvs] == [
        ("docker", "volume", "create", f"{NAME}-workspace"),
        ("docker", "volume", "create", f"{NAME}-home"),
    ]
    for argv in plan.volume_argvs:
        assert f"coding-agents.session={NAME}" in values_of(argv, "--label")
        assert "coding-agents.managed=true" in values_of(argv, "--label")
    assert "--mount" not in plan.create_argv
    assert values_of(plan.create_argv, "--volume") == [f"{NAME}-workspace:/workspace", f"{NAME}-home:/home/agent"]
    assert plan.volumes_made_first == plan.volumes and plan.volumes_made_by_run == ()


def test_plan_launch_quotes_a_repository_path_with_a_comma_in_the_volume_labels():
    # (Docker reads this --mount value back as the same labels: seen by hand with `docker run --mount`.)
    plan = planner.plan_launch(make_request(repo=Path('/home/me/a,type=bind,src=/etc "c"')))

    for labels in volumes_made_by_run(plan.create_argv).values():
        assert 'coding-agents.repo=/home/me/a,type=bind,src=/etc "c"' in labels
    assert engine.host_mounts(plan.create_argv) == []
    assert volume_mounts(plan.create_argv) == [f"{NAME}-workspace:/workspace", f"{NAME}-home:/home/agent"]


def test_plan_launch_fills_the_workspace_through_the_agent_containers_run():
    snapshot = "b" * 40
    plan = planner.plan_launch(make_request(uncommitted_commit=snapshot))

    assert json.loads(plan.fill_header) == {"identity": ["Ada Lovelace", "ada@example.com"], "commit": START,
                                            "branch": "claude/session-1", "uncommitted": snapshot}
    # The run stays attached with its stdin open, so the fill reaches the stub (the main process)
    # through it: no process made in the container, no attach; the client's end (it is killed once
    # the stub answers) is not passed on to the container. The stub holds the CLI until the fill's
    # marker is written.
    assert plan.create_argv[:4] == ("docker", "run", "--interactive", "--sig-proxy=false")
    assert "--detach" not in plan.create_argv
    assert f"{naming.WAIT_WORKSPACE_VAR}=1" in values_of(plan.create_argv, "--env")


def test_plan_launch_fill_without_snapshot_sends_an_empty_one():
    assert json.loads(planner.plan_launch(make_request()).fill_header)["uncommitted"] == ""


def test_plan_launch_create_argv_is_hardened():
    argv = planner.plan_launch(make_request(pids_limit=512)).create_argv

    assert argv[:6] == ("docker", "run", "--interactive", "--sig-proxy=false", "--name", NAME)
    assert contains_run(argv, ["--cap-drop", "ALL"])
    assert contains_run(argv, ["--security-opt", "no-new-privileges"])
    assert contains_run(argv, ["--pids-limit", "512"])
    assert contains_run(argv, ["--user", "1000:1000"])
    assert "--read-only" in argv and "--init" in argv
    assert values_of(argv, "--network") == ["none"]
    assert volume_mounts(argv) == [f"{NAME}-workspace:/workspace", f"{NAME}-home:/home/agent"]


def test_plan_launch_create_argv_env_and_health_check():
    request = make_request(auto_commit=False)
    argv = planner.plan_launch(request).create_argv

    envs = values_of(argv, "--env")
    assert envs[:5] == [
        "TERM=xterm-256color",
        f"CODING_AGENTS_SESSION={NAME}",
        "CODING_AGENTS_BRANCH=claude/session-1",
        f"CODING_AGENTS_BASE={START}",
        "CODING_AGENTS_AUTO_COMMIT=0",
    ]
    assert {f"{key}={value}" for key, value in request.agent.env} <= set(envs)
    assert "CODING_AGENTS_AUTO_COMMIT=1" in values_of(planner.plan_launch(make_request()).create_argv, "--env")
    assert values_of(argv, "--health-cmd") == ["ca-stub health"]
    assert values_of(argv, "--health-interval") == ["5s"]
    assert values_of(argv, "--workdir") == ["/workspace"]


def test_plan_launch_interactive_command_follows_image():
    argv = planner.plan_launch(make_request()).create_argv

    assert argv[argv.index(IMAGE) :] == (IMAGE, "ca-stub", "session", "--mode", "interactive", "--", "claude",
                                         "--dangerously-skip-permissions")


@pytest.mark.parametrize(("agent", "mode", "told"), [
    ("claude", "full", ["--dangerously-skip-permissions"]),
    ("claude", "ask", ["--permission-mode", "default"]),
    ("gemini", "full", ["--approval-mode", "yolo"]),
    ("gemini", "ask", ["--approval-mode", "default"]),
    ("copilot", "full", ["--allow-all-tools"]),
    ("copilot", "ask", []),
])
def test_plan_launch_tells_each_cli_its_autonomy_mode_after_the_program(agent, mode, told):
    row = catalog.get_agent(agent)
    argv = planner.plan_launch(make_request(agent=row, autonomy=mode)).create_argv

    command = list(argv[argv.index("--", argv.index(IMAGE)) + 1:])
    assert command == [row.command[0], *told, *row.command[1:]]
    assert dict(planner.labels_for(make_request(agent=row, autonomy=mode)))["coding-agents.autonomy"] == mode


@pytest.mark.parametrize("mode", ["full"])  # ask is refused for Codex (test_session_launch)
def test_plan_launch_codex_never_uses_its_own_sandbox(mode):
    argv = planner.plan_launch(make_request(agent=catalog.get_agent("codex"), autonomy=mode, prompt="go")).create_argv

    command = list(argv[argv.index("--", argv.index(IMAGE)) + 1:])
    overrides = [command[i + 1] for i, part in enumerate(command) if part == "-c"]
    assert 'sandbox_mode="danger-full-access"' in overrides  # bubblewrap cannot work in the container
    assert ('approval_policy="never"' if mode == "full" else 'approval_policy="untrusted"') in overrides
    assert command[-2:] == ["exec", "go"]


def test_plan_launch_quiet_switches_in_every_mode():
    for mode in ("full", "ask"):
        argv = planner.plan_launch(make_request(autonomy=mode)).create_argv
        env = values_of(argv, "--env")
        assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" in env and "DISABLE_TELEMETRY=1" in env
        codex = planner.plan_launch(make_request(agent=catalog.get_agent("codex"), autonomy=mode)).create_argv
        assert "check_for_update_on_startup=false" in codex


def test_plan_launch_a_users_own_command_that_runs_something_else_gets_no_cli_flags():
    agent = catalog.custom_agent("scripted", "claude", command=("bash", "-c", "echo hi"))

    argv = planner.plan_launch(make_request(agent=agent)).create_argv

    assert argv[-3:] == ("bash", "-c", "echo hi")


def test_plan_launch_prompt_for_shell_agent():
    request = make_request(agent=catalog.get_agent("shell"), image="coding-agents-base:1.2.3", prompt="make test && echo 'done'")

    argv = planner.plan_launch(request).create_argv

    assert argv[argv.index("coding-agents-base:1.2.3") :] == (
        "coding-agents-base:1.2.3", "ca-stub", "session", "--mode", "prompt", "--",
        "bash", "-lc", "make test && echo 'done'",
    )


def test_plan_launch_prompt_for_claude_substitutes_text():
    argv = planner.plan_launch(make_request(prompt="fix the bug")).create_argv

    assert argv[-4:] == ("claude", "--dangerously-skip-permissions", "-p", "fix the bug")


def test_plan_launch_limits_only_when_given():
    plain = planner.plan_launch(make_request()).create_argv
    limited = planner.plan_launch(make_request(cpus=1.5, memory="4g")).create_argv
    whole = planner.plan_launch(make_request(cpus=2.0)).create_argv

    assert "--cpus" not in plain and "--memory" not in plain
    assert values_of(limited, "--cpus") == ["1.5"] and values_of(limited, "--memory") == ["4g"]
    assert values_of(whole, "--cpus") == ["2"]


def test_plan_launch_allow_all_uses_bridge():
    assert values_of(planner.plan_launch(make_request(network="allow-all")).create_argv, "--network") == ["bridge"]


@pytest.mark.parametrize("network_mode", ["restricted", "allow-all", "squid"])
@pytest.mark.parametrize("prompt", [None, "go"])
def test_plan_launch_never_privileged_nor_host_mounts(network_mode, prompt):
    policy = POLICY if network_mode == "squid" else None
    plan = planner.plan_launch(make_request(network=network_mode, prompt=prompt, policy=policy))
    proxy_argvs = (plan.proxy.create_argv, *plan.proxy.network_argvs) if plan.proxy else ()

    for argv in (plan.create_argv, *plan.volume_argvs, *proxy_argvs):
        assert "--privileged" not in argv
        assert engine.host_mounts(argv) == []
        assert not any("docker.sock" in arg for arg in argv)
        for volume in volume_mounts(argv) + values_of(argv, "-v"):
            assert not volume.startswith(("/", ".", "~")), volume
        assert "--cap-add" not in argv
        assert "host" not in values_of(argv, "--network")


def test_plan_launch_extra_docker_args_come_before_image():
    argv = planner.plan_launch(make_request(extra_docker_args=("--env", "FOO=1"))).create_argv

    assert argv[argv.index(IMAGE) - 2 : argv.index(IMAGE)] == ("--env", "FOO=1")


def test_plan_launch_refuses_weakening_extra_docker_args():
    with pytest.raises(AgentsError, match="refusing extra docker argument --privileged"):
        planner.plan_launch(make_request(extra_docker_args=("--privileged",)))


def test_plan_launch_refuses_bad_name():
    with pytest.raises(AgentsError, match="is not a valid container name"):
        planner.plan_launch(make_request(name="bad name"))


def test_plan_launch_squid_without_policy_is_refused():
    with pytest.raises(AgentsError, match="squid mode needs a network policy"):
        planner.plan_launch(make_request(network="squid"))


def squid_request(**overrides) -> planner.SessionRequest:
    return make_request(**{"network": "squid", "policy": POLICY, "proxy_image": PROXY_IMAGE, **overrides})


def test_plan_launch_squid_agent_sits_on_internal_network_with_proxy_env():
    plan = planner.plan_launch(squid_request())
    argv = plan.create_argv

    assert values_of(argv, "--network") == [f"{NAME}-internal"]
    envs = values_of(argv, "--env")
    for key, value in network.proxy_env():
        assert f"{key}={value}" in envs
    assert "HTTPS_PROXY=http://proxy:3128" in envs and "NO_PROXY=localhost,127.0.0.1,::1" in envs
    assert argv.index("--env") < argv.index(IMAGE)  # options, not the agent's arguments
    assert plan.proxy is not None and plan.proxy.container == f"{NAME}-proxy"


@pytest.mark.parametrize("network_mode", ["restricted", "allow-all"])
def test_plan_launch_other_modes_have_no_proxy(network_mode):
    plan = planner.plan_launch(make_request(network=network_mode))

    assert plan.proxy is None
    assert not any(env.startswith(("HTTP_PROXY=", "HTTPS_PROXY=")) for env in values_of(plan.create_argv, "--env"))


def test_plan_launch_squid_labels_carry_the_policy_and_role():
    request = squid_request(policy=network.Policy(allow=("github.com", ".npmjs.org"), block_private=False, learn=True))

    labels = dict(planner.plan_launch(request).labels)

    assert labels["coding-agents.network"] == "squid"
    assert labels["coding-agents.role"] == "agent"
    assert labels["coding-agents.allow"] == "github.com .npmjs.org"
    assert (labels["coding-agents.learn"], labels["coding-agents.block-private"]) == ("true", "false")


def test_labels_for_without_policy_has_no_policy_labels():
    labels = dict(planner.labels_for(make_request()))

    assert labels["coding-agents.role"] == "agent"
    assert not {"coding-agents.allow", "coding-agents.learn", "coding-agents.block-private"} & set(labels)


@pytest.mark.parametrize(
    "policy",
    [
        network.Policy(allow=(".anthropic.com", "pypi.org")),
        network.Policy(allow=(), block_private=False, learn=True),
        network.Policy(allow=("1.2.3.4",), block_private=True, learn=False),
        network.Policy(allow=("pypi.org",), request_max_mb=5, reply_max_mb=50),
    ],
)
def test_policy_from_labels_round_trips_policy_labels(policy):
    assert model.policy_from_labels(dict(planner.policy_labels(policy))) == policy


def test_policy_labels_carry_the_proxy_size_limits():
    labels = dict(planner.policy_labels(network.Policy(allow=(), request_max_mb=5, reply_max_mb=50)))

    assert labels["coding-agents.proxy-limits"] == "5 50"


def test_policy_labels_carry_the_host_ports():
    labels = dict(planner.policy_labels(network.Policy(allow=(), host_ports=(8080, 11434))))

    assert labels["coding-agents.host-ports"] == "8080 11434"


def test_policy_labels_without_host_ports_have_no_host_ports_label():
    assert "coding-agents.host-ports" not in dict(planner.policy_labels(POLICY))


def test_policy_from_labels_reads_the_host_ports_back():
    policy = network.Policy(allow=("pypi.org",), host_ports=(8080, 11434))

    assert model.policy_from_labels(dict(planner.policy_labels(policy))).host_ports == (8080, 11434)


def test_policy_from_labels_skips_unreadable_host_ports():
    assert model.policy_from_labels({"coding-agents.host-ports": "8080 x -1 11434"}).host_ports == (8080, 11434)


def test_policy_from_labels_defaults_are_the_strict_ones():
    assert model.policy_from_labels({}) == network.Policy(allow=(), block_private=True, learn=False)


@pytest.mark.parametrize("limits", ["", "5", "5 50 7", "5 lots", "-5 50"])
def test_policy_from_labels_unreadable_limits_fall_back_to_the_defaults(limits):
    policy = model.policy_from_labels({"coding-agents.proxy-limits": limits})

    assert (policy.request_max_mb, policy.reply_max_mb) == (100, 2048)


# --- the proxy sidecar ----------------------------------------------------------------------


def proxy_plan(policy: network.Policy = POLICY) -> planner.ProxyPlan:
    return planner.plan_proxy(NAME, planner.labels_for(squid_request(policy=policy)), policy, PROXY_IMAGE)


def test_plan_proxy_creates_internal_network_with_internal_flag_and_egress_without():
    plan = proxy_plan()

    internal, egress = plan.network_argvs
    assert internal[:4] == ("docker", "network", "create", "--internal") and internal[-1] == f"{NAME}-internal"
    assert egress[:3] == ("docker", "network", "create") and egress[-1] == f"{NAME}-egress"
    assert "--internal" not in egress
    assert (plan.internal_network, plan.egress_network) == (f"{NAME}-internal", f"{NAME}-egress")
    for argv in plan.network_argvs:
        assert f"coding-agents.session={NAME}" in values_of(argv, "--label")
        assert "coding-agents.role=proxy" in values_of(argv, "--label")


def test_plan_proxy_container_is_hardened_and_on_internal_network_as_proxy():
    argv = proxy_plan().create_argv

    assert argv[:5] == ("docker", "create", "--name", f"{NAME}-proxy", "--hostname")
    assert argv[-1] == PROXY_IMAGE
    assert contains_run(argv, ["--cap-drop", "ALL"])
    assert contains_run(argv, ["--security-opt", "no-new-privileges"])
    assert "--read-only" in argv and "--init" in argv and "--privileged" not in argv and "--cap-add" not in argv
    assert values_of(argv, "--network") == [f"{NAME}-internal"]
    assert values_of(argv, "--network-alias") == ["proxy"]
    assert values_of(argv, "--volume") == [] and "--mount" not in argv


def test_plan_proxy_passes_the_squid_config_in_env():
    policy = network.Policy(allow=("pypi.org",), learn=True)

    envs = values_of(proxy_plan(policy).create_argv, "--env")

    assert envs == [f"SQUID_CONF={network.squid_config(policy)}"]


def test_plan_proxy_labels_are_the_sessions_with_role_proxy():
    labels = values_of(proxy_plan().create_argv, "--label")

    assert "coding-agents.role=proxy" in labels and "coding-agents.role=agent" not in labels
    assert f"coding-agents.session={NAME}" in labels
    assert "coding-agents.allow=.anthropic.com pypi.org" in labels


def test_plan_proxy_connects_egress_then_starts_and_probes_port():
    plan = proxy_plan()

    assert plan.connect_argv == ("docker", "network", "connect", f"{NAME}-egress", f"{NAME}-proxy")
    assert plan.start_argv == ("docker", "start", f"{NAME}-proxy")
    assert plan.ready_argv[:3] == ("docker", "exec", f"{NAME}-proxy")
    assert plan.ready_argv[-1].endswith("/dev/tcp/127.0.0.1/3128")


def test_proxy_plan_create_argv_for_adds_the_host_alias_before_the_image():
    plan = proxy_plan(network.Policy(allow=("pypi.org",), host_ports=(11434,)))

    argv = plan.create_argv_for("10.213.0.17")

    assert argv[-3:] == ["--add-host", f"{network.HOST_ALIAS}:10.213.0.17", PROXY_IMAGE]
    assert len(argv[:-3]) == len(plan.create_argv[:-1])


def test_proxy_plan_create_argv_for_without_host_ports_adds_no_host_name():
    plan = proxy_plan()

    assert "--add-host" not in plan.create_argv_for("10.213.0.17")


def test_proxy_plan_create_argv_for_denies_the_egress_gateway_as_a_host_address():
    # The gateway is the engine host on that network: as much the host as its other addresses.
    plan = proxy_plan(network.Policy(allow=("pypi.org",), host_addresses=("192.0.2.2",)))

    argv = plan.create_argv_for("10.213.0.17")

    policy = network.Policy(allow=("pypi.org",), host_addresses=("10.213.0.17", "192.0.2.2"))
    assert f"SQUID_CONF={network.squid_config(policy)}" in argv
    assert f"SQUID_CONF={network.squid_config(plan.policy)}" not in argv


def test_proxy_plan_create_argv_for_without_a_gateway_is_the_plain_argv():
    plan = proxy_plan(network.Policy(allow=(), host_ports=(11434,)))

    assert plan.create_argv_for(None) == list(plan.create_argv)


def test_plan_proxy_keeps_the_policys_host_ports():
    assert proxy_plan(network.Policy(allow=(), host_ports=(8080, 11434))).host_ports == (8080, 11434)


# --- the ext:: transport ------------------------------------------------------------------


def test_upload_pack_url_running_uses_docker_exec():
    url = planner.upload_pack_url(NAME, True, f"{NAME}-workspace", IMAGE)

    assert url == f"ext::docker exec -i --user 1000 {NAME} %S /workspace"


def test_upload_pack_url_stopped_uses_networkless_helper():
    url = planner.upload_pack_url(NAME, False, f"{NAME}-workspace", IMAGE)

    assert url.startswith("ext::docker run --rm -i --network none ")
    assert url.endswith(f" {IMAGE} %S /workspace")
    assert f" --volume {NAME}-workspace:/workspace " in url
    assert " --cap-drop ALL " in url and " --read-only " in url


def test_upload_pack_url_refuses_parts_git_would_split():
    with pytest.raises(AgentsError, match="cannot use"):
        planner.upload_pack_url("has space", True, "v", IMAGE)


# --- sessions as found on the engine ------------------------------------------------------

LABELS = dict(planner.labels_for(make_request()))


def inspect_data(health: dict | None = None, labels: dict | None = None, status: str = "running") -> dict:
    """The parts of `docker inspect` output we read, shaped like the real thing."""
    state = {"Status": status, "Running": status == "running", "Pid": 4242, "ExitCode": 0}
    if health is not None:
        state["Health"] = health
    return {
        "Id": "f" * 64,
        "Name": f"/{NAME}",
        "State": state,
        "Config": {"Hostname": NAME, "Image": IMAGE, "Labels": LABELS if labels is None else labels},
        "Mounts": [{"Type": "volume", "Name": f"{NAME}-workspace", "Destination": "/workspace"}],
    }


def health_entry(output: str, code: int = 0) -> dict:
    return {"Start": "2026-01-02T03:05:00Z", "End": "2026-01-02T03:05:01Z", "ExitCode": code, "Output": output}


def report(tip: str, ahead: int, dirty: bool) -> str:
    return json.dumps({"tip": tip, "ahead": ahead, "dirty": dirty}) + "\n"


def test_parse_health_takes_newest_report():
    health = {"Status": "healthy", "FailingStreak": 0, "Log": [
        health_entry(report("1" * 40, 1, False)),
        health_entry(report("2" * 40, 2, True)),
    ]}

    assert model.parse_health(inspect_data(health)) == {"tip": "2" * 40, "ahead": 2, "dirty": True}


def test_parse_health_skips_failed_check_output():
    exec_failed = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"ca-stub\"\n"
    health = {"Status": "unhealthy", "FailingStreak": 1, "Log": [
        health_entry(report("1" * 40, 1, False)),
        health_entry(exec_failed, code=126),
    ]}

    assert model.parse_health(inspect_data(health))["tip"] == "1" * 40


@pytest.mark.parametrize(("sent", "taken"), [
    ({"tip": "--upload-pack=x", "ahead": 2, "dirty": False}, {"tip": None, "ahead": 2, "dirty": False}),
    ({"tip": "a" * 40, "ahead": True, "dirty": "yes"}, {"tip": "a" * 40, "ahead": None, "dirty": None}),
    ({"tip": "A" * 40, "ahead": -3, "dirty": 1}, {"tip": None, "ahead": None, "dirty": None}),
    ({"tip": "b" * 64, "ahead": 0, "dirty": True, "screen": "x"}, {"tip": "b" * 64, "ahead": 0, "dirty": True,
                                                                  "screen": "x"}),
])
def test_a_report_from_inside_is_taken_only_with_the_types_it_should_have(sent, taken):
    health = {"Status": "healthy", "FailingStreak": 0, "Log": [health_entry(json.dumps(sent))]}

    assert model.parse_health(inspect_data(health)) == taken


@pytest.mark.parametrize("health", [None, {"Status": "starting", "FailingStreak": 0, "Log": None}, {}])
def test_parse_health_missing_is_empty(health):
    assert model.parse_health(inspect_data(health)) == {}


EXPECTED_INFO = {
    "name": NAME, "agent": "claude", "repo": Path("/home/me/src/api"), "branch": "claude/session-1", "base": START,
    "network": "restricted", "mode": "launch", "image": IMAGE, "no_push": False, "created": "2026-01-02T03:04:05Z",
    "state": "running", "container_id": "f" * 64, "tip": "2" * 40, "ahead": 3, "dirty": True,
}


def test_session_from_inspect_reads_labels_state_and_health():
    health = {"Status": "healthy", "Log": [health_entry(report("2" * 40, 3, True))]}

    info = model.session_from_inspect(inspect_data(health))

    assert {key: getattr(info, key) for key in EXPECTED_INFO} == EXPECTED_INFO
    assert info.running is True
    assert (info.workspace_volume, info.home_volume) == (f"{NAME}-workspace", f"{NAME}-home")


@pytest.mark.parametrize("status", ["exited", "created", "paused"])
def test_session_from_inspect_of_a_stopped_container_has_no_report(status):
    # Its last health report predates the stub's auto-commit on the way out: not the truth any more.
    health = {"Status": "healthy", "Log": [health_entry(report("2" * 40, 3, False))]}

    info = model.session_from_inspect(inspect_data(health, status=status))

    assert (info.state, info.tip, info.ahead, info.dirty) == (status, None, None, None)


def test_parse_health_ignores_reports_from_before_the_last_start():
    data = inspect_data({"Status": "healthy", "Log": [health_entry(report("1" * 40, 1, False))]})
    data["State"]["StartedAt"] = "2026-01-02T03:05:00.5Z"  # after the report's Start (03:05:00)

    assert model.parse_health(data) == {}

    data["State"]["StartedAt"] = "2026-01-02T03:04:59.999999999Z"
    assert model.parse_health(data)["tip"] == "1" * 40


def test_session_from_inspect_without_health_has_no_tip():
    info = model.session_from_inspect(inspect_data())

    assert info.running is True
    assert (info.tip, info.ahead, info.dirty) == (None, None, None)


@pytest.mark.parametrize("labels", [{}, {"coding-agents.managed": "true", "coding-agents.image": "base"}])
def test_session_from_inspect_non_session_container_is_none(labels):
    assert model.session_from_inspect(inspect_data(labels=labels)) is None


def test_session_from_inspect_ignores_proxy_containers():
    labels = {**LABELS, "coding-agents.role": "proxy"}

    assert model.session_from_inspect(inspect_data(labels=labels)) is None


def test_session_from_inspect_keeps_labels_and_reads_unlabelled_role_as_agent():
    labels = {key: value for key, value in LABELS.items() if key != "coding-agents.role"}  # older sessions

    info = model.session_from_inspect(inspect_data(labels=labels))

    assert info is not None and info.name == NAME
    assert info.labels == labels


def test_session_from_inspect_null_labels_is_none():
    data = inspect_data()
    data["Config"]["Labels"] = None

    assert model.session_from_inspect(data) is None


def volume_data(name: str, labels: dict | None) -> dict:
    """One entry of `docker volume inspect` output."""
    return {"CreatedAt": "2026-01-02T03:04:06Z", "Driver": "local", "Labels": labels,
            "Mountpoint": f"/var/lib/docker/volumes/{name}/_data", "Name": name, "Options": None, "Scope": "local"}


def test_session_from_volume_is_orphaned_session():
    info = model.session_from_volume(volume_data(f"{NAME}-workspace", LABELS))

    assert (info.name, info.branch, info.repo, info.base) == (NAME, "claude/session-1", Path("/home/me/src/api"), START)
    assert (info.state, info.running, info.container_id, info.tip) == ("orphaned", False, "", None)


@pytest.mark.parametrize(
    ("volume", "labels"),
    [(f"{NAME}-home", LABELS), ("npm-cache", None), (f"{NAME}-workspace", {"coding-agents.managed": "true"})],
    ids=["home-volume", "unlabelled", "no-session-label"],
)
def test_session_from_volume_ignores_other_volumes(volume, labels):
    assert model.session_from_volume(volume_data(volume, labels)) is None


# --- logins and bridges in the launch plan --------------------------------------------------------

CODEX_IMAGE = "coding-agents-codex:1.2.3"
CODEX_TMPFS = "/home/agent/.codex:rw,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700"


def codex_request(**overrides) -> planner.SessionRequest:
    return make_request(**{"agent": catalog.get_agent("codex"), "image": CODEX_IMAGE, "name": "codex-api-session-1",
                           "branch": "codex/session-1", **overrides})


def codex_bridge(**overrides) -> bridges.BridgeSettings:
    return bridges.BridgeSettings(**{
        "session": "codex-api-session-1", "agent": "codex", "repo": "/home/me/src/api",
        "login_files": (("/home/agent/.codex/auth.json", "/home/me/.codex/auth.json"),), **overrides,
    })


def test_wants_logins_for_agents_with_login_state_only():
    shell = catalog.get_agent("shell")

    assert planner.wants_logins(catalog.get_agent("codex")) is True
    assert planner.wants_logins(shell) is False
    assert planner.wants_logins(records.replace(shell, login_env=("TOKEN",))) is True
    assert planner.wants_logins(records.replace(shell, first_run=(catalog.FirstRun(".x/y.json", "json", "{}"),))) is True


def test_plan_launch_codex_gets_a_private_tmpfs_and_waits_for_logins():
    argv = planner.plan_launch(codex_request()).create_argv

    assert CODEX_TMPFS in values_of(argv, "--tmpfs")
    assert "CODING_AGENTS_WAIT_LOGINS=1" in values_of(argv, "--env")
    assert argv.index(CODEX_TMPFS) < argv.index(CODEX_IMAGE)
    assert argv.index("CODING_AGENTS_WAIT_LOGINS=1") < argv.index(CODEX_IMAGE)


def test_plan_launch_codex_without_a_bridge_mounts_nothing():
    argv = planner.plan_launch(codex_request()).create_argv

    name = values_of(argv, "--name")[0]
    assert volume_mounts(argv) == [f"{name}-workspace:/workspace", f"{name}-home:/home/agent"]
    assert not any(env.startswith(("CODING_AGENTS_BRIDGE_DIR=", "GIT_CONFIG_")) for env in values_of(argv, "--env"))


def test_plan_launch_with_a_bridge_gives_the_relay_a_tmpfs_and_sets_git_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bridge = codex_bridge(credential_hosts=("github.com",))

    argv = planner.plan_launch(codex_request(bridge=bridge)).create_argv

    name = values_of(argv, "--name")[0]
    assert volume_mounts(argv) == [f"{name}-workspace:/workspace", f"{name}-home:/home/agent"]
    relay_tmpfs = "/run/coding-agents:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755"
    assert relay_tmpfs in values_of(argv, "--tmpfs")
    envs = values_of(argv, "--env")
    assert envs[envs.index("CODING_AGENTS_BRIDGE_DIR=/run/coding-agents"):] == [
        "CODING_AGENTS_BRIDGE_DIR=/run/coding-agents",
        "GIT_CONFIG_COUNT=2",
        "GIT_CONFIG_KEY_0=credential.helper", "GIT_CONFIG_VALUE_0=",
        "GIT_CONFIG_KEY_1=credential.helper", "GIT_CONFIG_VALUE_1=!ca-stub git-credential",
    ]
    assert argv.index(relay_tmpfs) < argv.index(CODEX_IMAGE)
    assert "SSH_AUTH_SOCK=/run/coding-agents/ssh-agent.sock" not in envs


def test_plan_launch_with_an_ssh_agent_bridge_points_ssh_auth_sock_at_it():
    argv = planner.plan_launch(codex_request(bridge=codex_bridge(ssh_agent="/tmp/ssh-x/agent.1"))).create_argv

    assert "SSH_AUTH_SOCK=/run/coding-agents/ssh-agent.sock" in values_of(argv, "--env")
    assert not any("/tmp/ssh-x" in arg for arg in argv)  # the host's socket path stays on the host


def test_plan_launch_with_a_bridge_that_serves_nothing_mounts_nothing():
    argv = planner.plan_launch(codex_request(bridge=codex_bridge(login_files=()))).create_argv

    name = values_of(argv, "--name")[0]
    assert volume_mounts(argv) == [f"{name}-workspace:/workspace", f"{name}-home:/home/agent"]


def test_plan_launch_shell_has_no_login_tmpfs_wait_or_bridge():
    request = make_request(agent=catalog.get_agent("shell"), image="coding-agents-base:1.2.3")

    argv = planner.plan_launch(request).create_argv

    assert not any(value.startswith("/home/agent") for value in values_of(argv, "--tmpfs"))
    assert volume_mounts(argv) == [f"{NAME}-workspace:/workspace", f"{NAME}-home:/home/agent"]
    assert not any(env.startswith(("CODING_AGENTS_WAIT_LOGINS=", "CODING_AGENTS_BRIDGE_DIR=", "GIT_CONFIG_"))
                   for env in values_of(argv, "--env"))


def test_plan_launch_custom_agent_gets_its_base_agents_logins():
    agent = catalog.custom_agent("codex-o3", "codex", command=("codex", "-m", "o3"))

    argv = planner.plan_launch(codex_request(agent=agent)).create_argv

    assert CODEX_TMPFS in values_of(argv, "--tmpfs")
    assert "CODING_AGENTS_WAIT_LOGINS=1" in values_of(argv, "--env")
    told = catalog.get_agent("codex").told("full").args
    assert argv[argv.index(CODEX_IMAGE):] == (CODEX_IMAGE, "ca-stub", "session", "--mode", "interactive", "--",
                                              "codex", *told, "-m", "o3")
    assert dict(planner.labels_for(codex_request(agent=agent)))["coding-agents.agent"] == "codex-o3"


# --- the MCP sidecar ------------------------------------------------------------------------------

MANIFEST_DIGEST = "e" * 64


def test_mcp_names():
    assert naming.mcp_volume(NAME) == f"{NAME}-mcp"
    assert naming.sidecar_name(NAME) == f"{NAME}-mcp"


def sidecar_labels(request: planner.SessionRequest) -> list[str]:
    return planner.label_args(tuple((k, v) for k, v in planner.labels_for(request) if k != naming.ROLE)
                               + ((naming.ROLE, "mcp"),))


def test_plan_launch_mcp_socket_volume_is_a_nosuid_nodev_noexec_tmpfs():
    plan = planner.plan_launch(make_request(mcp_sidecar=True, manifest=MANIFEST_DIGEST))

    (sockets,) = plan.volume_argvs  # the workspace and home volumes: made by the run, with no options
    assert sockets[-1] == f"{NAME}-mcp"
    assert values_of(sockets, "--opt") == [
        "type=tmpfs", "device=tmpfs", "o=nosuid,nodev,noexec,size=1m,uid=1000,gid=1000,mode=0700"]
    assert not any("volume-opt" in arg for arg in plan.create_argv)  # Docker cannot: see the doc


def test_sidecar_argv_restricted():
    request = make_request(network="restricted", mcp_sidecar=True, manifest=MANIFEST_DIGEST)

    assert planner.sidecar_argv(request) == [
        "docker", "run", "--detach", "--name", f"{NAME}-mcp", "--hostname", "mcp",
        *sidecar_labels(request),
        "--user", "1000:1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pids-limit", "256",
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=2g", "--init",
        "--network", "none",
        "--volume", f"{NAME}-mcp:/run/coding-agents-mcp",
        "--tmpfs", "/run/coding-agents-broker:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755",
        "--env", "HOME=/tmp",
        "--workdir", "/tmp",
        IMAGE,
        "ca-stub", "mcp-sidecar",
    ]


def test_sidecar_argv_squid_uses_the_sessions_network_and_proxy():
    request = make_request(network="squid", policy=POLICY, mcp_sidecar=True, manifest=MANIFEST_DIGEST)

    assert planner.sidecar_argv(request) == [
        "docker", "run", "--detach", "--name", f"{NAME}-mcp", "--hostname", "mcp",
        *sidecar_labels(request),
        *hardening.hardening_args(256),
        "--network", f"{NAME}-internal", "--dns-option", "timeout:1", "--dns-option", "attempts:1",
        *[arg for key, value in network.proxy_env() for arg in ("--env", f"{key}={value}")],
        "--volume", f"{NAME}-mcp:/run/coding-agents-mcp",
        "--tmpfs", "/run/coding-agents-broker:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755",
        "--env", "HOME=/tmp",
        "--workdir", "/tmp",
        IMAGE,
        "ca-stub", "mcp-sidecar",
    ]


def test_sidecar_labels_are_the_sessions_with_role_mcp_and_the_manifest():
    argv = planner.sidecar_argv(make_request(mcp_sidecar=True, manifest=MANIFEST_DIGEST))
    labels = values_of(argv, "--label")

    assert f"coding-agents.session={NAME}" in labels
    assert f"coding-agents.manifest={MANIFEST_DIGEST}" in labels
    assert [label for label in labels if label.startswith("coding-agents.role=")] == ["coding-agents.role=mcp"]


def test_sidecar_is_never_taken_for_a_session():
    argv = planner.sidecar_argv(make_request(mcp_sidecar=True, manifest=MANIFEST_DIGEST))
    labels = dict(label.split("=", 1) for label in values_of(argv, "--label"))

    assert model.session_from_inspect({"Config": {"Labels": labels}, "State": {"Status": "running"}}) is None


def test_sidecar_argv_mounts_no_workspace_home_or_bridge():
    argv = planner.sidecar_argv(make_request(mcp_sidecar=True, bridge=bridges.BridgeSettings(
        session=NAME, agent="claude", repo="/r", credential_hosts=("github.com",))))

    assert values_of(argv, "--volume") == [f"{NAME}-mcp:/run/coding-agents-mcp"]
    assert values_of(argv, "--mount") == []
    assert values_of(argv, "--tmpfs")[-1] == (
        "/run/coding-agents-broker:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755")
    assert not any(arg.startswith("CODING_AGENTS_") or arg.startswith("GIT_CONFIG") for arg in values_of(argv, "--env"))


def test_plan_launch_with_an_mcp_sidecar_makes_three_volumes_and_mounts_the_socket_one():
    plan = planner.plan_launch(make_request(mcp_sidecar=True, manifest=MANIFEST_DIGEST))

    assert plan.volumes == (f"{NAME}-workspace", f"{NAME}-home", f"{NAME}-mcp")
    assert [argv[-1] for argv in plan.volume_argvs] == [f"{NAME}-mcp"]
    for labels in [values_of(argv, "--label") for argv in plan.volume_argvs] + list(
            volumes_made_by_run(plan.create_argv).values()):
        assert f"coding-agents.manifest={MANIFEST_DIGEST}" in labels
    assert volume_mounts(plan.create_argv) == [
        f"{NAME}-workspace:/workspace", f"{NAME}-home:/home/agent", f"{NAME}-mcp:/run/coding-agents-mcp"]
    assert f"coding-agents.manifest={MANIFEST_DIGEST}" in values_of(plan.create_argv, "--label")
    assert engine.host_mounts(plan.create_argv) == []  # the broker's sockets never reach the agent


def test_plan_launch_without_an_mcp_sidecar_has_no_mcp_volume():
    plan = planner.plan_launch(make_request(manifest=MANIFEST_DIGEST))

    assert plan.volumes == (f"{NAME}-workspace", f"{NAME}-home") and plan.volume_argvs == ()
    assert not any(value.endswith("/run/coding-agents-mcp") for value in volume_mounts(plan.create_argv))


def test_labels_for_carries_the_manifest_only_when_there_is_one():
    assert dict(planner.labels_for(make_request(manifest=MANIFEST_DIGEST)))["coding-agents.manifest"] == \
        MANIFEST_DIGEST
    assert "coding-agents.manifest" not in dict(planner.labels_for(make_request()))


def test_proxy_plan_create_argv_for_denies_the_addresses_learned_since_and_labels_them():
    # A remote engine's host addresses are asked when its proxy starts (agents/engine_host.py).
    plan = proxy_plan(network.Policy(allow=("pypi.org",), host_addresses=("192.0.2.2",)))

    argv = plan.create_argv_for("10.213.0.17", ("198.51.100.7", "192.0.2.2"))

    policy = network.Policy(allow=("pypi.org",), host_addresses=("10.213.0.17", "192.0.2.2", "198.51.100.7"))
    assert f"SQUID_CONF={network.squid_config(policy)}" in argv
    labels = values_of(argv, "--label")
    assert [label for label in labels if label.startswith("coding-agents.host-addresses=")] == [
        "coding-agents.host-addresses=192.0.2.2 198.51.100.7"]  # the gateway is the network's, not the host's
    assert argv[-1] == PROXY_IMAGE and argv[:2] == ["docker", "create"]
