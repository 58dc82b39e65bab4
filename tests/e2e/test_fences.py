"""The watcher's fences where they must NOT act: Sentinels restarted, a lying minority.

(Where they must act -- the master cut off, a planned switchover -- see test_scenarios.py.)
Figures go to the pytest summary and build/e2e/<test>.json, as for every scenario.
"""

from __future__ import annotations

import time

import pytest

from e2e import invariants as inv
from e2e.partition import events_about
from e2e.test_scenarios import SETTLE_WRITES, addrs_of, assert_no_violation, judge, observe, rel

pytestmark = pytest.mark.e2e

GRACE_S = 15  # sentinel.no_majority_grace: a routine restart of every Sentinel keeps the VIP


def log_after(cluster, node: str, after: float, text: str = "") -> list:
    return [line for t, line in cluster.syslog[node] if t >= after and text in line]


def stat(cluster, name: str, sentinel: bool = False) -> int:
    call = cluster.sentinel_call if sentinel else cluster.redis_call
    info = call(name, "INFO", "stats") or ""
    for line in info.splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"no total_connections_received from {name}")


def test_every_sentinel_restarted_while_the_master_is_healthy(svip, report_timeline):
    """All three Sentinels killed and started again: their hosts refuse meanwhile, which is
    no partition, and the replicas are in sync: no fence, no failed write, VIP stays."""
    cluster = svip(extra_toml={"sentinel": {"no_majority_grace": GRACE_S}})
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.mark("kill -9 every Sentinel")
        for name in cluster.nodes:
            cluster.kill_sentinel(name)
        # Syslog datagrams can be dropped when the test's reader lags (0.2 s send timeout):
        # one line is proof enough that the watcher saw its links go down.
        cluster.wait_for(lambda: log_after(cluster, "n1", fault_at, "state=down"), 10, "links down")
        observe(sampler, 2.0)
        restarted_at = cluster.mark("restart every Sentinel")
        for name in cluster.nodes:
            cluster.restart_sentinel(name)
        cluster.wait_for(lambda: log_after(cluster, "n1", restarted_at, "state=alive"), 20, "links")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 2.0)
    fences = [
        line for n in cluster.nodes for line in log_after(cluster, n, fault_at, "event=fence")
    ]
    seq = [s for s in inv.states(sampler.snapshot(), addrs_of(cluster)) if s.t >= fault_at]
    holders = sorted({"+".join(s.holders) or "-" for s in seq})
    timeline, verdict = judge(
        cluster, sampler, fault_at, "n1", report_timeline,
        "every Sentinel restarted, master healthy",
        restarted_s=rel(restarted_at, fault_at), holders_seen=holders, fence_lines=len(fences),
    )  # fmt: skip
    assert fences == [], fences
    assert timeline.writes_failed == 0 and timeline.writes_acked > 0
    assert holders == ["n1"], f"the VIP moved: holders seen {holders}"
    # While no Sentinel answers, no majority names n1: holding the VIP then is what
    # no_majority_grace is for, not a violation. Everything else still counts.
    problems = [p for p in verdict.violations() if "without being the master" not in p]
    assert problems == [], problems


def test_a_lying_minority_sentinel_cannot_fence_or_flood(svip, report_timeline):
    """n3's Sentinel replaced by one that claims a failover of the healthy master n1 (with
    the real one's id), publishes +try-failover every second and then floods +sdown every
    millisecond for 10 s. n1 must keep acknowledging every write, the honest Sentinels must
    never see it down, and connections and log lines stay bounded."""
    cluster = svip()
    ids = {n: cluster.sentinel_call(n, "SENTINEL", "MYID") for n in cluster.nodes}
    flood_after, flood_for = 4.0, 10.0
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        cluster.kill_sentinel("n3")
        # The honest Sentinels must have stopped hearing the real one (hello > 5 s old, or
        # flagged down): the impostor then gets its id, not its membership.
        cluster.wait_for(lambda: _forgotten(cluster, ids["n3"]), 30, "n3's Sentinel unheard")
        spec = {
            "myid": ids["n3"],
            "master_ip": cluster.nodes["n1"].ip,
            "master_port": 6379,
            "peers": [
                {"runid": ids[n], "ip": cluster.nodes[n].ip, "port": 26379} for n in ("n1", "n2")
            ],
            "try_every": 1.0,
            "flood_after": flood_after,
            "flood_for": flood_for,
            "flood_every": 0.001,
        }
        before = {"redis@n1": stat(cluster, "n1")}
        before.update({f"sentinel@{n}": stat(cluster, n, True) for n in ("n1", "n2")})
        fault_at = cluster.start_fake_sentinel("n3", spec)
        flood_end = fault_at + flood_after + flood_for
        observe(sampler, flood_end - time.monotonic())
        after = {"redis@n1": stat(cluster, "n1")}
        after.update({f"sentinel@{n}": stat(cluster, n, True) for n in ("n1", "n2")})
        stopped_at = cluster.mark("fake Sentinel stopped")
        cluster.kill_sentinel("n3")
        cluster.wait_for(
            lambda: (
                log_after(cluster, "n1", stopped_at, "kind=tripwire action=disarm")
                or not log_after(cluster, "n1", fault_at, "kind=tripwire action=arm")
            ),
            20,
            "the tripwire disarmed once the claim is gone",
        )
        observe(sampler, 1.0)
    records = sampler.snapshot()
    honest_sdown = [
        e for e in events_about(records, "+sdown", cluster.nodes["n1"].redis_addr, fault_at)
        if e[1] in ("n1", "n2")
    ]  # fmt: skip
    connections = {k: after[k] - before[k] for k in before}
    held = log_after(cluster, "n1", fault_at, "action=hold_writes")
    flood_lines = [
        line for t, line in cluster.syslog["n1"] if fault_at + flood_after <= t < flood_end
    ]
    tripwire = log_after(cluster, "n1", fault_at, "kind=tripwire")
    timeline, verdict = judge(
        cluster, sampler, fault_at, "n1", report_timeline,
        "lying minority Sentinel: failover claims and a +sdown flood",
        connections_in_14s=connections, n1_log_lines_during_flood=len(flood_lines),
        holds=len(held), honest_sdown=len(honest_sdown), tripwire_lines=tripwire,
    )  # fmt: skip
    assert held == [], held
    assert honest_sdown == [], honest_sdown
    assert timeline.writes_failed == 0 and timeline.writes_acked > 0
    assert timeline.sentinel_switch is None
    assert all(n < 400 for n in connections.values()), connections
    assert len(flood_lines) < 150, flood_lines[-5:]
    assert not tripwire or "action=disarm" in tripwire[-1], tripwire
    assert_no_violation(verdict)


def _forgotten(cluster, sentinel_id: str) -> bool:
    """Neither honest Sentinel has heard a hello from ``sentinel_id`` in the last 5 s."""
    for name in ("n1", "n2"):
        peers = cluster.sentinel_call(name, "SENTINEL", "SENTINELS", cluster.master_name) or []
        for entry in peers:
            fields = dict(zip(entry[::2], entry[1::2]))
            if fields.get("runid") != sentinel_id:
                continue
            flags = fields.get("flags", "")
            if "s_down" not in flags and int(fields.get("last-hello-message", 0)) <= 5000:
                return False
    return True
