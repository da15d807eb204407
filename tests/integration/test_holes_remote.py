"""The engine host's own addresses are denied through the proxy on a remote engine too (issue 12,
item 3): learned from the engine's side, and learned again when a session's proxy starts again.

The engine is the suite's second one (tests/integration/engines: a dockerd in a container), so its
host is that container: the servers here run in it, on its own addresses, and in a container the
test starts on that engine. Nothing else is contacted.
"""

from __future__ import annotations

import json
import secrets
import socket

import pytest

from tests.integration.conftest import RUN_ID, TEST_LABEL, launched_name, make_repo, wait_for, write_config

PROXY = "http://proxy:3128"
ADDED = "192.0.2.55"  # an address the test gives the engine host after the launch (documentation range)
OPEN_CONFIG = "[network]\nblock_private = false\n"  # only the host rule can stand in the way then

# Run by python3 in the engine's container (it has NET_ADMIN there): gives eth0 a second address
# ("eth0:9", /32) or takes it away again; no `ip` tool is in that image.
ALIAS_SCRIPT = r"""
import fcntl, socket, struct, sys
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def request(address):
    return struct.pack("16sH2s4s8s", b"eth0:9", socket.AF_INET, b"\0\0", socket.inet_aton(address), b"\0" * 8)
if sys.argv[1] == "add":
    fcntl.ioctl(probe, 0x8916, request(sys.argv[2]))  # SIOCSIFADDR
    fcntl.ioctl(probe, 0x891C, request("255.255.255.255"))  # SIOCSIFNETMASK
else:
    fcntl.ioctl(probe, 0x8914, struct.pack("16sH14s", b"eth0:9", 0, b"\0" * 14))  # SIOCSIFFLAGS: down, gone
"""


@pytest.fixture
def remote(test_engine):
    """The test engine, emptied of sessions after each test."""
    yield test_engine
    test_engine.remove_sessions()


def engine_host(engine, *argv: str, check: bool = True) -> str:
    """argv in the engine's own container: on the engine host."""
    import subprocess

    done = subprocess.run(["docker", "exec", engine.name, *argv], capture_output=True, text=True, timeout=60)
    assert not check or done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def host_server(remote):
    """An HTTP server on port 80 of every address of the engine host; its eth0 address."""
    address = engine_host(remote, "python3", "-c", "import socket; print(socket.gethostbyname(socket.gethostname()))")
    socket.inet_aton(address)
    pid = engine_host(remote, "sh", "-c", "mkdir -p /tmp/host-www && echo engine-host > /tmp/host-www/index.html && "
                      "nohup python3 -m http.server 80 --directory /tmp/host-www >/dev/null 2>&1 & echo $!")
    wait_for(lambda: engine_host(remote, "curl", "-s", f"http://{address}/", check=False) == "engine-host", 30,
             "the server on the engine host")
    try:
        yield address
    finally:
        engine_host(remote, "kill", pid, check=False)
        engine_host(remote, "python3", "-c", ALIAS_SCRIPT, "del", check=False)


def through_proxy(engine, name: str, url: str) -> tuple[str, str]:
    """(status, body) of a GET of url through the session's proxy, from inside the agent container."""
    done = engine.docker("exec", "-u", "1000", name, "sh", "-c",
                         f"curl -s -m 10 -x {PROXY} -w '\\n%{{http_code}}' {url}", check=False)
    body, _, status = done.stdout.decode(errors="replace").rpartition("\n")
    return status.strip(), body.strip()


def test_the_engine_hosts_own_addresses_are_denied_on_a_remote_engine_and_learned_again_at_start(
        cli, remote, tmp_path, host_server, version):
    address = host_server
    home = tmp_path / "home"
    config = write_config(home, OPEN_CONFIG)
    env = {**remote.context_env, "CODING_AGENTS_CONFIG": str(config), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    name = launched_name(cli("launch-agent", "shell", str(make_repo(tmp_path / "repo")), "--learn", env=env))
    allowed = f"allowed-{secrets.token_hex(4)}"
    remote.docker("run", "--detach", "--name", allowed, "--label", f"{TEST_LABEL}={RUN_ID}",
                  "--network", f"{name}-egress", "--network-alias", "allowed.test", "--entrypoint", "sh",
                  f"coding-agents-base:{version}", "-c",
                  "mkdir -p /tmp/w && echo allowed > /tmp/w/index.html && exec python3 -m http.server 80 -d /tmp/w")

    # Positive control: learn mode with block_private off lets a private address through (the
    # test server's, on the egress network), so the host rule alone refuses the host.
    wait_for(lambda: through_proxy(remote, name, "http://allowed.test/") == ("200", "allowed"), 60,
             "the allowed test server through the proxy")
    status, body = through_proxy(remote, name, f"http://{address}/")
    assert status == "403", (status, body)
    assert "Rule: <b>the engine host</b>" in body, body
    # ...and the host's server answers the proxy's own network namespace: only its policy refuses it.
    reached = remote.docker("exec", f"{name}-proxy", "bash", "-c",
                            f"exec 3<>/dev/tcp/{address}/80; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
                            check=False).stdout
    assert b"engine-host" in reached, reached
    cached = json.loads((tmp_path / "cache" / "coding-agents" / "engine-addresses.json").read_text())
    assert address in cached[remote.host]["addresses"], cached

    # The host gets another address while the session runs: its proxy does not know it yet...
    engine_host(remote, "python3", "-c", ALIAS_SCRIPT, "add", ADDED)
    assert through_proxy(remote, name, f"http://{ADDED}/") == ("200", "engine-host")
    # ...until the proxy starts again (stop, then start: what connect-agent does for a stopped one).
    assert cli("stop", name, env=env).returncode == 0
    started = cli("start", name, env=env)
    assert started.returncode == 0, started.output
    assert "the engine host has new addresses" in started.output, started.output

    status, body = through_proxy(remote, name, f"http://{ADDED}/")
    assert status == "403" and "Rule: <b>the engine host</b>" in body, (status, body)
    assert through_proxy(remote, name, "http://allowed.test/") == ("200", "allowed")

