"""Red team of issue 10's identity logic, against real redis-server and redis-sentinel on
loopback, the built zipapp run as keepalived runs it: admin mistakes that must never cost a
dataset. (Lying peers: tests/hardening/test_lying_sentinels.py.)"""

from __future__ import annotations

import json

import pytest

from sentinel_vip.errors import ExitCode
from support.cluster import Cluster
from support.servers import run_pyz

NOTIFY_FAULT = ("notify", "INSTANCE", "sentinel_vip", "FAULT", "100")


def last_history(config: str) -> dict:
    with open(config.replace("sentinel-vip.toml", "history.jsonl"), encoding="utf-8") as fh:
        return json.loads(fh.readlines()[-1])


def test_redis_port_of_another_local_server_is_never_demoted(runnable_pyz, cluster):
    """A host running the Sentinel-managed master and a second, standalone Redis (a cache);
    redis.port names the cache by mistake, node.addresses names this node as Sentinel sees
    it. Before: check failed OTHER_MASTER (right), and notify FAULT made the cache a replica
    of the master, CONFIG REWRITE included: the cache's dataset was wiped."""
    cluster.redis_call(2, "REPLICAOF", "NO", "ONE")  # the standalone cache
    cluster.redis_call(2, "SET", "cache", "kept")
    this_node = f"127.0.0.1:{cluster.redis_ports[0]}"
    config = cluster.write_config(2, **{"node.addresses": [this_node]})

    done = run_pyz(runnable_pyz, config, "check")
    assert done.returncode == ExitCode.OTHER_MASTER, done.stdout

    done = run_pyz(runnable_pyz, config, *NOTIFY_FAULT)
    assert done.returncode == 0, done.stderr
    assert cluster.redis_call(2, "ROLE")[0] == "master"
    assert cluster.redis_call(2, "GET", "cache") == "kept"
    record = last_history(config)
    assert record["action"] == "none", record
    assert "fix redis.port" in record["reason"], record


@pytest.fixture
def other_cluster(cluster):
    """A second cluster (one Redis, one Sentinel) under the same master name and passwords."""
    running = Cluster(
        replicas=0, sentinels=1, quorum=1,
        passwords=(cluster.redis_password, cluster.sentinel_password),
    ).start()  # fmt: skip
    try:
        yield running
    finally:
        running.stop()


def test_another_clusters_sentinels_never_demote_this_clusters_master(
    runnable_pyz, cluster, other_cluster
):
    """sentinel.addresses on the other cluster's master lists two of this cluster's
    Sentinels and its own one. Before: that majority named this cluster's master, and notify
    FAULT made the other cluster's master its replica: its dataset was wiped. Sentinel never
    knew that server, so would never convert it; neither do we."""
    other_cluster.redis_call(0, "SET", "k", "kept")
    mixed = [f"127.0.0.1:{p}" for p in cluster.sentinel_ports[:2]]
    mixed.append(f"127.0.0.1:{other_cluster.sentinel_ports[0]}")
    config = other_cluster.write_config(0, **{"sentinel.addresses": mixed})

    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OTHER_MASTER
    done = run_pyz(runnable_pyz, config, *NOTIFY_FAULT)
    assert done.returncode == 0, done.stderr
    assert other_cluster.redis_call(0, "ROLE")[0] == "master"
    assert other_cluster.redis_call(0, "GET", "k") == "kept"
    record = last_history(config)
    assert record["action"] == "none" and "as a replica" in record["reason"], record
