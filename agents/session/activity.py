"""What each session's agent is doing, from its own screen: the stub's health report carries what
tmux says of the agent's window (`#{window_activity}`, when it last had output; `#{pane_dead}`,
whether the agent has exited) with the container's clock, so list-agents asks the engine nothing
more for it (the report comes with the ones it reads anyway). The decision is land.activity's.
"""

from __future__ import annotations

from agents import land
from agents.session import model, naming


def activities(infos: list[model.SessionInfo]) -> dict[str, str | None]:
    """{session: working | waiting for you | exited | None (unknown)}."""
    return {info.name: land.activity(info.state, info.interactive, info.screen) for info in infos}


# What the watcher asks a running container each round: the window's last output and whether the
# agent is dead, then the container's clock (the "screen" of a health report, asked now).
PANE_QUERY = (f"tmux display-message -p -t {naming.TMUX_SESSION}:0.0 '#{{window_activity}} #{{pane_dead}}' "
              "&& date +%s")


def screen_now(name: str) -> str | None:
    from agents import runner

    done = runner.run(naming.agent_exec(name, "sh", "-c", PANE_QUERY), check=False, timeout=20)
    return " ".join(done.stdout.split()) if done.ok else None


def notify_argv(command: tuple[str, ...], session: str, event: str) -> list[str]:
    """[sessions] notify with {session} and {event} filled in (pure)."""
    return [part.replace("{session}", session).replace("{event}", event) for part in command]


def watch(name: str, interval: float = 2.0) -> int:
    """Body of `_watch NAME`: until the session is removed, tell [sessions] notify (and the bell)
    each time its agent starts waiting for you or exits (land.notify_events)."""
    import os
    import time

    from agents import runner, workspace
    from agents.config import load_config

    sessions = load_config().sessions
    bell_tty = os.environ.get("CODING_AGENTS_BELL_TTY", "")
    armed, before = False, None
    while True:
        state = workspace.session_state(name)
        if state is None:
            return 0  # removed
        now = land.activity(state, True, screen_now(name) if state == "running" else None)
        was_armed = armed
        armed, before, event = land.watch_step(armed, before, now)
        if armed and not was_armed:
            print(f"{name}: watching (the agent is {now})", flush=True)
        if event:
            print(f"{name}: {event}", flush=True)
            if sessions.notify:
                env = {**os.environ, "CODING_AGENTS_SESSION": name, "CODING_AGENTS_EVENT": event}
                runner.run(notify_argv(sessions.notify, name, event), check=False, env=env, timeout=60)
            if sessions.bell and bell_tty:
                try:
                    with open(bell_tty, "w") as terminal:
                        terminal.write("\a")
                except OSError:
                    pass
        time.sleep(interval if state == "running" else interval * 3)
