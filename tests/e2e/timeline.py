"""Pure analysis of sampler records: what happened after a fault, in seconds after it.

Record kinds (from agent.py, all with ``t`` = CLOCK_MONOTONIC seconds and ``n`` = source):
  node sample  {"n": "n1", "vip": bool, "role": "master"|"slave"|None, "rid", "sm": "ip:port"|None}
  event        {"n": "n1", "ev": "+switch-master", "m": "mymaster 10.77.0.11 6379 ..."}
  write        {"n": "client", "seq", "ok": bool, "rid", "err"?, "t1"}  (n = the writer:
               "client" in its own namespace, "app@n1" for a writer on a node; figures
               count "client" only)
  connection   {"n": "client", "conn": run_id}
No I/O here: tests feed plain lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Timeline:
    fault_at: float
    old: str
    new: Optional[str]  # node named by a Sentinel majority at the end
    sentinel_switch: Optional[float] = None  # first sample where a majority names ``new``
    switch_event: Optional[float] = None  # first +switch-master published by any Sentinel
    vip_on_new: Optional[float] = None  # first sample where ``new`` holds the VIP
    vip_settled: Optional[float] = None  # from then on ``new`` is the only holder
    first_ack: Optional[float] = None  # first acknowledged write started after the fault
    first_ack_new: Optional[float] = None  # ... acknowledged by ``new``
    writes_failed: int = 0
    writes_acked: int = 0
    acked_by: dict[str, int] = field(default_factory=dict)  # node -> acks after the fault
    dual_vip: list[tuple[float, float, tuple[str, ...]]] = field(default_factory=list)
    no_vip_seconds: float = 0.0
    vip_off_master_seconds: float = 0.0  # VIP held by a node Sentinel's majority does not name
    # ... by a node whose Redis does not answer role:master (down, or a replica): unlike the
    # figure above, which also counts the promoted master holding the VIP before the
    # Sentinels name it (the election followed, issue 18), this one is never by design.
    vip_not_master_seconds: float = 0.0
    vip_ahead_seconds: float = 0.0  # ... by masters only, before the Sentinels name them
    promoted: Optional[float] = None  # first sample after the fault where ``new`` is master
    end: float = 0.0

    def rel(self, t: Optional[float]) -> Optional[float]:
        return None if t is None else round(t - self.fault_at, 3)

    def figures(self) -> dict:
        return {
            "old": self.old,
            "new": self.new,
            "sentinel_switch_s": self.rel(self.sentinel_switch),
            "switch_event_s": self.rel(self.switch_event),
            "vip_on_new_s": self.rel(self.vip_on_new),
            "vip_settled_s": self.rel(self.vip_settled),
            "first_ack_s": self.rel(self.first_ack),
            "first_ack_new_s": self.rel(self.first_ack_new),
            "vip_after_switch_s": (
                None
                if self.vip_on_new is None or self.sentinel_switch is None
                else round(self.vip_on_new - self.sentinel_switch, 3)
            ),
            "writes_acked": self.writes_acked,
            "writes_failed": self.writes_failed,
            "acked_by": dict(self.acked_by),
            "dual_vip_windows": [
                (self.rel(a), round(b - a, 3), list(n)) for a, b, n in self.dual_vip
            ],
            "no_vip_s": round(self.no_vip_seconds, 3),
            "vip_off_master_s": round(self.vip_off_master_seconds, 3),
            "vip_not_master_s": round(self.vip_not_master_seconds, 3),
            "vip_ahead_s": round(self.vip_ahead_seconds, 3),
            "promoted_s": self.rel(self.promoted),
            "observed_s": self.rel(self.end),
        }

    def summary(self) -> str:
        f = self.figures()
        keys = (
            "sentinel_switch_s",
            "switch_event_s",
            "vip_on_new_s",
            "first_ack_new_s",
            "writes_failed",
            "no_vip_s",
            "vip_off_master_s",
            "vip_not_master_s",
        )
        parts = [f"old={f['old']} new={f['new']}"] + [f"{k}={f[k]}" for k in keys]
        parts.append(f"dual_vip_windows={len(f['dual_vip_windows'])}")
        return " ".join(parts)


def run_ids(records) -> dict[str, str]:
    """run_id -> node, from the node samples (a restarted Redis gets a new run_id)."""
    out = {}
    for r in records:
        if "vip" in r and r.get("rid"):
            out[r["rid"]] = r["n"]
    return out


def majority_master(views: dict[str, Optional[str]], addrs: dict[str, str]) -> Optional[str]:
    """The node named by at least two of the three Sentinel views, else None."""
    named = list(views.values())
    for node, addr in addrs.items():
        if named.count(addr) > len(addrs) // 2:
            return node
    return None


def analyse(records, fault_at: float, old: str, addrs: dict[str, str]) -> Timeline:
    """``addrs``: node -> "ip:port" as Sentinel names it. Records may arrive unsorted."""
    records = sorted(records, key=lambda r: r["t"])
    rid_node = run_ids(records)
    views: dict[str, Optional[str]] = {}
    holds: dict[str, bool] = {}
    roles: dict[str, Optional[str]] = {}
    # The final majority decides which node is "new".
    for r in records:
        if "vip" in r:
            views[r["n"]] = r.get("sm")
    new = majority_master(views, addrs)
    tl = Timeline(fault_at=fault_at, old=old, new=new)
    views = {}
    last_t = None
    dual_start = None
    for r in records:
        t = r["t"]
        if "vip" in r:
            if last_t is not None and last_t >= fault_at:
                _accumulate(tl, holds, views, roles, addrs, t - last_t)
            views[r["n"]] = r.get("sm")
            holds[r["n"]] = bool(r["vip"])
            roles[r["n"]] = r.get("role")
            last_t = t
            if t < fault_at:
                continue
            holders = tuple(sorted(n for n, h in holds.items() if h))
            if len(holders) > 1 and dual_start is None:
                dual_start = (t, holders)
            elif len(holders) <= 1 and dual_start is not None:
                tl.dual_vip.append((dual_start[0], t, dual_start[1]))
                dual_start = None
            if new and new != old:
                if tl.promoted is None and roles.get(new) == "master":
                    tl.promoted = t
                if tl.sentinel_switch is None and majority_master(views, addrs) == new:
                    tl.sentinel_switch = t
                if tl.vip_on_new is None and holds.get(new):
                    tl.vip_on_new = t
            if holders == (new,):
                if tl.vip_settled is None:
                    tl.vip_settled = t
            else:
                tl.vip_settled = None
        elif "ev" in r:
            if t >= fault_at and r["ev"] == "+switch-master" and tl.switch_event is None:
                tl.switch_event = t
        elif "seq" in r and t >= fault_at and r.get("n", "client") == "client":
            if r["ok"]:
                tl.writes_acked += 1
                node = rid_node.get(r.get("rid"), "?")
                tl.acked_by[node] = tl.acked_by.get(node, 0) + 1
                if tl.first_ack is None:
                    tl.first_ack = r.get("t1", t)
                if tl.first_ack_new is None and node == new:
                    tl.first_ack_new = r.get("t1", t)
            else:
                tl.writes_failed += 1
        tl.end = max(tl.end, t)
    if dual_start is not None:
        tl.dual_vip.append((dual_start[0], tl.end, dual_start[1]))
    return tl


def _accumulate(tl: Timeline, holds, views, roles, addrs, dt: float) -> None:
    holders = [n for n, h in holds.items() if h]
    if not holders:
        tl.no_vip_seconds += dt
        return
    master = majority_master(views, addrs)
    off = any(h != master for h in holders)
    if off:
        tl.vip_off_master_seconds += dt
    if any(roles.get(h) != "master" for h in holders):
        tl.vip_not_master_seconds += dt
    elif off:
        tl.vip_ahead_seconds += dt


def acked_seqs(
    records,
    by: Optional[str] = None,
    after: float = float("-inf"),
    writer: str = "client",
) -> list[int]:
    """Sequence numbers of ``writer``'s acknowledged writes (optionally by one node, started
    after ``after``)."""
    rid_node = run_ids(records)
    return [
        r["seq"]
        for r in records
        if "seq" in r
        and r.get("n", "client") == writer
        and r["ok"]
        and r["t"] >= after
        and (by is None or rid_node.get(r.get("rid")) == by)
    ]


def lost_writes(records, present_keys, prefix: str = "e2e:w:", writer: str = "client") -> list[int]:
    """Acknowledged writes of ``writer`` whose key is missing on the final master."""
    present = {int(k[len(prefix) :]) for k in present_keys if k.startswith(prefix)}
    return sorted(s for s in acked_seqs(records, writer=writer) if s not in present)
