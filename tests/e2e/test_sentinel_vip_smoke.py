"""Smoke test of the sentinel_vip profile: the shipped snippet running the built pyz.

The pyz is copied to a root-owned directory (keepalived's enable_script_security refuses
scripts on paths others can write) and run by keepalived exactly like /usr/sbin/sentinel-vip.
"""

from __future__ import annotations

import pytest

from e2e.profiles import SentinelVipProfile
from e2e.timeline import majority_master

pytestmark = pytest.mark.e2e


def test_sentinel_vip_kill9_master(make_cluster, report_timeline, installed_pyz):
    profile = SentinelVipProfile(binary=installed_pyz)
    cluster = make_cluster(profile)
    cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1 at start")
    addrs = {n: node.redis_addr for n, node in cluster.nodes.items()}

    def followed(state):
        master = majority_master(state.sentinel_views(), addrs)
        if master not in (None, "n1") and state.vip_holders() == [master]:
            return master
        return None

    with cluster.sampler() as sampler:
        sampler.wait_for_writes(10, 30)
        killed_at = cluster.kill_redis("n1")
        new = sampler.wait_until(followed, 60, "VIP on the new master")
        sampler.wait_for_writes(10, 20)
    timeline = sampler.timeline(killed_at, "n1")
    report_timeline("kill -9 master redis-server", timeline.figures())
    assert timeline.new == new
    assert timeline.vip_on_new is not None and timeline.first_ack_new is not None
