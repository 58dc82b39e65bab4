"""Shared helpers for the hardening tests: run the pyz as keepalived does, start a real
redis-server / redis-sentinel with extra config (ACL users, TLS), and the invariants every
hostile run must keep (one-line error, documented exit code, nothing half-written)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
_INTEGRATION = os.path.join(os.path.dirname(_HERE), "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

from servers import free_ports, to_toml, wait_for  # noqa: E402

from sentinel_vip.deadline import Deadline  # noqa: E402
from sentinel_vip.errors import ExitCode  # noqa: E402
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings  # noqa: E402
from sentinel_vip.probes.resp import connect  # noqa: E402

CODES = {int(code) for code in ExitCode}
KEEPALIVED_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
SCRIPT_USER = "keepalived_script"
# Generated-case counts per fuzz test, printed in the summary (the issue asks for >= 10,000).
FUZZ_COUNTS: dict = {}


def count(name: str) -> None:
    FUZZ_COUNTS[name] = FUZZ_COUNTS.get(name, 0) + 1


__all__ = ["free_ports", "to_toml", "wait_for"]


def write_private(path: str, text: str, mode: int = 0o600) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


def write_config(path: str, table: dict, mode: int = 0o600) -> str:
    return write_private(path, to_toml(table) + "\n", mode)


def base_table(workdir: str, redis_port: int, sentinels: list, syslog_socket: str = "") -> dict:
    """A valid config for a node whose Redis is 127.0.0.1:redis_port, files under workdir."""
    for sub in ("state", "notify.d"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    return {
        "master_name": "mymaster",
        "redis": {"host": "127.0.0.1", "port": redis_port},
        "sentinel": {"addresses": list(sentinels)},
        "node": {"addresses": [f"127.0.0.1:{redis_port}"], "allow_loopback": True},
        "check": {"deadline": 0.8, "track_file": os.path.join(workdir, "state", "track")},
        "notify": {"deadline": 2, "hooks_dir": os.path.join(workdir, "notify.d")},
        "paths": {
            "state_dir": os.path.join(workdir, "state"),
            "history_file": os.path.join(workdir, "state", "history.jsonl"),
        },
        "log": {"syslog": bool(syslog_socket), "syslog_socket": syslog_socket or "/dev/log"},
    }


class Run:
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


def run_pyz(pyz, config: str, *args, timeout: float = 20, user: Optional[str] = None) -> Run:
    """As keepalived does: exec'd directly (shebang), no shell, no stdin, a bare environment."""
    argv = [*user_prefix(user), str(pyz), "--config", config, *args]
    start = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env=dict(KEEPALIVED_ENV), timeout=timeout, check=False,
    )  # fmt: skip
    return Run(done, time.monotonic() - start)


def start_pyz(pyz, config: str, *args) -> subprocess.Popen:
    """Started in its own process group, as keepalived starts scripts (it signals the group)."""
    return subprocess.Popen(
        [str(pyz), "--config", config, *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(KEEPALIVED_ENV), start_new_session=True,
    )  # fmt: skip


def assert_clean_failure(run, expected: Optional[int] = None) -> None:
    """A documented code, never INTERNAL, no traceback, stderr at most one line."""
    assert run.returncode in CODES, run
    assert run.returncode != ExitCode.INTERNAL, run
    if expected is not None:
        assert run.returncode == expected, run
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run
    assert run.stderr.count("\n") <= 1, run


def temp_leftovers(*dirs: str) -> list:
    """Files an interrupted atomic write would leave (state.atomic_write uses .*.tmp)."""
    found = []
    for d in dirs:
        found += glob.glob(os.path.join(d, ".*.tmp")) + glob.glob(os.path.join(d, "*.tmp"))
    return found


def history_records(path: str) -> list:
    """Every line must be one complete JSON object (a torn line fails the test)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as fh:
        data = fh.read()
    assert not data or data.endswith(b"\n"), f"history ends mid-line: {data[-200:]!r}"
    return [json.loads(line) for line in data.splitlines()]


# -- real servers -------------------------------------------------------------------------------


def tls_settings(ca: str = "", cert: str = "", key: str = "", server_name: str = "") -> dict:
    return {"enabled": True, "ca_file": ca, "cert_file": cert, "key_file": key,
            "server_name": server_name}  # fmt: skip


class ServerProc:
    """One redis-server or redis-sentinel with the given config lines, in its own session.

    ``admin`` is how the fixture itself talks to it (readiness, setup): the default user's
    password and, for TLS-only servers, TLS settings.
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
