"""The partition figures (tests/e2e/partition.py) on hand-made sampler records."""

from __future__ import annotations

from e2e.partition import cut_figures, events_about, last_ack_by, masters_seconds

ADDRS = {"n1": "10.0.0.11:6379", "n2": "10.0.0.12:6379", "n3": "10.0.0.13:6379"}


def sample(t, n, role, vip=False, sm="n1"):
    return {"t": t, "n": n, "vip": vip, "role": role, "rid": f"rid-{n}", "sm": ADDRS[sm]}


def write(t, writer, seq, ok, node="n1", t1=None):
    return {"t": t, "t1": t1 if t1 is not None else t + 0.001, "n": writer, "seq": seq,
            "ok": ok, "rid": f"rid-{node}"}  # fmt: skip


def test_cut_figures():
    records = []
    for i in range(0, 200):  # 10 s of samples every 0.05 s; cut at 1.0, heal at 6.0
        t = round(i * 0.05, 3)
        switched = t >= 4.0
        records.append(sample(t, "n1", "master" if t < 6.3 else "slave", vip=t < 1.3,
                              sm="n1"))  # fmt: skip
        records.append(sample(t, "n2", "master" if switched else "slave", vip=t >= 4.2,
                              sm="n2" if switched else "n1"))  # fmt: skip
        records.append(sample(t, "n3", "slave", sm="n2" if switched else "n1"))
    records += [write(0.9, "direct@n1", 1, True), write(1.2, "direct@n1", 2, True),
                write(1.5, "direct@n1", 3, False), write(1.1, "app@n1", 1, True)]  # fmt: skip
    figures = cut_figures(
        records, 1.0, 6.0, ADDRS, writers=(("vip", "app@n1"), ("direct", "direct@n1"))
    )
    assert figures["new"] == "n2"
    assert figures["vip_off_old_s"] == 0.3
    assert figures["sentinel_switch_s"] == 3.0 and figures["vip_after_switch_s"] == 0.2
    assert figures["demoted_after_heal_s"] == 0.3
    assert figures["two_masters_s"] == 2.3  # 4.0 .. 6.3
    assert figures["direct_last_ack_by_old_s"] == 0.201
    assert figures["vip_last_ack_by_old_s"] == 0.101
    assert figures["old_stops_acking_s"] == 0.201
    assert figures["direct_acked_by_old_after_cut"] == 1


def test_no_ack_after_the_cut_stops_at_zero():
    records = [sample(0.0, "n1", "master"), write(0.5, "app@n1", 1, True)]
    assert last_ack_by(records, "n1", "app@n1", 1.0) is None
    figures = cut_figures(records, 1.0, 2.0, ADDRS, writers=(("vip", "app@n1"),))
    assert figures["old_stops_acking_s"] == 0.0


def test_masters_seconds_counts_overlap_only():
    records = [sample(0.0, "n1", "master"), sample(0.0, "n2", "slave"),
               sample(1.0, "n2", "master"), sample(3.0, "n1", "slave"),
               sample(4.0, "n2", "master")]  # fmt: skip
    assert masters_seconds(records, 0.0) == 2.0


def test_events_about_a_master_by_address():
    records = [
        {"t": 1.0, "n": "n2", "ev": "+sdown", "m": "master mymaster 10.0.0.11 6379"},
        {"t": 1.0, "n": "n2", "ev": "+sdown", "m": "slave 10.0.0.11:6379 10.0.0.11 6379 @ m x 1"},
        {"t": 2.0, "n": "n3", "ev": "+sdown", "m": "master mymaster 10.0.0.12 6379"},
        {"t": 0.5, "n": "n3", "ev": "+sdown", "m": "master mymaster 10.0.0.11 6379"},
    ]
    assert events_about(records, "+sdown", ADDRS["n1"], 0.9) == [(1.0, "n2")]
