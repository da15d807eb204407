"""Network modes, each attacked from inside a real agent container launched through our CLI.

restricted must reach nothing; squid must pass only allowlisted hosts through its logged proxy and
give the agent no other way out; allow-all is plain bridge networking. The only targets are things
these tests start: a small HTTP/HTTPS server container (the base image's python3, a self-signed
certificate made here) joined to a session's egress network under names such as allowed.test, and
a TCP listener on the host's Docker bridge address. No external or metadata address is contacted.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import subprocess
import threading
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ENGINE,
    RUN_ID,
    TEST_LABEL,
    container_state,
    docker,
    launched_name,
    list_row,
    make_repo,
    remove_sessions_under,
    wait_for,
)
from tests.integration.conftest import write_config as write_user_config

# Serves HTTP on 80 and 8080 and HTTPS on 443 (cert and key copied in before start).
#   /headers   the request headers it received, one per line
#   /bytes/N   N bytes
#   else       "hello from <Host header> via <port>"
SERVER_SCRIPT = r"""
import http.server, socketserver, ssl, threading

BLOCK = b"x" * (1 << 20)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/bytes/"):
            size = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while size:
                part = min(size, len(BLOCK))
                self.wfile.write(BLOCK[:part])
                size -= part
            return
        if self.path == "/headers":
            body = "".join(f"{k.lower()}: {v}\n" for k, v in self.headers.items()).encode()
        else:
            body = f"hello from {self.headers.get('Host')} via {self.server.server_port}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

plain = [Server(("0.0.0.0", port), Handler) for port in (80, 8080)]
tls = Server(("0.0.0.0", 443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/srv/cert.pem", "/srv/key.pem")
tls.socket = context.wrap_socket(tls.socket, server_side=True)
for server in (plain[1], tls):
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
plain[0].serve_forever()
"""

# Tries a TCP connection to each HOST:PORT argument; prints {target: "open" | "<error>"}.
TCP_PROBE = r"""
import json, socket, sys
results = {}
for target in sys.argv[1:]:
    host, _, port = target.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        results[target] = "open"
    except OSError as error:
        results[target] = f"{type(error).__name__}: {error}"
print(json.dumps(results))
"""

# Resolves argv[1], and tries to open a UDP socket to each resolver in resolv.conf (sends nothing).
DNS_PROBE = r"""
import json, socket, sys
result = {}
try:
    result["lookup"] = socket.getaddrinfo(sys.argv[1], 80)[0][4][0]
except OSError as error:
    result["lookup"] = f"failed: {error}"
for line in open("/etc/resolv.conf"):
    if line.startswith("nameserver"):
        server = line.split()[1]
        udp = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.connect((server, 53))
            result[server] = "route"
        except OSError as error:
            result[server] = f"failed: {error}"
print(json.dumps(result))
"""

# Names the test server answers to on a session's egress network.
SERVER_NAMES = ("allowed.test", "blocked.test", "a.wild.test", "wild.test", "wild.test.evil", "exact.test",
                "sub.exact.test")
MAIN_ALLOW = ("allowed.test", "*.wild.test", "exact.test")


# --- helpers -------------------------------------------------------------------------------


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def agent_run(name: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """argv inside the session container as the agent user (no shell in between)."""
    return run([ENGINE, "exec", "-u", "1000", name, *argv], timeout=timeout)


def fetch(name: str, url: str, *curl_args: str) -> tuple[int, int, str, int]:
    """curl inside the agent (proxy variables as the agent has them): (http code, CONNECT code, body, exit)."""
    done = agent_run(name, "curl", "-sS", "-m", "10", "-w", "\n%{http_code} %{http_connect}", *curl_args, url)
    body, _, codes = done.stdout.rpartition("\n")
    http_code, _, connect_code = codes.partition(" ")
    return int(http_code or 0), int(connect_code or 0), body.rstrip("\n"), done.returncode


def tcp_probe(name: str, *targets: str) -> dict[str, str]:
    done = agent_run(name, "python3", "-c", TCP_PROBE, *targets)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def tcp_probe_from_bridge(image: str, *targets: str) -> dict[str, str]:
    """The same probe from a throwaway container on Docker's default bridge: proves the targets are live."""
    done = run([ENGINE, "run", "--rm", "--network", "bridge", "--label", f"{TEST_LABEL}={RUN_ID}",
                image, "python3", "-c", TCP_PROBE, *targets])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def dns_probe(name: str, host: str) -> dict[str, str]:
    done = agent_run(name, "python3", "-c", DNS_PROBE, host)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def interfaces(name: str) -> set[str]:
    """Network interfaces from /proc/net/dev (the base image has no `ip`)."""
    lines = agent_run(name, "cat", "/proc/net/dev").stdout.splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines if ":" in line}


def container_ip(container: str, network: str) -> str:
    shown = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container).stdout
    return json.loads(shown)[network]["IPAddress"]


def join(server: str, name: str, *aliases: str) -> str:
    """Put the test server on the session's egress network under aliases; return its address there."""
    egress = f"{name}-egress"
    docker("network", "connect", *[arg for alias in aliases for arg in ("--alias", alias)], egress, server)
    return container_ip(server, egress)


def network_log(cli, name: str, *flags: str) -> list[dict]:
    result = cli("logs", name, "--network", "--json", *flags)
    assert result.returncode == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def labelled(kind: str, name: str) -> set[str]:
    """Containers or networks carrying coding-agents.session=NAME."""
    if kind == "container":
        argv = ["ps", "--all", "--format", "{{.Names}}"]
    else:
        argv = ["network", "ls", "--format", "{{.Name}}"]
    listed = docker(*argv, "--filter", f"label=coding-agents.session={name}")
    return set(listed.stdout.decode().split())


def proxy_reaches(name: str, address: str, port: int) -> bool:
    """Can the session's proxy open a TCP connection to address:port? (Its image has bash, not python.)"""
    probe = f"exec 3<>/dev/tcp/{address}/{port}"
    return run([ENGINE, "exec", f"{name}-proxy", "timeout", "5", "bash", "-c", probe]).returncode == 0


def network_log_direct(name: str) -> list[dict]:
    """Decisions straight from the proxy's output, parsed the way the host log is."""
    from agents import network

    output = docker("logs", f"{name}-proxy").stdout.decode(errors="replace").splitlines()
    return [d.as_dict() for line in output if (d := network.parse_log_line(line))]


def write_config(path: Path, block_private: bool) -> Path:
    """A config for CODING_AGENTS_CONFIG: the test user's [images] plus [network] block_private."""
    lines = ["[images]"]
    ca_cert = os.environ.get("CODING_AGENTS_TEST_CA_CERT")
    if ca_cert:
        lines.append(f"ca_cert = {json.dumps(ca_cert)}")
    lines += ["[network]", f"block_private = {'true' if block_private else 'false'}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def host_tmux(env: dict[str, str], *argv: str):
    """argv in a pane of a private host tmux server (`tmux -L`), as a user's terminal would run it."""
    socket_name = f"ca-net-{uuid.uuid4().hex[:8]}"
    tmux_env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}

    def tmux(*args: str) -> str:
        done = subprocess.run(["tmux", "-L", socket_name, *args], capture_output=True, text=True, env=tmux_env,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    tmux("-f", "/dev/null", "new-session", "-d", "-s", "host", "-x", "200", "-y", "50", "sleep 86400")
    try:
        tmux("set-option", "-g", "remain-on-exit", "on")
        pane = tmux("new-window", "-d", "-t", "host:", "-P", "-F", "#{pane_id}", shlex.join(argv)).strip()
        yield lambda: tmux("capture-pane", "-p", "-J", "-t", pane)
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, env=tmux_env)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_image(version) -> str:
    return f"coding-agents-base:{version}"


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, dict[str, str]]:
    """CLI environments: `open` lets the proxy reach private addresses (our server has one); `default` doesn't."""
    folder = tmp_path_factory.mktemp("network-config")
    return {
        "open": {"CODING_AGENTS_CONFIG": str(write_config(folder / "open.toml", block_private=False))},
        "default": {"CODING_AGENTS_CONFIG": str(write_config(folder / "default.toml", block_private=True))},
    }


@pytest.fixture(scope="module")
def server(docker_engine, built_images, base_image, tmp_path_factory) -> str:
    """The test server on Docker's default bridge; tests join it to session networks under more names."""
    files = tmp_path_factory.mktemp("test-server")
    (files / "server.py").write_text(SERVER_SCRIPT)
    made = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=allowed.test",
                "-keyout", str(files / "key.pem"), "-out", str(files / "cert.pem")])
    assert made.returncode == 0, made.stderr
    name = f"ca-test-server-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    docker("create", "--name", name, "--user", "0", "--label", f"{TEST_LABEL}={RUN_ID}", "--network", "bridge",
           "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", base_image, "python3", "/srv/server.py")
    try:
        for file in ("server.py", "cert.pem", "key.pem"):
            docker("cp", str(files / file), f"{name}:/srv/{file}")
        docker("start", name)
        wait_for(lambda: b"ready" in docker("logs", name, check=False).stdout, 20, "the test server to listen")
        yield name
    finally:
        docker("rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def host_listener(docker_engine):
    """A TCP listener on the host's address on Docker's bridge (its gateway): (address, port)."""
    address = bridge_host_address()
    listener = socket.create_server((address, 0))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield address, listener.getsockname()[1]
    stop.set()
    listener.close()


def bridge_host_address() -> str:
    """The host's IPv4 address on Docker's default bridge.

    Not `IPAM.Config[0].Gateway`: a fresh engine may leave that empty while docker0 has its
    address, so the interface itself is asked (its name is an option of the bridge network).
    """
    found = docker("network", "inspect", "bridge", "--format",
                   '{{index .Options "com.docker.network.bridge.name"}}')
    interface = found.stdout.decode().strip() or "docker0"
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", interface], capture_output=True, text=True)
    for line in shown.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    raise AssertionError(f"{interface} has no IPv4 address: {shown.stdout or shown.stderr}")


@pytest.fixture(scope="module")
def squid_session(docker_engine, built_images, cli, configs, server, tmp_path_factory):
    """A shell session in squid mode allowing allowed.test, *.wild.test and exact.test, with the
    server on its egress network under every name in SERVER_NAMES."""
    base = tmp_path_factory.mktemp("squid")
    repo = make_repo(base / f"netrepo-{uuid.uuid4().hex[:6]}")
    allow = [arg for rule in MAIN_ALLOW for arg in ("--allow-domain", rule)]
    name = launched_name(cli("launch-agent", "shell", str(repo), *allow, env=configs["open"]))
    try:
        egress_ip = join(server, name, *SERVER_NAMES)
        yield {"name": name, "egress_ip": egress_ip}
    finally:
        remove_sessions_under(base)


# --- restricted ------------------------------------------------------------------------------


def test_restricted_reaches_no_server_no_dns_no_gateway_no_loopback(cli, repo, server, base_image, host_listener):
    gateway, port = host_listener
    server_target = f"{container_ip(server, 'bridge')}:80"
    gateway_target = f"{gateway}:{port}"
    # The targets are live: a container on the bridge reaches both.
    assert tcp_probe_from_bridge(base_image, server_target, gateway_target) == {
        server_target: "open", gateway_target: "open"}

    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    assert interfaces(name) == {"lo"}
    # 127.0.0.1 inside is the container's own loopback: the host's listener is not there.
    loopback_target = f"127.0.0.1:{port}"
    reached = tcp_probe(name, server_target, gateway_target, loopback_target)
    assert all(result != "open" for result in reached.values()), reached
    assert "unreachable" in reached[server_target] and "unreachable" in reached[gateway_target], reached
    dns = dns_probe(name, "allowed.test")
    assert dns.pop("lookup").startswith("failed"), dns
    assert dns and all(result.startswith("failed") for result in dns.values()), dns  # no resolver is reachable


# --- squid: allow, deny, log ---------------------------------------------------------------


def test_squid_allowed_host_answers_and_blocked_host_gets_a_page_naming_the_rule(squid_session):
    name = squid_session["name"]
    env = agent_run(name, "env").stdout.splitlines()
    for line in ("HTTP_PROXY=http://proxy:3128", "https_proxy=http://proxy:3128", "NODE_USE_ENV_PROXY=1"):
        assert line in env

    code, _, body, _ = fetch(name, "http://allowed.test/")
    assert (code, body) == (200, "hello from allowed.test via 80")

    code, _, body, _ = fetch(name, "http://blocked.test/")
    assert code == 403
    assert "Rule: <b>not on the allowlist</b>" in body and "<code>blocked.test</code>" in body
    assert "--allow-domain blocked.test" in body

    # HTTPS is a CONNECT tunnel: TLS ends at our server (self-signed, hence -k), not at the proxy.
    code, connect, body, _ = fetch(name, "https://allowed.test/", "-k")
    assert (code, connect, body) == (200, 200, "hello from allowed.test via 443")

    code, connect, _, exit_code = fetch(name, "https://blocked.test/", "-k")
    assert (code, connect) == (0, 403) and exit_code != 0


def test_squid_decisions_are_logged_on_the_host_and_counted(cli, user_home, cli_env, squid_session):
    name = squid_session["name"]
    for url in ("http://allowed.test/", "http://blocked.test/", "https://allowed.test/", "https://blocked.test/"):
        fetch(name, url, "-k")

    text = cli("logs", name, "--network")
    assert text.returncode == 0, text.output
    lines = text.stdout.splitlines()
    for decision, method, target in (("allowed", "GET", "allowed.test:80"), ("denied", "GET", "blocked.test:80"),
                                     ("allowed", "CONNECT", "allowed.test:443"),
                                     ("denied", "CONNECT", "blocked.test:443")):
        assert any(line.split()[2:5] == [decision, method, target] for line in lines), (decision, target, lines)

    entries = network_log(cli, name)
    assert {entry["session"] for entry in entries} == {name}
    assert {(e["method"], e["host"], e["port"], e["status"], e["decision"]) for e in entries} >= {
        ("GET", "allowed.test", 80, 200, "allowed"), ("GET", "blocked.test", 80, 403, "denied"),
        ("CONNECT", "allowed.test", 443, 200, "allowed"), ("CONNECT", "blocked.test", 443, 403, "denied")}
    denied = network_log(cli, name, "--denied")
    assert denied and all(entry["decision"] == "denied" for entry in denied)
    assert len(denied) == sum(entry["decision"] == "denied" for entry in entries)

    # The host keeps its own copy, one JSON object per line.
    state = Path(cli_env.get("XDG_STATE_HOME") or user_home / ".local" / "state")
    saved = (state / "coding-agents" / "network" / f"{name}.log").read_text().splitlines()
    assert [json.loads(line) for line in saved][: len(entries)] == entries

    row = wait_for(lambda: (r := list_row(cli, name)) and (r["denied"] or 0) >= 2 and r, 15,
                   "list-agents to count the denied requests")
    assert row["network"] == "squid"


def test_squid_agent_cannot_go_around_the_proxy(squid_session, server):
    name = squid_session["name"]
    egress_ip = squid_session["egress_ip"]
    bridge_ip = container_ip(server, "bridge")
    # The addresses are live: the proxy, which sits on the egress network, reaches the server directly.
    assert proxy_reaches(name, egress_ip, 80)

    assert interfaces(name) == {"lo", "eth0"}  # the internal network only
    for address in (egress_ip, bridge_ip):
        done = agent_run(name, "curl", "-sS", "--noproxy", "*", "-m", "3", f"http://{address}/")
        assert done.returncode != 0 and "hello" not in done.stdout, (address, done.stdout)
    reached = tcp_probe(name, f"{egress_ip}:80", f"{egress_ip}:443", f"{bridge_ip}:80")
    assert all(result != "open" for result in reached.values()), reached

    # Names of the outside world don't resolve inside; only the proxy's does. (Docker's embedded
    # DNS tries to forward them and gives up after ~10 s per query, hence `timeout`.)
    lookup = agent_run(name, "timeout", "5", "getent", "hosts", "allowed.test")
    assert lookup.returncode != 0 and lookup.stdout == "", lookup.stdout
    assert agent_run(name, "getent", "hosts", "proxy").stdout.split()[1:] == ["proxy"]


def test_squid_agent_cannot_reach_services_on_the_host(squid_session, base_image, host_listener):
    gateway, port = host_listener
    target = f"{gateway}:{port}"
    assert tcp_probe_from_bridge(base_image, target) == {target: "open"}  # live for an ordinary container
    reached = tcp_probe(squid_session["name"], target)
    assert reached[target] != "open", reached


def test_squid_only_port_80_and_connect_to_443_pass(squid_session):
    name = squid_session["name"]
    assert proxy_reaches(name, squid_session["egress_ip"], 8080)  # the server does listen there
    code, _, body, _ = fetch(name, "http://allowed.test:8080/")
    assert code == 403 and "Rule: <b>ports</b>" in body
    # CONNECT to port 80 (curl's --proxytunnel) is refused with the same page.
    code, connect, _, exit_code = fetch(name, "http://allowed.test:80/", "--proxytunnel")
    assert (code, connect) == (0, 403) and exit_code != 0
    denied = {(d["method"], d["host"], d["port"]) for d in network_log_direct(name) if d["decision"] == "denied"}
    assert {("GET", "allowed.test", 8080), ("CONNECT", "allowed.test", 80)} <= denied


def test_squid_wildcard_and_exact_rules(squid_session):
    name = squid_session["name"]
    expected = {"a.wild.test": 200, "wild.test": 200, "wild.test.evil": 403, "exact.test": 200,
                "sub.exact.test": 403, squid_session["egress_ip"]: 403}
    got = {host: fetch(name, f"http://{host}/")[0] for host in expected}
    assert got == expected


def test_squid_sends_no_via_or_forwarded_for_upstream(squid_session):
    code, _, body, _ = fetch(squid_session["name"], "http://allowed.test/headers")
    assert code == 200
    headers = dict(line.split(": ", 1) for line in body.splitlines())
    assert headers["host"] == "allowed.test"
    assert not {"via", "x-forwarded-for", "forwarded"} & set(headers), headers
    agent_ip = container_ip(squid_session["name"], f"{squid_session['name']}-internal")
    assert agent_ip not in body


def test_allow_domain_applies_to_its_own_session_only(cli, repo, configs, server, squid_session):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--allow-domain", "allowed.test", env=configs["open"]))
    join(server, name, *SERVER_NAMES)
    got = {host: fetch(name, f"http://{host}/") for host in ("allowed.test", "exact.test", "a.wild.test")}
    assert got["allowed.test"][0] == 200
    for host in ("exact.test", "a.wild.test"):
        assert got[host][0] == 403 and "not on the allowlist" in got[host][2], host
    # ...while the session launched with them still passes them.
    assert fetch(squid_session["name"], "http://exact.test/")[0] == 200


# --- squid: private ranges, learn mode, lifecycle -------------------------------------------


def test_squid_private_addresses_denied_even_for_allowed_names(cli, repo, configs, server):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--allow-domain", "allowed.test",
                             env=configs["default"]))
    join(server, name, "allowed.test")
    code, _, body, _ = fetch(name, "http://allowed.test/")
    assert code == 403
    assert "Rule: <b>private address</b>" in body and "block_private = false" in body
    code, connect, _, _ = fetch(name, "https://allowed.test/", "-k")
    assert (code, connect) == (0, 403)
    assert {(e["method"], e["status"]) for e in network_log(cli, name, "--denied")} >= {("GET", 403), ("CONNECT", 403)}


def test_squid_learn_mode_records_and_policy_suggest_prints_the_allowlist(cli, repo, configs, server):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--learn", env=configs["open"]))
    join(server, name, "allowed.test", "blocked.test")
    assert fetch(name, "http://allowed.test/")[:2] == (200, 0)
    assert fetch(name, "https://blocked.test/", "-k")[:3] == (200, 200, "hello from blocked.test via 443")

    def suggested() -> dict:
        result = cli("policy", "suggest", name)
        assert result.returncode == 0, result.output
        return tomllib.loads(result.stdout)  # the output is a config snippet, so it must parse as TOML

    assert suggested() == {"network": {"allow": ["allowed.test", "blocked.test"]}}
    removed = cli("remove-agent", name, "--no-push", "-y")
    assert removed.returncode == 0, removed.output
    assert "network log kept at" in removed.stderr
    assert container_state(name) is None
    # The log outlives the session.
    assert suggested() == {"network": {"allow": ["allowed.test", "blocked.test"]}}
    assert {entry["host"] for entry in network_log(cli, name)} == {"allowed.test", "blocked.test"}


def test_squid_proxy_lifecycle_labels_order_recreation_and_removal(cli, cli_env, pyz, repo, configs, server):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--allow-domain", "allowed.test",
                             env=configs["open"]))
    proxy = f"{name}-proxy"
    assert labelled("container", name) == {name, proxy}
    assert labelled("network", name) == {f"{name}-internal", f"{name}-egress"}
    assert docker("inspect", "--format", '{{index .Config.Labels "coding-agents.role"}}', proxy).stdout.strip() == b"proxy"
    # The agent's container starts as soon as its internal network exists (its stub holds the shell
    # until the workspace is filled); launch-agent returns only once squid is up too.
    assert container_state(proxy) == container_state(name) == "running"

    join(server, name, "allowed.test")
    assert fetch(name, "http://allowed.test/")[0] == 200
    docker("rm", "--force", proxy)
    code, _, _, exit_code = fetch(name, "http://allowed.test/")
    assert code != 200 and exit_code != 0

    # The next command that needs the proxy (here connect-agent, in a real terminal) brings it back.
    with host_tmux(cli_env, str(pyz), "connect-agent", name) as screen:
        wait_for(lambda: container_state(proxy) == "running", 30, f"connect-agent to recreate {proxy}")
        wait_for(lambda: "agent@" in screen(), 30, "connect-agent to attach")
        assert fetch(name, "http://allowed.test/")[0] == 200
    assert container_state(name) == "running"

    removed = cli("remove-agent", name, "--no-push", "-y")
    assert removed.returncode == 0, removed.output
    assert labelled("container", name) == set() and labelled("network", name) == set()
    assert container_state(server) == "running"  # our server was detached, not removed
    assert any(entry["host"] == "allowed.test" for entry in network_log(cli, name))


# --- the real agent CLIs -------------------------------------------------------------------

def container_env(name: str) -> list[str]:
    """`env` inside a running container; the configured environment of one that has exited."""
    if container_state(name) == "running":
        done = agent_run(name, "env")
        if done.returncode == 0:
            return done.stdout.splitlines()
    return json.loads(docker("inspect", "--format", "{{json .Config.Env}}", name).stdout)


# Without a login, Codex and Gemini send nothing at start now that their update checks and
# telemetry are off (see docs/autonomy.md); test_real_agents.py proves all four CLIs' model
# traffic goes through the proxy. Claude and Copilot still call their own hosts at start.
@pytest.mark.parametrize("agent", ("claude", "copilot"))
def test_real_cli_goes_through_the_proxy(cli, repo, agent, tmp_path):
    from agents import catalog, network

    rules = network.minimal_rules(list(catalog.get_agent(agent).allowed_domains))
    user_env = None
    if agent == "claude":
        # Without a login Claude Code quits within seconds here (no internet), and launch-agent
        # removes a session that did nothing. With a key in the config (which the session answers
        # "yes" for, when Claude asks whether to use it) it stays at its prompt, calling its API.
        home = tmp_path / "home"
        key = "sk-ant-test-" + secrets.token_hex(8)
        write_user_config(home, f'[agents.claude]\nenv = {{ ANTHROPIC_API_KEY = "{key}" }}')
        user_env = {"HOME": str(home)}
    result = cli("launch-agent", agent, str(repo), env=user_env)
    name = f"{agent}-{repo.name}-session-1"
    assert container_state(name) is not None, result.output
    env = container_env(name)
    for line in ("HTTPS_PROXY=http://proxy:3128", "https_proxy=http://proxy:3128", "NODE_USE_ENV_PROXY=1"):
        assert line in env, env

    def own_api_request() -> list[dict]:
        return [e for e in network_log(lambda *args: cli(*args, env=user_env), name)
                if e["method"] == "CONNECT" and e["port"] == 443
                and any(network.rule_matches(rule, e["host"]) for rule in rules)]

    # The CLI's first call to its own hosts reaches the proxy (and fails upstream: no internet here).
    seen = wait_for(own_api_request, 30, f"a CONNECT from {agent} to one of {rules}", interval=1)
    assert all(entry["decision"] == "allowed" for entry in seen), seen


# --- allow-all ----------------------------------------------------------------------------


def test_allow_all_has_a_network_and_reaches_the_server_directly(cli, repo, server):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "allow-all"))
    assert "eth0" in interfaces(name)
    assert not any(line.lower().startswith("https_proxy=") for line in agent_run(name, "env").stdout.splitlines())
    done = agent_run(name, "curl", "-sS", "-m", "10", f"http://{container_ip(server, 'bridge')}/")
    assert done.returncode == 0 and done.stdout.startswith("hello from"), done.stderr
    assert labelled("network", name) == set()  # no proxy networks in this mode


# --- the generated squid.conf ------------------------------------------------------------


def test_squid_conf_with_many_rules_passes_squid_parse(built_images, version):
    from agents import catalog, network

    rules = [domain for agent in catalog.AGENTS for domain in agent.allowed_domains]
    rules += [f"host{i}.example.test" for i in range(40)] + [f"*.wild{i}.example.test" for i in range(40)]
    rules += [".wild3.example.test", "sub.wild3.example.test", "Upper.Example.Test.", "10.1.2.3"]
    for block_private, learn in ((True, False), (False, False), (True, True)):
        policy = network.build_policy((), tuple(rules), ("extra.test",), block_private=block_private, learn=learn)
        conf = network.squid_config(policy)
        done = run([ENGINE, "run", "--rm", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
                    "--env", f"SQUID_CONF={conf}", f"coding-agents-proxy:{version}",
                    "sh", "-c", 'printf "%s\\n" "$SQUID_CONF" > /tmp/squid.conf && squid -k parse -f /tmp/squid.conf'])
        problems = [line for line in done.stderr.splitlines() if "ERROR" in line or "FATAL" in line]
        assert done.returncode == 0 and not problems, (block_private, learn, problems or done.stderr[-2000:])
        if not learn:
            assert "sub.wild3.example.test" not in conf and ".wild3.example.test" in conf
