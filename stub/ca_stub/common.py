"""Small helpers both sides use: private files, one request on a Unix socket, a byte pump."""
import os
import socket
import time


def write_private(path, data, mtime_ns=None):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = path + ".ca-new"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.chmod(temporary, 0o600)
    if mtime_ns:
        os.utime(temporary, ns=(mtime_ns, mtime_ns))
    os.replace(temporary, path)


def socket_call(path, request, timeout):
    """Send one request, half-close, return everything the other end answers; timeout (seconds)
    bounds the whole exchange, not each step (socket.timeout, an OSError, when it runs out)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            connection.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def pump(source_read, sink_write, on_end):
    """Copy bytes until EOF; then let the other side know."""
    try:
        while True:
            chunk = source_read(65536)
            if not chunk:
                break
            sink_write(chunk)
    except OSError:
        pass
    finally:
        on_end()
