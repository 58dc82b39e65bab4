"""SIGTERM, once or twice, at any moment: the check still fails closed, the watcher still stops.

keepalived SIGTERMs a check that overruns its timeout; systemd SIGTERMs the watcher. A
second signal can follow the first within a fraction of a millisecond (a supervisor and a
process group both signalling). Both must end promptly with the right track file, without
"Exception ignored" or a traceback (see sentinel_vip/stopping.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

from support.servers import wait_for

RUNS = 15


@contextlib.contextmanager
def silent_sentinels(count: int = 3):
    """Listening sockets that accept (the kernel does) and never answer: every probe hangs
    until its deadline, so the check is blocked when the signals arrive."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            socks.append(sock)
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    finally:
        for sock in socks:
            sock.close()


def two_sigterms(proc, gap: float = 0.0002) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(gap)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def test_a_second_sigterm_does_not_stop_the_check_failing_closed(runnable_pyz, shared):
    with silent_sentinels() as addresses:
        config = shared.write_config(0, **{"sentinel.addresses": addresses, "check.deadline": 10})
        track = os.path.join(os.path.dirname(config), "track")
        outcomes = []
        for _ in range(RUNS):
            with open(track, "w", encoding="utf-8") as fh:
                fh.write("1\n")  # the previous verdict: this node held the VIP
            proc = subprocess.Popen(
                [str(runnable_pyz), "--config", config, "check"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.4)  # started and blocked on the silent Sentinels
            two_sigterms(proc)
            _, err = proc.communicate(timeout=10)
            outcomes.append((proc.returncode, read(track), "Traceback" in err))
    assert outcomes == [(143, "0\n", False)] * RUNS, outcomes


def test_watch_stops_on_sigterm_at_any_moment(runnable_pyz, shared):
    """Early signals land in the interpreter's start, in imports, in the config load, in the
    first evaluation; later ones in the loop. None may hang the watcher or print."""
    config = shared.write_config(0, **{"watch.reconcile_interval": 3600})
    results = []
    for delay in [0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5]:
        proc = subprocess.Popen(
            [str(runnable_pyz), "--config", config, "watch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        two_sigterms(proc)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            results.append((delay, "hung", err[-300:]))
            continue
        # Killed by the default disposition before our handler existed is a clean stop too.
        if proc.returncode not in (0, -signal.SIGTERM) or "Traceback" in err or "Exception" in err:
            results.append((delay, proc.returncode, err[-300:]))
    assert results == []


def test_watch_stopped_twice_while_running_logs_its_stop(runnable_pyz, shared):
    config = shared.write_config(0, **{"watch.reconcile_interval": 3600})
    proc = subprocess.Popen(
        [str(runnable_pyz), "--config", config, "watch"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: "\n".join(shared.syslog_lines()).count("state=alive") >= 3, 10, "subscribed"
        )
    finally:
        two_sigterms(proc)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
    assert "event=watch_stop" in "\n".join(shared.syslog_lines())
