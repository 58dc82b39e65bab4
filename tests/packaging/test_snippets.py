"""The shipped snippets work with the real keepalived and the real Sentinel.

keepalived 2.2.7's `-t` ends by SIGTERM even on a good config (and exits 0 when the file is
missing): its verdict is what it prints, so every test here also shows that a broken
config does print something.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from pkgtools import REPO, keepalived_test, load_layout_module, need_tool


def shipped_source(path: str) -> Path:
    """The file the packages install at ``path`` (packaging/layout's source): the Valkey
    Sentinel snippet is generated from the Redis one by `make install`, which the package
    builds ran before these tests."""
    entries = load_layout_module().read_layout()
    return REPO / next(e.source for e in entries if e.path == path)


KEEPALIVED_SNIPPET = REPO / "etc" / "keepalived" / "conf.d" / "sentinel-vip.conf"
SENTINEL_SNIPPETS = [
    shipped_source("/etc/redis/sentinel-vip-sentinel.conf"),
    shipped_source("/etc/valkey/sentinel-vip-sentinel.conf"),
]


def uninstalled_keepalived_conf(tmp_path: Path, snippet_text: str) -> Path:
    # Before installation /usr/sbin/sentinel-vip may not exist and keepalived checks the
    # script path: point it at a root-owned executable. `nobody` stands in for
    # keepalived_script, which only the package creates.
    snippet = tmp_path / "sentinel-vip.conf"
    snippet.write_text(snippet_text.replace("/usr/sbin/sentinel-vip", shutil.which("true")))
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n    enable_script_security\n    script_user nobody nogroup\n}\n"
        f"include {snippet}\n"
    )
    return conf


def test_keepalived_accepts_the_snippet(tmp_path):
    need_tool("keepalived")
    conf = uninstalled_keepalived_conf(tmp_path, KEEPALIVED_SNIPPET.read_text())
    assert keepalived_test(conf) == ""


def test_keepalived_test_does_report_a_broken_snippet(tmp_path):
    need_tool("keepalived")
    broken = KEEPALIVED_SNIPPET.read_text().replace("weight 0 reverse", "weight 0 backwards")
    conf = uninstalled_keepalived_conf(tmp_path, broken)
    assert "unknown weight option backwards" in keepalived_test(conf)


def test_snippet_semantics_are_fail_closed():
    """The decisions the README explains; a change here must be a deliberate one."""
    text = KEEPALIVED_SNIPPET.read_text()
    code = "\n".join(line.split("#", 1)[0].strip() for line in text.splitlines())
    assert 'script "/usr/sbin/sentinel-vip check"' in code
    assert "\nweight -50\n" in code  # the check ranks; the track file is the gate
    assert "\nversion 3\n" in code and "\nadvert_int 0.02\n" in code  # fast master-down
    assert 'file "/run/sentinel-vip/track"' in code
    assert "\nweight 0 reverse\n" in code  # "0" or a missing file -> FAULT
    assert "\ninit_file 0 overwrite\n" in code
    assert "\nstate BACKUP\n" in code
    assert "nopreempt" not in code
    assert "global_defs" not in code  # keepalived.conf may have its own, only one allowed
    assert 'notify "/usr/sbin/sentinel-vip notify"' in code


# --- Sentinel -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )


class Sentinel:
    """A redis-sentinel on loopback with a generated main file; stopped by the fixture."""

    def __init__(self, directory: Path, include: Path, monitor: bool):
        self.port = free_port()
        self.conf = directory / "sentinel.conf"
        self.log = directory / "sentinel.log"
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {directory}", f"include {include}"]
        if monitor:
            lines.append(f"sentinel monitor mymaster 127.0.0.1 {free_port()} 2")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> bool:
        """Start and wait until it answers PING; False when it exits instead."""
        self.proc = subprocess.Popen(
            ["redis-sentinel", str(self.conf), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if cli(self.port, "PING").stdout.strip() == "PONG":
                return True
            time.sleep(0.05)
        raise AssertionError("redis-sentinel did not answer within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def masters(self) -> list[str]:
        out = cli(self.port, "SENTINEL", "MASTERS").stdout.splitlines()
        return [out[i + 1] for i, v in enumerate(out) if v == "name"]


@pytest.fixture
def sentinel_factory(tmp_path):
    need_tool("redis-sentinel")
    need_tool("redis-cli")
    made: list[Sentinel] = []

    def make(include: Path, monitor: bool = True) -> Sentinel:
        s = Sentinel(tmp_path, include, monitor)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def restart_and_rewrite(s: Sentinel, times: int = 3) -> None:
    """Start, make Sentinel rewrite its file, stop; each start must succeed."""
    for n in range(times):
        assert s.start(), f"start {n + 1} failed:\n{s.proc.stderr.read().decode()}"
        assert cli(s.port, "SENTINEL", "FLUSHCONFIG").stdout.strip() == "OK"
        assert s.masters() == ["mymaster"]
        s.stop()


@pytest.mark.parametrize("snippet", SENTINEL_SNIPPETS, ids=["redis", "valkey"])
def test_sentinel_snippet_survives_restarts_and_rewrites(sentinel_factory, snippet):
    s = sentinel_factory(snippet)
    restart_and_rewrite(s)
    assert s.conf.read_text().count("sentinel monitor mymaster") == 1
    assert s.start()
    # deny-scripts-reconfig: nobody can make Sentinel run a program at runtime.
    refused = cli(s.port, "SENTINEL", "SET", "mymaster", "notification-script", "/bin/true")
    assert "ERR" in refused.stdout + refused.stderr


def test_master_declared_at_runtime_survives_restarts(sentinel_factory):
    """The procedure the snippet documents: SENTINEL MONITOR/SET, persisted by Sentinel."""
    s = sentinel_factory(SENTINEL_SNIPPETS[0], monitor=False)
    assert s.start()
    master_port = str(free_port())
    assert cli(s.port, "SENTINEL", "MONITOR", "mymaster", "127.0.0.1", master_port, "2").stdout
    cli(s.port, "SENTINEL", "SET", "mymaster", "down-after-milliseconds", "5000")
    s.stop()
    restart_and_rewrite(s)
    assert s.start()
    info = cli(s.port, "SENTINEL", "MASTER", "mymaster").stdout.splitlines()
    assert info[info.index("down-after-milliseconds") + 1] == "5000"


def test_monitor_line_in_an_include_breaks_the_next_start(sentinel_factory, tmp_path):
    """Why the snippet holds no `sentinel monitor`: the failure this test suite guards."""
    bad = tmp_path / "bad-snippet.conf"
    bad.write_text(f"sentinel monitor mymaster 127.0.0.1 {free_port()} 2\n")
    s = sentinel_factory(bad, monitor=False)
    assert s.start()
    s.stop()
    assert not s.start()
    assert "Duplicate master name" in s.proc.stderr.read().decode()
