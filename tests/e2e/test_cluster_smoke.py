"""Smoke test of the cluster tool: the classic how-to setup, kill -9 of the master's Redis.

This measures the classic configuration (interval 30, fall 2, rise 2, weight 50): the VIP is
expected to need tens of seconds to follow Sentinel. The figures are printed and kept in
build/e2e/; the assertions only check that the whole chain happened in order.
"""

from __future__ import annotations

import pytest

from e2e.profiles import ClassicProfile
from e2e.timeline import majority_master

pytestmark = pytest.mark.e2e


def _vip_followed(cluster, old):
    addrs = {n: node.redis_addr for n, node in cluster.nodes.items()}

    def moved(state):
        master = majority_master(state.sentinel_views(), addrs)
        if master and master != old and state.vip_holders() == [master]:
            return master
        return None

    return moved


def test_classic_kill9_master(make_cluster, report_timeline):
    profile = ClassicProfile()
    cluster = make_cluster(profile)
    cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1 at start")
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(10, 30)
        killed_at = cluster.kill_redis("n1")
        # Worst case: both the old master's fall and the new master's rise take
        # (count + 1) script intervals; Sentinel needs down-after plus its election.
        budget = (max(profile.fall, profile.rise) + 1) * profile.interval + 20
        new = sampler.wait_until(_vip_followed(cluster, "n1"), budget, "VIP on the new master")
        sampler.wait_for_writes(10, 20)
    timeline = sampler.timeline(killed_at, "n1")
    report_timeline("kill -9 master redis-server", timeline.figures(), setup="classic")

    assert timeline.new == new and new in ("n2", "n3")
    assert timeline.sentinel_switch is not None, "no Sentinel majority named a new master"
    assert timeline.vip_on_new is not None and timeline.first_ack_new is not None
    # The classic check only passes on a node whose Redis is master: never before the switch.
    assert timeline.vip_on_new >= timeline.sentinel_switch
