"""The watcher follows Sentinel's election (issue 18): the VIP on the promoted replica at
promotion time, and never on a server a failover did not promote.

The invariants of invariants.py hold as for every scenario; on top, none of these may ever
show the VIP on a node whose Redis answers role:slave (a live non-master), beyond the one
sampling period in which a role change and the VIP can straddle two samples.
"""

from __future__ import annotations

import time

import pytest

from e2e import invariants as inv
from e2e.test_scenarios import (
    FOLLOW_TIMEOUT_S,
    SETTLE_WRITES,
    addrs_of,
    assert_no_violation,
    judge,
    observe,
    rel,
    role_is,
    vip_followed,
)

pytestmark = pytest.mark.e2e


def on_replica(seq) -> list:
    """(t, node) of every state in which a node holding the VIP answered role:slave."""
    return [(s.t, n) for s in seq for n in s.holders if s.roles.get(n) == "slave"]


def assert_never_on_a_replica(seq) -> None:
    found = on_replica(seq)
    # one sample: the agent reads the VIP then ROLE, a demotion can fall in between
    spans: dict = {}
    for t, node in found:
        first, _last = spans.get(node, (t, t))
        spans[node] = (first, t)
    long = {n: round(b - a, 3) for n, (a, b) in spans.items() if b - a > inv.SAMPLE_PERIOD_S}
    assert not long, f"the VIP was on a replica: {long} (first samples {found[:5]})"


def log_after(cluster, node: str, after: float, text: str) -> list:
    return [line for t, line in cluster.syslog[node] if t >= after and text in line]


def first_event(records, event: str, after: float):
    times = [r["t"] for r in records if r.get("ev") == event and r["t"] >= after]
    return min(times) if times else None


def test_kill_the_master_the_vip_follows_the_promotion(svip, report_timeline):
    """kill -9 of the master's Redis: the new master's watcher raises its track file on the
    election's evidence, before the Sentinels announce the switch."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_redis("n1")
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 2.0)  # the polled check must not take it away again
    records = sampler.snapshot()
    promoted = first_event(records, "+failover-state-wait-promotion", fault_at)
    switch = first_event(records, "+switch-master", fault_at)
    raised = log_after(cluster, new, fault_at, "event=election action=raise")
    seq = inv.states(records, addrs_of(cluster))
    vip_at = min(s.t for s in seq if s.t >= fault_at and new in s.holders)
    off_new = [s.t for s in seq if s.t >= vip_at and new not in s.holders]
    timeline, verdict = judge(
        cluster, sampler, fault_at, "n1", report_timeline, "kill -9 master, election followed",
        promotion_s=rel(promoted, fault_at), vip_after_promotion_s=rel(vip_at, promoted),
        vip_before_switch_s=rel(switch, vip_at), raised_lines=len(raised),
    )  # fmt: skip
    assert raised, f"{new}'s watcher did not raise on the election's evidence"
    assert vip_at < switch, "the VIP arrived only after +switch-master: election not followed"
    assert off_new == [], f"the VIP left {new} again at t={off_new[:3]} (check flapped)"
    assert_never_on_a_replica(seq)
    # the VIP reaches the new master before the majority names it: not a violation here
    problems = [p for p in verdict.violations() if "without being the master" not in p]
    assert problems == [], problems
    assert timeline.first_ack_new is not None


def test_an_aborted_failover_moves_nothing(svip, report_timeline):
    """The selected replica refuses SLAVEOF (its ACL), so the leader's failover aborts after
    failover-timeout: the VIP must never go to it, though every vote and the selection were
    published. Once it accepts SLAVEOF again, a later epoch promotes it and the VIP follows."""
    cluster = svip()
    chosen, other = "n2", "n3"
    cluster.redis_call(chosen, "CONFIG", "SET", "replica-priority", "1")
    cluster.redis_call(other, "CONFIG", "SET", "replica-priority", "100")
    assert cluster.redis_call(chosen, "ACL", "SETUSER", "default", "-slaveof", "-replicaof")
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_redis("n1")
        aborted = sampler.wait_until(
            lambda _st: first_event(sampler.snapshot(), "-failover-abort-slave-timeout", fault_at),
            60,
            "the leader aborts (slave timeout)",
        )
        observe(sampler, 1.0)
        allowed_at = cluster.mark(f"{chosen} accepts SLAVEOF again")
        assert cluster.redis_call(chosen, "ACL", "SETUSER", "default", "+@all")
        new = sampler.wait_until(vip_followed(cluster, "n1"), 90, "VIP on new after a retry")
        observe(sampler, 1.0)
    records = sampler.snapshot()
    seq = inv.states(records, addrs_of(cluster))
    selected = first_event(records, "+selected-slave", fault_at)
    before = [s for s in seq if fault_at <= s.t < allowed_at]
    holders = sorted({n for s in before for n in s.holders} - {"n1"})
    not_followed = log_after(cluster, chosen, fault_at, "action=not_followed")
    raised_early = [
        t
        for t, line in cluster.syslog[chosen]
        if fault_at <= t < allowed_at and "action=raise" in line
    ]
    judge(
        cluster, sampler, fault_at, "n1", report_timeline, "failover aborted, then retried",
        selected_s=rel(selected, fault_at), aborted_s=rel(aborted, fault_at),
        holders_before_retry=holders, not_followed_lines=len(not_followed),
    )  # fmt: skip
    assert selected is not None and selected < aborted
    assert holders == [], f"the VIP moved during the aborted failover: {holders}"
    assert raised_early == [], "the watcher raised a replica Sentinel failed to promote"
    assert not_followed, f"{chosen}'s watcher never saw the evidence (nothing tested)"
    assert new == chosen
    assert_never_on_a_replica(seq)


def test_partition_and_heal_one_holder_only_masters(svip, report_timeline):
    """The master cut off for 13 s, then healed: the majority side elects and promotes; never
    two VIP holders, never the VIP on a replica, and the old master never gets it back."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.cut("n1", mode="link")
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        remaining = fault_at + 13.0 - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)  # the cut's planned length, not a condition
        healed_at = cluster.heal("n1")
        sampler.wait_until(role_is("n1", "slave"), 60, "n1 a replica")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 2.0)
    records = sampler.snapshot()
    seq = inv.states(records, addrs_of(cluster))
    raised = log_after(cluster, new, fault_at, "event=election action=raise")
    flap = inv.held_after(seq, "n1", healed_at)
    _timeline, verdict = judge(
        cluster, sampler, fault_at, "n1", report_timeline, "cut master, healed (election)",
        healed_s=rel(healed_at, fault_at), raised_lines=len(raised),
    )  # fmt: skip
    assert raised, f"{new}'s watcher did not follow the election"
    assert flap == [], f"the VIP went back to n1 after the heal at t={flap[:3]}"
    assert_never_on_a_replica(seq)
    assert_no_violation(verdict)
