"""Entry point: `coding-agents COMMAND ...`, plus argv[0] dispatch for shims like `run-claude`.

`main` is the only function that turns errors into exit codes; nothing else exits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from agents.errors import EXIT_BUG, EXIT_INTERRUPTED, AgentsError

PROG = "coding-agents"
# For the rare error raised without a hint of its own (a program we ran failed in a way we did not foresee).
FALLBACK_HINT = "rerun with --debug to see every command run and its output; `coding-agents doctor` checks the setup"

# Program names (links, shims, console scripts) that stand for a command prefix: these commands
# under their own name, and run-NAME for `run-agent NAME`, every agent of the table (and a user's own
# [agents.NAME] when linked so). shim_names() are the ones installed.
COMMAND_SHIMS = ("run-agent", "launch-agent", "connect-agent", "list-agents", "remove-agent")
AGENT_SHIM = r"run-(?P<agent>[a-z0-9][a-z0-9_-]*)"  # agent names as catalog.custom_agent takes them


def build_parser(args: Sequence[str] | None = None):
    """agents.parsing.build_parser (argparse is imported only when a command line is parsed)."""
    from agents import parsing

    return parsing.build_parser(args)


def shim_prefix(prog: str) -> list[str] | None:
    """The command words a program name stands for (`run-claude`: run-agent claude); None: not a shim."""
    if prog in COMMAND_SHIMS:
        return [prog]
    if not prog.startswith("run-"):
        return None
    import re

    match = re.fullmatch(AGENT_SHIM, prog)
    return ["run-agent", match.group("agent")] if match else None


def shim_names() -> list[str]:
    """The shim names to install: the commands', then run-NAME for every row of the agents table."""
    from agents import catalog

    return [*COMMAND_SHIMS, *(f"run-{name}" for name in catalog.agent_names())]


def program_name(argv0: str | None) -> str:
    name = os.path.basename(argv0 or PROG)
    for suffix in (".pyz", ".pex", ".py", ".exe"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def invoked_name() -> str:
    """The name we were started under, even through the pex zipapp's launcher.

    pex's --sh-boot launcher replaces argv[0] with the zipapp's real path, so a symlink
    named run-claude would look like coding-agents. Shells that set `_` (bash, zsh)
    still tell us the link's name; trust it only when it resolves to this very zipapp.
    """
    explicit = os.environ.get("CODING_AGENTS_PROG")
    if explicit:
        return program_name(explicit)
    name = program_name(sys.argv[0])
    pex_path = os.environ.get("PEX")
    launched_as = os.environ.get("_")
    if pex_path and launched_as and shim_prefix(program_name(launched_as)) is not None:
        if os.path.realpath(launched_as) == os.path.realpath(pex_path):
            return program_name(launched_as)
    return name


def expand_shim(prog: str, argv: list[str]) -> list[str]:
    """`run-claude ARGS` means `coding-agents run-agent claude ARGS`."""
    prefix = shim_prefix(prog)
    if prefix is None:
        return argv
    return prefix + argv


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if prog is None:
        prog = invoked_name()
    args_list = expand_shim(prog, list(argv))
    debug = "--debug" in args_list
    try:
        if args_list == ["--version"]:  # no command module needs importing for it
            from agents import __version__

            print(f"{PROG} {__version__}")
            return 0
        if len(args_list) == 2 and args_list[0] == "connect-agent" and args_list[1].strip() \
                and not args_list[1].startswith("-"):
            # The command run most is one `docker exec` when the session is ready: started before
            # argparse and logging are even imported (connect.run's own way, for this one shape).
            from agents.commands import connect

            attached = connect.fast_attach(args_list[1])
            if attached is not None:
                return connect.after_attach(args_list[1], *attached)
            configure_logging(debug)
            return connect.full_path(args_list[1])
        configure_logging(debug)
        if args_list[:1] == ["list-agents"]:  # run most after connect-agent (`watch list-agents`)
            from agents.commands import list_agents

            listing = list_agents.plain_options(args_list[1:])
            if listing is not None:
                return int(listing.handler(listing) or 0)
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        if not getattr(args, "handler", None):
            parser.print_help()  # the same as --help, and where --help goes
            return 0
        return int(args.handler(args) or 0)
    except AgentsError as error:
        if debug:
            _print_traceback()
        print(f"error: {error.message}", file=sys.stderr)
        print(f"hint: {error.hint or FALLBACK_HINT}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        # One line; on a terminal after a line break, as the ^C the terminal echoed has none.
        start = "\n" if sys.stderr.isatty() else ""
        print(f"{start}interrupted" + (f": {interrupt}" if str(interrupt) else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and friends; not worth a traceback.
        sys.stderr.close()
        return 1
    except Exception as error:  # a bug: say so plainly, traceback only on request
        if debug:
            _print_traceback()
        print(f"error: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("hint: rerun with --debug for the traceback and report it", file=sys.stderr)
        return EXIT_BUG


def configure_logging(debug: bool) -> None:
    if not debug:
        return  # nothing logs above debug level: the logging module stays unimported
    import logging

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="debug: %(message)s", stream=sys.stderr)


def _print_traceback() -> None:
    import traceback  # only on --debug: keeps start-up fast

    traceback.print_exc()


def entry() -> None:
    """Console-script entry (pip/pipx): every script name maps through argv[0]."""
    code = main()
    # Done: a Ctrl-C from here on has nothing left to stop. Python's exit puts SIGINT back to the
    # system default, so one arriving then would kill the process, and the caller would see a
    # signal death (-2) instead of our status; an ignored SIGINT is left ignored.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == EXIT_INTERRUPTED:
        # CPython 3.11 takes a KeyboardInterrupt that passed through exec() (code made while a module
        # is imported, as dataclasses does) for unhandled even after main handled it, and at exit
        # kills the process with SIGINT instead of returning our code: leave directly.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
