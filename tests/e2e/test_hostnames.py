"""Sentinels that announce hostnames (issue 10, case 1) on the three-node namespace cluster.

Every node has a name, resolvable in every namespace (``/etc/netns/<ns>/hosts``); Redis
replicates and announces by name, the Sentinels run with ``resolve-hostnames yes`` and
``announce-hostnames yes`` and name the master ``redis-nX.svip.internal:6379``; each node's
TOML says ``node.addresses = ["redis-nX.svip.internal"]`` and lists the Sentinels by name.
Before issue 10 such a config was rejected (node.addresses took only IPs), and a node named
by a hostname it could not recognise was demoted to itself by notify.

The scenario: the VIP on the first master; kill -9 of its Redis, the VIP follows Sentinel's
new master; the old master restarts as a stale master (role:master), its check fails and
notify demotes it to the new master *by name*, before Sentinel would (~8 s).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from e2e import invariants as inv
from e2e import netns
from e2e.profiles import INSTANCE, SentinelVipProfile
from e2e.timeline import majority_master
from sentinel_vip.admin.doctor import parse_report

pytestmark = pytest.mark.e2e

SETTLE_WRITES = 10
FOLLOW_TIMEOUT_S = 60


def run_as_script_user(cluster, profile, name: str, *args: str) -> subprocess.CompletedProcess:
    """``sentinel-vip --config <node toml> ARGS`` in ``name``'s namespace as the script user,
    the way keepalived runs check and notify there."""
    node = cluster.nodes[name]
    user = profile.script_user
    config = profile.paths(cluster.context(node))["config"]
    argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
            profile.binary, "--config", config, *args]  # fmt: skip
    return subprocess.run(
        netns.exec_argv(node.ns, argv),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        timeout=60,
        check=False,
    )


def addrs_of(cluster) -> dict:
    return {n: node.redis_addr for n, node in cluster.nodes.items()}


def master_run_id_known(cluster) -> bool:
    """Every Sentinel reports the run_id of the master it names (Sentinel reads it at its
    next INFO of a new master, up to 10 s after a switch)."""
    for name in cluster.nodes:
        reply = cluster.sentinel_call(name, "SENTINEL", "MASTER", cluster.master_name)
        fields = dict(zip(reply[::2], reply[1::2])) if reply else {}
        if not fields.get("runid") or cluster.sentinel_master(name) != (
            f"{fields.get('ip')}:{fields.get('port')}"
        ):
            return False
    return True


def history(profile, cluster, name: str) -> list:
    path = profile.paths(cluster.context(cluster.nodes[name]))["history_file"]
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_hostname_announcing_sentinels_failover_and_stale_master_demotion(
    make_cluster, installed_pyz, report_timeline
):
    profile = SentinelVipProfile(binary=installed_pyz)
    cluster = make_cluster(profile, hostnames=True)
    n1 = cluster.nodes["n1"]
    assert cluster.sentinel_master("n1") == f"redis-n1.{cluster.prefix}.internal:6379"
    cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1 at start")

    done = run_as_script_user(cluster, profile, "n1", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{n1.redis_addr} is this node (by its run_id)" in done.stdout
    for name in ("n2", "n3"):
        assert run_as_script_user(cluster, profile, name, "check").returncode == 1
    cluster.wait_for(lambda: master_run_id_known(cluster), 30, "Sentinels know n1's run_id")
    found = parse_report(run_as_script_user(cluster, profile, "n1", "doctor").stdout)
    assert found.get("identity") == ["ok"] and found.get("seen as") == ["ok"], found

    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_redis("n1")

        def followed(state):
            master = majority_master(state.sentinel_views(), addrs_of(cluster))
            return (
                master if master not in (None, "n1") and state.vip_holders() == [master] else None
            )

        new = sampler.wait_until(followed, FOLLOW_TIMEOUT_S, "VIP on the new master")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        # The old master comes back stale (role:master, its own config) once the Sentinels
        # know the new master's run_id: notify demotes only to the server they name.
        cluster.wait_for(lambda: master_run_id_known(cluster), 30, "new master's run_id known")
        restarted_at = cluster.restart_redis("n1")
        stale = run_as_script_user(cluster, profile, "n1", "check")
        demote = run_as_script_user(cluster, profile, "n1", "notify", "INSTANCE", INSTANCE,
                                    "FAULT", "0")  # fmt: skip
        assert demote.returncode == 0, demote.stderr
        sampler.wait_until(
            lambda st: st.latest.get("n1", {}).get("role") == "slave", 30, "n1 a replica"
        )
        sampler.wait_for_writes(SETTLE_WRITES, 20)
    assert stale.returncode == 7, stale.stdout  # OTHER_MASTER: never the VIP for n1
    new_addr = cluster.nodes[new].redis_addr
    # n1 was in FAULT already (its Redis died): a repeated state, recorded for the demotion.
    record = history(profile, cluster, "n1")[-1]
    assert record["action"] == "demoted" and record["repeated"] is True, record
    assert f"replicaof={new_addr}" in record["reason"], record
    role = cluster.redis_call("n1", "ROLE")
    assert role[0] == "slave" and f"{role[1]}:{role[2]}" == new_addr, role

    lost = sampler.lost_writes()
    records = sampler.snapshot()
    seq = inv.states(records, addrs_of(cluster))
    after = sorted({"+".join(s.holders) or "-" for s in seq if s.t >= restarted_at})
    timeline = sampler.timeline(fault_at, "n1")
    verdict = inv.judge(records, addrs_of(cluster))
    figures = {**timeline.figures(), **verdict.figures(fault_at)}
    figures.update(
        lost_writes=len(lost), holders_after_restart=after, violations=verdict.violations()
    )
    report_timeline("hostname-announcing Sentinels: kill -9 master, stale master demoted", figures)
    assert after == [new], f"after n1's restart the VIP was on {after}, not only {new}"
    assert not verdict.violations(), verdict.violations()
