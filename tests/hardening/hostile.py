"""Behaviours for support.resp_server's ``FakeServer`` that misbehave on purpose: servers
that lie, drip, flood or relay. They read real RESP commands (``answering``) so AUTH
can be answered before the hostile part starts.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Optional

from support.resp_server import FakeServer, answering, array, bulk

# -- behaviours ---------------------------------------------------------------------------------


def after_auth(then: Callable[[socket.socket, FakeServer, list], None]):
    """Answer AUTH/HELLO/PING like a server would, then hand the first real command to ``then``."""

    def answer(conn: socket.socket, server: FakeServer, cmd: list):
        if cmd[0].upper() == "AUTH":
            conn.sendall(b"+OK\r\n")
        elif cmd[0].upper() == "PING":
            conn.sendall(b"+PONG\r\n")
        else:
            then(conn, server, cmd)
            return False
        return True

    return answering(answer)


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

    def answer(conn, server, cmd):
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
                return False
            fields = ["name", cmd[2], "ip", ip, "port", str(port), "runid", runid,
                      "flags", flags, "failover-state", "none", "quorum", "2"]  # fmt: skip
            conn.sendall(array(*fields))
        else:
            conn.sendall(b"-ERR unknown command\r\n")
        return True

    return answering(answer)


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
