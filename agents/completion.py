"""Shell completion: what may come next on a command line, worked out from the real parser.

The bash and zsh scripts in shell/completion/ list the commands themselves (the first word needs
no process) and ask `coding-agents _complete -- WORDS...` for everything else, so options, their
choices, agent names and session names never go stale. Pure apart from the two lookups passed in.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

FILES = ":files"  # the answer that means "let the shell complete file names"
# Commands whose NAME argument is a session.
SESSION_COMMANDS = ("connect-agent", "remove-agent", "sync", "stop", "start", "diff", "land", "logs", "code", "inspect",
                    "policy")


def public_commands(parser: argparse.ArgumentParser) -> list[str]:
    """The first words a user may type (internal `_...` commands left out), in --help order."""
    return [name for name in _subparsers(parser).choices if not name.startswith("_")]


def candidates(
    parser: argparse.ArgumentParser,
    words: Sequence[str],
    sessions: Callable[[], list[str]],
    agents: Callable[[], list[str]],
    secrets: Callable[[], list[str]] = list,
) -> list[str]:
    """What may complete the last of words (words[0] is the program, maybe a shim like run-claude)."""
    from agents.cli import expand_shim, program_name

    *typed, current = list(words) or [""]
    typed = expand_shim(program_name(typed[0]) if typed else "coding-agents", typed[1:])
    path: list[str] = []  # command words so far, e.g. ["images", "build"]
    positionals = 0
    pending: argparse.Action | None = None  # an option waiting for its value
    for word in typed:
        if pending is not None:
            if word != "=":  # bash splits `--opt=value` into --opt, =, value
                pending = None
            continue
        if word.startswith("-") and word != "-":
            action = parser._option_string_actions.get(word.split("=", 1)[0])
            if action is not None and action.nargs != 0 and "=" not in word:
                pending = action
            continue
        sub = _subparsers(parser)
        if sub is not None and positionals == 0 and word in sub.choices:
            parser, positionals = sub.choices[word], 0
            path.append(word)
            continue
        positionals += 1
    if pending is not None:
        found = _values(pending, path, sessions, agents, secrets)
    elif current.startswith("-"):
        found = [option for action in parser._actions if action.help != argparse.SUPPRESS
                 for option in action.option_strings]
    else:
        action = _positional(parser, positionals)
        found = _values(action, path, sessions, agents, secrets) if action is not None else []
    if found == [FILES]:
        return found
    return [word for word in dict.fromkeys(found) if word.startswith(current)]


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((action for action in parser._actions if isinstance(action, argparse._SubParsersAction)), None)


def _positional(parser: argparse.ArgumentParser, index: int) -> argparse.Action | None:
    """The positional argument the index-th bare word fills (a `*` one takes every word after it)."""
    slots = [action for action in parser._actions if not action.option_strings]
    for position, action in enumerate(slots):
        if position == index or action.nargs in ("*", "+", argparse.REMAINDER) and position <= index:
            return action
    return None


def _values(action: argparse.Action, path: list[str], sessions, agents, secrets) -> list[str]:
    if isinstance(action, argparse._SubParsersAction):
        return [name for name in action.choices if not name.startswith("_")]
    if action.choices:
        return [str(choice) for choice in action.choices]
    if action.dest == "agent":
        return agents()
    if action.dest == "name" and path and path[0] in SESSION_COMMANDS:
        return sessions()
    if action.dest == "name" and path == ["secrets", "rm"]:
        return secrets()
    if action.dest == "targets" and path == ["images", "build"]:
        from agents import catalog

        return ["all", *catalog.image_names(), *catalog.agent_names()]
    if action.metavar in ("PATH", "FILE") or action.dest in ("path", "file", "ca_cert"):
        return [FILES]
    return []


def session_names() -> list[str]:
    """Every session on the engine, orphaned ones too: two quick queries, nothing per session."""
    from agents import runner
    from agents.errors import AgentsError
    from agents.session import naming

    queries = ([runner.engine(), "ps", "--all", "--filter", f"label={naming.ROLE}=agent", "--format", "{{.Names}}"],
               [runner.engine(), "volume", "ls", "--filter", f"label={naming.SESSION}", "--format",
                '{{.Label "' + naming.SESSION + '"}}'])
    names = set()
    for argv in queries:
        try:
            result = runner.run(argv, check=False, timeout=5)
        except AgentsError:  # no docker, or an engine too slow for a key press: no names, no noise
            return sorted(names)
        if result.ok:
            names.update(line.strip() for line in result.stdout.splitlines() if line.strip())
    return sorted(names)


def agent_names() -> list[str]:
    """The built-in agents and the user's own [agents.NAME]; a broken config gives the built-in ones."""
    from agents import catalog
    from agents.config import load_config
    from agents.errors import AgentsError

    try:
        custom = [agent.name for agent in load_config().agents]
    except AgentsError:
        custom = []
    return [*catalog.agent_names(), *custom]


def secret_names() -> list[str]:
    from agents import secrets
    from agents.errors import AgentsError

    try:
        return secrets.names()
    except AgentsError:
        return []
