"""Fake Redis/Sentinel servers on loopback that misbehave on purpose.

``FakeServer(behaviour)`` accepts connections on a free 127.0.0.1 port and runs
``behaviour(conn, server)`` for each in a thread. Behaviours read real RESP commands with
``read_command`` so AUTH can be answered before the hostile part starts. Every socket is
closed by ``stop()``; ``accepted`` lets tests wait for a connection instead of sleeping.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Optional


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
    def __init__(self, behaviour: Callable[[socket.socket, FakeServer], None]) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.accepted = threading.Semaphore(0)
        self.commands: list = []  # every command seen, for "was it asked?" assertions
        self._conns: list = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
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


# -- behaviours ---------------------------------------------------------------------------------


def after_auth(then: Callable[[socket.socket, FakeServer, list], None]):
    """Answer AUTH/HELLO/PING like a server would, then hand the first real command to ``then``."""

    def behaviour(conn: socket.socket, server: FakeServer) -> None:
        buf = bytearray()
        while True:
            cmd = read_command(conn, buf)
            if cmd is None:
                return
            server.commands.append(cmd)
            if cmd[0].upper() == "AUTH":
                conn.sendall(b"+OK\r\n")
            elif cmd[0].upper() == "PING":
                conn.sendall(b"+PONG\r\n")
            else:
                then(conn, server, cmd)
                return

    return behaviour


def silent(conn, server):
    """Accepts, never answers (not even AUTH)."""
    server.hold(conn)


def sends(payload: bytes, then_close: bool = True):
    def then(conn, server, cmd):
        conn.sendall(payload)
        if not then_close:
            server.hold(conn)

    return after_auth(then)


def huge_reply():
    """An endless stream of array elements: the client must cut it off, not buffer it."""

    def then(conn, server, cmd):
        conn.sendall(b"*9999\r\n")
        element = bulk("x" * 60000)
        while not server.stopping.is_set():
            conn.sendall(element)

    return after_auth(then)


def drip(payload: bytes, every: float = 0.2):
    """A valid reply, one byte at a time: each recv succeeds, so only a total deadline helps."""

    def then(conn, server, cmd):
        for i in range(len(payload)):
            if server.stopping.wait(every):
                return
            conn.sendall(payload[i : i + 1])
        server.hold(conn)

    return after_auth(then)


def sentinel(
    ip: str,
    port: int,
    flags: str = "master",
    master_reply: Optional[bytes] = None,
    runid: str = "",
    myid: Optional[str] = None,
):
    """A well-behaved Sentinel naming ``ip:port``; ``master_reply`` overrides SENTINEL MASTER,
    ``runid`` is the master's run_id it reports ("" = not read yet), ``myid`` its own id (by
    default one per server, from its port). Pipelined commands are answered in order."""

    def behaviour(conn, server):
        buf = bytearray()
        while True:
            cmd = read_command(conn, buf)
            if cmd is None:
                return
            server.commands.append(cmd)
            word = " ".join(cmd[:2]).upper()
            if cmd[0].upper() == "AUTH":
                conn.sendall(b"+OK\r\n")
            elif cmd[0].upper() == "PING":
                conn.sendall(b"+PONG\r\n")
            elif word == "SENTINEL MYID":
                conn.sendall(bulk(myid if myid is not None else f"{server.port:040x}"))
            elif word in ("SENTINEL GET-MASTER-ADDR-BY-NAME", "SENTINEL GET-PRIMARY-ADDR-BY-NAME"):
                conn.sendall(array(ip, str(port)))
            elif word in ("SENTINEL MASTER", "SENTINEL PRIMARY"):
                if master_reply is not None:
                    conn.sendall(master_reply)
                    if not master_reply:
                        server.hold(conn)
                    return
                fields = ["name", cmd[2], "ip", ip, "port", str(port), "runid", runid,
                          "flags", flags, "failover-state", "none", "quorum", "2"]  # fmt: skip
                conn.sendall(array(*fields))
            else:
                conn.sendall(b"-ERR unknown command\r\n")

    return behaviour


def relay(port: int, gate: threading.Event, limit: float = 10.0):
    """Forward to the real server on 127.0.0.1:``port``, holding the client's first bytes
    until ``gate`` is set (at most ``limit`` s): an honest Sentinel on a slower link, so a
    test can make another answer arrive first without a sleep."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def behaviour(conn, server):
        upstream = socket.create_connection(("127.0.0.1", port), timeout=limit)
        upstream.settimeout(None)
        try:
            first = conn.recv(65536)
            gate.wait(limit)
            upstream.sendall(first)
            back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
            back.start()
            pump(conn, upstream)
            back.join(limit)
        finally:
            upstream.close()

    return behaviour


def after(behaviour, done: threading.Event):
    """``behaviour``, then ``done.set()`` once the client has hung up (it has the answer)."""

    def wrapped(conn, server):
        try:
            behaviour(conn, server)
        finally:
            done.set()

    return wrapped


def wait_until(predicate: Callable[[], bool], timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
