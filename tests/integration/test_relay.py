"""The relay: every host-side service reaches its container over the engine's own streams.

No container of a session mounts a path of this machine (agent, proxy, MCP sidecar); the bridges
(logins back, signing) and the broker's secret still work through the relay, on this engine and
on a second engine that shares none of this machine's files (tests/integration/engines), reached
through DOCKER_HOST and through a docker context, and after the container is restarted there.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest

from tests.integration import test_credentials
from tests.integration.conftest import docker, git, inside, wait_for
from tests.integration.test_credentials import (
    PROBE,
    SLEEPER,
    host_run,
    launch,
    middle_lines,
    new_repo,
    ssh_signing_repo,
    write_login,
)
from tests.integration.test_mcp import MCP_LINES, SECRET, echo_server_table, relay_hash, sha256

make_home = test_credentials.make_home  # its fixture: a fake HOME per test
PROBE_AUTH_FILE = "/home/agent/.codex/auth.json"
CLAUDE_SLEEPER = {"base": "claude", "command": ["sleep", "infinity"]}
AGENTS = {"probe": PROBE, "sleeper": SLEEPER, "cl-sleep": CLAUDE_SLEEPER}


def set_secret(home, value: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(home.pyz), "secrets", "set", SECRET], input=value + "\n", capture_output=True,
                          text=True, env={**home.env, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def bind_mounts(inspected: list[dict]) -> dict[str, list[dict]]:
    """Container name -> its bind mounts, for every container inspected."""
    return {entry["Name"].lstrip("/"): [m for m in entry.get("Mounts") or [] if m.get("Type") == "bind"]
            for entry in inspected}


def session_containers(name: str) -> list[str]:
    listed = docker("ps", "--all", "--quiet", "--filter", f"label=coding-agents.session={name}")
    return listed.stdout.decode().split()


# --- this engine -------------------------------------------------------------------------------------


def test_no_container_of_a_squid_session_with_bridges_and_an_mcp_secret_mounts_a_host_path(make_home, tmp_path):
    canary = "canary-" + secrets.token_hex(16)
    home = make_home(echo_server_table("echo", "${" + SECRET + "}"), agents=AGENTS)
    set_secret(home, canary)
    repo = new_repo(tmp_path)
    git(repo, "remote", "add", "origin", "https://git.example.invalid/team/app.git")  # the credential bridge

    name, result = launch(home, "cl-sleep", repo, network="squid")
    assert result.returncode == 0, result.output
    assert f"==> MCP sidecar {name}-mcp serves: echo" in result.stderr, result.output

    containers = session_containers(name)
    inspected = json.loads(docker("inspect", *containers).stdout)
    names = {entry["Name"].lstrip("/") for entry in inspected}
    assert names == {name, f"{name}-proxy", f"{name}-mcp"}
    assert bind_mounts(inspected) == {container: [] for container in names}
    # ... and what crossed: the broker's secret to the sidecar, a credential request from the agent.
    assert relay_hash(name) == sha256(canary)
    asked = inside(name, "printf 'protocol=https\\nhost=git.example.invalid\\n\\n' | git credential fill; true")
    assert "git.example.invalid" in asked.stdout + asked.stderr
    assert [(e["host"], e["decision"]) for e in home.audit(name, "git-credential")] == [("git.example.invalid", "none")]


# --- a second engine, which sees none of this machine's files ----------------------------------------------


@pytest.fixture(scope="module")
def remote(test_engine, version):
    """The test engine with the agents' images these tests run (the base and proxy are there)."""
    test_engine.load(f"coding-agents-codex:{version}", f"coding-agents-claude:{version}")
    return test_engine


@pytest.mark.parametrize("reach", ["DOCKER_HOST", "docker context"])
def test_signing_through_the_relay_on_a_remote_engine_and_after_a_restart_there(make_home, tmp_path, remote, reach):
    env = remote.host_env if reach == "DOCKER_HOST" else remote.context_env
    home = make_home(agents=AGENTS)
    repo, key = ssh_signing_repo(tmp_path)

    name, result = launch(home, "sleeper", repo, env=env)
    assert result.returncode == 0, result.output
    assert "cannot mount" not in result.output and "warning" not in result.output, result.output
    assert docker("inspect", name, check=False).returncode != 0  # the session is on the other engine only
    assert all(mounts == [] or all(m["Type"] != "bind" for m in mounts) for mounts in remote.mounts().values())

    def commit_there(file: str) -> str:
        done = remote.docker("exec", "-u", "1000", name, "sh", "-c",
                             f"cd /workspace && echo {file} > {file} && git add {file} && git commit -q -m {file} "
                             "&& git cat-file commit HEAD")
        return done.stdout.decode()

    assert "-----BEGIN SSH SIGNATURE-----" in commit_there("before.txt")
    remote.docker("restart", "--time", "5", name)
    # The old exec died with the old run; the session's _bridge process runs a new one.
    wait_for(lambda: (home.state / f"bridge-{name}.log").read_text().count(f"relay {name}: listening") >= 2,
             60, "the relay's new exec after the restart")
    assert "-----BEGIN SSH SIGNATURE-----" in commit_there("after.txt")
    assert [e["decision"] for e in home.audit(name, "sign")] == ["signed", "signed"]
    secret = middle_lines(key.read_text(), 2)
    found = remote.docker("exec", "-i", "-u", "0", name, "grep", "-rlsF", "-D", "skip", "--exclude-dir=proc",
                          "--exclude-dir=sys", "-f", "/dev/stdin", "/", input="\n".join(secret).encode() + b"\n",
                          check=False)
    assert found.stdout == b""

    removed = home.cli("remove-agent", name, env=env)
    assert removed.returncode == 0, removed.output
    verified = host_run("git", "-C", str(repo), "verify-commit", "sleeper/session-1")
    assert verified.returncode == 0, verified.stderr


def test_a_login_refreshed_on_a_remote_engine_gets_back_after_docker_restart(make_home, tmp_path, remote):
    home = make_home(agents=AGENTS)
    base = int(time.time()) - 3600
    data = write_login(home, {"tokens": {"access_token": "remote-" + secrets.token_hex(8)}}, mtime=base)
    name, result = launch(home, "probe", new_repo(tmp_path), env=remote.host_env)
    assert result.returncode == 0, result.output
    assert f"==> logins from the host: {home.auth}" in result.stderr, result.output

    def record() -> tuple[str, str]:
        def read(path: str) -> str | None:
            done = remote.docker("exec", "-u", "1000", name, "cat", path, check=False)
            return done.stdout.decode() if done.returncode == 0 else None

        return (wait_for(lambda: read("/tmp/probe-stat"), 30, "the probe's record").strip(),
                wait_for(lambda: read("/tmp/probe-auth"), 10, "the probe's copy"))

    assert record() == ("600 agent", data.decode())
    remote.docker("restart", "--time", "5", name)
    assert record() == ("600 agent", data.decode())  # delivered again to the new run's tmpfs

    refreshed = json.dumps({"tokens": {"access_token": "remote-refreshed-" + secrets.token_hex(8)}}).encode()
    done = remote.docker("exec", "-i", "-u", "1000", name, "sh", "-c",
                         f"cat > {PROBE_AUTH_FILE}.new && touch -d @{base + 60} {PROBE_AUTH_FILE}.new && "
                         f"mv {PROBE_AUTH_FILE}.new {PROBE_AUTH_FILE}", input=refreshed)
    assert done.returncode == 0
    wait_for(lambda: home.audit(name, "login"), 30, "the refresh's decision in the audit log")
    assert [e["decision"] for e in home.audit(name, "login")] == ["saved"]
    assert home.auth.read_bytes() == refreshed
    assert home.cli("remove-agent", name, env=remote.host_env).returncode == 0


def test_an_mcp_secret_reaches_the_sidecar_on_a_remote_engine(make_home, tmp_path, remote):
    canary = "canary-" + secrets.token_hex(16)
    home = make_home(echo_server_table("echo", "${" + SECRET + "}"), agents=AGENTS)
    set_secret(home, canary)

    name, result = launch(home, "cl-sleep", new_repo(tmp_path), env=remote.host_env)
    assert result.returncode == 0, result.output
    assert f"==> MCP sidecar {name}-mcp serves: echo" in result.stderr, result.output
    assert {container: [m for m in mounts if m["Type"] == "bind"] for container, mounts in remote.mounts().items()
            if container.startswith(name)} == {name: [], f"{name}-mcp": []}

    done = subprocess.run(["docker", "exec", "-i", "-u", "1000", name, "timeout", "20", "ca-stub", "mcp-relay", "echo"],
                          input=MCP_LINES, capture_output=True, timeout=60, env={**home.env, **remote.host_env})
    assert sha256(canary) in done.stdout.decode(errors="replace"), done.stderr
    assert home.cli("remove-agent", name, env=remote.host_env).returncode == 0






def test_one_broker_serves_the_secrets_of_sessions_on_two_engines(make_home, tmp_path, remote):
    """The broker is shared by all of a user's sessions: started by a launch on this engine, it asks
    a later session's own engine (here the remote one) whether that session's container is there."""
    canary = "canary-" + secrets.token_hex(16)
    home = make_home(echo_server_table("echo", "${" + SECRET + "}"), agents=AGENTS)
    set_secret(home, canary)

    local, result = launch(home, "cl-sleep", new_repo(tmp_path / "here"))
    assert result.returncode == 0, result.output
    assert relay_hash(local) == sha256(canary)  # the broker now runs, with this engine's environment
    there, result = launch(home, "cl-sleep", new_repo(tmp_path / "there"), env=remote.host_env)
    assert result.returncode == 0, result.output

    done = subprocess.run(["docker", "exec", "-i", "-u", "1000", there, "timeout", "20", "ca-stub", "mcp-relay", "echo"],
                          input=MCP_LINES, capture_output=True, timeout=60, env={**home.env, **remote.host_env})
    assert sha256(canary) in done.stdout.decode(errors="replace"), done.stdout + done.stderr
    assert relay_hash(local) == sha256(canary)  # and still this engine's
    events = [json.loads(line) for line in (home.state / "broker" / "audit.log").read_text().splitlines()]
    granted = [event["session"] for event in events if event.get("decision") == "granted"]
    assert granted.count(there) == 1 and granted.count(local) == 2, granted
    assert home.cli("remove-agent", there, env=remote.host_env).returncode == 0
    assert home.cli("remove-agent", local).returncode == 0
