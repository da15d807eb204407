"""`connect-agent`: reattach to a running agent's tmux session."""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: the fast path in agents/cli.py imports as little as it can)
if TYPE_CHECKING:
    import argparse

HELP = "reattach to an agent's tmux session (detach again with Ctrl-b d)"

# The fast path's exit statuses (the attach's own are passed through; tmux never exits so).
NOT_UP = 213  # no tmux session (not ready, a --prompt task, not a session) or a squid session's proxy is down
AGENT_ENDED = 214  # the attach returned and the agent's tmux session is gone: the agent ended
# One `docker exec` does it all when the session is up and ready, with no Python started in the
# container: the readiness test is the one `ca-stub wait-ready` makes (`tmux has-session`); a squid
# session (its HTTP_PROXY names the proxy) also needs its proxy's name to resolve, which it does only
# while the proxy container runs. After the attach, the same shell says whether the agent's pane is
# still alive (a detach) or dead (the session outlives it until the stub has logged its last
# screen), so nothing more is asked of the engine after a detach.
# First of all, the container must be the session of that name (its launch set the variable): a
# container that is no session, or another's, goes the full path, which refuses it by its labels.
FAST_ATTACH = (
    f'[ "$CODING_AGENTS_SESSION" = "$1" ] || exit {NOT_UP}; '
    f"tmux has-session -t agent 2>/dev/null || exit {NOT_UP}; "
    f'case "$HTTP_PROXY" in http://proxy:*) getent ahostsv4 proxy >/dev/null 2>&1 || exit {NOT_UP};; esac; '
    "tmux attach-session -t agent; s=$?; "
    f"""[ "$(tmux display-message -p -t agent:0.0 '#{{pane_dead}}' 2>/dev/null)" = 0 ] && exit $s; exit {AGENT_ENDED}"""
)


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "connect-agent",
        parents=[common],
        help=HELP,
        description=HELP + ". Without NAME, picks the only running agent. A stopped agent "
        "is started again first (its workspace is intact). Exits 0 after a detach, and with the "
        "agent's own exit status when the agent ends while attached.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="session name (see list-agents)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.name:
        attached = fast_attach(args.name, debug=getattr(args, "debug", False))
        if attached is not None:
            return after_attach(args.name, *attached)
    return full_path(args.name)


def fast_attach_argv(name: str) -> list[str]:
    import os

    from agents import engine_program  # (not runner: its imports are most of this path's time)
    from agents.session import naming

    assert naming.TMUX_SESSION == "agent"  # noqa: S101 - FAST_ATTACH spells it out
    return [engine_program.chosen(), "exec", "-it", "--user", str(naming.AGENT_UID),
            "--env", f"TERM={os.environ.get('TERM', 'xterm-256color')}", name, "sh", "-c", FAST_ATTACH,
            "connect-agent", name]


def fast_attach(name: str, debug: bool = False) -> tuple[int, bool | None] | None:
    """The attach as one `docker exec`, when the session is up and ready; nothing else is imported
    or asked first. (its status, whether the agent ended: True, False, None for "ask the engine"),
    or None when it did not attach (not ready, not running, no such session, a --prompt task, the
    proxy down, the engine down...): the full path then finds out why and says so, as it always did.
    """
    import subprocess
    import sys

    if not sys.stdin.isatty():
        return None  # without a terminal the attach fails, and its complaint would look like docker's
    argv = fast_attach_argv(name)
    if debug:  # (logging is not even imported on the way here without --debug)
        import logging

        logging.getLogger("agents.runner").debug("run: %s", " ".join(argv[:-1]) + " FAST_ATTACH")
    try:
        # The docker CLI's own complaints only (with a terminal, the container's output comes on
        # stdout): they tell "docker did not attach" from "the attach ended"; shown if it attached.
        done = subprocess.run(argv, stderr=subprocess.PIPE)  # noqa: S603 - argv built above; the TTY is ours
    except FileNotFoundError:
        return None  # no docker: the full path says so
    complaint = done.stderr.decode("utf-8", "replace")
    if done.returncode == NOT_UP:
        return None
    if done.returncode == AGENT_ENDED:
        return 1, True
    if done.returncode != 0 and complaint.strip():
        return None  # docker refused (no such container, not running, engine down): it never attached
    if complaint:
        sys.stderr.write(complaint)
    # 0 after a detach (the tmux session is still there); anything else without a word from docker:
    # the exec was cut short (the container stopped under it), so the engine is asked.
    return done.returncode, False if done.returncode == 0 else None


def after_attach(name: str, code: int, ended: bool | None, info=None) -> int:
    """After the attach: a detach keeps tmux's status; when the agent ended, its own status is the
    answer (tmux's client exits 1, "[server exited]", whatever the agent did)."""
    if ended is False:  # a detach: back to the shell at once
        return code
    from agents.output import say
    from agents.session import attach, query

    if ended is None and not attach.agent_ended(name):
        return code
    if ended:
        attach.wait_stopped(name)
    status = attach.exit_status(name)
    info = info or query.find_session(name)
    if info is None:
        after = "its workspace is gone"
    else:
        after = "it cleans up after itself" if info.mode == "run" else f"remove-agent {name} brings {info.branch} home"
    say(f"==> the agent in {name} exited with status {status}; {after}")
    return status


def warn_if_over(info) -> None:
    """Before the attach (tmux gives the screen back on a detach): a session coming back after days
    says when its kept state has grown past [sessions] state_size. The fast path asks nothing more."""
    from agents import state_size

    if not state_size.keeps_state(info):
        return
    kept = state_size.measure(info, state_size.current_limit())
    if kept is not None and kept.over:
        state_size.warn(info.name, kept)


def full_path(name: str | None) -> int:
    """Find the session, refuse or explain what cannot be attached, start what is down, attach."""
    from agents import netmodes
    from agents.errors import AgentsError
    from agents.session import attach, query

    info = query.pick_session(name)  # by name: one `docker inspect` of it and its proxy
    if not info.interactive:
        raise AgentsError(
            f"{info.name} runs a --prompt task, which has no terminal to attach to",
            hint=f"follow its output with `coding-agents logs -f {info.name}`; collect it with remove-agent {info.name}",
        )
    if not info.running or (netmodes.is_proxied(info.network) and info.proxy_state != "running"):
        # Only then is there something to start (what ensure_running would find from the same facts).
        from agents.config import load_config
        from agents.session import services

        services.ensure_running(info, load_config().network.subnet_pool)
    from agents import records

    warn_if_over(records.replace(info, state="running"))  # (it is, by now)
    # Not exec'd: when the agent ends, tmux's client exits 1 ("[server exited]") whatever the agent
    # did, so the agent's own status is asked for instead (a detach keeps the client's 0).
    code = attach.attach(info)
    return after_attach(info.name, code, None, info)
