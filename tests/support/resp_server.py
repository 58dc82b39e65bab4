"""The one fake RESP server: a loopback listener that runs a behaviour per connection.

``FakeServer(behaviour, tls_context=None)`` accepts on a free 127.0.0.1 port (TLS-wrapped
when a server ``ssl.SSLContext`` is given) and runs ``behaviour(conn, server)`` for each
connection in a thread. Two ways to write a behaviour:

- ``scripted(*actions)``: one action per chunk the client sends: bytes (sent back),
  ``HOLD`` (never answer), ``CLOSE`` (hang up), or ``callable(conn, stopping)``.
- ``answering(answer)``: ``answer(conn, server, command)`` for each command the client
  sends (tests/hardening/hostile.py has Sentinels that lie, drip or flood); or anything
  else, reading commands with ``read_command``.

``received`` keeps the raw chunks of scripted servers, ``commands`` the parsed commands of
behaviours that record them; ``accepted`` lets a test wait for a connection instead of
sleeping; ``stop()`` closes every socket.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Optional

HOLD = object()
CLOSE = object()


def read_command(conn: socket.socket, buf: bytearray) -> Optional[list]:
    """One RESP array of bulk strings from the client, or None when it hung up."""

    def line() -> Optional[bytes]:
        while b"\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf.extend(chunk)
        end = buf.index(b"\r\n")
        out = bytes(buf[:end])
        del buf[: end + 2]
        return out

    head = line()
    if head is None or not head.startswith(b"*"):
        return None
    args = []
    for _ in range(int(head[1:])):
        size_line = line()
        if size_line is None:
            return None
        size = int(size_line[1:])
        while len(buf) < size + 2:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf.extend(chunk)
        args.append(bytes(buf[:size]).decode("utf-8", "replace"))
        del buf[: size + 2]
    return args


def bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(*items: str) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(bulk(i) for i in items)


class FakeServer:
    HOLD, CLOSE = HOLD, CLOSE

    def __init__(self, behaviour: Callable, tls_context=None) -> None:
        self.behaviour = behaviour
        self._tls = tls_context
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.accepted = threading.Semaphore(0)
        self.commands: list = []  # parsed commands, for "was it asked?" assertions
        self.received: list = []  # raw chunks (scripted behaviours)
        self._conns: list = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def endpoint(self, **kwargs):
        from sentinel_vip.probes.endpoint import Endpoint

        return Endpoint("127.0.0.1", self.port, **kwargs)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            self.accepted.release()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn.settimeout(5)
                conn = self._tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(conn)
            self.behaviour(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def wait_accepted(self, timeout: float = 10.0) -> bool:
        return self.accepted.acquire(timeout=timeout)

    def hold(self, conn: socket.socket) -> None:
        """Keep the connection open, reading and discarding, until the server stops."""
        conn.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(2)

    close = stop


def scripted(*actions) -> Callable:
    """A behaviour answering the client's n-th chunk of bytes with ``actions[n]``."""

    def behaviour(conn: socket.socket, server: FakeServer) -> None:
        conn.settimeout(0.05)
        for action in actions:
            data = b""
            while not data and not server.stopping.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
            server.received.append(data)
            if action is HOLD:
                server.stopping.wait()
                return
            if action is CLOSE:
                return
            if callable(action):
                action(conn, server.stopping)
                continue
            conn.sendall(action)
        server.stopping.wait()

    return behaviour


def answering(answer: Callable) -> Callable:
    """A behaviour handing each command the client sends (also kept in ``server.commands``)
    to ``answer(conn, server, command)``; the connection ends when the client hangs up or
    ``answer`` returns False."""

    def behaviour(conn: socket.socket, server: FakeServer) -> None:
        buf = bytearray()
        while True:
            command = read_command(conn, buf)
            if command is None:
                return
            server.commands.append(command)
            if answer(conn, server, command) is False:
                return

    return behaviour


def silent(conn: socket.socket, server: FakeServer) -> None:
    """Accepts, never answers (not even AUTH): a hung server, or one behind a cut."""
    server.hold(conn)
