"""A lying Sentinel, run inside a node's namespace in place of the real one (standard library).

    ip netns exec NS python3 fake_sentinel.py SPEC

It speaks enough Sentinel to be configured as one: AUTH, PING, SENTINEL MYID (the id of the
real Sentinel it replaces), get-master-addr-by-name (the true master, so checks still
pass), SENTINEL MASTER (claims a failover of that master in progress, before promotion),
SENTINEL SENTINELS (claims to hear everyone), SUBSCRIBE. On pub/sub it publishes
``+try-failover`` about the master every ``try_every`` seconds, and from ``flood_after`` for
``flood_for`` seconds ``+sdown`` about it every ``flood_every`` seconds: the minority's word
and a flood. SPEC (JSON): binds, port, password, master_name, master_ip, master_port, myid,
peers, try_every, flood_after, flood_for, flood_every, flood_batch (messages per send, default 1).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time


def encode(value) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(encode(v) for v in value)
    data = str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def read_command(conn, buf: bytearray):
    """One RESP array of bulk strings (what clients send), or None at EOF."""
    while True:
        try:
            return _parse(buf)
        except (IndexError, ValueError):  # incomplete: read more
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk


def _parse(buf: bytearray):
    end = buf.index(b"\r\n")
    if buf[:1] != b"*":  # inline command
        line = bytes(buf[:end]).decode(errors="replace").split()
        del buf[: end + 2]
        return line
    count, pos, out = int(buf[1:end]), end + 2, []
    for _ in range(count):
        end = buf.index(b"\r\n", pos)
        size = int(buf[pos + 1 : end])
        start = end + 2
        if len(buf) < start + size + 2:
            raise IndexError
        out.append(bytes(buf[start : start + size]).decode(errors="replace"))
        pos = start + size + 2
    del buf[:pos]
    return out


class Fake:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.started = time.monotonic()
        self.subscribers: set = set()

    def master_fields(self) -> list:
        s = self.spec
        fields = {
            "name": s["master_name"], "ip": s["master_ip"], "port": str(s["master_port"]),
            "runid": s.get("master_runid", ""),
            "flags": "master,s_down,o_down,failover_in_progress,force_failover",
            "failover-state": "select_slave", "down-after-milliseconds": "2000",
            "num-other-sentinels": "2", "quorum": "2",
        }  # fmt: skip
        return [x for kv in fields.items() for x in kv]

    def peers(self) -> list:
        return [
            ["name", p["runid"], "ip", p["ip"], "port", str(p["port"]), "runid", p["runid"],
             "flags", "sentinel", "last-hello-message", "100"]
            for p in self.spec.get("peers", [])
        ]  # fmt: skip

    def reply(self, args: list) -> bytes:
        s = self.spec
        name = args[0].upper() if args else ""
        sub = args[1].upper() if len(args) > 1 else ""
        if name == "AUTH":
            return b"+OK\r\n"
        if name == "PING":
            return b"+PONG\r\n"
        if name == "SENTINEL" and sub == "MYID":
            return encode(s["myid"])
        if name == "SENTINEL" and sub in ("GET-MASTER-ADDR-BY-NAME", "GET-PRIMARY-ADDR-BY-NAME"):
            return encode([s["master_ip"], str(s["master_port"])])
        if name == "SENTINEL" and sub in ("MASTER", "PRIMARY"):
            return encode(self.master_fields())
        if name == "SENTINEL" and sub == "SENTINELS":
            return encode(self.peers())
        if name == "SENTINEL" and sub == "IS-MASTER-DOWN-BY-ADDR":
            return encode([0, "*", 0])
        return b"-ERR unknown command\r\n"

    def serve(self, conn) -> None:
        buf = bytearray()
        lock = threading.Lock()
        try:
            while True:
                args = read_command(conn, buf)
                if args is None:
                    return
                if args and args[0].upper() == "SUBSCRIBE":
                    with lock:
                        for i, channel in enumerate(args[1:], 1):
                            conn.sendall(encode(["subscribe", channel, i]))
                    threading.Thread(
                        target=self.publish, args=(conn, lock, set(args[1:])), daemon=True
                    ).start()
                    continue
                if args and args[0].upper() == "PING" and len(args) == 1 and self.subscribed(conn):
                    with lock:
                        conn.sendall(encode(["pong", ""]))
                    continue
                with lock:
                    conn.sendall(self.reply(args))
        except OSError:
            pass
        finally:
            conn.close()

    def subscribed(self, conn) -> bool:
        return conn in self.subscribers

    def publish(self, conn, lock, channels) -> None:
        s = self.spec
        self.subscribers.add(conn)
        about = f"master {s['master_name']} {s['master_ip']} {s['master_port']}"
        next_try = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                since = now - self.started
                flooding = s["flood_after"] <= since < s["flood_after"] + s["flood_for"]
                if now >= next_try and "+try-failover" in channels:
                    with lock:
                        conn.sendall(encode(["message", "+try-failover", about]))
                    next_try = now + s["try_every"]
                if flooding and "+sdown" in channels:
                    with lock:
                        conn.sendall(encode(["message", "+sdown", about]) * s.get("flood_batch", 1))
                    time.sleep(s["flood_every"])
                else:
                    time.sleep(0.05)
        except OSError:
            self.subscribers.discard(conn)


def main(argv) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    fake = Fake(spec)
    listeners = []
    for address in spec["binds"]:
        sock = socket.create_server((address, spec["port"]), reuse_port=False)
        listeners.append(sock)

    def accept(sock):
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=fake.serve, args=(conn,), daemon=True).start()

    for sock in listeners[1:]:
        threading.Thread(target=accept, args=(sock,), daemon=True).start()
    print("fake sentinel ready", flush=True)
    try:
        accept(listeners[0])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
