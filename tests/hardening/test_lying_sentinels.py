"""Lying Sentinels among real ones: a minority of peers that lie about who they are or what
they see must never make check pass on a non-master, fail on the real master, or make notify
demote anything. Real redis-server and redis-sentinel on loopback (tests/support/
cluster.py), the liars are fake servers (hostile.py); the built pyz runs as keepalived
runs it."""

from __future__ import annotations

import threading

from hostile import after, relay, sentinel

from sentinel_vip.errors import ExitCode
from support.resp_server import FakeServer
from support.servers import run_pyz

NOTIFY_FAULT = ("notify", "INSTANCE", "sentinel_vip", "FAULT", "100")


def run_id(cluster, i: int) -> str:
    return cluster.redis_call(i, "INFO", "server").split("run_id:", 1)[1].split()[0]


def test_a_liar_borrowing_an_honest_sentinels_id_silences_nobody(runnable_pyz, cluster):
    """A liar answering first with real Sentinel 0's id (SENTINEL MYID is whatever a peer
    says) and naming a replica. Before: Sentinel 0 was dropped as the liar's 'duplicate', so
    one liar among three took the real master's majority away (check NO_AGREEMENT on the
    master: no VIP anywhere). Now a repeated id naming another master counts on its own."""
    honest_id = cluster.sentinel_call(0, "SENTINEL", "MYID")
    lied = threading.Event()
    liar = FakeServer(
        after(sentinel("127.0.0.1", cluster.redis_ports[1], runid=run_id(cluster, 1),
                       myid=honest_id), lied)
    )  # fmt: skip
    slow = FakeServer(relay(cluster.sentinel_ports[1], lied))  # honest, answers last
    try:
        addresses = [liar.address, f"127.0.0.1:{cluster.sentinel_ports[0]}", slow.address]
        master = cluster.write_config(0, **{"sentinel.addresses": addresses, "check.deadline": 3})
        done = run_pyz(runnable_pyz, master, "check")
        assert done.returncode == ExitCode.OK, done.stdout
        assert "contested_id=1" in done.stdout, done.stdout

        # The liar's favourite gains nothing: a replica promoted by hand stays unagreed.
        cluster.redis_call(1, "REPLICAOF", "NO", "ONE")
        lied.clear()
        other = cluster.write_config(1, **{"sentinel.addresses": addresses, "check.deadline": 3})
        done = run_pyz(runnable_pyz, other, "check")
        assert done.returncode == ExitCode.OTHER_MASTER, done.stdout

        doctor = run_pyz(runnable_pyz, master, "doctor")
        assert "contested sentinel id" in doctor.stdout, doctor.stdout
    finally:
        liar.stop()
        slow.stop()
