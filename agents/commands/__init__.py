"""One module per command. Each has add_parser(subparsers, common) and run(args) -> int."""

from agents.commands import (
    bridge,
    bridge_handle,
    broker_daemon,
    code,
    collect,
    complete,
    connect,
    doctor,
    images,
    inspect_command,
    launch,
    list_agents,
    logs,
    mcp_command,
    policy,
    reap,
    remove,
    run_agent,
    secrets_command,
    sync,
)

# Order here is the order in `coding-agents --help`.
COMMANDS = (run_agent, launch, connect, list_agents, remove, sync, logs, policy, code, inspect_command, mcp_command,
            secrets_command, images, doctor, reap, collect, bridge, bridge_handle, broker_daemon, complete)
