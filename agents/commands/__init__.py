"""One module per command. Each has add_parser(subparsers, common) and run(args) -> int.

COMMANDS names each command's module, in the order of `coding-agents --help`. Only the module of
the command being run is imported (tests/unit/test_cli.py checks each registers the name given
here); --help, a mistyped command and completion import them all.
"""

import importlib

COMMANDS = {
    "run-agent": "run_agent",
    "launch-agent": "launch",
    "connect-agent": "connect",
    "list-agents": "list_agents",
    "remove-agent": "remove",
    "sync": "sync",
    "stop": "stop",
    "start": "start",
    "diff": "diff_command",
    "land": "land_command",
    "prune": "prune",
    "history": "history_command",
    "logs": "logs",
    "policy": "policy",
    "code": "code",
    "inspect": "inspect_command",
    "mcp": "mcp_command",
    "secrets": "secrets_command",
    "images": "images",
    "doctor": "doctor",
    "_reap": "reap",
    "_collect": "collect",
    "_watch": "watch",
    "_bridge": "bridge",
    "_bridge-handle": "bridge_handle",
    "_broker": "broker_daemon",
    "_complete": "complete",
}
ALIASES = {"verify-prerequisites": "doctor"}  # other names a module registers for its command


def command_module(name: str):
    """The module of the command `name` (a key of COMMANDS or ALIASES)."""
    return importlib.import_module(f"agents.commands.{COMMANDS[ALIASES.get(name, name)]}")
