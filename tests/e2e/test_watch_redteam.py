"""Red team of the watcher's fences in namespaces (issue 11): what loopback cannot cut.

Figures go to the pytest summary and build/e2e/<test>.json, as for every scenario.
"""

from __future__ import annotations

import time

import pytest

from e2e.cluster import ClusterError
from e2e.test_scenarios import (
    CUT_S,
    FOLLOW_TIMEOUT_S,
    SETTLE_WRITES,
    judge,
    observe,
    rel,
    role_is,
    vip_followed,
)

pytestmark = pytest.mark.e2e

CONVERT_BUDGET_S = 30.0  # Sentinel's own conversion: failover-timeout (10 s here) and a margin


def test_an_isolated_master_is_converted_after_the_heal_with_demotion_disabled(
    svip, report_timeline
):
    """notify.demote = false: the admin leaves the old master to Sentinel. The isolation
    fence held it paused until "demoted or named again", renewed every third of a second
    after the heal too; CLIENT PAUSE WRITE holds Sentinel's hello PUBLISH and the PINGs
    queued behind it, so Sentinel kept seeing the old master down and never converted it
    (it converts only an instance not down for failover-timeout): a paused master for good.
    """
    cluster = svip(extra_toml={"notify": {"demote": False}})
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.cut("n1", mode="detach")
        sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        remaining = fault_at + CUT_S - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)  # the cut's planned length, not a condition
        healed_at = cluster.heal("n1")
        try:
            sampler.wait_until(role_is("n1", "slave"), CONVERT_BUDGET_S, "n1 converted")
            converted = time.monotonic()
        except ClusterError:
            converted = None
        observe(sampler, 1.0)
    judge(
        cluster, sampler, fault_at, "n1", report_timeline,
        "cut master, demote=false: Sentinel converts it",
        healed_s=rel(healed_at, fault_at),
        converted_after_heal_s=rel(converted, healed_at) if converted else None,
    )  # fmt: skip
    assert converted is not None, f"n1 still a master {CONVERT_BUDGET_S} s after the heal"
