"""In-container helper for coding-agents (stdlib only; runs as the agent user).

Subcommands:
  session --mode interactive|prompt -- CMD...
             the container's main process: run CMD in the tmux session "agent" (interactive)
             or directly with output to the container log (prompt); on exit or SIGTERM,
             auto-commit uncommitted work (unless CODING_AGENTS_AUTO_COMMIT=0)
  wait-ready wait until the tmux session exists (used before attaching)
  health     print {"tip", "ahead", "dirty"} for the session branch (docker health check)
  autocommit commit uncommitted work in /workspace, if any
  versions   print a JSON object of the agent CLIs installed here and their versions
  logins-receive   read the host's login bundle (JSON) on stdin, write it, mark logins ready
  logins-push      send changed login files back to the host (over the session's bridge)
  logins-refresh   take a login another session refreshed (JSON on stdin, from the host)
  state-save       copy the agent's state still only on its tmpfs into the home volume
  state-receive    read a history archive (tar.gz) on stdin into the agent's state
  git-credential ACTION   git credential helper: asks the host (read only: get)
  relay DIR NAME...   listen on DIR/NAME and carry each connection to the host as frames on
                   stdout/stdin (the host runs it with `docker exec -i`; see relay.py)
  mcp-relay NAME   (agent side) an MCP server's stdio, relayed to the session's MCP sidecar
  mcp-sidecar      (sidecar) serve the session's secret-using MCP servers on Unix sockets
  mcp-receive      (sidecar) read the servers and their capabilities (JSON) on stdin
Also run as `ca-gpg` (git's gpg.program) and `ca-ssh-keygen` (gpg.ssh.program): signing
requests go to the host's signer; the private key never enters the container.
"""
import os
import sys


def _module(name):
    """One of the stub's modules, imported when its command runs: a health check (every session,
    every few seconds) and a session's start pay for no other."""
    import importlib

    return importlib.import_module("ca_stub." + name)


def main(argv):
    invoked = os.path.basename(sys.argv[0])
    if invoked == "ca-gpg":
        return _module("bridges").gpg_program(argv)
    if invoked == "ca-ssh-keygen":
        return _module("bridges").ssh_keygen_program(argv)
    if argv[:1] == ["logins-receive"]:
        return _module("logins").logins_receive()
    if argv[:1] == ["logins-push"]:
        return _module("logins").logins_push()
    if argv[:1] == ["logins-refresh"]:
        return _module("logins").logins_refresh()
    if argv[:1] == ["state-save"]:
        return _module("state").state_save()
    if argv[:1] == ["state-receive"]:
        return _module("state").state_receive()
    if argv[:1] == ["git-credential"] and len(argv) == 2:
        return _module("bridges").git_credential(argv[1])
    if argv[:1] == ["relay"] and len(argv) >= 3:
        return _module("relay").serve(argv[1], argv[2:])
    if argv[:1] == ["mcp-relay"] and len(argv) == 2:
        return _module("bridges").mcp_relay(argv[1])
    if argv[:1] == ["mcp-receive"]:
        return _module("sidecar").mcp_receive()
    if argv[:1] == ["mcp-sidecar"]:
        return _module("sidecar").mcp_sidecar()
    if argv[:1] == ["versions"]:
        return _module("versions").versions()
    if argv[:1] == ["health"]:
        return _module("workspace").health()
    if argv[:1] == ["autocommit"]:
        print("committed" if _module("workspace").autocommit() else "clean")
        return 0
    if argv[:1] == ["wait-ready"]:
        return _module("session").wait_ready()
    if argv[:1] == ["session"] and "--" in argv:
        options = argv[1 : argv.index("--")]
        command = argv[argv.index("--") + 1 :]
        at = options.index("--mode") if "--mode" in options else -1
        mode = options[at + 1] if 0 <= at < len(options) - 1 else ("interactive" if at < 0 else "")
        if command and mode in ("interactive", "prompt"):
            return _module("session").run_session(mode, command)
    print(__doc__.strip(), file=sys.stderr)
    return 2
