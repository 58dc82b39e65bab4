"""VIP and Sentinel-event sampler for the several-masters cluster, run inside a node namespace
(``ip netns exec NS python3 multi_agent.py SPEC``). Standard library only.

Every ``interval`` it looks which of the VIPs (IPv4 or IPv6) this namespace holds and prints
one JSON line per change (and one per VIP at start); every Sentinel event of the local
Sentinel is printed as it arrives. Times are CLOCK_MONOTONIC, shared by every namespace.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from agent import Conn, Incomplete, ReplyError, emit


def holds(address: str) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    name, vips, interval = spec["name"], spec["vips"], spec["interval"]
    held: dict = {}
    events = None
    while True:
        now = time.monotonic()
        for vip in vips:
            state = holds(vip)
            if held.get(vip) != state:
                held[vip] = state
                emit({"t": now, "n": name, "vip": vip, "held": state})
        if events is None:
            try:
                events = Conn("127.0.0.1", spec["sentinel_port"], spec["sentinel_password"], 0.25)
                events.send("PSUBSCRIBE", "*")
            except (OSError, ReplyError, ValueError):
                events = None
        if events is None:
            time.sleep(interval)
            continue
        ready, _, _ = select.select([events.sock], [], [], interval)
        if not ready:
            continue
        try:
            chunk = events.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            events.buf += chunk
            while True:
                try:
                    msg = events.pending()
                except Incomplete:
                    break
                if isinstance(msg, list) and msg and msg[0] == "pmessage":
                    emit({"t": time.monotonic(), "n": name, "ev": msg[2], "m": msg[3]})
        except (OSError, ReplyError, ValueError):
            events.close()
            events = None


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
