"""A planned switchover loses no acknowledged write: the watcher fences the old master.

Only the Sentinel running a planned failover knows about it until the switch, so the watcher
cannot pause writes on a majority's word there: it arms the tripwire (min-replicas-to-write =
the replicas in sync), and Redis refuses writes the instant the promoted replica leaves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.resp import ProbeError, connect
from support.servers import wait_for


def writer(endpoint, acked: list, stop: threading.Event) -> None:
    """Write unique keys to one Redis, one short-lived connection each, recording acks."""
    seq = 0
    while not stop.is_set():
        seq += 1
        try:
            with connect(endpoint, Deadline(0.3)) as conn:
                if conn.call("SET", f"w:{seq}", seq) == "OK":
                    acked.append(seq)
        except ProbeError:
            pass


def test_planned_switchover_loses_no_acknowledged_write(runnable_pyz, cluster):
    config = cluster.write_config(0)
    watch = subprocess.Popen(
        [str(runnable_pyz), "--config", config, "watch"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list = []
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(cluster.redis_endpoint(0), acked, stop))
    try:
        wait_for(lambda: "event=watch_start" in "\n".join(cluster.syslog_lines()), 10, "watch")
        wait_for(
            lambda: "\n".join(cluster.syslog_lines()).count("state=alive") >= 3, 10, "subscribed"
        )
        thread.start()
        wait_for(lambda: len(acked) > 50, 10, "writes acknowledged by the master")
        old_port = cluster.redis_ports[0]
        cluster.sentinel_call(0, "SENTINEL", "FAILOVER", cluster.master_name)
        new_port = wait_for(
            lambda: (p := cluster.current_master_port()) not in (None, old_port) and p,
            30,
            "a Sentinel majority to name the new master",
        )
        new = cluster.redis_index(new_port)
        fenced = [line for line in cluster.syslog_lines() if "event=fence" in line]
        assert any('kind=tripwire action=arm result="armed' in line for line in fenced), fenced
        assert any("kind=brake action=hold_writes" in line for line in fenced), fenced
        # keepalived would now see the track file turn to 0 and run notify FAULT.
        done = subprocess.run(
            [str(runnable_pyz), "--config", config, "notify", "INSTANCE", "VI_1", "FAULT", "0"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=20, check=False,
        )  # fmt: skip
        assert done.returncode == ExitCode.OK, done.stderr
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=10)
    assert cluster.redis_call(0, "ROLE")[0] == "slave"
    wait_for(lambda: cluster.redis_call(0, "ROLE")[3] == "connected", 20, "old master replicating")
    missing = [s for s in acked if cluster.redis_call(new, "EXISTS", f"w:{s}") != 1]
    watcher = [line.split(": ", 1)[-1] for line in cluster.syslog_lines() if "event=" in line]
    assert acked and not missing, (
        f"{len(missing)} of {len(acked)} acknowledged writes lost: {missing[:10]}\n"
        + "\n".join(watcher[-40:])
    )
    assert os.path.exists(config)
