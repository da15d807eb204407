"""Attaching to a session's agent, waiting for it, and explaining an agent that quit at start.
"""

from __future__ import annotations

import os
import subprocess
import sys

from agents import (
    docker,
    netmodes,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.output import say
from agents.session import model, naming, query

NOT_READY = 213  # the exit status of READY_THEN_ATTACH when wait-ready failed (tmux never exits so)
READY_THEN_ATTACH = f"ca-stub wait-ready >/dev/null 2>&1 || exit {NOT_READY}; exec tmux attach-session -t {naming.TMUX_SESSION}"


def attach_argv(name: str, wait: bool = False) -> list[str]:
    """The attach; with wait, one `docker exec` that waits for the agent's tmux session first."""
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    command = ["sh", "-c", READY_THEN_ATTACH] if wait else ["tmux", "attach-session", "-t", naming.TMUX_SESSION]
    return [runner.engine(), "exec", *tty, "--user", str(naming.AGENT_UID), "--env", f"TERM={os.environ.get('TERM', 'xterm-256color')}",
            name, *command]


def wait_ready(info: model.SessionInfo) -> None:
    """Until the agent's tmux session exists; if the agent is gone instead, say why."""
    name = info.name
    result = runner.run(naming.agent_exec(name, "ca-stub", "wait-ready"), check=False)
    if result.ok:
        return
    # The stub may still be writing the last screen and auto-committing: give it a moment to end.
    if exited_at_start(name, grace=5.0) is not None:
        raise exited_error(info, exit_status(name))
    screen = last_screen(name)
    raise AgentsError(
        f"the agent in {name} did not start: {runner.last_line(result.stderr) or 'no tmux session appeared'}"
        + (f"; its last output: {screen.splitlines()[-1].strip()}" if screen.strip() else ""),
        hint=f"coding-agents logs {name} shows its output",
    )


def last_screen(name: str, lines: int = 60) -> str:
    """The container's last output: the agent's final screen, as ca-stub logged it."""
    logs = runner.run([runner.engine(), "logs", "--tail", str(lines), name], check=False)
    return (logs.stdout + logs.stderr).rstrip()


def show_last_screen(name: str) -> None:
    screen = last_screen(name)
    if screen.strip():
        say(f"==> the last screen of {name}:")
        say("\n".join("    " + line for line in screen.splitlines()))


def cannot_reach_its_model(info: model.SessionInfo) -> bool:
    """A real CLI in a session without network: it cannot work, and will likely quit."""
    agent = query.session_agent(info)
    return netmodes.is_offline(info.network) and agent is not None and bool(agent.npm_package)


def exited_error(info: model.SessionInfo, status: int) -> AgentsError:
    """Why the agent ended at once: its status, and the network mode when that is the likely cause."""
    agent = query.session_agent(info)
    show_last_screen(info.name)
    title = agent.title if agent else info.agent
    message = f"{title} in {info.name} exited at start with status {status}"
    if cannot_reach_its_model(info):
        return AgentsError(message + ": the session has no network (restricted), so the CLI cannot reach its model API",
                           hint="launch it with --network-proxy squid (the default; add your endpoint's host with "
                           "--allow-domain) or allow-all", exit_code=status or 1)
    return AgentsError(message, hint="its last screen is above; fix what it says, then launch again",
                       exit_code=status or 1)


def exited_at_start(name: str, grace: float = 1.0) -> int | None:
    """The agent's exit status when it ended within `grace` seconds of the launch, else None."""
    import time

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if workspace.session_state(name) != "running":
            return exit_status(name)
        time.sleep(0.2)
    return None


def attach(info: model.SessionInfo) -> int:
    """Attach this terminal to the agent's tmux session until detach or exit."""
    name = info.name
    # Waiting and attaching in one `docker exec` (one engine round trip less); if the wait failed,
    # wait_ready asks again to say why (or finds it ready by now, and the attach follows).
    done = subprocess.run(attach_argv(name, wait=True))  # noqa: S603 - argv built above; TTY must be ours
    if done.returncode == NOT_READY:
        wait_ready(info)
        done = subprocess.run(attach_argv(name))  # noqa: S603
    return done.returncode


def agent_ended(name: str, wait: float = 10.0) -> bool:
    """After an attach returns: True if the agent exited (the container then stops within moments),
    False if the user only detached."""
    # The exec first: after a detach (the usual case) it is the only engine call; it fails at once
    # when the container has stopped. The agent's pane, not the session: the session outlives the
    # agent (remain-on-exit) until the stub has logged its last screen.
    alive = runner.run(naming.agent_exec(name, "tmux", "display-message", "-p", "-t", f"{naming.TMUX_SESSION}:0.0",
                                         "#{pane_dead}"), check=False)
    if alive.ok and alive.stdout.strip() == "0":
        return False
    wait_stopped(name, wait)
    return True


def wait_stopped(name: str, wait: float = 10.0) -> None:
    """Until the container is no longer running (its agent ended: the stub is finishing up)."""
    import time

    deadline = time.monotonic() + wait
    while workspace.session_state(name) == "running" and time.monotonic() < deadline:
        time.sleep(0.2)


def exit_status(name: str) -> int:
    result = docker.run("inspect", "--format", "{{.State.ExitCode}}", name, check=False)
    try:
        return int(result.stdout.strip())
    except ValueError:
        return 1


def stream_until_exit(name: str) -> int:
    runner.run([runner.engine(), "logs", "--follow", name], check=False, stream=True)
    result = docker.run("wait", name, check=False)
    try:
        return int(result.stdout.strip())
    except ValueError:
        return 1
