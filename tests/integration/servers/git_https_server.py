"""A private git server for tests: `git http-backend` (smart HTTP, fetch and push) over TLS with Basic auth.

Usage: git_https_server.py --root DIR --cert CERT.pem --key KEY.pem [--port 8443]

The one account comes from GIT_SERVER_USER and GIT_SERVER_PASSWORD; any request without it gets
401 with `WWW-Authenticate: Basic realm="test"`. Every request is logged to stdout as
`METHOD PATH STATUS USER` (USER is '-' when the request did not authenticate). Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import os
import ssl
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Request headers that CGI passes in their own variables rather than as HTTP_*.
_CGI_OWN = {"CONTENT_TYPE", "CONTENT_LENGTH", "AUTHORIZATION", "PROXY_AUTHORIZATION"}


def _log(line: str) -> None:
    print(line, flush=True)


class GitHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-git-https/1"
    timeout = 120  # idle keep-alive connections end

    # set on the class by main()
    root = "/srv/git/repos"
    account = ("", "")

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # one line per request from _respond instead of the base class's stderr log

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    # --- the request -------------------------------------------------------------------------

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        want_user, want_password = self.account
        ok = sep == ":" and hmac.compare_digest(user.encode(), want_user.encode())
        ok = hmac.compare_digest(password.encode(), want_password.encode()) and ok
        return user if ok else None

    def _body(self) -> bytes | None:
        """The request body, de-chunked; None when its framing is unreadable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)  # the CRLF after each chunk
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            return None

    def _handle(self):
        body = self._body()
        if body is None:
            self.close_connection = True
            self._respond(400, [("Content-Type", "text/plain")], b"bad request body\n", "-")
            return
        user = self._user()
        if user is None:
            self._respond(401, [("WWW-Authenticate", 'Basic realm="test"'), ("Content-Type", "text/plain")],
                          b"authentication required\n", "-")
            return
        status, headers, payload = self._run_backend(user, body)
        self._respond(status, headers, payload, user)

    def _run_backend(self, user: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": user,
            "AUTH_TYPE": "Basic",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            # Repos were copied in by another user id than the one serving them; push is on.
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
            "GIT_CONFIG_KEY_1": "http.receivepack",
            "GIT_CONFIG_VALUE_1": "true",
        }
        # Every other header as HTTP_*: this carries HTTP_CONTENT_ENCODING (gzip bodies, which
        # http-backend inflates itself) and HTTP_GIT_PROTOCOL (protocol v2).
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key not in _CGI_OWN:
                env["HTTP_" + key] = value
        done = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, timeout=300)
        if done.stderr:
            sys.stderr.write(done.stderr.decode(errors="replace"))
            sys.stderr.flush()
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        if not sep:
            return 500, [("Content-Type", "text/plain")], b"git http-backend gave no CGI headers\n"
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        return status, headers, payload

    def _respond(self, status: int, headers: list[tuple[str, str]], payload: bytes, user: str) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        _log(f"{self.command} {self.path} {status} {user}")


class TLSThreadingHTTPServer(ThreadingHTTPServer):
    """TLS per connection, in the connection's own thread, so a client that stalls the handshake
    (or a plain TCP probe) never blocks the accept loop."""

    daemon_threads = True

    def __init__(self, address, handler, context: ssl.SSLContext):
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request, client_address):
        request.settimeout(60)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            _log(f"- - TLS-FAILED {client_address[0]}: {error}")
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="directory holding the bare repos")
    parser.add_argument("--cert", required=True, help="TLS certificate (PEM)")
    parser.add_argument("--key", required=True, help="TLS private key (PEM)")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)

    user = os.environ.get("GIT_SERVER_USER", "")
    password = os.environ.get("GIT_SERVER_PASSWORD", "")
    if not user or not password:
        print("GIT_SERVER_USER and GIT_SERVER_PASSWORD must be set", file=sys.stderr)
        return 2
    GitHandler.root = os.path.abspath(args.root)
    GitHandler.account = (user, password)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = TLSThreadingHTTPServer((args.host, args.port), GitHandler, context)
    _log(f"ready: serving {GitHandler.root} on https://{args.host}:{args.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
