"""What each session's agent is doing, from its own screen: the stub's health report carries what
tmux says of the agent's window (`#{window_activity}`, when it last had output; `#{pane_dead}`,
whether the agent has exited) with the container's clock, so list-agents asks the engine nothing
more for it (the report comes with the ones it reads anyway). `activity` is the decision.
"""

from __future__ import annotations

from agents.session import model, naming

WORKING = "working"
WAITING = "waiting for you"
EXITED = "exited"
QUIET_SECONDS = 5.0  # no output on the agent's screen for this long: it waits for you


def activity(state: str, interactive: bool, pane: str | None, quiet_seconds: float = QUIET_SECONDS) -> str | None:
    """From the container's state and what its last health report says of the agent's tmux window
    ("LAST DEAD NOW": its last output, whether the agent has exited, and the time of the report,
    in seconds of the container's own clock, so a remote engine's clock skew does not matter).
    None: unknown (a --prompt task has no screen; a report without it)."""
    if state != "running":
        # ("stopped": Podman's, from a kill until its cleanup makes it "exited")
        return EXITED if state in ("exited", "dead", "orphaned", "created", "stopped") else None
    if not interactive or not pane:
        return None
    parts = pane.split()
    if len(parts) != 3 or not all(part.lstrip("-").isdigit() for part in parts):
        return None
    last, dead, now = int(parts[0]), parts[1], int(parts[2])
    if dead == "1":
        return EXITED
    return WORKING if now - last < quiet_seconds else WAITING


def notify_events(before: str | None, after: str | None) -> str | None:
    """The event a change of activity is worth telling: "waiting" or "exited" (else None)."""
    if after == before:
        return None
    if after == WAITING and before == WORKING:
        return "waiting"
    if after == EXITED and before in (WORKING, WAITING):
        return "exited"
    return None


def watch_step(armed: bool, before: str | None, now: str | None) -> tuple[bool, str | None, str | None]:
    """One look of the watcher: (armed, the activity to compare the next look with, the event to
    tell). It arms at the first wait it sees: a CLI drawing its first screen and then waiting at
    its prompt is the start, not news. An unknown look (None) changes nothing."""
    if now is None:
        return armed, before, None
    if not armed:
        return now in (WAITING, EXITED), now, None
    return True, now, notify_events(before, now)


def activities(infos: list[model.SessionInfo]) -> dict[str, str | None]:
    """{session: working | waiting for you | exited | None (unknown)}."""
    return {info.name: activity(info.state, info.interactive, info.screen) for info in infos}


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
    each time its agent starts waiting for you or exits (notify_events)."""
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
        now = activity(state, True, screen_now(name) if state == "running" else None)
        was_armed = armed
        armed, before, event = watch_step(armed, before, now)
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
