"""watch: Sentinel events rewrite the track file without waiting for the next poll."""

from __future__ import annotations

import os
import signal
import subprocess

from servers import wait_for


def track_of(config):
    return os.path.join(os.path.dirname(config), "track")


def read(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def test_watch_follows_a_failover_and_stops_cleanly(runnable_pyz, cluster):
    # A long reconcile interval: only events can explain a prompt update.
    configs = [cluster.write_config(i, **{"watch.reconcile_interval": 3600}) for i in range(3)]
    watchers = [
        subprocess.Popen(
            [str(runnable_pyz), "--config", c, "watch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in configs
    ]
    try:
        tracks = [track_of(c) for c in configs]
        wait_for(lambda: [read(t) for t in tracks] == ["1\n", "0\n", "0\n"], 10, "first verdicts")
        new = cluster.redis_index(cluster.failover())
        wait_for(lambda: read(track_of(configs[new])) == "1\n", 10, "new master track = 1")
        wait_for(lambda: read(track_of(configs[0])) == "0\n", 10, "old master track = 0")
        logged = "\n".join(cluster.syslog_lines())
        assert "channel=+switch-master" in logged
    finally:
        for w in watchers:
            w.send_signal(signal.SIGTERM)
        results = [w.communicate(timeout=10) for w in watchers]
    assert [w.returncode for w in watchers] == [0, 0, 0]
    assert all("Traceback" not in err for _, err in results)
    assert "event=watch_stop" in "\n".join(cluster.syslog_lines())
