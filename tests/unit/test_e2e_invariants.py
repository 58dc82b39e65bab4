"""The e2e invariant checks (tests/e2e/invariants.py) on hand-made sampler records.

Pure functions, no cluster: these run in `make unit`. tests/ is on sys.path (rootdir
conftest), so the e2e package imports like in the e2e tests.
"""

from __future__ import annotations

from e2e import invariants as inv
from e2e.timeline import acked_seqs, lost_writes

ADDRS = {"n1": "10.0.0.11:6379", "n2": "10.0.0.12:6379", "n3": "10.0.0.13:6379"}
STEP = 0.05


def node(t, n, vip, sm, role):
    return {"t": round(t, 3), "n": n, "vip": vip, "sm": ADDRS.get(sm), "role": role, "rid": n}


def cluster(until, vip, master, role, step=STEP, start=0.0):
    """Samples of all three nodes every ``step``; vip/master/role: functions of (t, node)."""
    out, t = [], start
    while t <= until + 1e-9:
        for n in ADDRS:
            out.append(node(t, n, vip(t, n), master(t, n), role(t, n)))
        t = round(t + step, 3)
    return out


def failover(vip_moves_at, n1_releases_at=None):
    """n1's Redis dies at 1.0, Sentinels switch to n2 at 3.0, the VIP lands on n2 at
    ``vip_moves_at``; n1 releases it at ``n1_releases_at`` (default 1.5)."""
    release = 1.5 if n1_releases_at is None else n1_releases_at
    return cluster(
        6.0,
        vip=lambda t, n: (n == "n1" and t < release) or (n == "n2" and t >= vip_moves_at),
        master=lambda t, n: "n2" if t >= 3.0 else "n1",
        role=lambda t, n: (
            ("master" if t < 1.0 else None)
            if n == "n1"
            else ("master" if n == "n2" and t >= 2.9 else "slave")
        ),
    )


def test_a_clean_failover_has_no_violation_and_its_follow_time_is_measured():
    verdict = inv.judge(failover(vip_moves_at=3.4), ADDRS)
    assert verdict.violations() == []
    assert [(f.node, round(f.switch_at, 3), round(f.seconds, 3)) for f in verdict.follows] == [
        ("n2", 3.0, 0.4)
    ]
    figures = verdict.figures(since=1.0)
    assert figures["vip_follow_s"] == [0.4]
    assert figures["dual_vip_windows"] == []
    # n1 kept the VIP 0.5 s after its Redis died: measured, within the budget.
    assert figures["off_master_windows"] == [[0.0, 0.5, "n1"]]


def test_a_vip_that_follows_slower_than_the_budget_is_a_violation():
    verdict = inv.judge(failover(vip_moves_at=5.5), ADDRS)
    [message] = verdict.violations()
    assert "switched to n2" in message and "after 2.500 s" in message


def test_a_vip_that_never_reaches_the_new_master_is_a_violation():
    verdict = inv.judge(failover(vip_moves_at=99.0), ADDRS)
    [message] = verdict.violations()
    assert "never reached it" in message


def test_an_overlap_of_one_advert_interval_is_tolerated_a_longer_one_is_not():
    short = inv.judge(failover(vip_moves_at=3.4, n1_releases_at=3.45), ADDRS)
    assert [round(w.seconds, 3) for w in short.dual] == [0.05]
    assert not [v for v in short.violations() if "together" in v]
    long = inv.judge(failover(vip_moves_at=3.4, n1_releases_at=3.7), ADDRS)
    assert [(round(w.seconds, 3), w.nodes) for w in long.dual] == [(0.3, ("n1", "n2"))]
    assert any("n1 and n2 held the VIP together for 0.300 s" in v for v in long.violations())


def test_the_vip_on_a_dead_master_longer_than_the_budget_is_a_violation():
    verdict = inv.judge(failover(vip_moves_at=3.4, n1_releases_at=3.3), ADDRS)
    # n1's Redis died at 1.0 and it kept the VIP until 3.3: 2.3 s on a node that is no master.
    assert any(
        "n1 held the VIP without being the master for 2.300 s" in v for v in verdict.violations()
    )


def test_a_vip_kept_where_no_sentinel_majority_names_the_node_is_off_master():
    records = cluster(
        4.0,
        vip=lambda t, n: n == "n1",
        master=lambda t, n: "n1" if t < 1.0 or n == "n1" else None,
        role=lambda t, n: "master" if n == "n1" else "slave",
    )
    [window] = inv.judge(records, ADDRS).off_master
    assert (window.nodes, round(window.start, 3), round(window.seconds, 3)) == (("n1",), 1.0, 3.0)


def test_a_lost_node_holds_nothing_whatever_its_namespace_still_has():
    records = failover(vip_moves_at=3.4, n1_releases_at=99.0)
    assert inv.judge(records, ADDRS).violations() != []
    assert inv.judge(records, ADDRS, gone={"n1": 1.0}).violations() == []


def test_states_start_once_every_node_has_reported():
    records = [node(0.0, "n1", True, "n1", "master"), node(0.01, "n2", False, "n1", "slave")]
    assert inv.states(records, ADDRS) == []
    records.append(node(0.02, "n3", False, "n1", "slave"))
    [state] = inv.states(records, ADDRS)
    assert (state.holders, state.master) == (("n1",), "n1")


def test_a_gap_in_the_sampling_is_a_violation():
    records = [r for r in failover(vip_moves_at=3.4) if not (r["n"] == "n3" and 2 < r["t"] < 2.8)]
    [message] = inv.judge(records, ADDRS).violations()
    assert message.startswith("n3: sampling gap")


def test_held_after_finds_a_flap_back():
    seq = inv.states(failover(vip_moves_at=3.4), ADDRS)
    assert inv.held_after(seq, "n1", after=2.0) == []
    assert sorted(set(inv.held_after(seq, "n2", after=5.9))) == [5.9, 5.95, 6.0]
    assert set(inv.held_after(seq, "n1", after=0.0)) == {round(i * STEP, 3) for i in range(30)}


def write(t, seq, ok, rid, writer="client"):
    return {"t": t, "t1": t + 0.001, "n": writer, "seq": seq, "ok": ok, "rid": rid}


def test_acked_seqs_per_node_after_a_time_and_per_writer():
    records = [node(0.0, "n1", True, "n1", "master"), node(0.0, "n2", False, "n1", "slave")]
    records += [write(0.5, 1, True, "n1"), write(1.5, 2, True, "n1"), write(1.6, 3, False, None)]
    records += [write(2.0, 4, True, "n2"), write(1.7, 1, True, "n1", writer="app@n1")]
    assert acked_seqs(records, by="n1", after=1.0) == [2]
    assert acked_seqs(records, by="n1", after=1.0, writer="app@n1") == [1]
    assert lost_writes(records, {"e2e:w:1", "e2e:w:4"}) == [2]
    assert lost_writes(records, set(), prefix="e2e:app@n1:", writer="app@n1") == [1]
