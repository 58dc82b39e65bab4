"""``sentinel-vip switchover`` against real servers on loopback (no VIP: see tests/e2e for it).

Replica 1 gets replica-priority 50, so Sentinel by itself would promote it; every switchover
here names replica 2. Refusals must change nothing (every priority and the master as they
were); an interrupted run must put back what it changed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.resp import ProbeError, ReplyError, connect
from support.servers import run_pyz, wait_for

PREFERRED = "50"  # replica 1's replica-priority: Sentinel's own choice


def priorities(cluster) -> list:
    return [cluster.redis_call(i, "CONFIG", "GET", "replica-priority")[1] for i in range(3)]


def roles(cluster) -> list:
    return [cluster.redis_call(i, "ROLE")[0] for i in range(3)]


def prepared(cluster) -> tuple:
    """(config path, target "host:port"): replica 1 preferred, every Sentinel has read it."""
    cluster.redis_call(1, "CONFIG", "SET", "replica-priority", PREFERRED)
    port = cluster.redis_ports[1]

    def read() -> bool:
        for j in cluster.live_sentinels():
            for entry in cluster.sentinel_call(j, "SENTINEL", "REPLICAS", cluster.master_name):
                fields = dict(zip(entry[::2], entry[1::2]))
                if fields["port"] == str(port) and fields["slave-priority"] != PREFERRED:
                    return False
        return True

    wait_for(read, 20, "the Sentinels to read replica 1's priority")
    return cluster.write_config(0), f"127.0.0.1:{cluster.redis_ports[2]}"


def start(pyz, config: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [str(pyz), "--config", config, "switchover", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip


def writer(endpoint, acked: list, errors: list, stop: threading.Event) -> None:
    """One connection to the old master, as an application holds it; reconnect on error."""
    seq, conn = 0, None
    while not stop.is_set():
        seq += 1
        try:
            if conn is None:
                conn = connect(endpoint, Deadline(1.0))
            conn._sock.settimeout(2.0)
            if conn.call("SET", f"w:{seq}", seq) == "OK":
                acked.append(seq)
        except (ProbeError, OSError) as exc:
            errors.append(type(exc).__name__ if not isinstance(exc, ReplyError) else exc.reply)
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.002)


def test_switchover_to_the_replica_sentinel_would_not_choose(runnable_pyz, cluster):
    config, target = prepared(cluster)
    before = priorities(cluster)
    acked: list = []
    errors: list = []
    stop = threading.Event()
    thread = threading.Thread(
        target=writer, args=(cluster.redis_endpoint(0), acked, errors, stop), daemon=True
    )
    thread.start()
    try:
        wait_for(lambda: len(acked) > 50, 10, "writes acknowledged by the master")
        done = run_pyz(runnable_pyz, config, "switchover", "--to", target, "--yes", timeout=90)
    finally:
        stop.set()
        thread.join(10)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert roles(cluster) == ["slave", "slave", "master"]
    assert cluster.current_master_port() == cluster.redis_ports[2]
    steps = ("replica-priority raised", "writes paused", "SENTINEL FAILOVER sent", "promoted",
             "follows", "a Sentinel majority names", "restored to 50")  # fmt: skip
    for words in steps:
        assert words in done.stdout, (words, done.stdout)
    assert priorities(cluster) == before, "every changed replica-priority restored"
    wait_for(lambda: cluster.redis_call(0, "ROLE")[3] == "connected", 20, "old master linked")
    missing = [s for s in acked if cluster.redis_call(2, "EXISTS", f"w:{s}") != 1]
    assert acked and not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost"
    assert any("READONLY" in e or e in ("Unreachable", "ProtocolError") for e in errors), errors
    history = [json.loads(line) for line in open(cluster.write_config(0).replace(
        "sentinel-vip.toml", "history.jsonl"), encoding="utf-8")]  # fmt: skip
    assert history[-1]["instance"] == "switchover" and history[-1]["action"] == "done"
    assert history[-1]["to"] == target and "promoted" in history[-1]["timeline"]
    assert not os.path.exists(os.path.join(os.path.dirname(config), "switchover.json"))


def nothing_changed(cluster, before) -> None:
    assert roles(cluster) == ["master", "slave", "slave"]
    assert priorities(cluster) == before


def test_dry_run_and_unknown_or_ambiguous_targets_change_nothing(runnable_pyz, shared):
    config, target = prepared(shared)
    before = priorities(shared)
    done = run_pyz(runnable_pyz, config, "switchover", "--to", target, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "replica-priority of 127.0.0.1" in done.stdout and "dry run" in done.stdout
    for spec in ("127.0.0.1:1", "127.0.0.1", "localhost", f"127.0.0.1:{shared.redis_ports[0]}"):
        done = run_pyz(runnable_pyz, config, "switchover", "--to", spec, "--yes")
        assert done.returncode == ExitCode.UNKNOWN_TARGET, (spec, done.stderr)
    assert "ambiguous" in run_pyz(runnable_pyz, config, "switchover", "--to", "127.0.0.1").stderr
    done = run_pyz(runnable_pyz, config, "switchover", "--to", target)  # no terminal, no --yes
    assert done.returncode == ExitCode.NOT_CONFIRMED, done.stderr
    nothing_changed(shared, before)


def test_no_sentinel_majority_is_refused(runnable_pyz, shared):
    config, target = prepared(shared)
    before = priorities(shared)
    shared.sigstop_sentinel(1)
    shared.sigstop_sentinel(2)
    try:
        done = run_pyz(runnable_pyz, config, "switchover", "--to", target, "--yes")
    finally:
        shared.sigcont_sentinel(1)
        shared.sigcont_sentinel(2)
    assert done.returncode == ExitCode.NO_MAJORITY, done.stderr
    assert "no Sentinel majority" in done.stderr
    nothing_changed(shared, before)


def test_a_lagging_target_is_refused_with_its_lag_and_link(runnable_pyz, shared):
    """The target's link to the master breaks (it can no longer authenticate) while the
    master keeps taking writes: it falls behind."""
    config, target = prepared(shared)
    before = priorities(shared)
    shared.redis_call(2, "CONFIG", "SET", "masterauth", "wrong")
    shared.redis_call(2, "CLIENT", "KILL", "TYPE", "master")
    try:
        wait_for(lambda: "master_link_status:down" in shared.redis_call(2, "INFO", "replication"),
                 10, "the target's link down")  # fmt: skip
        for i in range(100):
            shared.redis_call(0, "SET", f"lag:{i}", i)
        done = run_pyz(runnable_pyz, config, "switchover", "--to", target, "--yes")
    finally:
        shared.redis_call(2, "CONFIG", "SET", "masterauth", shared.redis_password)
    assert done.returncode == ExitCode.TARGET_UNFIT, done.stdout + done.stderr
    assert "link=" in done.stderr and "behind=" in done.stderr and "lag=" in done.stderr
    assert "link to the master is down" in done.stderr, done.stderr
    nothing_changed(shared, before)
    wait_for(lambda: "master_link_status:up" in shared.redis_call(2, "INFO", "replication"),
             20, "the target linked again")  # fmt: skip


def test_a_failover_already_running_is_refused(runnable_pyz, cluster):
    config, target = prepared(cluster)
    cluster.sentinel_call(0, "SENTINEL", "FAILOVER", cluster.master_name)
    done = run_pyz(runnable_pyz, config, "switchover", "--to", target, "--yes")
    assert done.returncode == ExitCode.FAILOVER_RUNNING, done.stdout + done.stderr
    assert "failover" in done.stderr
    assert cluster.redis_call(2, "CONFIG", "GET", "replica-priority")[1] == "100"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_while_steering_restores_the_priorities(runnable_pyz, cluster, how):
    config, target = prepared(cluster)
    before = priorities(cluster)
    proc = start(runnable_pyz, config, "--to", target, "--yes")
    lines = []
    for line in proc.stdout:  # the priority is raised, Sentinel has not read it yet (10 s)
        lines.append(line)
        if "replica-priority raised" in line:
            break
    assert priorities(cluster) != before, lines
    proc.send_signal(how)
    out, err = proc.communicate(timeout=30)
    expected = ExitCode.INTERRUPTED if how == signal.SIGINT else ExitCode.TERMINATED
    assert proc.returncode == expected, out + err
    assert "restored to 50" in out, out
    nothing_changed(cluster, before)
    assert not os.path.exists(os.path.join(os.path.dirname(config), "switchover.json"))


def test_a_killed_run_is_shown_by_status_and_restored_by_the_next(runnable_pyz, cluster):
    config, target = prepared(cluster)
    before = priorities(cluster)
    proc = start(runnable_pyz, config, "--to", target, "--yes")
    for line in proc.stdout:
        if "replica-priority raised" in line:
            break
    proc.kill()
    proc.communicate(timeout=10)
    assert priorities(cluster)[1] != PREFERRED
    status = run_pyz(runnable_pyz, config, "status")
    assert "INTERRUPTED" in status.stdout and "switchover --restore" in status.stdout
    done = run_pyz(runnable_pyz, config, "switchover", "--restore")
    assert done.returncode == 0, done.stderr
    assert "restored to 50" in done.stdout
    nothing_changed(cluster, before)
    assert "switchover" not in run_pyz(runnable_pyz, config, "status").stdout.split("transition")[0]


def test_interrupted_after_the_failover_was_sent_finishes_the_conversion_first(
    runnable_pyz, cluster
):
    """Ctrl-C once SENTINEL FAILOVER is sent: leaving then would let the old master's pause
    run out while it is still master. The run finishes the conversion, then exits 130."""
    config, target = prepared(cluster)
    before = priorities(cluster)
    proc = start(runnable_pyz, config, "--to", target, "--yes")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "SENTINEL FAILOVER sent" in line:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    out = "".join(lines) + out
    assert proc.returncode == ExitCode.INTERRUPTED, out + err
    assert "interrupted: finishing first" in err and "finished it first" in out, out + err
    assert roles(cluster)[0] == "slave" and "follows" in out, out
    assert priorities(cluster) == before
