"""Sampling agent run *inside* a namespace (``ip netns exec NS python3 agent.py MODE SPEC``).

Standard library only (it runs under whatever python3 starts it, 3.9+). One long-running
process per namespace keeps sampling cheap: persistent connections, no fork per sample.
Output: one JSON object per line on stdout, timestamps from CLOCK_MONOTONIC, which every
namespace shares with the controller.

Modes (SPEC is a JSON file written by the cluster; passwords live only there):
  node    every ``interval``: does this namespace hold the VIP, local Redis ROLE and run_id,
          local Sentinel's master; plus every Sentinel pub/sub event as it arrives.
  client  writes ``SET prefix:SEQ SEQ`` through the VIP back to back, one record per attempt
          (ack or error, with the run_id of the server the connection reached). With
          ``reconnect_jitter`` J in the spec, the first failure after a success is followed
          by a wait drawn from [0, J) (``seed``), once, as clients that spread their
          reconnects do: without it every retry after a fault starts at the same offset from
          the fault, and a benchmark would draw the same phase in every repetition.
  call    one command (argv after SPEC) to TARGET, prints the reply; used for faults and checks.
"""

from __future__ import annotations

import json
import random
import select
import socket
import sys
import time


class Incomplete(Exception):
    pass


class ReplyError(Exception):
    pass


def _parse(buf, pos):
    """(value, new_pos) for one RESP2 value at ``buf[pos:]``; Incomplete if more is needed."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete()
    kind, line = buf[pos : pos + 1], bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return ReplyError(line.decode()), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise Incomplete()
        return bytes(buf[pos : pos + size]).decode(errors="replace"), pos + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    raise ReplyError(f"protocol: unexpected byte {kind!r}")


def encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Conn:
    """A minimal RESP2 connection with its own buffer (select-friendly for pub/sub)."""

    def __init__(self, host, port, password, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        if password:
            self.call("AUTH", password)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args):
        self.sock.sendall(encode(args))

    def pending(self):
        """A complete value already buffered, else Incomplete."""
        value, pos = _parse(self.buf, 0)
        del self.buf[:pos]
        return value

    def read(self):
        while True:
            try:
                return self.pending()
            except Incomplete:
                pass
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by server")
            self.buf += chunk

    def call(self, *args):
        self.send(*args)
        value = self.read()
        if isinstance(value, ReplyError):
            raise value
        return value


def info_field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def emit(record):
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def holds(address):
    """True when ``address`` is configured in this namespace (bind fails otherwise)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def err_text(exc):
    return f"{type(exc).__name__}: {exc}"[:160]


class Node:
    def __init__(self, spec):
        self.spec = spec
        self.redis = None
        self.run_id = None
        self.sentinel = None
        self.events = None

    def redis_role(self):
        spec = self.spec
        try:
            if self.redis is None:
                self.redis = Conn("127.0.0.1", spec["redis_port"], spec["redis_password"], 0.25)
                self.run_id = info_field(self.redis.call("INFO", "server"), "run_id")
            return self.redis.call("ROLE")[0], None
        except (OSError, ReplyError, ValueError) as exc:
            if self.redis is not None:
                self.redis.close()
            self.redis, self.run_id = None, None
            return None, err_text(exc)

    def sentinel_master(self):
        spec = self.spec
        try:
            if self.sentinel is None:
                self.sentinel = Conn(
                    "127.0.0.1", spec["sentinel_port"], spec["sentinel_password"], 0.25
                )
            reply = self.sentinel.call("SENTINEL", "get-master-addr-by-name", spec["master_name"])
            return (f"{reply[0]}:{reply[1]}" if reply else None), None
        except (OSError, ReplyError, ValueError) as exc:
            if self.sentinel is not None:
                self.sentinel.close()
            self.sentinel = None
            return None, err_text(exc)

    def subscribe(self):
        spec = self.spec
        try:
            self.events = Conn("127.0.0.1", spec["sentinel_port"], spec["sentinel_password"], 0.25)
            self.events.send("PSUBSCRIBE", "*")
        except (OSError, ReplyError, ValueError):
            self.events = None

    def drain_events(self, timeout):
        """Wait up to ``timeout`` for Sentinel events, emitting each as it arrives."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.events is None:
                time.sleep(left)
                return
            ready, _, _ = select.select([self.events.sock], [], [], left)
            if not ready:
                return
            try:
                chunk = self.events.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.events.buf += chunk
                while True:
                    try:
                        msg = self.events.pending()
                    except Incomplete:
                        break
                    if isinstance(msg, list) and msg and msg[0] == "pmessage":
                        emit(
                            {
                                "t": time.monotonic(),
                                "n": self.spec["name"],
                                "ev": msg[2],
                                "m": msg[3],
                            }
                        )
            except (OSError, ReplyError, ValueError):
                self.events.close()
                self.events = None

    def loop(self):
        interval = self.spec["interval"]
        next_tick = time.monotonic()
        while True:
            if self.events is None:
                self.subscribe()
            t = time.monotonic()
            role, rerr = self.redis_role()
            master, serr = self.sentinel_master()
            emit(
                {
                    "t": t,
                    "n": self.spec["name"],
                    "vip": holds(self.spec["vip"]),
                    "role": role,
                    "rid": self.run_id,
                    "sm": master,
                    "rerr": rerr,
                    "serr": serr,
                }
            )
            next_tick += interval
            wait = next_tick - time.monotonic()
            if wait < 0:
                next_tick = time.monotonic()
                wait = 0
            self.drain_events(wait)


def first_failure_wait(was_ok, jitter, rng):
    """The extra wait after a failed attempt: one draw from [0, jitter) when the attempt
    before it succeeded (the first failure of an outage), else none."""
    return rng.uniform(0, jitter) if was_ok and jitter > 0 else 0.0


def client_loop(spec):
    conn, run_id, seq = None, None, 0
    prefix, pause = spec["key_prefix"], spec["pause"]
    name = spec.get("name", "client")  # a second writer (e.g. on a node) has its own name
    jitter = float(spec.get("reconnect_jitter", 0.0))
    rng = random.Random(spec.get("seed"))  # a retry phase, not a secret
    was_ok = False
    while True:
        seq += 1
        t0 = time.monotonic()
        record = {"t": t0, "n": name, "seq": seq}
        try:
            if conn is None:
                conn = Conn(
                    spec["vip"], spec["redis_port"], spec["redis_password"], spec["timeout"]
                )
                run_id = info_field(conn.call("INFO", "server"), "run_id")
                emit({"t": time.monotonic(), "n": name, "conn": run_id})
            conn.call("SET", f"{prefix}{seq}", seq)
            record.update(ok=True, rid=run_id)
            was_ok, wait = True, pause
        except (OSError, ReplyError, ValueError) as exc:
            # Any error: drop the connection so the next attempt follows the VIP.
            record.update(ok=False, rid=run_id, err=err_text(exc))
            if conn is not None:
                conn.close()
            conn, run_id = None, None
            wait = pause + first_failure_wait(was_ok, jitter, rng)
            if wait > pause:
                record["jitter"] = round(wait - pause, 4)
            was_ok = False
        record["t1"] = time.monotonic()
        emit(record)
        time.sleep(wait)


def call(spec, argv):
    """argv: TARGET(host:port) AUTH(redis|sentinel|none) COMMAND..."""
    host, port = argv[0].rsplit(":", 1)
    password = spec.get(f"{argv[1]}_password", "")
    argv = argv[2:]
    try:
        conn = Conn(host, int(port), password, 3.0)
        reply = conn.call(*argv)
        conn.close()
        emit({"ok": True, "reply": reply})
    except (OSError, ReplyError, ValueError) as exc:
        emit({"ok": False, "err": err_text(exc)})


def main(argv):
    mode, spec_path = argv[1], argv[2]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        if mode == "node":
            Node(spec).loop()
        elif mode == "client":
            client_loop(spec)
        elif mode == "call":
            call(spec, argv[3:])
        else:
            raise SystemExit(f"unknown mode {mode}")
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
