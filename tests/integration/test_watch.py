"""watch: Sentinel events rewrite the track file without waiting for the next poll."""

from __future__ import annotations

import os
import signal
import subprocess

from support.servers import wait_for


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


def test_links_tell_a_frozen_sentinel_from_a_dead_one(cluster):
    """The heartbeat: a SIGSTOPped Sentinel (what a partition looks like: the TCP connection
    stays up, nothing answers) turns SILENT; a killed one DOWN (its host answered with a reset
    or refusal); each is ALIVE again when it is back. (How fast: make bench-watch.)"""
    import queue
    import threading

    from sentinel_vip.decision.isolation import ALIVE, DOWN, SILENT
    from sentinel_vip.probes import pubsub

    inbox = queue.SimpleQueue()
    stop = threading.Event()
    endpoint = cluster.sentinel_endpoint(1)
    link = pubsub.Link(endpoint.label())
    thread = threading.Thread(
        target=pubsub.listen,
        args=(endpoint, link, ("+switch-master",), lambda _d: True, inbox.put, stop),
        daemon=True,
    )
    thread.start()
    try:
        wait_for(lambda: link.state == ALIVE, 5, "link alive")
        assert link.sentinel_id and len(link.sentinel_id) == 40  # SENTINEL MYID
        cluster.sigstop_sentinel(1)
        wait_for(lambda: link.state == SILENT, 5, "frozen Sentinel seen silent")
        cluster.sigcont_sentinel(1)
        wait_for(lambda: link.state == ALIVE, 5, "link alive again")
        cluster.stop_sentinel(1, signal.SIGKILL)
        wait_for(lambda: link.state == DOWN, 5, "killed Sentinel seen down")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_watch_raises_the_promoted_replica_before_the_announcement(runnable_pyz, cluster):
    """kill -9 of the master: the promoted replica's watcher raises its track file on the
    election's evidence (a majority's +vote-for-leader, the leader's promotion, role:master)
    before any Sentinel publishes +switch-master."""
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
        cluster.stop_redis(0, signal.SIGKILL)
        raised = wait_for(
            lambda: [ln for ln in cluster.syslog_lines() if "event=election action=raise" in ln],
            30,
            "a watcher raises on the election",
        )
        wait_for(
            lambda: any("channel=+switch-master" in ln for ln in cluster.syslog_lines()),
            30,
            "+switch-master",
        )
        lines = cluster.syslog_lines()
        first_raise = lines.index(raised[0])
        first_switch = next(i for i, ln in enumerate(lines) if "channel=+switch-master" in ln)
        assert first_raise < first_switch, "\n".join(lines[first_switch - 5 : first_raise + 2])
        new = [i for i, t in enumerate(tracks) if read(t) == "1\n"]
        assert len(new) == 1 and new[0] != 0
    finally:
        for w in watchers:
            w.send_signal(signal.SIGTERM)
        results = [w.communicate(timeout=10) for w in watchers]
    assert all("Traceback" not in err for _, err in results)
