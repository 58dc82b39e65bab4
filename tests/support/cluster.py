"""A whole Redis set on loopback: one master, replicas and Sentinels (integration tests,
hardening, benchmarks). tests/e2e's ``Cluster`` is the other kind: namespaced nodes with
keepalived.

``Cluster`` starts one master, two replicas and three Sentinels, each on a free
127.0.0.1 port in a private temp dir, with random passwords that only ever go into config
files (0600), never onto a command line. Every process runs in its own session so it can
be signalled as a process group, and ``stop()`` kills them all whatever state they are in.

Everything here polls for conditions with a deadline; nothing sleeps in place of a check.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from typing import Optional

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes.endpoint import Endpoint
from sentinel_vip.probes.resp import ProbeError, connect
from sentinel_vip.probes.sentinel import ask_sentinels
from support.config import merge, to_toml, write_private
from support.servers import SyslogListener, binaries_available, free_ports, run_pyz, wait_for

__all__ = ["Cluster", "binaries_available", "run_pyz", "wait_for"]

MASTER_NAME = "mymaster"
READY_TIMEOUT = 40.0
KEEP_ENV = "SENTINEL_VIP_KEEP_TMP"


class Cluster:
    """One master + replicas + Sentinels on loopback. Index 0 is the initial master."""

    def __init__(
        self,
        replicas: int = 2,
        sentinels: int = 3,
        quorum: int = 2,
        *,
        monitor_host: str = "127.0.0.1",
        sentinel_lines: tuple = (),
        sentinel_bind: str = "127.0.0.1",
        passwords: Optional[tuple] = None,
    ) -> None:
        """``monitor_host``: how the Sentinels name the master (``sentinel monitor``), e.g.
        "localhost" with ``sentinel_lines`` turning on resolve-/announce-hostnames;
        ``sentinel_bind``: the Sentinels' ``bind`` line; ``passwords``: (redis, sentinel),
        to share another cluster's (one sentinel-vip config reaching both)."""
        self.master_name = MASTER_NAME
        self.quorum = quorum
        self.monitor_host = monitor_host
        self.sentinel_lines = tuple(sentinel_lines)
        self.sentinel_bind = sentinel_bind
        # Short, private path: unix socket paths are limited to 108 bytes.
        self.tmpdir = tempfile.mkdtemp(prefix="svip-")
        os.chmod(self.tmpdir, 0o700)
        self.redis_password, self.sentinel_password = passwords or (
            secrets.token_urlsafe(18),
            secrets.token_urlsafe(18),
        )
        ports = free_ports(1 + replicas + sentinels)
        self.redis_ports = ports[: 1 + replicas]
        self.sentinel_ports = ports[1 + replicas :]
        self._redis: list = [None] * len(self.redis_ports)
        self._sentinels: list = [None] * len(self.sentinel_ports)
        self.argv: list = []  # every argv we ever ran, for the "no secret on a command line" test
        self.secrets_dir = os.path.join(self.tmpdir, "secrets")
        os.mkdir(self.secrets_dir, 0o700)
        self.redis_password_file = os.path.join(self.secrets_dir, "redis.password")
        self.sentinel_password_file = os.path.join(self.secrets_dir, "sentinel.password")
        write_private(self.redis_password_file, self.redis_password + "\n")
        write_private(self.sentinel_password_file, self.sentinel_password + "\n")
        self.syslog_socket = os.path.join(self.tmpdir, "syslog.sock")
        self._syslog: Optional[SyslogListener] = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Cluster:
        try:
            self._syslog = SyslogListener(self.syslog_socket)
            for i in range(len(self.redis_ports)):
                self._write_redis_config(i)
                self.start_redis(i)
            wait_for(self._replicas_linked, READY_TIMEOUT, "replicas master_link_status:up")
            for j in range(len(self.sentinel_ports)):
                self._write_sentinel_config(j)
                self.start_sentinel(j)
            wait_for(self._sentinels_ready, READY_TIMEOUT, "Sentinels to see the whole cluster")
        except BaseException as exc:
            logs = self.log_tails()
            self.stop()
            raise RuntimeError(f"cluster did not start: {exc}\n{logs}") from exc
        return self

    def stop(self) -> None:
        """Kill every process group (stopped ones too: SIGKILL needs no SIGCONT)."""
        for procs in (self._sentinels, self._redis):
            for proc in procs:
                if proc is not None and proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            for index, proc in enumerate(procs):
                if proc is not None:
                    proc.wait(timeout=10)
                    procs[index] = None
        if self._syslog is not None:
            self._syslog.close()
            self._syslog = None
        if not os.environ.get(KEEP_ENV):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- config files -------------------------------------------------------------------------
    def node_dir(self, i: int) -> str:
        path = os.path.join(self.tmpdir, f"redis-{i}")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def sentinel_dir(self, j: int) -> str:
        path = os.path.join(self.tmpdir, f"sentinel-{j}")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _write_redis_config(self, i: int) -> None:
        d = self.node_dir(i)
        lines = [
            "bind 127.0.0.1",
            f"port {self.redis_ports[i]}",
            f'dir "{d}"',
            'logfile ""',
            'save ""',
            "appendonly no",
            "daemonize no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
            f'requirepass "{self.redis_password}"',
            f'masterauth "{self.redis_password}"',
        ]
        if i != 0:
            lines.append(f"replicaof 127.0.0.1 {self.redis_ports[0]}")
        write_private(os.path.join(d, "redis.conf"), "\n".join(lines) + "\n")

    def _write_sentinel_config(self, j: int) -> None:
        d = self.sentinel_dir(j)
        name = self.master_name
        lines = [
            f"bind {self.sentinel_bind}",
            f"port {self.sentinel_ports[j]}",
            f'dir "{d}"',
            'logfile ""',
            "daemonize no",
            f'requirepass "{self.sentinel_password}"',
            f'sentinel sentinel-pass "{self.sentinel_password}"',
            *self.sentinel_lines,
            f"sentinel monitor {name} {self.monitor_host} {self.redis_ports[0]} {self.quorum}",
            f'sentinel auth-pass {name} "{self.redis_password}"',
            f"sentinel down-after-milliseconds {name} 1000",
            f"sentinel failover-timeout {name} 5000",
            f"sentinel parallel-syncs {name} 2",
        ]
        write_private(os.path.join(d, "sentinel.conf"), "\n".join(lines) + "\n")

    # -- processes ----------------------------------------------------------------------------
    def _spawn(self, argv: list, cwd: str) -> subprocess.Popen:
        self.argv.append(list(argv))
        log = open(os.path.join(cwd, "server.log"), "ab")  # Popen dups it for the child
        try:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg reaches forks too
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        finally:
            log.close()

    def start_redis(self, i: int) -> None:
        if self._redis[i] is not None and self._redis[i].poll() is None:
            raise RuntimeError(f"redis {i} is already running")
        d = self.node_dir(i)
        self._redis[i] = self._spawn(["redis-server", os.path.join(d, "redis.conf")], d)
        wait_for(lambda: self.redis_call(i, "PING") == "PONG", READY_TIMEOUT, f"redis {i}")

    def start_sentinel(self, j: int) -> None:
        if self._sentinels[j] is not None and self._sentinels[j].poll() is None:
            raise RuntimeError(f"sentinel {j} is already running")
        d = self.sentinel_dir(j)
        self._sentinels[j] = self._spawn(["redis-sentinel", os.path.join(d, "sentinel.conf")], d)
        wait_for(lambda: self.sentinel_call(j, "PING") == "PONG", READY_TIMEOUT, f"sentinel {j}")

    def _signal(self, proc: Optional[subprocess.Popen], sig: int, what: str) -> None:
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"{what} is not running")
        os.killpg(proc.pid, sig)

    def _stop(self, procs: list, index: int, sig: int, what: str) -> int:
        proc = procs[index]
        self._signal(proc, sig, what)
        if sig == signal.SIGTERM:
            os.killpg(proc.pid, signal.SIGCONT)  # a SIGSTOPped server must see the TERM
        code = proc.wait(timeout=15)
        procs[index] = None
        return code

    def stop_redis(self, i: int, sig: int = signal.SIGTERM) -> int:
        """Signal redis ``i`` (a terminating signal) and wait until it has exited."""
        return self._stop(self._redis, i, sig, f"redis {i}")

    def stop_sentinel(self, j: int, sig: int = signal.SIGTERM) -> int:
        return self._stop(self._sentinels, j, sig, f"sentinel {j}")

    def sigstop(self, i: int) -> None:
        self._signal(self._redis[i], signal.SIGSTOP, f"redis {i}")

    def sigcont(self, i: int) -> None:
        self._signal(self._redis[i], signal.SIGCONT, f"redis {i}")

    def sigstop_sentinel(self, j: int) -> None:
        self._signal(self._sentinels[j], signal.SIGSTOP, f"sentinel {j}")

    def sigcont_sentinel(self, j: int) -> None:
        self._signal(self._sentinels[j], signal.SIGCONT, f"sentinel {j}")

    def pids(self) -> dict:
        """{"redis": [pid or None, ...], "sentinel": [...]}, None for a stopped server."""

        def pid(proc):
            return proc.pid if proc is not None and proc.poll() is None else None

        return {
            "redis": [pid(p) for p in self._redis],
            "sentinel": [pid(p) for p in self._sentinels],
        }

    # -- talking to the servers ---------------------------------------------------------------
    def redis_endpoint(self, i: int, password: Optional[str] = None) -> Endpoint:
        pw = self.redis_password if password is None else password
        return Endpoint("127.0.0.1", self.redis_ports[i], password=pw)

    def sentinel_endpoint(self, j: int, password: Optional[str] = None) -> Endpoint:
        pw = self.sentinel_password if password is None else password
        return Endpoint("127.0.0.1", self.sentinel_ports[j], password=pw)

    def sentinel_endpoints(self, password: Optional[str] = None) -> tuple:
        return tuple(self.sentinel_endpoint(j, password) for j in range(len(self.sentinel_ports)))

    def redis_call(self, i: int, *args, timeout: float = 2.0):
        with connect(self.redis_endpoint(i), Deadline(timeout)) as conn:
            return conn.call(*args)

    def sentinel_call(self, j: int, *args, timeout: float = 2.0):
        with connect(self.sentinel_endpoint(j), Deadline(timeout)) as conn:
            return conn.call(*args)

    def redis_index(self, port: int) -> int:
        return self.redis_ports.index(port)

    def live_sentinels(self) -> list:
        return [j for j, p in enumerate(self._sentinels) if p is not None and p.poll() is None]

    def current_master_port(self, timeout: float = 2.0) -> Optional[int]:
        """The port a majority of all configured Sentinels names, else None."""
        answers = ask_sentinels(self.sentinel_endpoints(), self.master_name, Deadline(timeout))
        votes = Counter(a.master[1] for a in answers if a.answered and a.master is not None)
        if not votes:
            return None
        port, count = votes.most_common(1)[0]
        return port if count > len(self.sentinel_ports) // 2 else None

    # -- readiness ----------------------------------------------------------------------------
    def _replica_linked(self, i: int, master_port: int) -> bool:
        role = self.redis_call(i, "ROLE")
        return role[0] == "slave" and int(role[2]) == master_port and role[3] == "connected"

    def _replicas_linked(self) -> bool:
        master = self.redis_ports[0]
        return all(self._replica_linked(i, master) for i in range(1, len(self.redis_ports)))

    def master_info(self, j: int) -> dict:
        reply = self.sentinel_call(j, "SENTINEL", "MASTER", self.master_name)
        return dict(zip(reply[::2], reply[1::2]))

    def _sentinels_ready(self) -> bool:
        replicas = str(len(self.redis_ports) - 1)
        others = str(len(self.sentinel_ports) - 1)
        for j in range(len(self.sentinel_ports)):
            info = self.master_info(j)
            if info.get("flags") != "master":
                return False
            if info.get("num-slaves") != replicas or info.get("num-other-sentinels") != others:
                return False
        return True

    # -- failover -----------------------------------------------------------------------------
    def failover(self, timeout: float = 40.0) -> int:
        """SENTINEL FAILOVER; wait until every live Sentinel names one new master, it says
        role master, and the old master is its connected replica. Returns the new port."""
        old = wait_for(self.current_master_port, 10, "a Sentinel majority naming a master")
        live = self.live_sentinels()

        def request() -> bool:
            try:
                return self.sentinel_call(live[0], "SENTINEL", "FAILOVER", self.master_name)
            except ProbeError as exc:
                if "INPROG" in str(exc) or "NOGOODSLAVE" in str(exc):
                    return False  # a previous failover still settling: ask again
                raise

        wait_for(request, timeout, "Sentinel to accept FAILOVER")

        def settled() -> Optional[int]:
            ports = set()
            for j in live:
                reply = self.sentinel_call(
                    j, "SENTINEL", "get-master-addr-by-name", self.master_name
                )
                ports.add(int(reply[1]))
            if len(ports) != 1:
                return None
            (new,) = ports
            if new == old or self.redis_call(self.redis_index(new), "ROLE")[0] != "master":
                return None
            if not self._replica_linked(self.redis_index(old), new):
                return None
            return new

        return wait_for(settled, timeout, "the Sentinels to agree on a new master")

    def master_run_id_known(self, timeout: float = 20.0) -> str:
        """Wait until every live Sentinel reports the current master's run_id (after a
        switch Sentinel learns it from its next INFO of the new master, up to 10 s later);
        returns it."""

        def known() -> Optional[str]:
            port = self.current_master_port()
            runids = set()
            for j in self.live_sentinels():
                info = self.master_info(j)
                if info.get("port") != str(port) or not info.get("runid"):
                    return None
                runids.add(info["runid"])
            return runids.pop() if len(runids) == 1 else None

        return wait_for(known, timeout, "the Sentinels to read the new master's run_id")

    def sentinels_read_as_replica(self, i: int, timeout: float = 30.0) -> None:
        """Wait until every live Sentinel lists redis ``i`` among its master's replicas and
        its last INFO of it said ``role:slave``.

        Sentinel converts a replica that reports master once it has reported master for 8 s
        (``role-reported-time``), but that time moves only when the role a Sentinel reads
        changes: one whose INFOs (every 10 s) all fell before redis ``i`` became a replica
        still holds "master since" its last read, and converts redis ``i`` at once if the
        next INFO finds it a master again (sentinel.c, sentinelRefreshInstanceInfo)."""
        port = str(self.redis_ports[i])

        def read_as_replica(j: int) -> bool:
            for reply in self.sentinel_call(j, "SENTINEL", "REPLICAS", self.master_name):
                entry = dict(zip(reply[::2], reply[1::2]))
                if entry.get("port") == port:
                    return entry.get("role-reported") == "slave"
            return False

        wait_for(lambda: all(read_as_replica(j) for j in self.live_sentinels()), timeout,
                 f"every Sentinel to read redis {i} as a replica")  # fmt: skip

    # -- sentinel-vip config for one node -----------------------------------------------------
    def write_config(self, node_index: int, path: Optional[str] = None, **overrides) -> str:
        """A sentinel-vip TOML for redis ``node_index``; ``overrides`` are dotted keys, e.g.
        ``write_config(0, **{"check.deadline": 0.5})``; None removes a key. Returns the path."""
        base = os.path.join(self.tmpdir, f"node-{node_index}")
        for sub in ("", "state", "notify.d"):
            os.makedirs(os.path.join(base, sub), mode=0o700, exist_ok=True)
        port = self.redis_ports[node_index]
        table: dict = {
            "master_name": self.master_name,
            "redis": {
                "host": "127.0.0.1",
                "port": port,
                "password_file": self.redis_password_file,
            },
            "sentinel": {
                "addresses": [f"127.0.0.1:{p}" for p in self.sentinel_ports],
                "password_file": self.sentinel_password_file,
            },
            "node": {"addresses": [f"127.0.0.1:{port}"], "allow_loopback": True},
            "check": {"track_file": os.path.join(base, "track")},
            "notify": {"hooks_dir": os.path.join(base, "notify.d")},
            "paths": {
                "state_dir": os.path.join(base, "state"),
                "history_file": os.path.join(base, "history.jsonl"),
            },
            "log": {"syslog": True, "syslog_socket": self.syslog_socket},
        }
        merge(table, overrides)
        target = path or os.path.join(base, "sentinel-vip.toml")
        write_private(target, to_toml(table) + "\n")
        return str(target)

    def syslog_lines(self) -> list:
        """Messages received on the fixture's syslog socket, oldest first."""
        return self._syslog.lines() if self._syslog is not None else []

    def clear_syslog(self) -> None:
        if self._syslog is not None:
            self._syslog.clear()

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for d in sorted(os.listdir(self.tmpdir)) if os.path.isdir(self.tmpdir) else []:
            log = os.path.join(self.tmpdir, d, "server.log")
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as fh:
                    tail = fh.readlines()[-lines:]
                out.append(f"--- {d}/server.log\n" + "".join(tail))
        return "\n".join(out)
