#!/usr/bin/env python3
"""A tiny streamable-HTTP MCP server for tests (stdlib only).

POST /mcp with one JSON-RPC message; answers JSON (or SSE when ?sse=1 was in the URL). It only
serves requests whose Authorization header is `Bearer $EXPECTED_TOKEN`, and logs each request's
method, path and whether the token matched (never the token) to stdout.
"""

import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPECTED = os.environ.get("EXPECTED_TOKEN", "")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        ok = bool(EXPECTED) and token == EXPECTED
        print(f"POST {self.path} auth={'ok' if ok else 'bad'}", flush=True)
        if not ok:
            self.send_response(401)
            self.end_headers()
            return
        request = json.loads(body or b"{}")
        if "id" not in request:
            self.send_response(202)
            self.end_headers()
            return
        method = request.get("method")
        if method == "initialize":
            result = {"protocolVersion": request.get("params", {}).get("protocolVersion", "2025-06-18"),
                      "capabilities": {"tools": {}}, "serverInfo": {"name": "http-echo", "version": "0.1.0"}}
        elif method == "tools/list":
            result = {"tools": [{"name": "token_hash", "description": "sha256 of the bearer token",
                                 "inputSchema": {"type": "object", "properties": {}}}]}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "sha256=" + hashlib.sha256(token.encode()).hexdigest()}]}
        else:
            result = {}
        answer = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
        self.send_response(200)
        self.send_header("Mcp-Session-Id", "test-session-1")
        if "sse=1" in self.path:
            payload = b"event: message\ndata: " + answer + b"\n\n"
            self.send_header("Content-Type", "text/event-stream")
        else:
            payload = answer
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    print(f"ready on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
