"""The scenarios' invariants, as pure functions over sampler records (no I/O, no cluster).

Every node agent samples every SAMPLE_PERIOD_S: does its namespace hold the VIP, its Redis
role, its Sentinel's master (record kinds: see timeline.py). ``states()`` turns the records
into the cluster's state after each sample (the latest sample of every node); the checks
below look for *windows* in that sequence where an invariant does not hold and compare
their length with a budget.

Budgets (seconds):
- VIP_FOLLOW_BUDGET_S: once a Sentinel majority names a new master, the VIP is on that node
  within this. Measured ~0.2-0.4 s (watch flips the track file, keepalived leaves FAULT after
  3 VRRPv3 adverts of 0.05 s); the budget leaves room for a loaded 2-core CI machine.
- DUAL_VIP_BUDGET_S: two nodes never hold the VIP longer than one VRRP advertisement
  interval. The agents sample independently, so a release at T is seen at up to T + one
  period while an acquisition right after T is seen at once: a real overlap of 0 can show as
  one sampling period. Hence one advert interval plus one sampling period.
- OFF_MASTER_BUDGET_S: the VIP never stays longer than this on a node that is not the
  master (its Redis does not answer role:master, or no Sentinel majority names it). The
  check polls every 1 s with a 0.8 s deadline, so a dead Redis is noticed within ~1.8 s.
- CUT_RELEASE_BUDGET_S: a master cut off from the others stops acknowledging writes made
  through the VIP (from an application on its own host) within this: its check loses the
  Sentinel majority at the next poll (1 s + 0.8 s deadline) and keepalived releases the VIP.
- FENCE_BUDGET_S: a master cut off from the Sentinel majority and from its replicas stops
  acknowledging writes -- through the VIP and directly -- within this: the watcher's links
  notice the silence in 0.25-0.35 s, a replica probe waits 0.1 s, then CLIENT PAUSE WRITE.
  Goal 0.5 s (make bench-partition); the budget leaves room for a loaded machine.
- HEAL_DEMOTE_BUDGET_S: an old master that comes back while a majority names another is
  a replica within this after the heal (the watcher's links reconnect within ~0.35 s, then
  one demotion). Goal 2 s; Sentinel alone takes ~10 s.
- MAX_SAMPLE_GAP_S: the sampling must be continuous, or a window could hide between two
  samples; a larger gap in any node's samples fails the scenario instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from .timeline import majority_master

SNIPPET = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "etc", "keepalived", "conf.d",
    "sentinel-vip.conf",
)  # fmt: skip


def _advert_int(path: str = SNIPPET) -> float:
    """advert_int as the shipped snippet sets it, so the budget cannot drift from it."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            words = line.split("#", 1)[0].split()
            if words[:1] == ["advert_int"]:
                return float(words[1])
    raise ValueError(f"{path}: no advert_int")


VRRP_ADVERT_S = _advert_int()
SAMPLE_PERIOD_S = 0.05  # Sampler(interval=...)
VIP_FOLLOW_BUDGET_S = 2.0
DUAL_VIP_BUDGET_S = VRRP_ADVERT_S + SAMPLE_PERIOD_S
OFF_MASTER_BUDGET_S = 2.0
CUT_RELEASE_BUDGET_S = 2.0
FENCE_BUDGET_S = 1.0
HEAL_DEMOTE_BUDGET_S = 4.0
MAX_SAMPLE_GAP_S = 0.5

BUDGETS = {
    "vip_follow_budget_s": VIP_FOLLOW_BUDGET_S,
    "dual_vip_budget_s": DUAL_VIP_BUDGET_S,
    "off_master_budget_s": OFF_MASTER_BUDGET_S,
    "cut_release_budget_s": CUT_RELEASE_BUDGET_S,
    "fence_budget_s": FENCE_BUDGET_S,
    "heal_demote_budget_s": HEAL_DEMOTE_BUDGET_S,
    "max_sample_gap_s": MAX_SAMPLE_GAP_S,
}


@dataclass(frozen=True)
class State:
    t: float
    holders: tuple  # nodes holding the VIP, sorted
    master: Optional[str]  # node a Sentinel majority names, else None
    roles: dict  # node -> "master" | "slave" | None


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    nodes: tuple

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Follow:
    """A Sentinel switch to ``node`` at ``switch_at``; ``reached_at`` when it held the VIP."""

    switch_at: float
    node: str
    reached_at: Optional[float]
    end: float  # reached_at, or when the majority moved on / the sampling ended

    @property
    def seconds(self) -> float:
        return self.end - self.switch_at


def states(records, addrs: dict, gone: Optional[dict] = None) -> list:
    """The cluster state after each node sample, from the first moment every node in
    ``addrs`` has reported. ``gone``: node -> time from which it is lost (powered off): it
    holds nothing and has no role, whatever its namespace still has configured."""
    gone = gone or {}
    latest: dict = {}
    out = []
    for r in sorted((r for r in records if "vip" in r), key=lambda r: r["t"]):
        node, t = r["n"], r["t"]
        lost = node in gone and t >= gone[node]
        latest[node] = {
            "vip": bool(r["vip"]) and not lost,
            "role": None if lost else r.get("role"),
            "sm": r.get("sm"),
        }
        if len(latest) < len(addrs):
            continue
        for n, since in gone.items():  # a lost node holds nothing even before its next sample
            if n in latest and t >= since:
                latest[n] = {**latest[n], "vip": False, "role": None}
        out.append(
            State(
                t=t,
                holders=tuple(sorted(n for n, s in latest.items() if s["vip"])),
                master=majority_master({n: s["sm"] for n, s in latest.items()}, addrs),
                roles={n: s["role"] for n, s in latest.items()},
            )
        )
    return out


def dual_vip_windows(seq) -> list:
    """Windows in which two or more nodes held the VIP (nodes: every holder in the window)."""
    out, start, nodes = [], None, set()
    for s in seq:
        if len(s.holders) > 1:
            if start is None:
                start, nodes = s.t, set()
            nodes |= set(s.holders)
        elif start is not None:
            out.append(Window(start, s.t, tuple(sorted(nodes))))
            start = None
    if start is not None:
        out.append(Window(start, seq[-1].t, tuple(sorted(nodes))))
    return out


def _off_master(s: State, node: str) -> bool:
    return node in s.holders and (s.master != node or s.roles.get(node) != "master")


def off_master_windows(seq) -> list:
    """Per node, windows in which it held the VIP without being the master (its Redis not
    role:master, or no Sentinel majority naming it)."""
    out, open_at = [], {}
    for s in seq:
        for node in set(s.holders) | set(open_at):
            if _off_master(s, node):
                open_at.setdefault(node, s.t)
            elif node in open_at:
                out.append(Window(open_at.pop(node), s.t, (node,)))
    for node, start in open_at.items():
        out.append(Window(start, seq[-1].t, (node,)))
    return sorted(out, key=lambda w: w.start)


def follows(seq) -> list:
    """Every switch of the Sentinel majority to another node, and when the VIP got there.
    The first master seen is the starting point, not a switch."""
    out, prev, pending = [], None, None
    for s in seq:
        if s.master is not None and s.master != prev:
            if pending is not None:  # superseded before the VIP arrived
                out.append(Follow(pending[0], pending[1], None, s.t))
                pending = None
            if prev is not None:
                pending = (s.t, s.master)
            prev = s.master
        if pending is not None and pending[1] in s.holders:
            out.append(Follow(pending[0], pending[1], s.t, s.t))
            pending = None
    if pending is not None:
        out.append(Follow(pending[0], pending[1], None, seq[-1].t if seq else pending[0]))
    return out


def sample_gaps(records) -> dict:
    """node -> the longest time between two of its consecutive samples."""
    times: dict = {}
    for r in records:
        if "vip" in r:
            times.setdefault(r["n"], []).append(r["t"])
    return {
        n: max((b - a for a, b in zip(sorted(ts), sorted(ts)[1:])), default=0.0)
        for n, ts in times.items()
    }


def held_after(seq, node: str, after: float) -> list:
    """Times of states from ``after`` on in which ``node`` held the VIP (a flap back)."""
    return [s.t for s in seq if s.t >= after and node in s.holders]


@dataclass
class Verdict:
    follows: list = field(default_factory=list)
    dual: list = field(default_factory=list)
    off_master: list = field(default_factory=list)
    gaps: dict = field(default_factory=dict)
    sampled: tuple = (0.0, 0.0)  # first and last state time

    def violations(self) -> list:
        out = []
        for f in self.follows:
            if f.seconds > VIP_FOLLOW_BUDGET_S or f.reached_at is None:
                how = "reached it" if f.reached_at is not None else "never reached it"
                out.append(
                    f"Sentinel switched to {f.node} at t={f.switch_at:.3f}; the VIP {how} "
                    f"after {f.seconds:.3f} s (budget {VIP_FOLLOW_BUDGET_S} s)"
                )
        for w in self.dual:
            if w.seconds > DUAL_VIP_BUDGET_S:
                out.append(
                    f"{' and '.join(w.nodes)} held the VIP together for {w.seconds:.3f} s "
                    f"from t={w.start:.3f} (budget {DUAL_VIP_BUDGET_S:g} s)"
                )
        for w in self.off_master:
            if w.seconds > OFF_MASTER_BUDGET_S:
                out.append(
                    f"{w.nodes[0]} held the VIP without being the master for {w.seconds:.3f} s "
                    f"from t={w.start:.3f} (budget {OFF_MASTER_BUDGET_S} s)"
                )
        for node, gap in sorted(self.gaps.items()):
            if gap > MAX_SAMPLE_GAP_S:
                out.append(f"{node}: sampling gap {gap:.3f} s (max {MAX_SAMPLE_GAP_S} s)")
        return out

    def figures(self, since: float) -> dict:
        """Measured worst cases (seconds); window starts relative to ``since`` (the fault)."""
        reached = [f.seconds for f in self.follows if f.reached_at is not None]
        return {
            "vip_follow_s": [round(s, 3) for s in reached],
            "dual_vip_max_s": round(max((w.seconds for w in self.dual), default=0.0), 3),
            "dual_vip_windows": [
                [round(w.start - since, 3), round(w.seconds, 3), list(w.nodes)] for w in self.dual
            ],
            "off_master_max_s": round(max((w.seconds for w in self.off_master), default=0.0), 3),
            "off_master_windows": [
                [round(w.start - since, 3), round(w.seconds, 3), w.nodes[0]]
                for w in self.off_master
            ],
            "max_sample_gap_s": round(max(self.gaps.values(), default=0.0), 3),
        }


def judge(records, addrs: dict, gone: Optional[dict] = None) -> Verdict:
    seq = states(records, addrs, gone)
    return Verdict(
        follows=follows(seq),
        dual=dual_vip_windows(seq),
        off_master=off_master_windows(seq),
        gaps=sample_gaps(records),
        sampled=(seq[0].t, seq[-1].t) if seq else (0.0, 0.0),
    )
