"""The MCP sidecar (its own container): it holds the secrets, redeemed from the broker with the
capabilities the host sends, and serves each secret-using MCP server on a Unix socket that the
agent's `ca-stub mcp-relay` connects to. Nothing here runs in the agent container."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from ca_stub import common, paths


def mcp_receive():
    spec = json.load(sys.stdin)
    os.makedirs(paths.STATE_DIR, mode=0o700, exist_ok=True)
    common.write_private(paths.MCP_SPEC, json.dumps(spec).encode())
    common.write_private(paths.MCP_READY, b"")
    print(json.dumps({"servers": sorted(spec.get("servers", {}))}))
    return 0


def redeem(capability):
    data = common.socket_call(paths.BROKER_SOCKET, json.dumps({"capability": capability}).encode() + b"\n", 30)
    answer = json.loads(data or b"{}")
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["secrets"]


def substitute(text, values):
    import re

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda match: values.get(match.group(1), ""), text)


def serve_stdio(connection, definition, values):
    """Start the real server with its secrets in its environment; relay the connection to it."""
    import threading

    command = [substitute(part, values) for part in definition["command"] + definition["args"]]
    env = {key: value for key, value in os.environ.items() if not key.startswith(paths.VAR_PREFIX)}
    env.update({key: substitute(value, values) for key, value in definition["env"].items()})
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             cwd=definition.get("cwd") or server_workdir(), env=env)

    def close_stdin():
        try:
            child.stdin.close()
        except OSError:
            pass

    def write_child(chunk):
        child.stdin.write(chunk)
        child.stdin.flush()

    threading.Thread(target=common.pump, args=(connection.recv, write_child, close_stdin), daemon=True).start()
    common.pump(child.stdout.read1, connection.sendall, lambda: None)
    child.wait()
    try:  # the server is gone: tell the client now, not at its next write
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def server_workdir():
    return paths.WORKSPACE if os.path.isdir(paths.WORKSPACE) else "/tmp"


def serve_http(connection, definition, values):
    """stdio JSON-RPC lines <-> a streamable-HTTP MCP server, the secret header added here."""
    import urllib.request

    headers = {key: substitute(value, values) for key, value in definition["headers"].items()}
    session_id = None
    reader = connection.makefile("rb")
    for line in reader:
        if not line.strip():
            continue
        request = urllib.request.Request(substitute(definition["url"], values), data=line, method="POST", headers={
            **headers, "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            **({"Mcp-Session-Id": session_id} if session_id else {})})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                session_id = response.headers.get("Mcp-Session-Id") or session_id
                kind = response.headers.get("Content-Type", "")
                body = response.read()
        except Exception as error:  # the agent sees a JSON-RPC error, not a hang
            try:
                ident = json.loads(line).get("id")
            except ValueError:
                ident = None
            if ident is not None:
                failure = {"jsonrpc": "2.0", "id": ident, "error": {"code": -32000, "message": f"sidecar: {error}"}}
                connection.sendall(json.dumps(failure).encode() + b"\n")
            continue
        if kind.startswith("text/event-stream"):
            for event_line in body.decode("utf-8", "replace").splitlines():
                if event_line.startswith("data:") and event_line[5:].strip():
                    connection.sendall(event_line[5:].strip().encode() + b"\n")
        elif body.strip():
            connection.sendall(body.strip() + b"\n")


def mcp_sidecar():
    """Main process of the sidecar: wait for the spec, then one socket per server."""
    import threading

    deadline = time.monotonic() + 120
    while not os.path.exists(paths.MCP_READY):
        if time.monotonic() > deadline:
            print("ca-stub: no MCP servers arrived from the host", file=sys.stderr)
            return 1
        time.sleep(0.05)
    current = {}  # server -> capability; replaced when the host sends new ones (a broker restart)

    def load_spec():
        with open(paths.MCP_SPEC) as spec_file:
            loaded = json.load(spec_file)
        os.remove(paths.MCP_SPEC)  # the capabilities stay in this process only
        current.update(loaded["capabilities"])
        return loaded

    spec = load_spec()

    def serve_one(name, definition, listener):
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=handle, args=(name, definition, connection), daemon=True).start()

    def handle(name, definition, connection):
        with connection:
            try:
                values = redeem(current[name])
            except Exception as error:
                print(f"ca-stub: the broker refused {name}: {error}", file=sys.stderr, flush=True)
                return
            print(f"ca-stub: serving {name}", flush=True)
            try:
                (serve_http if definition.get("url") else serve_stdio)(connection, definition, values)
            except Exception as error:
                print(f"ca-stub: {name} ended: {error}", file=sys.stderr, flush=True)

    threads = []
    for name, definition in spec["servers"].items():
        path = paths.mcp_socket(name)
        if os.path.exists(path):
            os.remove(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(16)
        thread = threading.Thread(target=serve_one, args=(name, definition, listener), daemon=True)
        thread.start()
        threads.append(thread)
    print("ca-stub: MCP sidecar ready: " + ", ".join(sorted(spec["servers"])), flush=True)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    while not stop["flag"]:
        if os.path.exists(paths.MCP_SPEC):  # fresh capabilities for the same servers
            load_spec()
            print("ca-stub: new capabilities received", flush=True)
        time.sleep(0.2)
    return 0
