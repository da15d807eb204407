"""A remote (streamable HTTP) MCP server that needs a key: the sidecar adds the bearer header.

The test's own server (servers/mcp_http_server.py, in a container it starts) answers only
requests carrying `Authorization: Bearer <canary>`, and its tool returns the token's SHA-256.
The agent reaches it through `ca-stub mcp-relay`; the key exists on the host (secret store) and
in the sidecar, never in the agent's container.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RUN_ID,
    TEST_LABEL,
    CliResult,
    docker,
    launched_name,
    make_repo,
    remove_sessions_under,
    write_config,
)

SERVER = Path(__file__).parent / "servers" / "mcp_http_server.py"
MESSAGES = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "token_hash", "arguments": {}}},
]


@pytest.fixture
def canary() -> str:
    return "canary-" + secrets.token_hex(16)


@pytest.fixture
def http_server(docker_engine, built_images, canary):
    name = f"ca-test-mcphttp-{secrets.token_hex(4)}"
    docker("run", "-d", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", "-e", f"EXPECTED_TOKEN={canary}",
           "-v", f"{SERVER}:/srv/mcp_http_server.py:ro", "coding-agents-base:0.1.0",
           "python3", "/srv/mcp_http_server.py", "8080")
    ip = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.decode().strip()
    yield name, ip
    docker("rm", "-f", name, check=False)


@pytest.fixture
def home(pyz, cli_env, tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="cam-", dir="/tmp"))
    (folder / "run").mkdir(mode=0o700)
    env = {k: v for k, v in cli_env.items() if k not in ("XDG_STATE_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(folder)
    env["XDG_RUNTIME_DIR"] = str(folder / "run")  # this test's broker and sockets, nobody else's
    yield folder, env
    remove_sessions_under(tmp_path)
    for pid_file in (folder / "run" / "coding-agents").glob("broker-*/broker.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    shutil.rmtree(folder, ignore_errors=True)


def cli_in(pyz: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> CliResult:
    done = subprocess.run([str(pyz), *args], input=stdin, capture_output=True, text=True, env=env, timeout=600)
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("transport", ["json", "sse"])
def test_remote_server_gets_the_key_from_the_sidecar_only(pyz, home, tmp_path, http_server, canary, transport):
    folder, env = home
    server_name, ip = http_server
    url = f"http://{ip}:8080/mcp" + ("?sse=1" if transport == "sse" else "")
    write_config(folder, "\n".join([
        "[mcp_servers.remote]", f"url = {json.dumps(url)}",
        'headers = { Authorization = "Bearer ${REMOTE_KEY}" }', "",
        "[agents.sleeper]", 'base = "claude"', 'command = ["sleep", "infinity"]',
    ]))
    stored = cli_in(pyz, env, "secrets", "set", "REMOTE_KEY", stdin=canary + "\n")
    assert stored.returncode == 0, stored.stderr
    repo = make_repo(tmp_path / f"r-{secrets.token_hex(3)}")

    launched = cli_in(pyz, env, "launch-agent", "sleeper", str(repo), "--network-proxy", "allow-all")
    name = launched_name(launched)
    assert f"MCP sidecar {name}-mcp serves: remote" in launched.stderr

    # The agent's config names only the relay.
    claude_json = json.loads(docker("exec", name, "cat", "/home/agent/.claude/.claude.json").stdout)
    assert claude_json["mcpServers"]["remote"] == {"type": "stdio", "command": "ca-stub",
                                                   "args": ["mcp-relay", "remote"], "env": {}}
    relayed = subprocess.run(["docker", "exec", "-i", name, "timeout", "30", "ca-stub", "mcp-relay", "remote"],
                             input="".join(json.dumps(m) + "\n" for m in MESSAGES), capture_output=True, text=True,
                             timeout=60)
    answers = [json.loads(line) for line in relayed.stdout.splitlines() if line.strip()]
    assert [a["id"] for a in answers] == [1, 2], relayed.stderr
    assert answers[0]["result"]["serverInfo"]["name"] == "http-echo"
    assert answers[1]["result"]["content"][0]["text"] == "sha256=" + hashlib.sha256(canary.encode()).hexdigest()
    assert "POST /mcp" in docker("logs", server_name).stdout.decode()
    assert "auth=bad" not in docker("logs", server_name).stdout.decode()

    # The key is nowhere in the agent's container, its records or its logs.
    scan = subprocess.run(["docker", "exec", "-i", name, "python3", "-c", SCAN], input=canary, capture_output=True,
                          text=True, timeout=120)
    assert scan.returncode == 0, scan.stderr
    found = json.loads(scan.stdout)
    assert found["hits"] == []
    assert found["checked_processes"] >= 3
    for container in (name, f"{name}-mcp"):
        assert canary not in docker("inspect", container).stdout.decode()
        logs = docker("logs", container)
        assert canary not in logs.stdout.decode() + logs.stderr.decode()


# Reads the canary from stdin (so it is not on this scanner's own command line).
SCAN = """
import json, os, sys
canary = sys.stdin.read().strip().encode()
hits, processes = [], 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    for part in ("environ", "cmdline"):
        try:
            data = open(f"/proc/{pid}/{part}", "rb").read()
        except OSError:
            continue
        processes += part == "cmdline"
        if canary in data:
            hits.append(f"/proc/{pid}/{part}")
for root in ("/home", "/workspace", "/tmp", "/run", "/etc"):
    for folder, _, files in os.walk(root):
        for file in files:
            try:
                if canary in open(os.path.join(folder, file), "rb").read():
                    hits.append(os.path.join(folder, file))
            except OSError:
                pass
print(json.dumps({"checked_processes": processes, "hits": hits}))
"""
