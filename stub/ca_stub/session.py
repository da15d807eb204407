"""The agent container's main process: the CLI in the tmux session (or a prompt run), its end."""
import os
import signal
import subprocess
import sys
import time

from ca_stub import logins, paths, state, workspace

# The wrapper shell around the agent's CLI: it loads the login variables, and writes down how
# the CLI ended (tmux 3.3 often cannot tell).
STATUS_WRAPPER = ('f="$1"; e="$2"; shift 2; rm -f "$f"; if [ -f "$e" ]; then set -a; . "$e"; set +a; fi; '
                  '"$@"; echo "$?" > "$f"')


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True)


def session_alive():
    return tmux("has-session", "-t", paths.TMUX_SESSION).returncode == 0


def agent_exit_status():
    """None while the agent's pane runs; its exit status once it has died (128+N for signal N)."""
    shown = tmux("display-message", "-p", "-t", paths.AGENT_PANE,
                 "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}")
    if shown.returncode != 0:
        return 0  # the session is gone (killed from outside)
    fields = shown.stdout.rstrip("\n").split(" ")  # keep empty fields: "1  9" is a signal
    if not fields or fields[0] != "1":
        return None
    status = fields[1] if len(fields) > 1 else ""
    signal_number = fields[2] if len(fields) > 2 else ""
    try:
        with open(paths.EXIT_STATUS_FILE) as recorded:
            written = recorded.read().strip()
        if written.isdigit():
            return int(written)
    except OSError:
        pass
    if status.isdigit():
        return int(status)
    if signal_number.isdigit():
        return 128 + int(signal_number)
    return -1  # dead, but tmux does not know how yet


def last_screen():
    """The agent's final screen without the blank rows below it and tmux's own 'Pane is dead' line."""
    lines = tmux("capture-pane", "-p", "-t", paths.AGENT_PANE, "-S", "-60").stdout.splitlines()
    lines = [line.rstrip() for line in lines if not line.startswith("Pane is dead")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def run_session(mode, command):
    stopping = {"flag": False}

    def on_term(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if not workspace.wait_until_filled(stopping):
        return 1
    if os.environ.get(paths.WAIT_LOGINS_VAR) == "1":
        logins.wait_for_logins(stopping)
    layout = state.load_spec()
    if layout is not None:  # after the logins: a history for --resume arrives before them
        try:
            state.link(layout)
        except OSError as error:  # the CLI still starts; its state then lasts until the container stops
            print(f"ca-stub: could not link the agent's state: {error}", file=sys.stderr, flush=True)
    watcher = logins.LoginWatcher()
    sizes = state.SizeWatcher(layout) if layout is not None else None
    code = 0
    if mode == "prompt":
        child = subprocess.Popen(command, cwd=paths.WORKSPACE, env={**os.environ, **logins.read_login_env()})
        while child.poll() is None:
            if stopping["flag"]:
                child.terminate()
                break
            watcher.poll()
            if sizes:
                sizes.poll()
            time.sleep(0.2)
        code = child.wait()
    else:
        # A fixed size until a client attaches; tmux resizes to the client then.
        conf = ["-f", paths.TMUX_CONF] if os.path.exists(paths.TMUX_CONF) else []
        wrapped = ["sh", "-c", STATUS_WRAPPER, "agent", paths.EXIT_STATUS_FILE, paths.LOGIN_ENV_FILE, *command]
        started = tmux(*conf, "new-session", "-d", "-s", paths.TMUX_SESSION, "-x", "200", "-y", "50",
                       "-c", paths.WORKSPACE, *wrapped)
        if started.returncode != 0:
            print("ca-stub: cannot start tmux: " + started.stderr.strip(), file=sys.stderr)
            return 1
        unknown_since = None
        while True:
            status = agent_exit_status()
            if status == -1:  # tmux saw the pane die before it learned the status: ask again
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since < 2.0:
                    time.sleep(0.05)
                    continue
                status = 1
            if status is not None or stopping["flag"]:
                break
            watcher.poll()
            if sizes:
                sizes.poll()
            time.sleep(0.3)
        if status is not None:
            # The agent ended: keep its last screen in the container log, then end the session.
            print(last_screen(), flush=True)
            print(f"[ca-stub: the agent exited with status {status}]", flush=True)
            code = status
        tmux("kill-server")
    watcher.poll(force=True)
    if layout is not None:
        state.sweep(layout)
    if os.environ.get(paths.AUTO_COMMIT_VAR, "1") != "0" and workspace.autocommit():
        print("ca-stub: auto-committed uncommitted work", file=sys.stderr)
    return code


def wait_ready(timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session_alive():
            return 0
        time.sleep(0.1)
    print("ca-stub: the agent's tmux session did not start", file=sys.stderr)
    return 1
