"""The watcher's fences against real servers on loopback (no namespaces needed).

SIGSTOP makes a server what a partition makes it: its connections stay up and nothing
answers. Master = redis 0; the watcher runs for node 0. (Cuts through real network
namespaces, with keepalived and timings: tests/e2e/test_scenarios.py, make bench-partition.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes.resp import ProbeError, connect
from support.servers import wait_for

OBSERVE_S = 1.5  # after the watcher saw the situation: long enough for several ticks


def start_watch(pyz, config):
    return subprocess.Popen(
        [str(pyz), "--config", config, "watch"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_watch(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    return err


def log(cluster) -> str:
    return "\n".join(cluster.syslog_lines())


def track(config) -> str:
    with open(os.path.join(os.path.dirname(config), "track"), encoding="utf-8") as fh:
        return fh.read()


def subscribed(cluster):
    return lambda: log(cluster).count("state=alive") >= 3


def write_acked(cluster, key: str, seconds: float) -> bool:
    try:
        with connect(cluster.redis_endpoint(0), Deadline(seconds)) as conn:
            return conn.call("SET", key, "1") == "OK"
    except ProbeError:
        return False


def test_cut_off_from_sentinels_and_replicas_holds_writes_then_lifts(runnable_pyz, cluster):
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    watch = start_watch(runnable_pyz, config)
    stopped = [("sentinel", 1), ("sentinel", 2), ("redis", 1), ("redis", 2)]
    try:
        wait_for(subscribed(cluster), 10, "subscribed")
        wait_for(lambda: track(config) == "1\n", 10, "track 1")
        for kind, i in stopped:
            getattr(cluster, "sigstop_sentinel" if kind == "sentinel" else "sigstop")(i)
        wait_for(lambda: "kind=isolation action=hold_writes" in log(cluster), 5, "fence")
        assert track(config) == "0\n"
        # Neither through the VIP nor directly: the local server holds the write.
        assert not write_acked(cluster, "during", 0.5)
        role = cluster.redis_call(0, "ROLE")
        assert role[0] == "master"
    finally:
        for kind, i in stopped:
            getattr(cluster, "sigcont_sentinel" if kind == "sentinel" else "sigcont")(i)
    try:
        # Heard again, and the majority still names node 0: lifted, writes acknowledged.
        wait_for(lambda: "kind=isolation action=lift" in log(cluster), 10, "lift")
        assert "sentinel majority names this node" in log(cluster)
        wait_for(lambda: write_acked(cluster, "after", 1.0), 10, "writes acknowledged again")
    finally:
        stop_watch(watch)


def test_silent_sentinels_with_replicas_in_sync_is_no_isolation(runnable_pyz, cluster):
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    watch = start_watch(runnable_pyz, config)
    try:
        wait_for(subscribed(cluster), 10, "subscribed")
        cluster.sigstop_sentinel(1)
        cluster.sigstop_sentinel(2)
        wait_for(lambda: "replicas acknowledge" in log(cluster), 5, "isolation considered")
        seen = time.monotonic()
        wait_for(lambda: time.monotonic() > seen + OBSERVE_S, OBSERVE_S + 1, "observation")
        assert "action=hold_writes" not in log(cluster)
        assert write_acked(cluster, "k", 1.0)
    finally:
        cluster.sigcont_sentinel(1)
        cluster.sigcont_sentinel(2)
        stop_watch(watch)


def test_sentinels_down_is_no_partition(runnable_pyz, cluster):
    """Every Sentinel stopped (their host refuses): nobody can fail the master over, so even
    without a replica in sync nothing is fenced."""
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    watch = start_watch(runnable_pyz, config)
    try:
        wait_for(subscribed(cluster), 10, "subscribed")
        cluster.sigstop(1)
        cluster.sigstop(2)
        for j in range(3):
            cluster.stop_sentinel(j, signal.SIGKILL)
        wait_for(lambda: log(cluster).count("state=down") >= 3, 5, "links down")
        seen = time.monotonic()
        wait_for(lambda: time.monotonic() > seen + OBSERVE_S, OBSERVE_S + 1, "observation")
        assert "event=fence" not in log(cluster)
    finally:
        cluster.sigcont(1)
        cluster.sigcont(2)
        stop_watch(watch)


def test_a_redis_that_is_down_is_not_fenced(runnable_pyz, cluster):
    """The master killed: Sentinel fails it over and publishes every failover event about
    it. Nothing to pause there: no fence attempt, no warning per event."""
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    watch = start_watch(runnable_pyz, config)
    try:
        wait_for(subscribed(cluster), 10, "subscribed")
        old = cluster.redis_ports[0]
        cluster.stop_redis(0, signal.SIGKILL)
        wait_for(lambda: cluster.current_master_port() not in (None, old), 30, "failover")
        wait_for(lambda: "+switch-master" in log(cluster), 10, "switch seen by the watcher")
    finally:
        stop_watch(watch)
    lines = log(cluster).splitlines()
    assert not [line for line in lines if "event=fence" in line], lines
    assert not [line for line in lines if "failed" in line and "event=sentinel" not in line]
