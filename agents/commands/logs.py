"""`coding-agents logs`: an agent's output, or its network decisions (--network)."""

from __future__ import annotations

import argparse

HELP = "show an agent's output, or with --network every allowed and denied request"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "logs",
        parents=[common],
        help=HELP,
        description=HELP + ". Network decisions are kept on the host in "
        "~/.local/state/coding-agents/network/NAME.log, also after the session is removed.",
    )
    parser.add_argument("name", metavar="NAME", help="session name (see list-agents --all), or its proxy "
                        "(NAME-proxy) or MCP sidecar (NAME-mcp)")
    parser.add_argument("--network", action="store_true", help="show proxy decisions (squid mode)")
    parser.add_argument("--denied", action="store_true", help="with --network: only denied requests")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new entries (Ctrl-C stops)")
    parser.add_argument("--json", action="store_true", help="with --network: JSON lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from agents import netlog, runner
    from agents.errors import AgentsError, UsageError
    from agents.output import say
    from agents.session import naming, query

    naming.validate_name(args.name)  # it names a file under the state folder: no '/' or '..'

    if not args.network:
        if args.denied or args.json:
            raise UsageError("--denied and --json go with --network", hint=f"coding-agents logs {args.name} --network")
        if not _is_session_container(args.name):
            raise AgentsError(f"no agent session named {args.name!r}",
                              hint="`list-agents --all` shows the sessions; `logs NAME --network` also reads a "
                              "removed session's network log")
        screen = _agent_screen(args.name)
        if screen is not None:
            # An interactive agent draws in tmux: the container log only gets its last screen at exit.
            runner.run([runner.engine(), "logs", args.name], stream=True)
            print(screen, flush=True)
            return _follow_screen(args.name, screen) if args.follow else 0
        argv = [runner.engine(), "logs", *(["--follow"] if args.follow else []), args.name]
        runner.run(argv, stream=True)
        return 0
    known = netlog.log_path(args.name).exists()
    session = next((info for info in query.find_sessions() if info.name == args.name), None)
    live = session is not None
    if not known and not live:
        raise AgentsError(f"no network log for {args.name!r}", hint="only --network-proxy squid sessions have one")
    if session is not None and session.running and session.proxy_down:
        say(f"==> warning: the proxy of {args.name} is {session.proxy_state}: the agent has no network until "
            f"it is back (connect-agent {args.name} brings it back)")

    def show(entries: list[dict]) -> None:
        for entry in entries:
            if args.denied and entry.get("decision") != "denied":
                continue
            print(json.dumps(entry) if args.json else netlog.format_entry(entry), flush=True)

    if live:
        netlog.collect(args.name)
    # Read on from where the last look ended (a byte offset): whoever appended (this command, the
    # session's collector, remove-agent), each entry is shown once, and a half-written one not yet.
    entries, offset = netlog.read_new(args.name)
    show(entries)
    try:
        while args.follow:
            time.sleep(1.0)
            netlog.collect(args.name)
            entries, offset = netlog.read_new(args.name, offset)
            show(entries)
    except KeyboardInterrupt:
        return 0
    return 0


def _agent_screen(name: str) -> str | None:
    """What a running interactive agent shows now (its tmux pane), or None when name is no such agent
    (stopped, a --prompt task, a proxy or sidecar): those have all their output in the container log."""
    from agents import runner
    from agents.session import naming

    shown = runner.run(naming.agent_exec(name, "tmux", "capture-pane", "-p", "-t", naming.TMUX_SESSION), check=False)
    if not shown.ok:
        return None
    lines = [line.rstrip() for line in shown.stdout.splitlines()]
    while lines and not lines[-1]:
        lines.pop()  # the empty rows below the cursor
    return "\n".join(lines)


def _follow_screen(name: str, screen: str, interval: float = 1.0) -> int:
    """Print the agent's screen again each time it changes, until the agent ends (Ctrl-C stops)."""
    import time
    from datetime import datetime

    from agents import runner, workspace

    try:
        while True:
            time.sleep(interval)
            now = _agent_screen(name)
            if now is None:
                break
            if now != screen:
                print(f"--- {name} at {datetime.now().strftime('%H:%M:%S')} ---", flush=True)
                print(now, flush=True)
                screen = now
    except KeyboardInterrupt:
        return 0
    # The agent ended: the stub's closing lines (its status) follow the last screen in the container
    # log, written as the container stops.
    deadline = time.monotonic() + 10
    while workspace.session_state(name) == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    tail = runner.run([runner.engine(), "logs", "--tail", "5", name], check=False)
    for line in (tail.stdout + tail.stderr).splitlines():
        if line.startswith("[ca-stub:"):
            print(line, flush=True)
    return 0


def _is_session_container(name: str) -> bool:
    """A container of one of our sessions (the agent, its proxy or its MCP sidecar), so `docker logs`
    has something of ours to show; anything else gets our error, not docker's raw one."""
    from agents import docker, runner
    from agents.session import naming

    label = "{{index .Config.Labels \"" + naming.SESSION + "\"}}"
    result = docker.run("inspect", "--type", "container", "--format", label, name, check=False)
    if result.ok:
        return bool(result.stdout.strip())
    if "no such" in (result.stderr + result.stdout).lower():
        return False
    raise docker.explain(runner.CommandFailed(result))
