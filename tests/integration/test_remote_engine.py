"""Sessions on a second engine that shares none of this machine's files (tests/integration/engines),
reached as users reach a build server: through DOCKER_HOST, and through a docker context.

The CLI is ours, driven as a user drives it; the engine is real. Whatever a session needs from
this machine must cross the engine's own streams, since no path of this machine exists there.
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import tarfile

import pytest

from tests.integration.conftest import assert_clean_error, git, launched_name, make_repo, wait_for, write_config
from tests.integration.test_tmux import PROMPT, HostTmux

WAYS = ("host", "context")
STORE = ".coding-agents-state"  # the kept state, on the session's home volume (docs/agent-state.md)


@pytest.fixture
def remote(test_engine, tmp_path):
    """The test engine, emptied of sessions after each test."""
    yield test_engine
    test_engine.remove_sessions()


def env_for(engine, way: str) -> dict[str, str]:
    return engine.host_env if way == "host" else engine.context_env


def inside(engine, name: str, script: str) -> str:
    done = engine.docker("exec", "-u", "1000", name, "sh", "-c", script)
    return done.stdout.decode().strip()


def state(engine, name: str) -> str | None:
    done = engine.docker("inspect", "--type", "container", "--format", "{{.State.Status}}", name, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def local_has(name: str) -> bool:
    """Whether this machine's own engine has a container of that name (it must not)."""
    return subprocess.run(["docker", "inspect", "--type", "container", name], capture_output=True).returncode == 0


@pytest.mark.parametrize("way", WAYS)
def test_doctor_names_the_remote_engine(cli, remote, way):
    result = cli("doctor", "--json", env=env_for(remote, way))

    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    where = "DOCKER_HOST" if way == "host" else f"docker context {remote.context}"
    assert checks["engine"] == {"name": "engine", "status": "ok", "detail": f"{remote.host} (remote, {where})",
                                "fix": ""}
    assert checks["docker engine"]["status"] == "ok"
    assert "disk (docker)" not in checks  # the engine's data root is not a folder of this machine


@pytest.mark.parametrize("way", WAYS)
def test_launch_commit_sync_remove_on_a_remote_engine(cli, remote, tmp_path, way):
    repo = make_repo(tmp_path / f"repo-{way}")
    env = env_for(remote, way)

    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted", env=env))

    assert state(remote, name) == "running" and not local_has(name)
    assert inside(remote, name, "git -C /workspace rev-parse HEAD") == git(repo, "rev-parse", "HEAD")
    listed = cli("list-agents", env=env)
    assert listed.returncode == 0, listed.output
    assert listed.stdout.splitlines()[0].startswith(f"engine: {remote.host} (remote, ")
    assert name in listed.stdout
    inside(remote, name, "cd /workspace && echo remote > remote.txt && git add remote.txt && git commit -q -m remote")
    tip = inside(remote, name, "git -C /workspace rev-parse HEAD")

    synced = cli("sync", name, env=env)

    assert synced.returncode == 0, synced.output
    branch = json.loads(cli("list-agents", "--json", env=env).stdout)[0]["branch"]
    assert git(repo, "rev-parse", branch) == tip
    assert git(repo, "show", f"{branch}:remote.txt") == "remote"

    removed = cli("remove-agent", name, env=env)

    assert removed.returncode == 0, removed.output
    assert state(remote, name) is None
    assert remote.text("volume", "ls", "--quiet", "--filter", f"name={name}") == ""
    assert cli("list-agents", "--all", env=env).stdout.splitlines()[-1].startswith("no agent sessions")


def test_squid_session_on_a_remote_engine(cli, remote, tmp_path):
    repo = make_repo(tmp_path / "repo-squid")
    env = remote.context_env

    name = launched_name(cli("launch-agent", "shell", str(repo), env=env))

    assert state(remote, name) == "running" and state(remote, f"{name}-proxy") == "running"
    assert not local_has(f"{name}-proxy")
    networks = remote.text("inspect", "--format", "{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}",
                           name).split()
    assert networks == [f"{name}-internal"]
    # The proxy answers the agent, and denies what the allowlist lacks (an address under .invalid).
    denied = inside(remote, name, "curl -s -o /dev/null -w '%{http_code}' http://denied.invalid/ || true")
    assert denied == "403"
    assert json.loads(cli("list-agents", "--json", env=env).stdout)[0]["network"] == "squid"

    removed = cli("remove-agent", name, env=env)

    assert removed.returncode == 0, removed.output
    assert state(remote, f"{name}-proxy") is None
    assert remote.text("network", "ls", "--quiet", "--filter", f"name={name}") == ""


def test_an_engine_restart_keeps_the_work_of_a_session(cli, pyz, cli_env, remote, tmp_path):
    """The whole engine restarts (the suite owns this one): the session's SIGTERM auto-commits, and
    afterwards the stopped session syncs, and connect-agent (in a terminal) brings it back."""
    repo = make_repo(tmp_path / "repo-restart")
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted",
                             env=remote.context_env))
    inside(remote, name, "cd /workspace && echo unsaved > unsaved.txt")  # not committed by the agent

    remote.restart()

    assert state(remote, name) == "exited"
    synced = cli("sync", name, env=remote.context_env)
    assert synced.returncode == 0, synced.output
    branch = json.loads(cli("list-agents", "--all", "--json", env=remote.context_env).stdout)[0]["branch"]
    assert git(repo, "show", f"{branch}:unsaved.txt") == "unsaved"
    (tmp_path / "panes").mkdir()
    terminal = HostTmux({**cli_env, **remote.context_env}, tmp_path / "panes")
    try:
        pane = terminal.open(str(pyz), "connect-agent", name)
        terminal.wait_screen(pane, PROMPT, timeout=60)
        assert state(remote, name) == "running"
        assert inside(remote, name, "cat /workspace/unsaved.txt") == "unsaved"
    finally:
        terminal.kill()


# Gemini's folders (the smallest agent image) with a shell for the CLI: the test writes what the
# CLI would, where its StateLayout puts it.
STATEFUL_SHELL = """
[agents.gemini-shell]
base = "gemini"
command = ["bash", "-l"]
"""


def test_an_engine_restart_keeps_the_agents_state_and_not_its_secrets(cli, pyz, cli_env, remote, tmp_path, version):
    """The engine restarts under a session whose CLI has written a transcript (kept from its first
    write), an entry of its own (moved to the volume when the CLI is stopped) and a secret: after
    connect-agent starts it again, the state is there, the secret is not (the tmpfs is new), and
    the host's login arrived again; the secret and the login never reached the engine's disk."""
    remote.load(f"coding-agents-gemini:{version}")
    home = tmp_path / "home"
    write_config(home, STATEFUL_SHELL)
    login = "canary-login-" + secrets.token_hex(8)
    (home / ".gemini").mkdir()
    (home / ".gemini" / "oauth_creds.json").write_text(json.dumps({"access_token": login, "refresh_token": login}))
    env = {**remote.context_env, "HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state")}
    repo = make_repo(tmp_path / "repo-state")
    name = launched_name(cli("launch-agent", "gemini-shell", str(repo), "--network-proxy", "restricted", env=env))
    wait_for(lambda: login in inside(remote, name, "cat ~/.gemini/oauth_creds.json 2>/dev/null || true"), 60,
             "the host's login in the session")
    stale = "canary-secret-" + secrets.token_hex(8)
    inside(remote, name, "mkdir -p ~/.gemini/tmp/workspace/chats && "
                         "echo '{\"messages\": [\"remember PAPAYA\"]}' > ~/.gemini/tmp/workspace/chats/session-1.json && "
                         "echo 'a note of its own' > ~/.gemini/notes.txt && "
                         f"echo '{{\"token\": \"{stale}\"}}' > ~/.gemini/mcp-oauth-tokens.json")

    remote.restart()

    assert state(remote, name) == "exited"
    stored = stopped_home(remote, name)
    assert stored[f"{STORE}/.gemini/tmp/workspace/chats/session-1.json"] == b'{"messages": ["remember PAPAYA"]}\n'
    assert stored[f"{STORE}/.gemini/notes.txt"] == b"a note of its own\n"  # moved when the engine stopped it
    assert not any(secret in data for data in stored.values() for secret in (login.encode(), stale.encode()))
    (tmp_path / "panes").mkdir()
    terminal = HostTmux({**cli_env, **env}, tmp_path / "panes")
    try:
        pane = terminal.open(str(pyz), "connect-agent", name)
        terminal.wait_screen(pane, PROMPT, timeout=60)
        assert state(remote, name) == "running"
        assert inside(remote, name, "cat ~/.gemini/tmp/workspace/chats/session-1.json") == '{"messages": ["remember PAPAYA"]}'
        assert inside(remote, name, "cat ~/.gemini/notes.txt") == "a note of its own"
        assert inside(remote, name, "test -e ~/.gemini/mcp-oauth-tokens.json || echo fresh") == "fresh"
        assert login in inside(remote, name, "cat ~/.gemini/oauth_creds.json")
        assert "tmpfs" in inside(remote, name, "grep ' /home/agent/.gemini ' /proc/mounts")
    finally:
        terminal.kill()


def stopped_home(engine, name: str) -> dict[str, bytes]:
    """Every file of a stopped session's home as the engine keeps it (no tmpfs is there)."""
    dumped = engine.docker("cp", f"{name}:/home/agent/.", "-", timeout=300).stdout
    with tarfile.open(fileobj=io.BytesIO(dumped)) as tar:
        return {member.name.removeprefix("./"): tar.extractfile(member).read() for member in tar if member.isfile()}


def test_allow_host_port_is_refused_on_a_remote_engine(cli, remote, tmp_path):
    repo = make_repo(tmp_path / "repo-port")

    result = cli("launch-agent", "shell", str(repo), "--allow-host-port", "11434", env=remote.host_env)

    assert_clean_error(result, "--allow-host-port needs the engine on this machine")
    assert f"the engine is remote (DOCKER_HOST={remote.host})" in result.stderr
    assert remote.text("ps", "--all", "--quiet") == ""  # refused before anything was made


def test_no_path_of_this_machine_is_mounted_into_any_container(cli, remote, tmp_path):
    """Every container our CLI made there: from the engine's log of each create request (the
    helpers that are gone by now included), else by inspecting the container while it exists."""
    before = len(remote.created_containers())
    repo = make_repo(tmp_path / "repo-mounts")
    squid = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "squid", env=remote.host_env))
    offline = launched_name(cli("launch-agent", "shell", str(repo), "--branch", "offline",
                                "--network-proxy", "restricted", env=remote.context_env))
    inside(remote, offline, "cd /workspace && echo x > x && git add x && git commit -q -m x")
    assert cli("sync", offline, env=remote.context_env).returncode == 0
    remote.docker("stop", offline)  # a stopped session syncs through a helper container
    stopped_sync = cli("sync", offline, env=remote.context_env)
    assert stopped_sync.returncode == 0, stopped_sync.output
    inspected = remote.mounts()
    for name in (squid, offline):
        assert cli("remove-agent", name, env=remote.host_env).returncode == 0

    created = remote.created_containers()[before:]

    assert {squid, f"{squid}-proxy", offline} <= {name for name, _ in created}, created
    assert len(created) > 3, "no helper container was seen"  # the stopped session's sync ran one
    for name, body in created:
        if body is None:
            assert name in inspected, f"container {name!r}: its create was not logged and it was not inspected"
            assert [mount for mount in inspected[name] if mount.get("Type") == "bind"] == [], (name, inspected[name])
            continue
        host_config = body.get("HostConfig") or {}
        # `--volume NAME:/path` is a Bind too; a host path is one that starts with a slash.
        assert [bind for bind in host_config.get("Binds") or [] if bind.startswith("/")] == [], name
        assert [mount for mount in host_config.get("Mounts") or [] if mount.get("Type") == "bind"] == [], name
        assert not host_config.get("VolumesFrom"), name
    for name, mounts in inspected.items():
        assert {mount.get("Type") for mount in mounts} <= {"volume", "tmpfs"}, (name, mounts)
    wait_for(lambda: remote.text("ps", "--all", "--quiet") == "", 60, "every container on the test engine to go")
