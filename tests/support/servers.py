"""Real redis-server / redis-sentinel processes for tests, and what starting them needs.

``ServerProc`` runs one server with the config lines a test gives (ACL users, TLS, a
Sentinel's monitor line) in its own session, in a private directory; tests/integration's
``Cluster`` builds a whole master + replicas + Sentinels set. Everything here polls for
conditions with a deadline; nothing sleeps in place of a check.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Optional

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings
from sentinel_vip.probes.resp import ProbeError, connect
from support.config import write_private

POLL = 0.05
KEEPALIVED_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # what keepalived gives a script


def binaries_available() -> bool:
    return bool(shutil.which("redis-server") and shutil.which("redis-sentinel"))


def free_ports(count: int) -> list:
    """Ports the kernel just handed out; all held open together so they are distinct."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = Deadline(timeout)
    last: Any = None
    while True:
        try:
            last = predicate()
        except (ProbeError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        if deadline.expired():
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(POLL)


class Run:
    """A finished pyz run: ``returncode``, ``stdout``, ``stderr`` and ``elapsed`` seconds."""

    def __init__(self, done: subprocess.CompletedProcess, elapsed: float) -> None:
        self.returncode = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.elapsed = elapsed

    def __repr__(self) -> str:
        return (
            f"Run(rc={self.returncode}, {self.elapsed:.2f}s,"
            f" out={self.stdout!r}, err={self.stderr!r})"
        )


def user_prefix(user: Optional[str]) -> list:
    if not user:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def run_pyz(pyz, config: str, *args, timeout: float = 30, user: Optional[str] = None) -> Run:
    """The built zipapp as keepalived runs it: exec'd directly (shebang), no shell, no stdin,
    a bare environment, as ``user`` when given; ``--config`` points at a test config."""
    argv = [*user_prefix(user), str(pyz), "--config", config, *args]
    start = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env=dict(KEEPALIVED_ENV), timeout=timeout, check=False,
    )  # fmt: skip
    return Run(done, time.monotonic() - start)


class SyslogListener:
    """A unix datagram socket standing in for /dev/log; keeps every message received.

    ``lines()`` first takes what is still queued on the socket, so a message sent before the
    call (by a process that has exited, say) is always in the answer: a datagram is in the
    receive queue when send() returns. The thread only keeps the queue from filling up."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        os.chmod(path, 0o666)
        self._sock.setblocking(False)
        self._lines: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syslog", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """Everything queued, in order (the caller holds the lock)."""
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            self._lines.append(data.decode("utf-8", errors="replace").rstrip("\n\x00"))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.1)
                if ready:
                    with self._lock:
                        self._drain()
            except (OSError, ValueError):  # closed
                return

    def lines(self) -> list:
        with self._lock:
            self._drain()
            return list(self._lines)

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


class ServerProc:
    """One redis-server or redis-sentinel with the given config lines, in its own session.

    ``admin`` is how the fixture itself talks to it (readiness, setup): the default user's
    password and, for TLS-only servers (``port=0``), TLS settings.
    """

    def __init__(
        self,
        workdir: str,
        lines: list,
        *,
        sentinel: bool = False,
        port: Optional[int] = None,
        tls_port: Optional[int] = None,
        admin_password: str = "",
        admin_tls: Optional[TLSSettings] = None,
    ) -> None:
        self.dir = workdir
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        self.sentinel = sentinel
        self.port = port if port is not None else free_ports(1)[0]
        self.tls_port = tls_port
        self.admin_password = admin_password
        self.admin_tls = admin_tls
        head = [f"port {self.port}", "bind 127.0.0.1", f'dir "{workdir}"', 'logfile ""',
                "daemonize no"]  # fmt: skip
        if not sentinel:
            head += ['save ""', "appendonly no"]
        if tls_port:
            head.append(f"tls-port {tls_port}")
        self.conf = os.path.join(workdir, "sentinel.conf" if sentinel else "redis.conf")
        write_private(self.conf, "\n".join(head + list(lines)) + "\n")
        self.proc: Optional[subprocess.Popen] = None

    def endpoint(self, **kw) -> Endpoint:
        if self.port == 0:
            kw.setdefault("tls", self.admin_tls)
            return Endpoint("127.0.0.1", self.tls_port, password=self.admin_password, **kw)
        return Endpoint("127.0.0.1", self.port, password=self.admin_password, **kw)

    def call(self, *args, timeout: float = 3.0):
        with connect(self.endpoint(), Deadline(timeout)) as conn:
            return conn.call(*args)

    def start(self) -> ServerProc:
        binary = "redis-sentinel" if self.sentinel else "redis-server"
        if not shutil.which(binary):
            import pytest

            pytest.skip(f"{binary} not installed")
        log = open(os.path.join(self.dir, "server.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [binary, self.conf], cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )  # fmt: skip
        finally:
            log.close()
        try:
            wait_for(lambda: self.call("PING") == "PONG", 20, f"{binary} on {self.dir}")
        except BaseException:
            print(self.log_tail())
            self.stop()
            raise
        return self

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as fh:
                return "".join(fh.readlines()[-20:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.proc = None
