"""ca-stub, the in-container helper of coding-agents (stdlib only; runs as the agent user).

`cli` dispatches the subcommands; `paths` holds every container path and variable name. The
agent container's side: `session` (tmux), `workspace` (health, auto-commit), `logins`,
`bridges` (clients of the host's sockets and the MCP relay), `versions`. The MCP sidecar's side:
`sidecar` (with its broker client). `common` has what both use.
"""
