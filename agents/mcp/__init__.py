"""MCP servers: which ones a session gets (servers), each CLI's spelling of them (render), and
your approvals of a repository's servers (approvals). Import the submodule you need."""
