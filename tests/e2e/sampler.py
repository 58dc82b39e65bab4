"""Continuous sampling of a running Cluster: one agent process per namespace.

    with cluster.sampler() as s:            # starts agents on the 3 nodes + the client
        s.wait_for_writes(5, timeout=30)    # acknowledged writes through the VIP
        t = cluster.kill_redis("n1")
        s.wait_until(lambda st: st.vip_holders() == [new], 90, "VIP on the new master")
    tl = s.timeline(fault_at=t, old="n1")   # timeline.Timeline; tl.figures(), tl.summary()
    lost = s.lost_writes()                  # acked keys missing on Sentinel's final master

Records are plain dicts (see timeline.py) kept in memory and in ``<cluster dir>/samples.jsonl``.
``writers_on=("n1",)`` adds a writer *inside* a node's namespace (an application on that host,
records named ``app@n1``, keys ``e2e:app@n1:SEQ``) writing through the VIP; ``direct_on=("n1",)``
one that writes to that node's own Redis on 127.0.0.1 (``direct@n1``), as an application
configured with the local address would. Acks and timelines count the client only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional

from . import netns, timeline

KEY_PREFIX = "e2e:w:"
CLIENT = "client"
CONNECT_TIMEOUT = 0.5  # each writer's socket timeout (connect and reply)
WRITE_PAUSE = 0.01  # each writer's pause between attempts


def writer_name(node: str) -> str:
    return f"app@{node}"


def direct_writer_name(node: str) -> str:
    return f"direct@{node}"


def key_prefix(writer: str) -> str:
    return KEY_PREFIX if writer == CLIENT else f"e2e:{writer}:"


class State:
    """Latest sample per node, as seen by the sampler."""

    def __init__(self, latest: dict[str, dict], acks: int, last_write: Optional[dict]):
        self.latest = latest
        self.acks = acks
        self.last_write = last_write

    def vip_holders(self) -> list[str]:
        return sorted(n for n, r in self.latest.items() if r.get("vip"))

    def masters(self) -> list[str]:
        """Nodes whose Redis answers role master."""
        return sorted(n for n, r in self.latest.items() if r.get("role") == "master")

    def sentinel_views(self) -> dict[str, Optional[str]]:
        return {n: r.get("sm") for n, r in self.latest.items()}


class Sampler:
    def __init__(
        self,
        cluster,
        interval: float = 0.05,
        write_pause: float = WRITE_PAUSE,
        writers_on=(),
        direct_on=(),
        client_writers=(),
        reconnect_jitter: float = 0.0,
        seed: Optional[int] = None,
    ) -> None:
        self.cluster = cluster
        # every writer, alike: after its first failure, one wait drawn from [0, jitter)
        # (agent.py), each writer's draws from its own seed derived from ``seed``
        self.reconnect_jitter = reconnect_jitter
        self.seed = seed
        # (name, host:port-less target) writers in the client namespace besides the one
        # through the VIP, e.g. through a local HAProxy (bench/election.py)
        self.client_writers = tuple(client_writers)
        self.writers_on = tuple(writers_on)
        self.direct_on = tuple(direct_on)
        self.interval = interval
        self.write_pause = write_pause
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._procs: list = []
        self._threads: list = []
        self._latest: dict[str, dict] = {}
        self._acks = 0
        self._last_write: Optional[dict] = None
        self._out = None

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        c = self.cluster
        self._out = open(os.path.join(c.dir, "samples.jsonl"), "a", encoding="utf-8")
        for node in c.nodes.values():
            spec = os.path.join(node.dir, "agent.json")
            with open(spec, encoding="utf-8") as fh:
                data = json.load(fh)
            data["interval"] = self.interval
            with open(spec, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            self._spawn(node.ns, ["node", spec])
        self._spawn(c.client_ns, ["client", self._writer_spec(CLIENT)])
        for name in self.writers_on:
            self._spawn(c.nodes[name].ns, ["client", self._writer_spec(writer_name(name))])
        for name in self.direct_on:
            spec = self._writer_spec(direct_writer_name(name), target="127.0.0.1")
            self._spawn(c.nodes[name].ns, ["client", spec])
        for name, target in self.client_writers:
            self._spawn(c.client_ns, ["client", self._writer_spec(name, target=target)])

    def _writer_spec(self, writer: str, target: str = "") -> str:
        c = self.cluster
        path = os.path.join(c.dir, f"{writer}.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "name": writer,
                    "vip": target or c.vip,
                    "redis_port": 6379,
                    "redis_password": c.redis_password,
                    "key_prefix": key_prefix(writer),
                    "pause": self.write_pause,
                    "timeout": CONNECT_TIMEOUT,
                    "reconnect_jitter": self.reconnect_jitter,
                    "seed": None if self.seed is None else f"{self.seed}:{writer}",
                },
                fh,
            )
        return path

    def _spawn(self, ns: str, args: list) -> None:
        proc = subprocess.Popen(
            netns.exec_argv(ns, [sys.executable, "-u", os.path.join(_HERE, "agent.py"), *args]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _read(self, proc) -> None:
        for raw in proc.stdout:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            with self._lock:
                self.records.append(record)
                if "vip" in record:
                    self._latest[record["n"]] = record
                elif "seq" in record and record.get("n", CLIENT) == CLIENT:
                    self._last_write = record
                    if record["ok"]:
                        self._acks += 1
                if self._out is not None:
                    self._out.write(raw.decode(errors="replace"))

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self._procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for thread in self._threads:
            thread.join(5)
        self._procs, self._threads = [], []
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None

    # ------------------------------------------------------------------ live state

    def state(self) -> State:
        with self._lock:
            return State(dict(self._latest), self._acks, self._last_write)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def wait_until(self, predicate: Callable[[State], object], timeout: float, what: str):
        end = time.monotonic() + timeout
        while True:
            value = predicate(self.state())
            if value:
                return value
            if time.monotonic() >= end:
                from .cluster import ClusterError

                raise ClusterError(f"timed out after {timeout:g}s waiting for: {what}")
            time.sleep(0.02)

    def wait_for_writes(self, count: int, timeout: float) -> None:
        """Wait until ``count`` more writes through the VIP have been acknowledged."""
        target = self.state().acks + count
        self.wait_until(lambda st: st.acks >= target, timeout, f"{count} acknowledged writes")

    # ------------------------------------------------------------------ analysis

    def addrs(self) -> dict[str, str]:
        return {n: node.redis_addr for n, node in self.cluster.nodes.items()}

    def timeline(self, fault_at: float, old: str) -> timeline.Timeline:
        return timeline.analyse(self.snapshot(), fault_at, old, self.addrs())

    def lost_writes(self, on: Optional[str] = None, writer: str = CLIENT) -> list[int]:
        """Acknowledged writes of ``writer`` missing on ``on`` (default: the Sentinel
        majority's master). Only once stopped: a write acknowledged after the key listing
        would count as lost."""
        if self._procs:
            from .cluster import ClusterError

            raise ClusterError("lost_writes() while the writers run: stop the sampler first")
        on = on or self.cluster.master_by_majority()
        prefix = key_prefix(writer)
        keys = self.cluster.keys_on(on, prefix + "*") if on else None
        if keys is None:
            from .cluster import ClusterError

            raise ClusterError(f"cannot read keys from the final master ({on})")
        return timeline.lost_writes(self.snapshot(), keys, prefix, writer=writer)


_HERE = os.path.dirname(os.path.abspath(__file__))
