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
