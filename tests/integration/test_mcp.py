"""MCP servers, the secret broker and the MCP sidecar, against the real engine and real agent CLIs.

One HOME for the module (short, under /tmp), with its own XDG_RUNTIME_DIR and XDG_STATE_HOME, so
the broker the CLI starts on demand is this module's own: the tests talk to that one, and kill it
at the end. Its config enables the catalog's `microsoft-docs` (remote, no secret) and defines
`echo` (tests/integration/servers/mcp_echo_server.py, run with `python3 -c`), whose environment
gets the secret CANARY_TOKEN from the broker. Its tool `hash_secret` answers the secret's SHA-256,
which proves the value reached the server without the test ever reading it back in the clear.

Scripted agents (`[agents.NAME]`, command `sleep infinity`) on each CLI's image, so the CLIs'
own `mcp list` commands can read the files the launcher rendered. Everything is done through the
zipapp; `docker exec` / `docker inspect` / helper containers only check.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ENGINE,
    RUN_ID,
    TEST_LABEL,
    CliResult,
    assert_clean_error,
    container_state,
    docker,
    git,
    inside,
    launched_name,
    make_repo,
    remove_sessions_under,
    sessions_under,
    volume_exists,
    write_config,
)

AGENT_HOME = "/home/agent"
ECHO_SCRIPT = (Path(__file__).parent / "servers" / "mcp_echo_server.py").read_text().rstrip("\n")
SECRET = "CANARY_TOKEN"
MANIFEST_LABEL = "coding-agents.manifest"
# base CLI -> (scripted agent name, the file its MCP servers are rendered into, relative to the home)
AGENTS = {
    "claude": ("cl-sleep", ".claude/.claude.json"),
    "codex": ("cx-sleep", ".codex/config.toml"),
    "gemini": ("gm-sleep", ".gemini/settings.json"),
    "copilot": ("cp-sleep", ".copilot/mcp-config.json"),
}
RELAY_ENTRY = {"command": "ca-stub", "args": ["mcp-relay", "echo"]}
MS_DOCS = "https://learn.microsoft.com/api/mcp"
_UNWANTED_ENV = ("SSH_AUTH_SOCK", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
                 "CODING_AGENTS_CONFIG", "GNUPGHOME", "OPENAI_API_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY", "GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN")


def toml_value(value: object) -> str:
    return json.dumps(value)  # strings and lists of strings: JSON's spelling is valid TOML


def echo_server_table(name: str, secret_value: str) -> str:
    """[mcp_servers.NAME] running the echo server with MCP_ECHO_SECRET = secret_value."""
    return (f"[mcp_servers.{name}]\ncommand = \"python3\"\nargs = {toml_value(['-c', ECHO_SCRIPT])}\n"
            f"env = {{ MCP_ECHO_SECRET = {toml_value(secret_value)} }}\n")


# --- the module's HOME, its broker and its sessions --------------------------------------------


@dataclass
class Home:
    path: Path
    pyz: Path
    canary: str
    env: dict[str, str] = field(repr=False)

    def cli(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 600) -> CliResult:
        done = subprocess.run([str(self.pyz), *args], capture_output=True, text=True, input=input,
                              env={**self.env, **(env or {})}, timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    @property
    def repos(self) -> Path:
        return self.path / "repos"

    @property
    def broker_dir(self) -> Path:
        """One broker per secret store: its folder is named after the store's path."""
        store = self.env.get("XDG_DATA_HOME") or str(self.path / ".local" / "share")
        digest = hashlib.sha256(str(Path(store) / "coding-agents" / "secrets").encode()).hexdigest()[:10]
        return self.path / "run" / "coding-agents" / f"broker-{digest}"

    @property
    def control_socket(self) -> Path:
        return self.broker_dir / "control.sock"

    def session_socket(self, session: str) -> Path:
        return self.broker_dir / hashlib.sha256(session.encode()).hexdigest()[:16] / "broker.sock"

    @property
    def audit_log(self) -> Path:
        return self.path / "st" / "coding-agents" / "broker" / "audit.log"

    def audit(self, session: str | None = None, event: str | None = None) -> list[dict]:
        try:
            text = self.audit_log.read_text()
        except FileNotFoundError:
            return []
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [e for e in events if (session is None or e.get("session") == session)
                and (event is None or e.get("event") == event)]

    def new_repo(self, stem: str = "r") -> Path:
        return make_repo(self.repos / f"{stem}-{secrets.token_hex(3)}")

    def launch(self, agent: str, repo: Path, *args: str) -> tuple[str, CliResult]:
        result = self.cli("launch-agent", agent, str(repo), "--network-proxy", "restricted", *args)
        return launched_name(result), result


def broker_pids(home: Home) -> list[int]:
    """Broker daemons started for this HOME (by the CLI, with this module's environment)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"_broker" in cmdline and f"HOME={home.path}".encode() in environ:
            found.append(int(entry.name))
    return sorted(found)


def stop_brokers(home: Home) -> None:
    """The brokers this module's CLI started (found by their HOME), each by its pid; never any other."""
    pids = broker_pids(home)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def home(pyz, cli_env, built_images):
    path = Path(tempfile.mkdtemp(prefix="cam-", dir="/tmp"))
    (path / "run").mkdir(mode=0o700)
    lines = ["[mcp]", 'enable = ["microsoft-docs"]', "", echo_server_table("echo", "${" + SECRET + "}")]
    for base, (agent, _) in AGENTS.items():
        lines += [f"[agents.{agent}]", f"base = {toml_value(base)}", 'command = ["sleep", "infinity"]', ""]
    write_config(path, "\n".join(lines))
    env = {k: v for k, v in cli_env.items() if k not in _UNWANTED_ENV}
    env.update(HOME=str(path), XDG_STATE_HOME=str(path / "st"), XDG_RUNTIME_DIR=str(path / "run"))
    made = Home(path, pyz, "canary-" + secrets.token_hex(16), env)
    stored = made.cli("secrets", "set", SECRET, input=made.canary + "\n")
    assert stored.returncode == 0, stored.output
    assert made.canary not in stored.output
    try:
        yield made
    finally:
        remove_sessions_under(made.repos)
        stop_brokers(made)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cli_sessions(home) -> dict[str, str]:
    """One session per CLI (launched at once): base -> session name."""
    def launch(base: str) -> tuple[str, str]:
        name, result = home.launch(AGENTS[base][0], home.new_repo(base[:2]))
        assert f"==> MCP sidecar {name}-mcp serves: echo (" in result.stderr, result.output
        return base, name

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(launch, AGENTS))


# --- helpers: talking MCP through the relay, and to the broker ----------------------------------


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
CALL_HASH = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "hash_secret", "arguments": {}}}
MCP_LINES = (json.dumps(INITIALIZE) + "\n" + json.dumps(CALL_HASH) + "\n").encode()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def relay_hash(name: str, server: str = "echo") -> str:
    """Ask the server (through the agent container's relay) for its secret's hash."""
    done = subprocess.run([ENGINE, "exec", "-i", "-u", "1000", name, "timeout", "20", "ca-stub", "mcp-relay", server],
                          input=MCP_LINES, capture_output=True, timeout=60)
    replies = {}
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.strip():
            message = json.loads(line)
            replies[message.get("id")] = message
    assert 2 in replies, f"no tools/call answer from {server} in {name}: rc {done.returncode} " \
                         f"{done.stdout!r} {done.stderr!r}"
    text = replies[2]["result"]["content"][0]["text"]
    found = re.match(r"sha256=([0-9a-f]{64}) ", text)
    assert found, text
    return found.group(1)


def broker_call(path: Path, request: dict, timeout: float = 30) -> dict:
    """One JSON line to a broker socket, one JSON line back (what the launcher and the sidecar do)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(path))
        connection.sendall(json.dumps(request).encode() + b"\n")
        connection.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    return json.loads(data)


def issue(home: Home, session: str, manifest: str, ttl: float | None = None) -> str:
    request = {"op": "issue", "session": session, "manifest": manifest, "servers": {"echo": [SECRET]}}
    if ttl is not None:
        request["ttl"] = ttl
    answer = broker_call(home.control_socket, request)
    assert "capabilities" in answer, answer
    return answer["capabilities"]["echo"]


def manifest_label(name: str) -> str:
    label = docker("inspect", "--format", '{{index .Config.Labels "' + MANIFEST_LABEL + '"}}', name)
    value = label.stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", value), value
    return value


def session_image(name: str) -> str:
    return docker("inspect", "--format", "{{.Config.Image}}", name).stdout.decode().strip()


def in_dir(name: str, script: str, workdir: str = "/workspace", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ENGINE, "exec", "-u", "1000", "-w", workdir, name, "sh", "-c", script],
                          capture_output=True, text=True, timeout=timeout)


def path_without_code() -> str:
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not os.access(os.path.join(d, "code"), os.X_OK))


# --- 1. each real CLI reads the servers from the file rendered for it -----------------------------


def check_claude(name: str) -> None:
    listed = in_dir(name, "timeout 90 claude mcp list")
    assert "echo: ca-stub mcp-relay echo - ✔ Connected" in listed.stdout, listed.stdout + listed.stderr
    assert f"microsoft-docs: {MS_DOCS} (HTTP)" in listed.stdout, listed.stdout
    servers = json.loads(inside(name, f"cat {AGENT_HOME}/.claude/.claude.json").stdout)["mcpServers"]
    assert servers["echo"] == {"type": "stdio", **RELAY_ENTRY, "env": {}}
    assert servers["microsoft-docs"] == {"type": "http", "url": MS_DOCS, "headers": {}}


def check_codex(name: str) -> None:
    listed = in_dir(name, "timeout 90 codex mcp list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines() if line.strip()}
    assert rows.get("echo", [])[1:4] == ["ca-stub", "mcp-relay", "echo"], listed.stdout
    assert rows.get("microsoft-docs", [])[1:2] == [MS_DOCS], listed.stdout
    servers = tomllib.loads(inside(name, f"cat {AGENT_HOME}/.codex/config.toml").stdout)["mcp_servers"]
    assert servers["echo"] == RELAY_ENTRY
    assert servers["microsoft-docs"] == {"url": MS_DOCS}


def check_gemini(name: str) -> None:
    listed = in_dir(name, "timeout 90 gemini mcp list > /tmp/gemini-mcp.txt 2>&1; cat /tmp/gemini-mcp.txt")
    assert re.search(r"✓ echo: ca-stub mcp-relay echo \(stdio\) - Connected", listed.stdout), listed.stdout
    assert f"microsoft-docs: {MS_DOCS} (http)" in listed.stdout, listed.stdout
    servers = json.loads(inside(name, f"cat {AGENT_HOME}/.gemini/settings.json").stdout)["mcpServers"]
    assert servers["echo"] == {**RELAY_ENTRY, "env": {}}
    assert servers["microsoft-docs"] == {"httpUrl": MS_DOCS, "headers": {}}


def check_copilot(name: str) -> None:
    listed = in_dir(name, "timeout 90 copilot mcp list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = [line.strip() for line in listed.stdout.splitlines()]
    assert "echo (local)" in lines and "microsoft-docs (http)" in lines, listed.stdout
    servers = json.loads(inside(name, f"cat {AGENT_HOME}/.copilot/mcp-config.json").stdout)["mcpServers"]
    assert servers["echo"] == {"type": "local", **RELAY_ENTRY, "env": {}, "tools": ["*"]}
    assert servers["microsoft-docs"] == {"type": "http", "url": MS_DOCS, "headers": {}, "tools": ["*"]}


CHECKS = {"claude": check_claude, "codex": check_codex, "gemini": check_gemini, "copilot": check_copilot}


def test_each_cli_lists_the_rendered_servers(home, cli_sessions):
    def check(base: str) -> None:
        name = cli_sessions[base]
        CHECKS[base](name)
        # The file is at user scope in the home (on the login tmpfs), nothing of it in the workspace.
        rendered = f"{AGENT_HOME}/{AGENTS[base][1]}"
        mounts = [line.split() for line in inside(name, "cat /proc/mounts").stdout.splitlines()]
        assert any(m[1] == os.path.dirname(rendered) and m[2] == "tmpfs" for m in mounts), (base, mounts)
        in_workspace = inside(name, "grep -rlsF mcp-relay /workspace; git -C /workspace status --porcelain",
                              check=False)
        assert in_workspace.stdout == "", (base, in_workspace.stdout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(check, base) for base in AGENTS]:
            future.result()


# --- 2. the canary reaches the server, and nothing of the agent's side ------------------------------


SCANNER = r"""
import json, os, sys
wanted = json.loads(sys.stdin.read())
canary, controls = wanted["canary"].encode(), {k: v.encode() for k, v in wanted["controls"].items()}
hits, unreadable, seen, found = [], [], {"proc": 0, "files": 0}, set()
def look(path, data):
    if canary in data:
        hits.append(path)
    for key, value in controls.items():
        if value in data:
            found.add(key)
me = str(os.getpid())
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for part in ("environ", "cmdline"):
        path = f"/proc/{pid}/{part}"
        try:
            with open(path, "rb") as f:
                look(path, f.read())
            seen["proc"] += 1
        except FileNotFoundError:
            pass
        except OSError as error:
            # The host relay's end runs as its own uid (1001), which the agent cannot read: by design.
            if os.stat(f"/proc/{pid}").st_uid == 1001 and b"relay" in open(f"/proc/{pid}/cmdline", "rb").read():
                seen["relay"] = seen.get("relay", 0) + 1
                continue
            unreadable.append(f"{path}: {error}")
for top in ("/home", "/workspace", "/tmp", "/run"):
    for folder, dirs, files in os.walk(top):
        for file in files:
            path = os.path.join(folder, file)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as f:
                    look(path, f.read())
                seen["files"] += 1
            except OSError as error:
                unreadable.append(f"{path}: {error}")
print(json.dumps({"hits": hits, "unreadable": unreadable, "seen": seen, "found": sorted(found)}))
"""


def grep_volumes(image: str, volumes: list[str], patterns: list[str]) -> str:
    """Files in the volumes holding any of patterns, read as root by a helper container (patterns on stdin)."""
    mounts = [arg for i, volume in enumerate(volumes) for arg in ("-v", f"{volume}:/v/{i}:ro")]
    done = subprocess.run(
        [ENGINE, "run", "--rm", "-i", "--network", "none", "--user", "0", "--label", f"{TEST_LABEL}={RUN_ID}",
         *mounts, "--entrypoint", "grep", image, "-rlsF", "-D", "skip", "-f", "/dev/stdin", "/v"],
        input="\n".join(patterns) + "\n", capture_output=True, text=True, timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def test_canary_reaches_the_server_and_nowhere_in_the_agent_container(home, cli_sessions):
    name = cli_sessions["claude"]
    sidecar = f"{name}-mcp"
    canary = home.canary
    assert relay_hash(name) == sha256(canary)

    # While a relay connection is live (the real server running in the sidecar), scan everything the
    # agent can read: every process's environment and command line, and the files it can reach.
    relay = subprocess.Popen([ENGINE, "exec", "-i", "-u", "1000", name, "ca-stub", "mcp-relay", "echo"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        relay.stdin.write(MCP_LINES)
        relay.stdin.flush()
        first = relay.stdout.readline()
        assert json.loads(first)["id"] == 1, first
        assert sha256(canary) in relay.stdout.readline().decode()
        scan = subprocess.run(
            [ENGINE, "exec", "-i", "-u", "1000", name, "python3", "-c", SCANNER],
            input=json.dumps({"canary": canary, "controls": {
                "workspace file": "print('v1')", "agent environ": f"HOME={AGENT_HOME}",
                "relay cmdline": "mcp-relay\0echo", "rendered config": '"mcp-relay"'}}),
            capture_output=True, text=True, timeout=120)
    finally:
        relay.stdin.close()
        relay.wait(timeout=30)
    assert scan.returncode == 0, scan.stderr
    report = json.loads(scan.stdout)
    assert report["hits"] == [], report["hits"]
    assert report["unreadable"] == [], report["unreadable"]
    assert report["found"] == sorted(["agent environ", "rendered config", "relay cmdline", "workspace file"]), report
    assert report["seen"]["proc"] >= 10 and report["seen"]["files"] >= 5, report["seen"]
    assert report["seen"].get("relay", 0) >= 1, report["seen"]  # the bridge relay's environ: closed to the agent

    # The engine's records: both containers, the agent's image, their logs.
    image = session_image(name)
    for args in (["inspect", name], ["inspect", sidecar], ["history", "--no-trunc", image],
                 ["image", "inspect", image], ["logs", name], ["logs", sidecar],
                 ["volume", "inspect", f"{name}-workspace", f"{name}-home", f"{name}-mcp"]):
        done = docker(*args)
        assert canary not in (done.stdout + done.stderr).decode(errors="replace"), f"canary in docker {args}"
    assert "serving echo" in docker("logs", sidecar).stdout.decode()  # the logs we read are the sidecar's

    # The volumes as they are on disk (the home volume without the tmpfs folders mounted over it).
    volumes = [f"{name}-workspace", f"{name}-home", f"{name}-mcp"]
    assert grep_volumes(image, volumes, ["print('v1')"]) == "/v/0/app.py\n"  # the search reads them
    assert grep_volumes(image, volumes, [canary]) == ""

    # The broker's audit log names the secret, never its value.
    granted = [e for e in home.audit(name, "redeem") if e["decision"] == "granted"]
    assert granted and all(e["secrets"] == [SECRET] and e["server"] == "echo" for e in granted), granted
    assert canary not in home.audit_log.read_text()


# --- 3. the broker, attacked by whoever holds a session's redeem socket --------------------------


def test_broker_refuses_what_it_must(home):
    first_name, _ = home.launch("cl-sleep", home.new_repo("ba"))
    second_name, _ = home.launch("cl-sleep", home.new_repo("bb"))
    first_socket, second_socket = home.session_socket(first_name), home.session_socket(second_name)
    first_manifest, second_manifest = manifest_label(first_name), manifest_label(second_name)

    # Only the sidecar mounts the session's redeem socket: the agent has no broker socket at all.
    agent_side = subprocess.run(
        [ENGINE, "exec", "-u", "1000", first_name, "sh", "-c",
         "ls -A /run/coding-agents-broker; find / -xdev \\( -path /proc -o -path /sys \\) -prune -o "
         "\\( -name broker.sock -o -name control.sock \\) -print 2>/dev/null; ls -A /run"],
        capture_output=True, text=True, timeout=120)
    assert "No such file or directory" in agent_side.stderr, agent_side.stderr
    assert "broker" not in agent_side.stdout, agent_side.stdout
    mounts = json.loads(docker("inspect", first_name).stdout)[0]["Mounts"]
    assert not any(str(home.broker_dir) in (m.get("Source") or "") for m in mounts), mounts
    sidecar_side = docker("exec", f"{first_name}-mcp", "ls", "-A", "/run/coding-agents-broker")
    assert sidecar_side.stdout.decode().split() == ["broker.sock"]

    def redeem(path: Path, capability: str) -> dict:
        return broker_call(path, {"capability": capability})

    def refused(path: Path, capability: str, reason: str, session: str) -> None:
        answer = redeem(path, capability)
        assert answer.get("error", "").startswith("refused: "), answer
        assert reason in answer["error"], answer
        assert "secrets" not in answer
        audited = [e for e in home.audit(session, "redeem") if e["decision"] == "refused"]
        assert audited and audited[-1]["reason"] == answer["error"].removeprefix("refused: "), audited

    # A genuine capability, issued as the launcher does (the host user, the session's manifest label).
    genuine = issue(home, first_name, first_manifest)
    assert redeem(first_socket, genuine) == {"secrets": {SECRET: home.canary}}
    assert home.audit(first_name, "redeem")[-1]["decision"] == "granted"

    # Tampered: one character in the middle.
    middle = len(genuine) // 2
    tampered = genuine[:middle] + ("A" if genuine[middle] != "A" else "B") + genuine[middle + 1:]
    refused(first_socket, tampered, "not a capability this broker issued", first_name)

    # Another session's genuine capability, presented on this session's socket.
    foreign = issue(home, second_name, second_manifest)
    refused(first_socket, foreign, f"a capability of session {second_name} presented by session {first_name}",
            first_name)
    assert redeem(second_socket, foreign) == {"secrets": {SECRET: home.canary}}  # it is genuine where it belongs

    # Expired.
    short = issue(home, first_name, first_manifest, ttl=1)
    time.sleep(2)
    refused(first_socket, short, "expired", first_name)

    # Bound to a manifest the container does not carry.
    wrong = issue(home, second_name, "0" * 64)
    refused(home.session_socket(second_name), wrong, "manifest label does not match", second_name)

    # Replay after the session ended without a revoke (its container removed behind the tool's back).
    late = issue(home, second_name, second_manifest)
    assert redeem(second_socket, late) == {"secrets": {SECRET: home.canary}}
    docker("rm", "--force", second_name, f"{second_name}-mcp")
    refused(second_socket, late, "the session's container does not exist", second_name)

    # Replay after remove-agent: the socket is gone, or the broker refuses the revoked capability.
    assert home.cli("remove-agent", first_name, "-y").returncode == 0
    assert [e["had_grants"] for e in home.audit(first_name, "revoke")] == [True]
    if first_socket.exists():
        refused(first_socket, genuine, "revoked", first_name)
    else:
        with pytest.raises(OSError):
            redeem(first_socket, genuine)
    assert home.canary not in home.audit_log.read_text()


# --- 4. a repository's own servers ---------------------------------------------------------------


def write_repo_config(repo: Path, text: str) -> None:
    folder = repo / ".coding-agents"
    folder.mkdir(exist_ok=True)
    (folder / "config.toml").write_text(text)
    git(repo, "add", ".coding-agents/config.toml")
    git(repo, "commit", "-q", "-m", "repo config")


def assert_refused_unapproved(home: Home, repo: Path, server: str) -> None:
    audited = len(home.audit())
    result = home.cli("launch-agent", "cl-sleep", str(repo), "--network-proxy", "restricted")
    assert result.returncode == 1, result.output
    assert_clean_error(result, f"the repository's config gives MCP server '{server}' the secret(s) {SECRET}, "
                               "and you have not approved that definition")
    assert f"`coding-agents mcp approve {server} {repo}`" in result.stderr, result.stderr
    containers, volumes = sessions_under(repo)
    assert containers == set() and volumes == set(), (containers, volumes)
    taken = git(repo, "branch", "--list", "cl-sleep/session-*").split()
    would_be = f"cl-sleep-{repo.name}-session-{len(taken) + 1}"
    assert container_state(would_be) is None and container_state(f"{would_be}-mcp") is None
    assert not any(volume_exists(f"{would_be}-{kind}") for kind in ("workspace", "home", "mcp"))
    assert len(home.audit()) == audited  # no capability was issued


def test_repository_servers_need_approval_for_secrets(home):
    repo = home.new_repo("rc")
    write_repo_config(repo, echo_server_table("repoecho", "${" + SECRET + "}"))
    assert_refused_unapproved(home, repo, "repoecho")

    approved = home.cli("mcp", "approve", "repoecho", str(repo))
    assert approved.returncode == 0, approved.output
    assert "approved repoecho" in approved.stdout
    name, result = home.launch("cl-sleep", repo)
    assert f"==> MCP sidecar {name}-mcp serves: echo, repoecho (" in result.stderr, result.output
    assert relay_hash(name, "repoecho") == sha256(home.canary)
    servers = json.loads(inside(name, f"cat {AGENT_HOME}/.claude/.claude.json").stdout)["mcpServers"]
    assert servers["repoecho"] == {"type": "stdio", "command": "ca-stub", "args": ["mcp-relay", "repoecho"], "env": {}}
    assert home.cli("remove-agent", name, "-y").returncode == 0

    # Any change to the definition needs a new approval.
    write_repo_config(repo, echo_server_table("repoecho", "${" + SECRET + "}").replace('"-c"', '"-u", "-c"'))
    assert_refused_unapproved(home, repo, "repoecho")
    # Back to the approved definition: then `mcp revoke` withdraws it.
    write_repo_config(repo, echo_server_table("repoecho", "${" + SECRET + "}"))
    revoked = home.cli("mcp", "revoke", "repoecho", str(repo))
    assert revoked.returncode == 0, revoked.output
    assert_refused_unapproved(home, repo, "repoecho")


def test_repository_config_may_not_set_anything_else(home):
    repo = home.new_repo("rs")
    write_repo_config(repo, '[sessions]\ndocker_args = ["--privileged"]\n')
    result = home.cli("launch-agent", "cl-sleep", str(repo), "--network-proxy", "restricted")
    assert result.returncode == 1, result.output
    assert_clean_error(result, "[sessions] is not allowed in a repository's config")
    assert sessions_under(repo) == (set(), set())


def test_repository_server_without_secrets_runs_in_the_agent_container(home):
    repo = home.new_repo("rp")
    (repo / "tools").mkdir()
    (repo / "tools" / "echo.py").write_text(ECHO_SCRIPT + "\n")
    git(repo, "add", "tools/echo.py")
    write_repo_config(repo, '[mcp_servers.plain]\ncommand = "python3"\nargs = ["/workspace/tools/echo.py"]\n'
                            'env = { MCP_ECHO_SECRET = "plain-value" }\n')
    name, result = home.launch("cl-sleep", repo)
    assert f"==> MCP sidecar {name}-mcp serves: echo (" in result.stderr, result.output  # not plain
    servers = json.loads(inside(name, f"cat {AGENT_HOME}/.claude/.claude.json").stdout)["mcpServers"]
    assert servers["plain"] == {"type": "stdio", "command": "python3", "args": ["/workspace/tools/echo.py"],
                                "env": {"MCP_ECHO_SECRET": "plain-value"}}
    listed = in_dir(name, "timeout 90 claude mcp list")
    assert "plain: python3 /workspace/tools/echo.py - ✔ Connected" in listed.stdout, listed.stdout
    assert "echo: ca-stub mcp-relay echo - ✔ Connected" in listed.stdout, listed.stdout
    # It runs in the agent's container: no socket for it in the sidecar.
    assert inside(name, "ls /run/coding-agents-mcp").stdout.split() == ["echo.sock"]


# --- 5. inspect: the manifest still holds, until the agent's MCP servers change ----------------------


def test_inspect_notices_changed_mcp_servers(home):
    name, _ = home.launch("cl-sleep", home.new_repo("in"))
    checked = home.cli("inspect", name)
    assert checked.returncode == 0, checked.output
    verdicts = [line for line in checked.stdout.splitlines() if line.startswith(("ok ", "BAD"))]
    assert verdicts and all(line.startswith("ok ") for line in verdicts), checked.stdout
    assert any("MCP servers in .claude/.claude.json" in line for line in verdicts), verdicts
    assert manifest_label(name) in checked.stdout

    rewrite = ("import json; p = '/home/agent/.claude/.claude.json'; d = json.load(open(p)); "
               "d['mcpServers']['echo'] = {'type': 'stdio', 'command': 'sh', 'args': ['-c', 'cat'], 'env': {}}; "
               "json.dump(d, open(p, 'w'))")
    inside(name, f'python3 -c "{rewrite}"')
    checked = home.cli("inspect", name)
    assert checked.returncode == 1, checked.output
    assert any(line.startswith("BAD") and "MCP servers in .claude/.claude.json" in line
               for line in checked.stdout.splitlines()), checked.stdout


# --- 6. a stopped session comes back with fresh capabilities --------------------------------------


def test_restart_issues_new_capabilities(home):
    name, _ = home.launch("cl-sleep", home.new_repo("rs"))
    assert relay_hash(name) == sha256(home.canary)
    assert len(home.audit(name, "issue")) == 1

    docker("stop", "--time", "5", name, f"{name}-mcp")
    assert container_state(name) == "exited" and container_state(f"{name}-mcp") == "exited"
    result = home.cli("code", name, env={"PATH": path_without_code()})
    assert result.returncode == 0, result.output
    assert "starting it again" in result.stderr, result.output
    assert f"==> MCP sidecar {name}-mcp serves: echo" in result.stderr, result.output
    assert container_state(name) == "running" and container_state(f"{name}-mcp") == "running"
    assert relay_hash(name) == sha256(home.canary)
    issued = home.audit(name, "issue")
    assert len(issued) == 2 and issued[0]["capability"] != issued[1]["capability"], issued
    granted = [e for e in home.audit(name, "redeem") if e["decision"] == "granted"]
    assert granted[-1]["capability"] == issued[1]["capability"], granted


# --- the broker is one daemon, however many launches start at once --------------------------------


def test_concurrent_launches_share_one_broker(home, cli_sessions):
    """cli_sessions launched four sessions at once, each needing the broker: exactly one daemon may
    serve the control socket; others would keep running on an unlinked socket, with grants that
    `remove-agent` can no longer revoke."""
    started = home.audit(event="start")
    assert len(started) == 1, f"{len(started)} brokers started: {started}"
    assert broker_pids(home) == [started[0]["pid"]]
    assert int((home.broker_dir / "broker.pid").read_text()) == started[0]["pid"]
