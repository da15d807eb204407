"""Logins: delivered by the host before the agent starts, refreshed ones sent back."""
import base64
import json
import os
import shlex
import sys
import time

from ca_stub import bridges, common, paths


def wait_for_logins(stopping, timeout=60.0):
    """The host streams the login bundle in through `docker exec` right after the start."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(paths.LOGINS_READY) and not stopping["flag"]:
        if time.monotonic() > deadline:
            print("ca-stub: no logins arrived from the host; starting without them", flush=True)
            return
        time.sleep(0.05)


def allowed_login_path(path):
    """Login files go to the agent's home (on tmpfs mounts the host chose), never /workspace."""
    real = os.path.realpath(path)
    return real.startswith(paths.HOME + "/") and not real.startswith(paths.WORKSPACE + "/")


def logins_receive():
    bundle = json.load(sys.stdin)
    os.makedirs(paths.STATE_DIR, mode=0o700, exist_ok=True)
    os.chmod(paths.STATE_DIR, 0o700)
    written = 0
    for item in bundle.get("files", []):
        path = item["path"]
        if not allowed_login_path(path):
            print(f"ca-stub: refusing login file outside the home: {path}", file=sys.stderr)
            return 1
        common.write_private(path, base64.b64decode(item["data"]), item.get("mtime_ns"))
        written += 1
    lines = [f"{key}={shlex.quote(value)}" for key, value in sorted(bundle.get("env", {}).items())
             if key.replace("_", "").isalnum()]
    common.write_private(paths.LOGIN_ENV_FILE, ("\n".join(lines) + "\n").encode() if lines else b"")
    watch = [path for path in bundle.get("watch", []) if allowed_login_path(path)]
    common.write_private(paths.LOGINS_WATCH, json.dumps({path: fingerprint(path) for path in watch}).encode())
    common.write_private(paths.LOGINS_READY, b"")
    print(json.dumps({"files": written, "env": len(lines)}))
    return 0


def read_login_env():
    found = {}
    try:
        with open(paths.LOGIN_ENV_FILE) as env_file:
            tokens = shlex.split(env_file.read())  # quoted values may span lines
    except (OSError, ValueError):
        return found
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep and key:
            found[key] = value
    return found


def fingerprint(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_mtime_ns, stat.st_size]


class LoginWatcher:
    """Notices when the CLI rewrites a login file (a token refresh) and sends it to the host."""

    def __init__(self, interval=2.0):
        self.interval = interval
        # None, not 0.0: the monotonic clock starts near zero at boot, so "0.0 seconds ago"
        # would make a freshly booted machine skip its first look for a whole interval.
        self.last_check = None

    def poll(self, force=False):
        if not force and self.last_check is not None and time.monotonic() - self.last_check < self.interval:
            return
        self.last_check = time.monotonic()
        try:
            logins_push(quiet=True)
        except Exception as error:  # never let copy-back trouble stop the agent
            print(f"ca-stub: could not send a login back: {error}", file=sys.stderr)


def logins_push(quiet=False):
    try:
        with open(paths.LOGINS_WATCH) as watch_file:
            known = json.load(watch_file)
    except (OSError, ValueError):
        return 0
    loaded = dict(known)
    changed = {path: fingerprint(path) for path in known if fingerprint(path) not in (None, known[path])}
    if not changed:
        return 0
    socket_path = os.path.join(paths.BRIDGE_DIR, paths.LOGINS_SOCKET)
    if not os.path.exists(socket_path):
        if not quiet:
            print("ca-stub: no login bridge in this session; refreshed logins stay here", file=sys.stderr)
        return 1
    failed = False
    for path, mark in changed.items():
        with open(path, "rb") as login:
            data = login.read()
        request = {"path": path, "data": base64.b64encode(data).decode(), "mtime_ns": mark[0]}
        try:
            answer = bridges.bridge_call(paths.LOGINS_SOCKET, json.dumps(request).encode()).decode().strip()
        except OSError as error:  # the bridge is gone, or gave no answer in time: send it again
            answer, reason = "", str(error) or type(error).__name__
        else:
            reason = "the host's bridge closed the connection without a decision"
        if not answer:
            # The host decides every login it gets, and says so; no answer means its handler never
            # decided (it was stopped or failed; see the session's bridge log on the host). The
            # file stays unknown, so the next look sends it again: a refresh is never dropped.
            print(f"ca-stub: could not send a login back: {path}: {reason}", file=sys.stderr, flush=True)
            failed = True
            continue
        if not quiet:
            print(f"{path}: {answer}")
        # Caught mid-write: try again at the next look. Any other answer stands until the file
        # changes again (a refused login, e.g. another account's, is not sent every two seconds).
        if not answer.startswith("refused: not a JSON object"):
            known[path] = mark
    # A login another session refreshed may have arrived meanwhile (logins-refresh wrote the file and
    # its mark): that mark stands, or the shared copy would be sent back as a change of ours.
    try:
        with open(paths.LOGINS_WATCH) as watch_file:
            now = json.load(watch_file)
    except (OSError, ValueError):
        now = {}
    for path in changed:
        if path in now and now[path] != loaded.get(path):
            known[path] = now[path]
    common.write_private(paths.LOGINS_WATCH, json.dumps(known).encode())
    return 1 if failed else 0


def _json_with_header(data):
    """A login file's leading // comment lines (Copilot's) and the JSON object after them."""
    lines = data.decode("utf-8", "replace").splitlines(keepends=True)
    at = 0
    while at < len(lines) and (not lines[at].strip() or lines[at].lstrip().startswith("//")):
        at += 1
    try:
        found = json.loads("".join(lines[at:]) or "{}")
    except ValueError:
        found = None
    return "".join(lines[:at]), found if isinstance(found, dict) else None


def logins_refresh():
    """`ca-stub logins-refresh`: another session refreshed the login this one shares; the host hands
    it on (JSON on stdin). Only a watched login file is written, and never over a newer copy here."""
    request = json.load(sys.stdin)
    path = request.get("path", "")
    try:
        with open(paths.LOGINS_WATCH) as watch_file:
            known = json.load(watch_file)
    except (OSError, ValueError):
        known = {}
    if path not in known or not allowed_login_path(path):
        print(f"refused: {path} is not a login file of this session")
        return 1
    mtime_ns = int(request.get("mtime_ns") or 0)
    here = fingerprint(path)
    if here is not None and here[0] > mtime_ns:
        print("kept: the copy here is newer")
        return 0
    if "keys" in request:
        try:
            with open(path, "rb") as current:
                header, document = _json_with_header(current.read())
        except OSError:
            header, document = "", {}
        if document is None:
            print("refused: the file here is not a JSON object")
            return 1
        document.update(request["keys"])
        data = (header + json.dumps(document, indent=2) + "\n").encode()
    else:
        data = base64.b64decode(request.get("data", ""))
    common.write_private(path, data, mtime_ns or None)
    known[path] = fingerprint(path)  # not sent back: it came from the host
    common.write_private(paths.LOGINS_WATCH, json.dumps(known).encode())
    print("refreshed")
    return 0
