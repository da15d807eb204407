"""The relay: Unix-socket connections carried as frames over one byte stream (a `docker exec -i`).

Inside a container, `ca-stub relay DIR NAME...` listens on DIR/NAME for each NAME and sends every
accepted connection, as frames, on its stdout; the host's relay (agents/relay.py, which runs this
same module) connects each one to the host's socket of that name. No host path is mounted, so a
session works the same on a remote engine.

A frame is a 9-byte header (type, channel id, payload length; big-endian) and its payload:
  HELLO  container -> host, channel 0: JSON {"v": 1, "sockets": [...]}: it listens now
  OPEN   container -> host: a new connection on the socket named by the payload
  DATA   bytes of a connection (at most MAX_PAYLOAD)
  ACK    4-byte count: that many DATA bytes left the receiver's buffer (the sender may send more)
  EOF    the sender's side of the connection is done writing (a half-close)
  CLOSE  the connection is over (refused, failed, idle, or a rule was broken)
Each side may have at most WINDOW unacknowledged bytes in flight per connection, so neither
side buffers more than WINDOW per connection, and at most MAX_CHANNELS connections are open.
A peer that breaks a rule gets that connection closed (and logged); one that sends a frame this
module cannot read, or breaks rules again and again, loses the whole link.

Imports nothing of ours: the host loads this file on its own (agents/relay.py).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

HELLO, OPEN, DATA, ACK, EOF, CLOSE = 1, 2, 3, 4, 5, 6
_TYPES = {HELLO, OPEN, DATA, ACK, EOF, CLOSE}
HEADER = struct.Struct(">BII")
MAX_PAYLOAD = 64 * 1024
MAX_CONTROL = 4096  # HELLO and OPEN payloads; ACK is 4 bytes, EOF and CLOSE none
WINDOW = 256 * 1024
MAX_CHANNELS = 64
IDLE_SECONDS = 600.0  # a connection with no traffic for this long is closed
MAX_VIOLATIONS = 32  # broken rules before the whole link is dropped


class LinkBroken(Exception):
    """The stream cannot be read any further (a bad header, too many broken rules)."""


def log_to_stderr(message):
    print(f"relay: {message}", file=sys.stderr, flush=True)


class Channel:
    """One connection: its local socket, what waits to be written to it, and the send credit."""

    def __init__(self, link, ident, name):
        self.link = link
        self.ident = ident
        self.name = name
        self.sock = None
        self.cond = threading.Condition()
        self.queue = []  # DATA payloads received, not yet written to the socket
        self.unacked = 0  # received bytes not yet acknowledged (at most WINDOW)
        self.credit = WINDOW  # bytes we may still send before the peer acknowledges
        self.peer_eof = False
        self.read_done = False
        self.write_done = False
        self.closed = False
        self.active = time.monotonic()

    def start(self, sock):
        with self.cond:
            if self.closed:
                sock.close()
                return
            self.sock = sock
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    # frames in (the link's reader thread; never blocks)

    def take_data(self, payload):
        with self.cond:
            if self.closed:
                return True
            if self.peer_eof or self.unacked + len(payload) > WINDOW:
                return False
            self.unacked += len(payload)
            self.queue.append(payload)
            self.active = time.monotonic()
            self.cond.notify_all()
        return True

    def take_ack(self, count):
        with self.cond:
            if self.credit + count > WINDOW:
                return False
            self.credit += count
            self.active = time.monotonic()
            self.cond.notify_all()
        return True

    def take_eof(self):
        with self.cond:
            if self.peer_eof:
                return False
            self.peer_eof = True
            self.cond.notify_all()
        return True

    # the two pumps

    def _read(self):
        """Local socket -> DATA frames, as far as the peer's credit allows; then EOF."""
        try:
            while True:
                with self.cond:
                    while self.credit <= 0 and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    size = min(self.credit, MAX_PAYLOAD)
                data = self.sock.recv(size)
                if not data:
                    if self.closed:
                        return
                    break
                with self.cond:
                    self.credit -= len(data)
                    self.active = time.monotonic()
                self.link.send(DATA, self.ident, data)
            self.link.send(EOF, self.ident)
        except OSError:
            self.abort()
            return
        with self.cond:
            self.read_done = True
        self._finish_if_done()

    def _write(self):
        """Received DATA -> the local socket, acknowledged once written; EOF becomes a half-close."""
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.peer_eof and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    if not self.queue:
                        break  # the peer's EOF, after everything it sent
                    chunk = self.queue.pop(0)
                self.sock.sendall(chunk)
                with self.cond:
                    self.unacked -= len(chunk)
                self.link.send(ACK, self.ident, struct.pack(">I", len(chunk)))
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.abort()
            return
        with self.cond:
            self.write_done = True
        self._finish_if_done()

    def _finish_if_done(self):
        with self.cond:
            if not (self.read_done and self.write_done) or self.closed:
                return
            self.closed = True
        self._release()

    def abort(self, tell_peer=True):
        """End the connection now (both directions); the peer hears CLOSE unless it said it."""
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        self._release()
        if tell_peer:
            try:
                self.link.send(CLOSE, self.ident)
            except OSError:
                pass

    def _release(self):
        self.link.forget(self)
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Link:
    """Both ends of the relay: channels multiplexed over a readable and a writable descriptor.

    The side that accepts connections calls open_channel; the other side passes opener(name),
    which returns a connected socket or None (the connection is then refused with CLOSE).
    """

    def __init__(self, read_fd, write_fd, opener=None, on_hello=None, log=log_to_stderr,
                 max_channels=MAX_CHANNELS, idle_seconds=IDLE_SECONDS):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.opener = opener
        self.on_hello = on_hello
        self.log = log
        self.max_channels = max_channels
        self.idle_seconds = idle_seconds
        self.channels = {}
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.next_id = 1
        self.last_opened = 0
        self.violations = 0
        self.ended = threading.Event()

    # sending (any thread)

    def send(self, kind, ident, payload=b""):
        frame = HEADER.pack(kind, ident, len(payload)) + payload
        with self.write_lock:
            if self.ended.is_set():
                raise BrokenPipeError("the relay link has ended")
            view = memoryview(frame)
            try:
                while view:
                    view = view[os.write(self.write_fd, view):]
            except OSError:
                self.ended.set()
                raise

    def hello(self, sockets):
        self.send(HELLO, 0, json.dumps({"v": 1, "sockets": list(sockets)}).encode())

    def open_channel(self, name, sock):
        """A connection accepted on socket `name`: carried to the other side (False when too many)."""
        with self.lock:
            if self.ended.is_set() or len(self.channels) >= self.max_channels:
                sock.close()
                return False
            ident = self.next_id
            self.next_id += 1
            channel = self.channels[ident] = Channel(self, ident, name)
        try:
            self.send(OPEN, ident, name.encode())
        except OSError:
            self.forget(channel)
            sock.close()
            return False
        channel.start(sock)
        return True

    def forget(self, channel):
        with self.lock:
            if self.channels.get(channel.ident) is channel:
                del self.channels[channel.ident]

    def open_count(self):
        with self.lock:
            return len(self.channels)

    # receiving (one thread)

    def run(self):
        """Read frames until the stream ends or cannot be trusted; every connection is closed then.
        Returns why it ended."""
        watchdog = threading.Thread(target=self._close_idle, daemon=True)
        watchdog.start()
        reason = "the stream ended"
        try:
            while True:
                header = self._read_exactly(HEADER.size)
                if header is None:
                    break
                kind, ident, length = HEADER.unpack(header)
                if kind not in _TYPES:
                    raise LinkBroken(f"unknown frame type {kind}")
                if length > (MAX_PAYLOAD if kind == DATA else MAX_CONTROL):
                    raise LinkBroken(f"a frame of {length} bytes (type {kind}) is over the limit")
                payload = self._read_exactly(length) if length else b""
                if payload is None:
                    break
                self._dispatch(kind, ident, payload)
        except LinkBroken as error:
            reason = str(error)
            self.log(f"link dropped: {reason}")
        except OSError as error:
            reason = f"the stream failed: {error}"
        finally:
            self.ended.set()
            with self.lock:
                channels = list(self.channels.values())
            for channel in channels:
                channel.abort(tell_peer=False)
        return reason

    def _read_exactly(self, size):
        chunks, left = [], size
        while left:
            chunk = os.read(self.read_fd, left)
            if not chunk:
                if left != size:
                    self.log("the stream ended inside a frame")
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _violation(self, channel, why):
        self.violations += 1
        if self.violations <= 5 or self.violations % 100 == 0:
            self.log(f"connection {channel.ident if channel else '-'} closed: {why}")
        if channel is not None:
            channel.abort()
        if self.violations >= MAX_VIOLATIONS:
            raise LinkBroken(f"{self.violations} broken rules")

    def _dispatch(self, kind, ident, payload):
        if kind == HELLO:
            try:
                hello = json.loads(payload.decode())
            except ValueError:
                hello = None
            if not isinstance(hello, dict):
                self._violation(None, "a HELLO that is not a JSON object")
            elif self.on_hello is not None:
                self.on_hello(hello)
            return
        if kind == OPEN:
            self._accept(ident, payload)
            return
        with self.lock:
            channel = self.channels.get(ident)
        if channel is None:
            return  # a late frame of a connection already closed here
        if kind == DATA:
            if not channel.take_data(payload):
                self._violation(channel, "data beyond its window or after its EOF")
        elif kind == ACK:
            if len(payload) != 4 or not channel.take_ack(struct.unpack(">I", payload)[0]):
                self._violation(channel, "an acknowledgement of data never sent")
        elif kind == EOF:
            if not channel.take_eof():
                self._violation(channel, "a second EOF")
        elif kind == CLOSE:
            channel.abort(tell_peer=False)

    def _accept(self, ident, payload):
        if self.opener is None or ident <= self.last_opened:
            self._violation(None, f"an OPEN this side does not take (connection {ident})")
            return
        self.last_opened = ident
        name = payload.decode("utf-8", "replace")
        with self.lock:
            full = len(self.channels) >= self.max_channels
            if not full:
                channel = self.channels[ident] = Channel(self, ident, name)
        if full:
            self.log(f"connection {ident} to {name} refused: {self.max_channels} are open")
            self._send_quietly(CLOSE, ident)
            return

        def connect():
            try:
                sock = self.opener(name)
            except OSError as error:
                self.log(f"connection {ident} to {name} failed: {error}")
                sock = None
            if sock is None:
                channel.abort()
            else:
                channel.start(sock)

        threading.Thread(target=connect, daemon=True).start()

    def _send_quietly(self, kind, ident):
        try:
            self.send(kind, ident)
        except OSError:
            pass

    def _close_idle(self):
        while not self.ended.wait(min(5.0, self.idle_seconds / 2)):
            now = time.monotonic()
            with self.lock:
                idle = [channel for channel in self.channels.values() if now - channel.active > self.idle_seconds]
            for channel in idle:
                self.log(f"connection {channel.ident} to {channel.name} closed: idle for {self.idle_seconds:g} s")
                channel.abort()


# --- inside the container: `ca-stub relay DIR NAME...` ------------------------------------------


def listen_all(directory, names):
    """One listening socket per name in directory, which must be this process's own (the agent's
    user cannot replace a socket there); connectable by anyone inside (0666)."""
    info = os.stat(directory)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(f"{directory} is not this relay's own folder (owner {info.st_uid}, mode {info.st_mode & 0o777:o})")
    listeners = {}
    for name in names:
        if "/" in name or name.startswith("."):
            raise OSError(f"not a socket name: {name!r}")
        path = os.path.join(directory, name)
        try:
            os.unlink(path)  # left by a relay that was killed
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o666)
        listener.listen(MAX_CHANNELS)
        listeners[name] = listener
    return listeners


def serve(directory, names, read_fd=0, write_fd=1):
    """Body of `ca-stub relay`: listen, say HELLO, carry connections until the host's end closes."""
    try:
        listeners = listen_all(directory, names)
    except OSError as error:
        log_to_stderr(f"cannot listen: {error}")
        return 1
    link = Link(read_fd, write_fd)

    def accept(name, listener):
        while not link.ended.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if not link.open_channel(name, connection):
                log_to_stderr(f"a connection to {name} refused: {link.max_channels} are open")

    for name, listener in listeners.items():
        threading.Thread(target=accept, args=(name, listener), daemon=True).start()
    try:
        link.hello(names)
        link.run()
    except OSError:
        pass
    finally:
        for name, listener in listeners.items():
            listener.close()
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
    return 0
