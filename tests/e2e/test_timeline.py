"""timeline.analyse on hand-made records (no cluster): the figures the scenarios rely on."""

from __future__ import annotations

from e2e.timeline import analyse, lost_writes

ADDRS = {"n1": "10.0.0.11:6379", "n2": "10.0.0.12:6379", "n3": "10.0.0.13:6379"}
OLD, NEW = ADDRS["n1"], ADDRS["n2"]


def node(t, n, vip, sm, rid=None, role="slave"):
    return {"t": t, "n": n, "vip": vip, "sm": sm, "rid": rid or f"rid-{n}", "role": role}


def write(t, seq, ok, rid):
    return {"t": t, "t1": t + 0.001, "n": "client", "seq": seq, "ok": ok, "rid": rid}


def records():
    out = []
    for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0):
        views = {"n1": OLD, "n2": NEW if t >= 2 else OLD, "n3": NEW if t >= 3 else OLD}
        out.append(node(t, "n1", t < 4.5, views["n1"]))
        out.append(node(t, "n2", t >= 4, views["n2"]))
        out.append(node(t, "n3", False, views["n3"]))
    out.append({"t": 2.5, "n": "n3", "ev": "+switch-master", "m": "mymaster ..."})
    out += [write(0.5, 1, True, "rid-n1"), write(1.5, 2, False, None)]
    out += [write(4.2, 3, True, "rid-n2"), write(4.8, 4, True, "rid-n2")]
    return out


def test_figures_after_the_fault():
    tl = analyse(records(), fault_at=1.0, old="n1", addrs=ADDRS)
    assert tl.new == "n2"
    assert tl.sentinel_switch == 3.0  # the first sample where two Sentinels name n2
    assert tl.switch_event == 2.5
    assert tl.vip_on_new == 4.0
    assert abs(tl.first_ack_new - 4.201) < 1e-9
    assert tl.writes_failed == 1 and tl.acked_by == {"n2": 2}
    assert tl.dual_vip == [(4.0, 5.0, ("n1", "n2"))]  # n1 released only by t=5 sample
    assert tl.vip_off_master_seconds > 0


def test_lost_writes_are_acked_keys_missing_on_the_final_master():
    present = {"e2e:w:1", "e2e:w:3"}
    assert lost_writes(records(), present) == [4]


def election_records(n3_holds_at=None):
    """n1's Redis killed at t=1 (role None); n2 promoted (role master) and holding the VIP
    at t=2, named by the Sentinels' majority only at t=3."""
    out = []
    for t in (0.0, 1.0, 2.0, 3.0, 4.0):
        named = NEW if t >= 3 else OLD
        out.append(node(t, "n1", t < 2, OLD, role="master" if t < 1 else None))
        out.append(node(t, "n2", t >= 2, named, role="master" if t >= 2 else "slave"))
        out.append(node(t, "n3", t == n3_holds_at, named))
    return out


def test_the_vip_ahead_of_the_sentinels_is_told_apart_from_a_vip_on_a_non_master():
    tl = analyse(election_records(), fault_at=1.0, old="n1", addrs=ADDRS)
    assert tl.promoted == 2.0 and tl.vip_on_new == 2.0 and tl.sentinel_switch == 3.0
    # 1->2: n1 holds it, still named by the Sentinels, its Redis dead: not a master.
    # 2->3: n2 holds it, master, not yet named: ahead of the Sentinels, by design.
    assert tl.vip_not_master_seconds == 1.0
    assert tl.vip_off_master_seconds == 1.0 and tl.vip_ahead_seconds == 1.0
    figures = tl.figures()
    assert figures["vip_not_master_s"] == 1.0 and figures["promoted_s"] == 1.0


def test_a_replica_holding_the_vip_counts_as_a_vip_on_a_non_master():
    tl = analyse(election_records(n3_holds_at=3.0), fault_at=1.0, old="n1", addrs=ADDRS)
    assert tl.vip_not_master_seconds == 2.0  # n1 dead 1->2, n3 a replica 3->4
    assert tl.vip_ahead_seconds == 1.0  # n2 alone 2->3; 3->4 n3 beside it is no lead
