"""How the tool starts itself again in the background (bridges, collectors, reapers).
"""

from __future__ import annotations

import os
import sys

from agents import (
    engine,
    paths,
    runner,
    workspace,
)


def spawn_reaper(name: str) -> None:
    """A detached host process that syncs and removes an ephemeral session once its agent exits."""
    spawn_internal("_reap", name)


def spawn_internal(command: str, name: str) -> int:
    """Run `coding-agents COMMAND NAME` detached from this terminal, logging to the state dir; its pid."""
    argv = [sys.executable, "-m", "agents", command, name]
    pex = os.environ.get("PEX")
    if pex:
        argv = [pex, command, name]
    paths.state_dir().mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)} if not pex else dict(os.environ)
    if command != "_broker":  # the broker is shared by sessions that may be on other engines
        env.update(engine_env(engine.current()))
    return runner.spawn_detached(argv, paths.helper_log(command.strip("_"), name), env=env)


def engine_env(endpoint: engine.Endpoint) -> dict[str, str]:
    """Pure: a helper outlives this command, so it keeps this command's engine: a `docker context
    use` meanwhile must not point it at another engine, where its session is not."""
    program = {runner.ENGINE_VARIABLE: endpoint.program}  # and a config edited meanwhile must not either
    if endpoint.from_env or not endpoint.host or runner.engine_kind(endpoint.program) == "podman":
        return program  # DOCKER_HOST (CONTAINER_HOST) is inherited as it is
    return {**program, "DOCKER_CONTEXT": endpoint.context}


def collect_while_alive(name: str, interval: float = 2.0) -> int:
    """Body of `_collect`: copy proxy decisions to the host log until the session is gone."""
    import time

    from agents import netlog

    while True:
        netlog.collect(name)
        if workspace.session_state(name) is None:
            return 0
        time.sleep(interval)


def spawn_watcher(name: str) -> int:
    """A detached host process that runs [sessions] notify (and rings the bell of the terminal
    that launched, if it is one) when the session starts waiting for you or finishes."""
    tty = ""
    for stream in (sys.stderr, sys.stdout, sys.stdin):
        try:
            if stream.isatty():
                tty = os.ttyname(stream.fileno())
                break
        except (OSError, ValueError):
            continue
    os.environ["CODING_AGENTS_BELL_TTY"] = tty  # the helper inherits this command's environment
    return spawn_internal("_watch", name)


def spawn_collector(name: str) -> int:
    """A detached host process that copies the proxy's decisions to the host log while the session lives."""
    return spawn_internal("_collect", name)
