"""Plan the demotion of a local Redis that still thinks it is master: pure, from live facts.

Sentinel itself converts a returning old master about 8 s after it sees it, and never if it
cannot reach it. We may do it sooner (``actions.demote``), with the same target, only when a
Sentinel majority agrees on that target and no failover is running, so the two can never
pull the Redis in different directions. We never promote.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_vip.decision.decide import Classify, tally

DEMOTE_STATES = frozenset({"BACKUP", "FAULT", "STOP"})
# Flags in `SENTINEL MASTER` that mean Sentinel is busy with this master right now.
BUSY_FLAGS = frozenset({"failover_in_progress", "promoted", "s_down", "o_down"})


@dataclass(frozen=True)
class Demotion:
    host: str
    port: int
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


def plan_demotion(
    state: str,
    redis,
    answers,
    master_states,
    classify: Classify,
    agreement: int,
) -> Demotion | Skip:
    """Decide from live facts only, so repeated or reordered notify calls are harmless."""
    if state not in DEMOTE_STATES:
        return Skip(f"state {state} never demotes")
    if not redis.reachable or redis.error_kind:
        return Skip("local redis unreachable")
    if redis.role != "master":
        return Skip(f"local redis already role={redis.role}")
    t = tally(answers, classify)
    leader, top = t.leader()
    if leader is None or top < agreement:
        return Skip(f"no sentinel majority names a master need={agreement} {t.describe()}")
    kind = t.kinds[leader]
    if kind == "self":
        return Skip("sentinels name this node")
    if kind != "other":
        return Skip(f"sentinels name {leader}, a {kind} address")
    # Only Sentinels whose SENTINEL MASTER we could read can vouch that no failover runs;
    # a hung or garbled one proves nothing, so a majority of them must have answered.
    confirmed = sum(1 for s in master_states if isinstance(s, dict) and s.get("flags"))
    if confirmed < agreement:
        return Skip(
            f"sentinel master state read from {confirmed} sentinels need={agreement}:"
            " cannot rule out a running failover"
        )
    host, port = _split(leader)
    busy = _busy_flags(master_states, host, port)
    if busy:
        return Skip(f"sentinel busy flags={','.join(sorted(busy))}")
    return Demotion(host, port, f"sentinels name {leader} need={agreement} {t.describe()}")


def _busy_flags(master_states, host: str, port: int) -> set:
    """Flags that make the target unsafe to follow: a failover or a down state *of the master
    we would replicate from*. A Sentinel still finishing the failover away from this node
    reports it about the old master (us); that one is not a reason to wait, since Sentinel
    will point us at the same target."""
    busy: set = set()
    for state in master_states:
        if not isinstance(state, dict):
            continue
        about = (state.get("ip"), state.get("port"))
        if about != (None, None) and about != (host, str(port)):
            continue
        flags = set(str(state.get("flags", "")).split(","))
        busy |= flags & BUSY_FLAGS
        failover_state = str(state.get("failover-state", "none") or "none")
        if failover_state not in ("none", "failover_state_none"):
            busy.add(f"failover-state:{failover_state}")
    return busy


def _split(label: str) -> tuple[str, int]:
    host, _, port = label.rpartition(":")
    return host.strip("[]"), int(port)
