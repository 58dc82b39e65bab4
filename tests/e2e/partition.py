"""Pure figures of a partition (cut, then heal) from sampler records; no I/O.

Shared by the e2e cut scenarios and ``bench/partition.py``. Times are seconds after the cut
(or after the heal, where the name says so). Record kinds: see timeline.py.
"""

from __future__ import annotations

from typing import Optional

from .timeline import analyse, run_ids

MASTER_ROLES = ("master",)
REPLICA_ROLES = ("slave", "replica")


def _rel(t: Optional[float], origin: float) -> Optional[float]:
    return None if t is None else round(t - origin, 3)


def last_ack_by(records, node: str, writer: str, after: float) -> Optional[float]:
    """When ``node`` last acknowledged a write of ``writer`` (the ack's arrival, ``t1``) at or
    after ``after``; None if it acknowledged none."""
    rid_node = run_ids(records)
    times = [
        r.get("t1", r["t"])
        for r in records
        if r.get("n") == writer
        and "seq" in r
        and r["ok"]
        and r.get("t1", r["t"]) >= after
        and rid_node.get(r.get("rid")) == node
    ]
    return max(times) if times else None


def acks_by(records, node: str, writer: str, after: float, before: float = float("inf")) -> int:
    rid_node = run_ids(records)
    return sum(
        1
        for r in records
        if r.get("n") == writer
        and "seq" in r
        and r["ok"]
        and after <= r.get("t1", r["t"]) < before
        and rid_node.get(r.get("rid")) == node
    )


def first_sample(records, node: str, after: float, predicate) -> Optional[float]:
    """Time of ``node``'s first sample at or after ``after`` for which ``predicate(sample)``."""
    for r in sorted((r for r in records if "vip" in r and r["n"] == node), key=lambda r: r["t"]):
        if r["t"] >= after and predicate(r):
            return r["t"]
    return None


def masters_seconds(records, after: float, at_least: int = 2) -> float:
    """Seconds after ``after`` during which at least ``at_least`` Redis servers answered
    ``role:master`` (each node's latest sample counts until its next one)."""
    roles: dict = {}
    total, last = 0.0, None
    for r in sorted((r for r in records if "vip" in r), key=lambda r: r["t"]):
        if last is not None and last >= after:
            if sum(1 for role in roles.values() if role in MASTER_ROLES) >= at_least:
                total += r["t"] - last
        roles[r["n"]] = r.get("role")
        last = r["t"]
    return round(total, 3)


def events_about(records, event: str, address: str, after: float) -> list:
    """Times of Sentinel pub/sub ``event``s (as the agents saw them) about the *master* at
    ``address`` ("ip:port"), at or after ``after``. One per publishing Sentinel and time."""
    ip, _, port = address.rpartition(":")
    out = set()
    for r in records:
        if r.get("ev") != event or r["t"] < after:
            continue
        parts = str(r.get("m", "")).split()
        if len(parts) >= 4 and parts[0] == "master" and parts[2:4] == [ip, port]:
            out.add((round(r["t"], 3), r["n"]))
    return sorted(out)


def cut_figures(
    records,
    cut_at: float,
    healed_at: float,
    addrs: dict,
    old: str = "n1",
    writers: tuple = (),
) -> dict:
    """Figures of a cut of ``old`` (the master) at ``cut_at``, healed at ``healed_at``.

    ``writers``: (label, writer name) pairs of applications on the cut host, e.g.
    ``("vip", "app@n1"), ("direct", "direct@n1")``.
    """
    tl = analyse(records, cut_at, old, addrs)
    figures = {
        "new": tl.new,
        "cut_s": round(healed_at - cut_at, 3),
        "vip_off_old_s": _rel(first_sample(records, old, cut_at, lambda r: not r["vip"]), cut_at),
        "vip_after_switch_s": tl.figures()["vip_after_switch_s"],
        "sentinel_switch_s": tl.figures()["sentinel_switch_s"],
        "demoted_after_heal_s": _rel(
            first_sample(records, old, healed_at, lambda r: r.get("role") in REPLICA_ROLES),
            healed_at,
        ),
        "two_masters_s": masters_seconds(records, cut_at),
        "client_acked_by_old_after_cut": acks_by(records, old, "client", cut_at + 0.001),
    }
    stops = []
    for label, writer in writers:
        last = last_ack_by(records, old, writer, cut_at)
        figures[f"{label}_last_ack_by_old_s"] = _rel(last, cut_at)
        figures[f"{label}_acked_by_old_after_cut"] = acks_by(records, old, writer, cut_at)
        stops.append(0.0 if last is None else last - cut_at)
    if stops:
        figures["old_stops_acking_s"] = round(max(stops), 3)
    return figures
