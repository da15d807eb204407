"""agents/bridges.py: the session's host-side sockets, their socat listeners and the container's git config."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agents import bridges, relay
from agents.errors import AgentsError

NAME = "codex-api-session-1"
LOGIN_FILES = (("/home/agent/.codex/auth.json", "/home/me/.codex/auth.json"),)
OPENPGP = bridges.Signing("openpgp", "0123456789ABCDEF")
SSH = bridges.Signing("ssh", "~/.ssh/id_ed25519", "ssh-ed25519 AAAAC3Nza me@host")


def settings(**overrides) -> bridges.BridgeSettings:
    return bridges.BridgeSettings(**{"session": NAME, "agent": "codex", "repo": "/home/me/api", **overrides})


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- listeners and their socat argv -----------------------------------------------------------


def test_listeners_none_when_nothing_is_bridged():
    assert bridges.listeners(settings()) == []
    assert settings().enabled is False


def test_listeners_one_per_bridge_in_order():
    found = bridges.listeners(settings(login_files=LOGIN_FILES, credential_hosts=("github.com",), signing=SSH,
                                       ssh_agent="/tmp/ssh-x/agent.1"))

    assert found == [
        bridges.Listener("logins.sock", handler="logins"),
        bridges.Listener("git-credential.sock", handler="git-credential"),
        bridges.Listener("sign.sock", handler="sign"),
        bridges.Listener("ssh-agent.sock", relay_to="/tmp/ssh-x/agent.1"),
    ]


@pytest.mark.parametrize(
    "overrides",
    [{"login_files": LOGIN_FILES}, {"credential_hosts": ("github.com",)}, {"signing": OPENPGP}, {"ssh_agent": "/s"}],
    ids=["logins", "credentials", "signing", "ssh-agent"],
)
def test_settings_enabled_by_any_one_bridge(overrides):
    assert settings(**overrides).enabled is True
    assert len(bridges.listeners(settings(**overrides))) == 1


SOCKETS = Path("/run/user/1000/coding-agents/0123456789abcdef")
PREFIX = ["/usr/bin/python3", "-m", "agents"]


def test_socat_argv_handler_socket_is_private():
    argv = bridges.socat_argv(bridges.Listener("logins.sock", handler="logins"), SOCKETS, PREFIX, NAME)

    assert argv == [
        "socat", "-t", "90",
        f"UNIX-LISTEN:{SOCKETS}/logins.sock,fork,unlink-early,mode=0600",
        f"EXEC:/usr/bin/python3 -m agents _bridge-handle logins {NAME}",
    ]


def test_socat_argv_handler_from_the_zipapp():
    argv = bridges.socat_argv(bridges.Listener("sign.sock", handler="sign"), SOCKETS, ["/opt/coding-agents.pex"], NAME)

    assert argv == [
        "socat", "-t", "90",
        f"UNIX-LISTEN:{SOCKETS}/sign.sock,fork,unlink-early,mode=0600",
        f"EXEC:/opt/coding-agents.pex _bridge-handle sign {NAME}",
    ]


def test_socat_argv_relay_to_the_ssh_agent():
    argv = bridges.socat_argv(bridges.Listener("ssh-agent.sock", relay_to="/tmp/ssh-XYZ/agent.42"), SOCKETS, PREFIX,
                              NAME)

    assert argv == [
        "socat", "-t", "90",
        f"UNIX-LISTEN:{SOCKETS}/ssh-agent.sock,fork,unlink-early,mode=0600",
        "UNIX-CONNECT:/tmp/ssh-XYZ/agent.42",
    ]


def test_socat_argv_waits_for_a_handler_slower_than_socats_default():
    # The container's side sends its request and half-closes. With socat's default -t 0.5, socat
    # then ended the connection and stopped the handler when it had not answered within 0.5 s
    # (ten zipapp handlers starting at once on two cores), and the stub got an empty answer.
    folder = Path(tempfile.mkdtemp(prefix="ca-", dir="/tmp"))
    try:
        handler = folder / "handler"
        handler.write_text('#!/bin/sh\ncat > "$0.request"\nsleep 1.5\necho "decided: $*"\n')
        handler.chmod(0o700)
        argv = bridges.socat_argv(bridges.Listener("logins.sock", handler="logins"), folder, [str(handler)], NAME)
        server = subprocess.Popen(argv)
        try:
            deadline = time.monotonic() + 10
            while not (folder / "logins.sock").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            started = time.monotonic()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(30)
                connection.connect(str(folder / "logins.sock"))
                connection.sendall(b'{"path": "/home/agent/.codex/auth.json"}')
                connection.shutdown(socket.SHUT_WR)
                answer = b"".join(iter(lambda: connection.recv(65536), b""))
            took = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=10)

        assert answer == f"decided: _bridge-handle logins {NAME}\n".encode()
        assert (folder / "handler.request").read_bytes() == b'{"path": "/home/agent/.codex/auth.json"}'
        assert 1.5 <= took < bridges.ANSWER_TIMEOUT / 2  # over as soon as the handler is, not at the timeout
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(("part", "bad"), [("/home/my user/x", " "), ("/a,b", ","), ("/a:b", ":"),
                                            ("/it's", "'"), ("/a!b", "!"), ("/a b,c:d", " ,:")],
                         ids=["space", "comma", "colon", "quote", "bang", "several"])
def test_check_socat_safe_refuses_what_socat_splits_on(part, bad):
    with pytest.raises(AgentsError) as caught:
        bridges.check_socat_safe("/fine", part)

    assert caught.value.message == (
        f"cannot serve a session bridge from {part!r}: socat cannot take {bad!r} in a path"
    )
    assert caught.value.hint == "use paths without spaces, commas or colons (the sockets follow XDG_RUNTIME_DIR)"


def test_check_socat_safe_accepts_plain_paths():
    assert bridges.check_socat_safe("/usr/bin/python3", "/home/me/.local/state/x-y_z.1") is None


@pytest.mark.parametrize(
    ("listener", "directory", "prefix"),
    [
        (bridges.Listener("logins.sock", handler="logins"), SOCKETS, ["/opt/My Tools/python3", "-m", "agents"]),
        (bridges.Listener("ssh-agent.sock", relay_to="/tmp/ssh dir/agent.1"), SOCKETS, PREFIX),
        (bridges.Listener("logins.sock", handler="logins"), Path("/state,x/bridges") / NAME / "sockets", PREFIX),
    ],
    ids=["handler-prefix", "relay-target", "socket-dir"],
)
def test_socat_argv_refuses_unsafe_parts(listener, directory, prefix):
    with pytest.raises(AgentsError, match="cannot serve a session bridge from"):
        bridges.socat_argv(listener, directory, prefix, NAME)


# --- the container's git config -------------------------------------------------------------


def test_git_config_credentials_resets_helpers_then_adds_ours():
    assert bridges.git_config(settings(credential_hosts=("github.com",))) == [
        ("credential.helper", ""),
        ("credential.helper", "!ca-stub git-credential"),
    ]


def test_git_config_openpgp_signing_uses_ca_gpg_and_the_hosts_key():
    assert bridges.git_config(settings(signing=OPENPGP)) == [
        ("commit.gpgsign", "true"),
        ("tag.gpgsign", "true"),
        ("gpg.format", "openpgp"),
        ("gpg.program", "ca-gpg"),
        ("user.signingkey", "0123456789ABCDEF"),
    ]


def test_git_config_ssh_signing_uses_ca_ssh_keygen_and_the_public_key_literal():
    assert bridges.git_config(settings(signing=SSH)) == [
        ("commit.gpgsign", "true"),
        ("tag.gpgsign", "true"),
        ("gpg.format", "ssh"),
        ("gpg.ssh.program", "ca-ssh-keygen"),
        ("user.signingkey", "key::ssh-ed25519 AAAAC3Nza me@host"),
    ]


def test_git_config_nothing_for_logins_or_ssh_agent_alone():
    assert bridges.git_config(settings(login_files=LOGIN_FILES, ssh_agent="/s")) == []
    assert bridges.git_config_env(settings(login_files=LOGIN_FILES, ssh_agent="/s")) == []


def test_git_config_env_numbers_every_entry():
    assert bridges.git_config_env(settings(credential_hosts=("github.com",), signing=OPENPGP)) == [
        ("GIT_CONFIG_COUNT", "7"),
        ("GIT_CONFIG_KEY_0", "credential.helper"), ("GIT_CONFIG_VALUE_0", ""),
        ("GIT_CONFIG_KEY_1", "credential.helper"), ("GIT_CONFIG_VALUE_1", "!ca-stub git-credential"),
        ("GIT_CONFIG_KEY_2", "commit.gpgsign"), ("GIT_CONFIG_VALUE_2", "true"),
        ("GIT_CONFIG_KEY_3", "tag.gpgsign"), ("GIT_CONFIG_VALUE_3", "true"),
        ("GIT_CONFIG_KEY_4", "gpg.format"), ("GIT_CONFIG_VALUE_4", "openpgp"),
        ("GIT_CONFIG_KEY_5", "gpg.program"), ("GIT_CONFIG_VALUE_5", "ca-gpg"),
        ("GIT_CONFIG_KEY_6", "user.signingkey"), ("GIT_CONFIG_VALUE_6", "0123456789ABCDEF"),
    ]


# --- docker run flags -------------------------------------------------------------------------


def test_container_args_only_the_relays_tmpfs_when_no_bridge_is_enabled(state_home):
    """Every session's link carries its health reports (relay.REPORT_SOCKET): the folder, no git config."""
    assert bridges.container_args(settings()) == relay.tmpfs_args("/run/coding-agents")


def test_container_args_give_the_relay_its_own_tmpfs_and_mount_no_host_path(state_home):
    """The relay's uid (1001) owns the folder: the agent (1000) cannot replace its sockets."""
    assert bridges.container_args(settings(login_files=LOGIN_FILES)) == [
        "--tmpfs", "/run/coding-agents:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755",
        "--env", "CODING_AGENTS_BRIDGE_DIR=/run/coding-agents",
    ]


def test_container_args_ssh_auth_sock_only_with_the_ssh_agent(state_home):
    without = bridges.container_args(settings(credential_hosts=("github.com",)))
    with_agent = bridges.container_args(settings(credential_hosts=("github.com",), ssh_agent="/tmp/ssh-x/agent.1"))

    assert not any(arg.startswith("SSH_AUTH_SOCK=") for arg in without)
    assert with_agent[:6] == [
        "--tmpfs", "/run/coding-agents:rw,nosuid,nodev,noexec,size=1m,uid=1001,gid=1001,mode=0755",
        "--env", "CODING_AGENTS_BRIDGE_DIR=/run/coding-agents",
        "--env", "SSH_AUTH_SOCK=/run/coding-agents/ssh-agent.sock",
    ]
    assert with_agent[6:] == without[4:]  # then the same git config


def test_container_args_carry_the_git_config_as_env(state_home):
    args = bridges.container_args(settings(signing=SSH))

    envs = [args[n + 1] for n, arg in enumerate(args) if arg == "--env"]
    assert envs == ["CODING_AGENTS_BRIDGE_DIR=/run/coding-agents", "GIT_CONFIG_COUNT=5",
                    "GIT_CONFIG_KEY_0=commit.gpgsign", "GIT_CONFIG_VALUE_0=true",
                    "GIT_CONFIG_KEY_1=tag.gpgsign", "GIT_CONFIG_VALUE_1=true",
                    "GIT_CONFIG_KEY_2=gpg.format", "GIT_CONFIG_VALUE_2=ssh",
                    "GIT_CONFIG_KEY_3=gpg.ssh.program", "GIT_CONFIG_VALUE_3=ca-ssh-keygen",
                    "GIT_CONFIG_KEY_4=user.signingkey", "GIT_CONFIG_VALUE_4=key::ssh-ed25519 AAAAC3Nza me@host"]


def test_container_args_never_carry_the_private_key_path(state_home):
    args = bridges.container_args(settings(signing=SSH))

    assert not any("id_ed25519" in arg for arg in args)


# --- settings file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        settings(),
        settings(login_files=LOGIN_FILES + (("/home/agent/.x/a.json", "/home/me/.x/a.json"),),
                 credential_hosts=("github.com", "git.example.com:8443"), signing=SSH, ssh_agent="/tmp/ssh-x/agent.1",
                 save_new_logins=False, host_logins=False),
        settings(signing=OPENPGP),
    ],
    ids=["empty", "everything", "openpgp"],
)
def test_bridge_settings_json_round_trip(original):
    assert bridges.BridgeSettings.from_json(original.to_json()) == original


def test_bridge_settings_to_json_is_plain_data():
    data = json.loads(settings(login_files=LOGIN_FILES, signing=OPENPGP).to_json())

    assert data == {
        "session": NAME, "agent": "codex", "repo": "/home/me/api",
        "login_files": [["/home/agent/.codex/auth.json", "/home/me/.codex/auth.json"]],
        "credential_hosts": [], "signing": {"format": "openpgp", "key": "0123456789ABCDEF", "public_key": ""},
        "ssh_agent": None, "save_new_logins": True, "host_logins": True,
        "mcp_rendered": None, "mcp_sidecar": None, "mcp_hours": 24, "manifest": None,
        "host_ports": [], "host_gateway": "", "host_setup": None,
    }


def test_prepare_makes_private_folders(state_home):
    wanted = settings(login_files=LOGIN_FILES)

    bridges.prepare(wanted)

    session = state_home / "coding-agents" / "bridges" / NAME
    assert mode_of(session) == 0o700
    assert mode_of(bridges.sockets_dir(NAME)) == 0o700
    assert mode_of(bridges.sockets_dir(NAME).parent) == 0o700
    assert mode_of(session / "settings.json") == 0o600
    assert bridges.BridgeSettings.from_json((session / "settings.json").read_text()) == wanted


def test_prepare_without_bridges_writes_settings_but_no_sockets_dir(state_home):
    bridges.prepare(settings())

    session = state_home / "coding-agents" / "bridges" / NAME
    assert sorted(path.name for path in session.iterdir()) == ["settings.json"]
    assert mode_of(session / "settings.json") == 0o600


def test_prepare_refuses_a_runtime_dir_socat_cannot_take(tmp_path, monkeypatch):
    runtime = Path(tempfile.mkdtemp(prefix="ca run ", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))

    try:
        with pytest.raises(AgentsError, match="socat cannot take ' ' in a path"):
            bridges.prepare(settings(login_files=LOGIN_FILES))
    finally:
        shutil.rmtree(runtime)


def test_prepare_again_keeps_modes_and_replaces_settings(state_home):
    bridges.prepare(settings(login_files=LOGIN_FILES))
    bridges.prepare(settings(login_files=LOGIN_FILES, save_new_logins=False))

    assert bridges.load_settings(NAME).save_new_logins is False


def test_load_settings_reads_what_prepare_wrote(state_home):
    wanted = settings(credential_hosts=("github.com",), signing=SSH)
    bridges.prepare(wanted)

    assert bridges.load_settings(NAME) == wanted


def test_load_settings_missing(state_home):
    with pytest.raises(AgentsError) as caught:
        bridges.load_settings(NAME)

    path = state_home / "coding-agents" / "bridges" / NAME / "settings.json"
    assert caught.value.message == f"{NAME} has no bridge settings on this machine ({path})"
    assert caught.value.hint == "it was launched elsewhere or by an older version; relaunch it for bridges"


@pytest.mark.parametrize("text", ["{not json", '{"session": "x"}', "[1, 2]"], ids=["not-json", "missing-fields", "not-an-object"])
def test_load_settings_unreadable(state_home, text):
    session = state_home / "coding-agents" / "bridges" / NAME
    session.mkdir(parents=True)
    (session / "settings.json").write_text(text)

    with pytest.raises(AgentsError) as caught:
        bridges.load_settings(NAME)

    assert caught.value.message.startswith(f"the bridge settings of {NAME} cannot be read: ")
    assert caught.value.hint == f"remove-agent {NAME} and launch it again"


def test_remove_deletes_the_session_dir_and_tolerates_absence(state_home):
    bridges.prepare(settings(login_files=LOGIN_FILES))

    bridges.remove(NAME)
    bridges.remove(NAME)

    assert not (state_home / "coding-agents" / "bridges" / NAME).exists()


def test_handler_prefix_source_tree_and_pex(monkeypatch):
    assert bridges.handler_prefix() == [sys.executable, "-m", "agents"]

    monkeypatch.setenv("PEX", "/opt/coding-agents.pex")

    assert bridges.handler_prefix() == ["/opt/coding-agents.pex"]


# --- audit log ------------------------------------------------------------------------------------


def test_audit_appends_one_json_line_per_decision(state_home):
    bridges.audit(NAME, kind="git-credential", decision="granted", host="github.com")
    bridges.audit(NAME, kind="sign", decision="refused")

    lines = (state_home / "coding-agents" / "bridges" / f"{NAME}.log").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [{k: v for k, v in event.items() if k != "time"} for event in events] == [
        {"session": NAME, "kind": "git-credential", "decision": "granted", "host": "github.com"},
        {"session": NAME, "kind": "sign", "decision": "refused"},
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["time"]) for event in events)


def test_audit_log_outlives_the_session_dir(state_home):
    bridges.prepare(settings(login_files=LOGIN_FILES))
    bridges.audit(NAME, decision="saved")

    bridges.remove(NAME)

    assert bridges.audit_log(NAME).exists()


# --- is a bridge running? ------------------------------------------------------------------------


def write_pid(state_home: Path, text: str) -> None:
    session = state_home / "coding-agents" / "bridges" / NAME
    session.mkdir(parents=True, exist_ok=True)
    (session / "bridge.pid").write_text(text)


def test_running_without_pid_file(state_home):
    assert bridges.running(NAME) is False


def test_running_with_a_live_pid(state_home):
    write_pid(state_home, str(os.getpid()))

    assert bridges.running(NAME) is True


def test_running_with_a_stale_pid_file(state_home):
    finished = subprocess.Popen(["true"])
    finished.wait()
    write_pid(state_home, str(finished.pid))

    assert bridges.running(NAME) is False


def test_running_with_garbage_in_the_pid_file(state_home):
    write_pid(state_home, "not a pid\n")

    assert bridges.running(NAME) is False


def test_wait_for_link_true_once_the_containers_end_listens(state_home):
    wanted = settings(login_files=LOGIN_FILES, credential_hosts=("github.com",))
    bridges.prepare(wanted)
    Path(bridges.link_marker(NAME, NAME)).touch()

    assert bridges.wait_for_link(NAME, NAME, timeout=1.0) is True


def test_wait_for_link_false_while_it_does_not(state_home):
    bridges.prepare(settings(login_files=LOGIN_FILES))

    assert bridges.wait_for_link(NAME, NAME, timeout=0.1) is False


# --- serve (socat faked at Popen) -------------------------------------------------------------------


@pytest.fixture
def container_runs(monkeypatch):
    """relay.container_run answers from a list (then "missing"); the waits between are recorded."""
    from agents import relay

    states: list[str] = []
    waits: list[str] = []
    monkeypatch.setattr(relay, "container_run", lambda name: (states.pop(0) if states else "missing", "t0"))
    monkeypatch.setattr(relay, "wait_for_change", lambda name, timeout, since=None, after=None: waits.append(name))
    return states, waits


@pytest.fixture
def links(monkeypatch):
    """relay.keep_linked faked: the plans serve starts, with their markers."""
    from agents import relay

    started: list[tuple] = []
    monkeypatch.setattr(relay, "keep_linked", lambda plan, stop, marker=None, on_new_run=None:
                        started.append((plan, marker, on_new_run is not None)))
    return started


def test_serve_starts_one_socat_per_listener_and_the_link_until_the_container_is_gone(
        state_home, fp, container_runs, links):
    wanted = settings(login_files=LOGIN_FILES, ssh_agent="/tmp/ssh-x/agent.1")
    bridges.prepare(wanted)
    fp.register(["socat", fp.any()], occurrences=2)
    states, waits = container_runs
    states += ["running", "stopped", "running"]  # a stop does not end it; only the removal does

    assert bridges.serve(NAME, on_new_run=lambda name: None) == 0

    directory = bridges.sockets_dir(NAME)
    expected = [bridges.socat_argv(listener, directory, bridges.handler_prefix(), NAME)
                for listener in bridges.listeners(wanted)]
    assert [list(call) for call in fp.calls] == expected
    assert waits == [NAME, NAME, NAME]
    assert links == [(relay.LinkPlan(NAME, "/run/coding-agents", (
        ("logins.sock", str(directory / "logins.sock")), ("ssh-agent.sock", str(directory / "ssh-agent.sock"))),
        reports_of=NAME), bridges.link_marker(NAME, NAME), True)]
    assert not (bridges.session_dir(NAME) / "bridge.pid").exists()


def test_serve_pid_file_is_private_while_it_serves(state_home, fp, monkeypatch, links):
    from agents import relay

    bridges.prepare(settings(credential_hosts=("github.com",)))
    fp.register(["socat", fp.any()])
    seen = []
    monkeypatch.setattr(relay, "container_run", lambda name: seen.append(
        stat.S_IMODE((bridges.session_dir(NAME) / "bridge.pid").stat().st_mode)) or ("missing", ""))

    assert bridges.serve(NAME) == 0
    assert seen == [0o600]


def test_link_plans_of_the_agent_and_of_the_sidecar_to_the_broker(state_home):
    from agents import broker

    wanted = settings(credential_hosts=("github.com",), mcp_sidecar={"notes": {}})

    plans = bridges.link_plans(wanted)

    assert plans == [
        relay.LinkPlan(NAME, "/run/coding-agents",
                       (("git-credential.sock", str(bridges.sockets_dir(NAME) / "git-credential.sock")),),
                       reports_of=NAME),
        relay.LinkPlan(f"{NAME}-mcp", "/run/coding-agents-broker",
                       (("broker.sock", str(broker.session_socket_dir(NAME) / "broker.sock")),)),
    ]
    assert plans[0].argv()[-2:] == ["git-credential.sock", "report.sock"]
    assert plans[1].argv() == ["docker", "exec", "-i", "--user", "1001:1001", f"{NAME}-mcp",
                               "ca-stub", "relay", "/run/coding-agents-broker", "broker.sock"]


def test_link_plans_only_the_reports_without_sockets_or_sidecar(state_home):
    assert bridges.link_plans(settings(host_ports=(11434,))) == [
        relay.LinkPlan(NAME, "/run/coding-agents", (), reports_of=NAME)]
    assert bridges.link_plans(settings())[0].argv()[-2:] == ["/run/coding-agents", "report.sock"]
    assert bridges.needs_helper(settings(host_ports=(11434,))) is True
    assert bridges.needs_helper(settings(mcp_sidecar={"notes": {}})) is True
    assert bridges.needs_helper(settings()) is True  # its report link
    assert bridges.needs_helper(None) is False  # a session launched elsewhere


# --- where bridges cannot run --------------------------------------------------------------------


def test_unavailable_reason_none_with_a_local_engine_and_socat(fake_which):
    fake_which("socat", "docker")

    assert bridges.unavailable_reason() is None


def test_unavailable_reason_none_without_docker_host(fake_which, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST")
    fake_which("socat")

    assert bridges.unavailable_reason() is None


@pytest.mark.parametrize("host", ["tcp://10.0.0.5:2376", "ssh://me@build-box"])
def test_unavailable_reason_none_with_a_remote_engine(fake_which, monkeypatch, host):
    """The relay carries the bridges over the engine's own streams: no engine is too far."""
    monkeypatch.setenv("DOCKER_HOST", host)
    fake_which("socat")

    assert bridges.unavailable_reason() is None


def test_unavailable_reason_socat_missing(fake_which):
    fake_which("docker")

    assert bridges.unavailable_reason() == "socat is not installed on this machine (apt-get install socat)"


def test_prepare_refuses_a_socket_folder_too_long_for_unix_sockets(tmp_path, monkeypatch):
    runtime = tmp_path / ("x" * 80)
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))

    with pytest.raises(AgentsError, match="too long for Unix sockets") as caught:
        bridges.prepare(settings(login_files=LOGIN_FILES))

    assert caught.value.hint == "set XDG_RUNTIME_DIR to a short folder (e.g. /run/user/$UID)"


def test_sockets_dir_is_short_whatever_the_session_name(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setattr(os.path, "isdir", lambda path: True)

    long_name = "claude-" + "a-very-long-repository-name" * 4

    assert str(bridges.sockets_dir(long_name)).startswith("/run/user/1000/coding-agents/")
    assert len(str(bridges.sockets_dir(long_name) / "git-credential.sock")) < 80


def test_prepare_refuses_a_runtime_folder_someone_else_owns(monkeypatch, tmp_path):
    runtime = Path(tempfile.mkdtemp(prefix="ca-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "coding-agents").symlink_to(tmp_path)  # a trap: not a folder of ours

    try:
        with pytest.raises(AgentsError, match="is not a folder of yours"):
            bridges.prepare(settings(login_files=LOGIN_FILES))
    finally:
        shutil.rmtree(runtime)


def test_load_settings_ignores_fields_a_newer_version_wrote(state_home):
    session = state_home / "coding-agents" / "bridges" / NAME
    session.mkdir(parents=True)
    (session / "settings.json").write_text('{"session": "x", "agent": "a", "repo": "/", "from_the_future": 1}')

    assert bridges.load_settings(NAME) == bridges.BridgeSettings(session="x", agent="a", repo="/")


def test_serve_hands_each_wait_the_event_that_ended_the_last(state_home, monkeypatch, links):
    """A start a second ago is not a change for the next wait (else it would wake every one)."""
    from agents import relay

    bridges.prepare(settings(credential_hosts=("github.com",)))
    answers = ["running", "running", "running"]
    afters: list[int | None] = []
    monkeypatch.setattr(relay, "container_run", lambda name: (answers.pop(0) if answers else "missing", "t0"))

    def wait_for_change(name, timeout, since=None, after=None):
        afters.append(after)
        return 7 if len(afters) == 1 else None  # the second wait timed out: no event of its own

    monkeypatch.setattr(relay, "wait_for_change", wait_for_change)
    monkeypatch.setattr(bridges, "listeners", lambda wanted: [])

    assert bridges.serve(NAME) == 0
    assert afters == [None, 7, 7]
