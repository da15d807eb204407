#!/usr/bin/env python3
"""A tiny MCP stdio server for tests (newline-delimited JSON-RPC 2.0, stdlib only).

One tool, hash_secret: the SHA-256 of $MCP_ECHO_SECRET, which proves the secret reached it.
"""
import hashlib
import json
import os
import sys

TOOL = {"name": "hash_secret", "description": "sha256 of $MCP_ECHO_SECRET and the cwd",
        "inputSchema": {"type": "object", "properties": {}}}


def reply(message_id, result=None, error=None):
    message = {"jsonrpc": "2.0", "id": message_id}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if os.environ.get("MCP_ECHO_LOG"):  # record the start (argv, cwd, a hash prefix: never the value)
    secret = os.environ.get("MCP_ECHO_SECRET")
    with open(os.environ["MCP_ECHO_LOG"], "a") as log:
        prefix = hashlib.sha256(secret.encode()).hexdigest()[:8] if secret is not None else None
        log.write(f"start argv={sys.argv[1:]} cwd={os.getcwd()} secret_sha8={prefix}\n")

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        request = json.loads(line)
    except ValueError:
        continue
    method, message_id = request.get("method"), request.get("id")
    if message_id is None:  # notifications (e.g. notifications/initialized) get no reply
        continue
    if method == "initialize":
        version = request.get("params", {}).get("protocolVersion", "2025-06-18")
        reply(message_id, {"protocolVersion": version, "capabilities": {"tools": {}},
                           "serverInfo": {"name": "mcp-echo", "version": "0.1.0"}})
    elif method == "tools/list":
        reply(message_id, {"tools": [TOOL]})
    elif method == "tools/call":
        value = os.environ.get("MCP_ECHO_SECRET", "")
        text = f"sha256={hashlib.sha256(value.encode()).hexdigest()} cwd={os.getcwd()}"
        reply(message_id, {"content": [{"type": "text", "text": text}], "isError": False})
    elif method == "ping":
        reply(message_id, {})
    else:
        reply(message_id, error={"code": -32601, "message": f"Method not found: {method}"})
