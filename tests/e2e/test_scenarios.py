"""Fault scenarios: does the VIP follow Sentinel's master, and only it?

Each scenario starts a fresh three-node cluster running the shipped keepalived snippet, the
built sentinel-vip (as keepalived and the watch service run it) and a client writing unique
keys through the VIP from its own namespace; the sampler records every node's VIP, Redis role
and Sentinel view every 50 ms. After the fault the records are judged by the pure checks in
invariants.py (budgets there, printed with every scenario), plus each scenario's own ones.

Figures (seconds after the fault) go to the pytest summary and build/e2e/<test>.json.
"""

from __future__ import annotations

import time

import pytest

from e2e import invariants as inv
from e2e.partition import cut_figures, events_about
from e2e.sampler import direct_writer_name, writer_name
from e2e.timeline import acked_seqs, majority_master

pytestmark = pytest.mark.e2e

SETTLE_WRITES = 10  # acknowledged writes before a fault and after the VIP has followed
OBSERVE_S = 3.0  # how long scenarios in which nothing may move are watched
FOLLOW_TIMEOUT_S = 60  # upper bound for Sentinel + VIP; the budgets are judged from records
# A restarted keepalived starts in FAULT (init_file 0), the next check (interval 1 s, 0.8 s
# deadline) writes "1", then 3 adverts of 0.05 s plus skew: ~1.5 s, 3 s with CI slack.
KEEPALIVED_RECLAIM_BUDGET_S = 3.0


def addrs_of(cluster) -> dict:
    return {n: node.redis_addr for n, node in cluster.nodes.items()}


def vip_followed(cluster, old: str, gone=()):
    """Sampler predicate: a Sentinel majority names a node other than ``old`` and that node
    is the only holder of the VIP (lost nodes do not count)."""
    addrs = addrs_of(cluster)

    def moved(state):
        master = majority_master(state.sentinel_views(), addrs)
        holders = [n for n in state.vip_holders() if n not in gone]
        return master if master not in (None, old) and holders == [master] else None

    return moved


def observe(sampler, seconds: float) -> None:
    """Keep sampling until every node has reported a sample ``seconds`` from now."""
    until = time.monotonic() + seconds
    sampler.wait_until(
        lambda st: st.latest and all(r["t"] >= until for r in st.latest.values()),
        seconds + 10,
        f"{seconds:g} s more of samples from every node",
    )


def role_is(node: str, role: str):
    return lambda st: st.latest.get(node, {}).get("role") == role


def judge(cluster, sampler, fault_at: float, old: str, report, name: str, gone=None, **extra):
    """Timeline + invariants of one scenario; figures reported; returns (timeline, verdict)."""
    timeline = sampler.timeline(fault_at, old)
    verdict = inv.judge(sampler.snapshot(), addrs_of(cluster), gone)
    figures = {**timeline.figures(), **verdict.figures(fault_at), **extra}
    figures["budgets"] = inv.BUDGETS
    figures["violations"] = verdict.violations()
    report(name, figures)
    print(f"{name}: budgets {inv.BUDGETS}\n{name}: {timeline.summary()}")
    return timeline, verdict


def assert_no_violation(verdict) -> None:
    problems = verdict.violations()
    assert not problems, "invariants violated:\n  " + "\n  ".join(problems)


def rel(t, since) -> float:
    return round(t - since, 3)


# ------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("how", ["kill -9", "SHUTDOWN"])
def test_master_redis_dies(svip, report_timeline, how):
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        if how == "kill -9":
            fault_at = cluster.kill_redis("n1")
        else:
            fault_at = cluster.shutdown_redis("n1")
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 0.5)
    lost = sampler.lost_writes()  # after the writer stopped: every ack is in the records
    timeline, verdict = judge(
        cluster, sampler, fault_at, "n1", report_timeline, f"{how} master", lost_writes=len(lost)
    )
    assert timeline.new == new and new in ("n2", "n3")
    assert timeline.first_ack_new is not None
    assert_no_violation(verdict)


CUT_S = 13.0  # how long the master stays cut off (the measurement)


@pytest.mark.parametrize("mode", ["detach", "link"])
def test_master_cut_off_then_healed(svip, report_timeline, mode):
    """``detach`` keeps the carrier (packets dropped elsewhere in the network); ``link``
    takes it away (keepalived sees the interface go down). Two applications on n1 write, one
    through the VIP, one to n1's Redis directly: the watcher's isolation fence must stop n1
    acknowledging either within FENCE_BUDGET_S, and demote n1 within HEAL_DEMOTE_BUDGET_S of
    the heal; what n1 acknowledged before the fence is lost at the heal, and counted."""
    cluster = svip()
    app, direct = writer_name("n1"), direct_writer_name("n1")
    with cluster.sampler(writers_on=("n1",), direct_on=("n1",)) as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        for writer in (app, direct):
            sampler.wait_until(
                lambda _st, w=writer: acked_seqs(sampler.snapshot(), by="n1", writer=w),
                20,
                f"{writer} acks",
            )
        fault_at = cluster.cut("n1", mode=mode)
        cut_done = time.monotonic()
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        remaining = fault_at + CUT_S - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)  # the cut's planned length, not a condition
        healed_at = cluster.heal("n1")
        sampler.wait_until(role_is("n1", "slave"), 60, "n1 a replica")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 1.0)
    lost_app = sampler.lost_writes(writer=app)  # after the writers stopped
    lost_direct = sampler.lost_writes(writer=direct)
    lost_client = sampler.lost_writes()
    records = sampler.snapshot()
    client_acks = acked_seqs(records, by="n1", after=cut_done)
    figures = cut_figures(
        records, fault_at, healed_at, addrs_of(cluster), writers=(("vip", app), ("direct", direct))
    )
    seq = inv.states(records, addrs_of(cluster))
    flap = inv.held_after(seq, "n1", healed_at)
    sdown = events_about(records, "+sdown", cluster.nodes["n1"].redis_addr, healed_at)
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        f"cut ({mode}) master, healed",
        healed_s=rel(healed_at, fault_at),
        **figures,
        app_on_n1_lost_writes=len(lost_app),
        direct_on_n1_lost_writes=len(lost_direct),
        client_lost_writes=len(lost_client),
        sdown_of_n1_after_heal=len(sdown),
    )
    assert new in ("n2", "n3") and timeline.new == new
    assert client_acks == [], f"the cut-off n1 acknowledged client writes {client_acks[:10]}"
    assert figures["old_stops_acking_s"] <= inv.FENCE_BUDGET_S, (
        f"n1 acknowledged writes {figures['old_stops_acking_s']} s after it was cut off "
        f"(lost at heal: {len(lost_app)} via the VIP, {len(lost_direct)} directly)"
    )
    demoted = figures["demoted_after_heal_s"]
    assert demoted is not None and demoted <= inv.HEAL_DEMOTE_BUDGET_S, demoted
    assert flap == [], f"the VIP flapped back to n1 after the heal at t={flap[:3]}"
    assert lost_client == [], f"client writes acknowledged and lost: {lost_client[:10]}"
    assert_no_violation(verdict)


def test_master_keepalived_killed(svip, report_timeline):
    """kill -9 of keepalived leaves the VIP configured on n1: nothing removes it, and no
    notify can run. n1 is still the master Sentinel names, so that is where the VIP belongs:
    the others must not take it (their checks fail: they are replicas), clients keep writing
    to n1, and a restarted keepalived (init_file 0 -> FAULT) gets it back on n1 alone."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_keepalived("n1")
        observe(sampler, OBSERVE_S)
        restarted_at = cluster.restart_keepalived("n1")
        sampler.wait_until(
            lambda st: st.vip_holders() == ["n1"] and _newer(st, restarted_at + 0.5),
            30,
            "n1 holds the VIP after the keepalived restart",
        )
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 2.0)
    records = sampler.snapshot()
    seq = inv.states(records, addrs_of(cluster))
    dead = [s for s in seq if fault_at <= s.t < restarted_at]
    after = [s for s in seq if s.t >= restarted_at]
    gaps = no_vip_windows(after)
    acked_while_dead = [
        r["seq"] for r in records if "seq" in r and r["ok"] and fault_at <= r["t"] < restarted_at
    ]
    reclaimed = [s.t for s in after if s.holders == ("n1",) and all(
        x.holders == ("n1",) for x in after if x.t >= s.t)]  # fmt: skip
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        "keepalived on the master killed, restarted",
        restarted_s=rel(restarted_at, fault_at),
        holders_while_dead=sorted({"+".join(s.holders) or "-" for s in dead}),
        acked_while_dead=len(acked_while_dead),
        no_vip_after_restart=[[rel(a, restarted_at), round(b - a, 3)] for a, b in gaps],
        vip_stable_on_n1_after_restart_s=rel(reclaimed[0], restarted_at) if reclaimed else None,
    )
    assert {s.holders for s in dead} == {("n1",)}, "the VIP moved while keepalived was dead"
    assert acked_while_dead, "no write was acknowledged while n1's keepalived was dead"
    assert reclaimed and reclaimed[0] - restarted_at <= KEEPALIVED_RECLAIM_BUDGET_S
    assert timeline.sentinel_switch is None and timeline.switch_event is None
    assert_no_violation(verdict)


def _newer(state, t: float) -> bool:
    return all(r["t"] >= t for r in state.latest.values())


def no_vip_windows(seq) -> list:
    out, start = [], None
    for s in seq:
        if not s.holders and start is None:
            start = s.t
        elif s.holders and start is not None:
            out.append((start, s.t))
            start = None
    if start is not None:
        out.append((start, seq[-1].t))
    return out


def test_one_sentinel_killed(svip, report_timeline):
    """n1's own Sentinel dies (and comes back): two of three still name n1, so n1's check
    keeps passing. Nothing may move, not even for one sample."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_sentinel("n1")
        observe(sampler, OBSERVE_S)
        restarted_at = cluster.restart_sentinel("n1")
        observe(sampler, 2.0)
    seq = [s for s in inv.states(sampler.snapshot(), addrs_of(cluster)) if s.t >= fault_at]
    holders = sorted({"+".join(s.holders) or "-" for s in seq})
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        "one Sentinel (the master's) killed, restarted",
        restarted_s=rel(restarted_at, fault_at),
        holders_seen=holders,
    )
    assert holders == ["n1"], f"the VIP moved: holders seen {holders}"
    assert timeline.writes_failed == 0 and timeline.writes_acked > 0
    assert_no_violation(verdict)


def test_old_master_restarted_after_failover(svip, report_timeline):
    """n1's Redis comes back as it was configured: role:master, until Sentinel turns it into
    a replica. Its check must fail all that time (no Sentinel majority names it): the VIP
    stays on the new master, without a gap."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.kill_redis("n1")
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        restarted_at = cluster.restart_redis("n1")
        sampler.wait_until(role_is("n1", "slave"), 60, "Sentinel turns n1 into a replica")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 1.0)
    seq = inv.states(sampler.snapshot(), addrs_of(cluster))
    after = [s for s in seq if s.t >= restarted_at]
    n1_master = [s.t for s in after if s.roles.get("n1") == "master"]
    holders = sorted({"+".join(s.holders) or "-" for s in after})
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        "old master restarted after failover",
        restarted_s=rel(restarted_at, fault_at),
        n1_said_master_for_s=round(n1_master[-1] - restarted_at, 3) if n1_master else 0.0,
        holders_after_restart=holders,
    )
    assert timeline.new == new
    assert n1_master, "n1 never said role:master after the restart: the scenario did not happen"
    assert holders == [new], f"after n1's restart the VIP was on {holders}, not only {new}"
    assert_no_violation(verdict)


def test_whole_node_lost(svip, report_timeline):
    """n1 loses all three daemons (kill -9) and its link. Its namespace keeps the VIP
    configured (nobody is left to remove it), as a powered-off host's would be; the node is
    unreachable, so it counts as holding nothing from the loss on."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.lose_node("n1")
        new = sampler.wait_until(
            vip_followed(cluster, "n1", gone=("n1",)), FOLLOW_TIMEOUT_S, "VIP on new"
        )
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 0.5)
    lost = sampler.lost_writes()  # after the writer stopped: every ack is in the records
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        "whole master node lost",
        gone={"n1": fault_at},
        lost_writes=len(lost),
        lost_node_still_has_vip=cluster.vip in _addresses(cluster, "n1"),
    )
    assert timeline.new == new and new in ("n2", "n3")
    assert acked_seqs(sampler.snapshot(), by="n1", after=fault_at + 0.1) == []
    assert_no_violation(verdict)


def _addresses(cluster, name: str) -> list:
    from e2e import netns

    return netns.ipv4_addresses(cluster.nodes[name].ns)


def test_planned_switchover(svip, report_timeline):
    """SENTINEL FAILOVER while the client writes: no acknowledged write may be lost."""
    cluster = svip()
    with cluster.sampler() as sampler:
        sampler.wait_for_writes(SETTLE_WRITES, 30)
        fault_at = cluster.sentinel_failover("n2")
        new = sampler.wait_until(vip_followed(cluster, "n1"), FOLLOW_TIMEOUT_S, "VIP on new")
        sampler.wait_until(role_is("n1", "slave"), 60, "n1 is a replica of the new master")
        sampler.wait_for_writes(SETTLE_WRITES, 20)
        observe(sampler, 0.5)
    lost = sampler.lost_writes()  # after the writer stopped: every ack is in the records
    records = sampler.snapshot()
    # The watcher's brake must never hold n1 long enough for Sentinel to see it down.
    sdown = events_about(records, "+sdown", cluster.nodes["n1"].redis_addr, fault_at)
    converted = [r["t"] for r in records if r.get("ev") == "+convert-to-slave"]
    timeline, verdict = judge(
        cluster,
        sampler,
        fault_at,
        "n1",
        report_timeline,
        "planned switchover (SENTINEL FAILOVER)",
        lost_writes=len(lost),
        lost_seqs=lost[:20],
        sdown_of_old_master=len(sdown),
        n1_replica_s=first_role_after(records, "n1", "slave", fault_at),
        sentinel_convert_to_slave_s=rel(min(converted), fault_at) if converted else None,
        n1_fence_lines=[
            line.split("event=", 1)[-1][:160]
            for t, line in cluster.syslog["n1"]
            if t >= fault_at and "event=fence" in line
        ],
    )
    assert new in ("n2", "n3") and timeline.new == new
    assert lost == [], f"{len(lost)} acknowledged writes lost in the switchover: {lost[:20]}"
    assert sdown == [], f"Sentinels saw the old master down: {sdown}"
    assert_no_violation(verdict)


def first_role_after(records, node: str, role: str, after: float):
    for r in sorted((r for r in records if "vip" in r and r["n"] == node), key=lambda r: r["t"]):
        if r["t"] >= after and r.get("role") == role:
            return rel(r["t"], after)
    return None
