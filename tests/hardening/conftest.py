"""Fixtures for the hardening tests (marker ``hardening``, from the directory name).

``local_redis``  one real standalone redis-server per module (the node's local Redis, master)
``syslog``       a datagram socket standing in for /dev/log, one per test
``workdir``      a fresh directory per test that the keepalived_script user can enter
``script_user``  the keepalived_script user (created if missing; needs root and setpriv)
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

import pytest
from harden import FUZZ_COUNTS, SCRIPT_USER

from support.cluster import Cluster
from support.servers import ServerProc, SyslogListener, binaries_available


def pytest_terminal_summary(terminalreporter):
    if FUZZ_COUNTS:
        total = sum(FUZZ_COUNTS.values())
        terminalreporter.write_sep("-", f"hardening: {total} generated cases")
        for name, count in sorted(FUZZ_COUNTS.items()):
            terminalreporter.write_line(f"{count:7d}  {name}")


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="svip-h-")
    os.chmod(path, 0o755)  # keepalived_script must be able to reach files inside
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def syslog(workdir):
    listener = SyslogListener(os.path.join(workdir, "syslog.sock"))
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def local_redis():
    path = tempfile.mkdtemp(prefix="svip-r-")
    password = "redis-" + secrets.token_hex(8)
    server = ServerProc(path, [f'requirepass "{password}"'], admin_password=password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def script_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to create and switch to keepalived_script")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    try:
        pwd.getpwnam(SCRIPT_USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-M", SCRIPT_USER],
                       check=True)  # fmt: skip
    return SCRIPT_USER


@pytest.fixture
def cluster():
    """A real master, replicas and Sentinels on loopback (support.cluster), per test."""
    if not binaries_available():
        pytest.skip("redis-server / redis-sentinel not installed")
    running = Cluster().start()
    try:
        yield running
    finally:
        running.stop()
