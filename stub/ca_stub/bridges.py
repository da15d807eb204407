"""The agent's clients of host-side helpers (Unix sockets the host serves; see agents/bridges.py):
git credentials, the signers behind `ca-gpg` and `ca-ssh-keygen`, and the relay to the MCP sidecar."""
import base64
import json
import os
import socket
import sys
import time

from ca_stub import common, paths


def bridge_call(socket_name, request, timeout=60.0):
    """One request to a host bridge socket (see socket_call)."""
    return common.socket_call(os.path.join(paths.BRIDGE_DIR, socket_name), request, timeout)


def git_credential(action):
    """Only `get` is served; the host's store is never written from here."""
    request = sys.stdin.read()
    if action != "get":
        return 0
    if not os.path.exists(os.path.join(paths.BRIDGE_DIR, paths.CREDENTIAL_SOCKET)):
        print("coding-agents: no git credential bridge in this session (see docs/credentials.md)", file=sys.stderr)
        return 0
    try:
        sys.stdout.write(bridge_call(paths.CREDENTIAL_SOCKET, request.encode()).decode())
    except OSError as error:
        print(f"coding-agents: the host's git credential bridge did not answer: {error}", file=sys.stderr)
    return 0


def signer_call(request):
    if not os.path.exists(os.path.join(paths.BRIDGE_DIR, paths.SIGN_SOCKET)):
        print("coding-agents: no signing bridge in this session: the host signs commits only while the session's "
              "bridge runs (see docs/credentials.md)", file=sys.stderr)
        return None
    try:
        return json.loads(bridge_call(paths.SIGN_SOCKET, json.dumps(request).encode()))
    except (OSError, ValueError) as error:
        print(f"coding-agents: the host's signer did not answer: {error}", file=sys.stderr)
        return None


def gpg_program(args):
    """git's gpg.program: `-bsau KEY` signs stdin; `--verify SIG -` checks a signature."""
    payload = sys.stdin.buffer.read()
    request = {"op": "gpg", "args": args, "payload": base64.b64encode(payload).decode()}
    if "--verify" in args:
        at = args.index("--verify")
        signature_file = args[at + 1] if at + 1 < len(args) else ""
        with open(signature_file, "rb") as signature:
            request["signature"] = base64.b64encode(signature.read()).decode()
    answer = signer_call(request)
    if answer is None:
        return 2
    sys.stdout.buffer.write(base64.b64decode(answer.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("rc", 1))


def ssh_keygen_program(args):
    """git's gpg.ssh.program: `-Y sign` goes to the host; anything else is the local ssh-keygen."""
    if "-Y" not in args or args[args.index("-Y") + 1 : args.index("-Y") + 2] != ["sign"]:
        os.execv(paths.SSH_KEYGEN, ["ssh-keygen", *args])
    namespace = args[args.index("-n") + 1] if "-n" in args else "git"
    message_file = args[-1]
    with open(message_file, "rb") as message:
        payload = message.read()
    answer = signer_call({"op": "ssh-sign", "namespace": namespace, "payload": base64.b64encode(payload).decode()})
    if answer is None:
        return 2
    sys.stderr.write(answer.get("stderr", ""))
    if int(answer.get("rc", 1)) == 0:
        with open(message_file + ".sig", "wb") as signature:
            signature.write(base64.b64decode(answer.get("stdout", "")))
    return int(answer.get("rc", 1))


def mcp_relay(name, timeout=30.0):
    """stdin/stdout of the CLI's MCP client <-> the sidecar's socket for this server."""
    import threading

    path = paths.mcp_socket(name)
    deadline = time.monotonic() + timeout
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            connection.connect(path)
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"ca-stub: the MCP sidecar does not serve {name} ({error})", file=sys.stderr)
                return 1
            time.sleep(0.2)
    stdout = sys.stdout.buffer

    def write_out(chunk):
        stdout.write(chunk)
        stdout.flush()

    def half_close():
        try:
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=common.pump, args=(sys.stdin.buffer.raw.read, connection.sendall, half_close),
                     daemon=True).start()
    common.pump(connection.recv, write_out, lambda: None)
    return 0
