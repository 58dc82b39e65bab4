"""Demote the local Redis the way Sentinel does: one transaction, then drop its clients.

``decision.demotion`` decides whether and to whom; ``plan`` gathers the facts it needs (for
notify and the watcher alike) and this module carries it out.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class DemotionResult:
    ok: bool
    detail: str


def plan(config, state: str, deadline, sentinels=None) -> tuple:
    """(Demotion or Skip, the local ``RedisFacts``, the ``Agreement``): the Sentinels (with
    SENTINEL REPLICAS) and the local Redis (with its replication ids) asked concurrently
    within half of ``deadline``, ``decision.demotion.plan_demotion``, then the target probed
    from here and ``confirm``-ed. ``sentinels``: the ones to ask (default all configured;
    the watcher leaves out those it knows are silent); the majority is still counted
    against every configured Sentinel. With ``demote = false`` the target is not probed:
    the plan comes back unconfirmed, for the log only."""
    from sentinel_vip.deadline import Deadline
    from sentinel_vip.decision import demotion
    from sentinel_vip.decision.agreement import agree
    from sentinel_vip.probes import identity
    from sentinel_vip.probes.endpoint import Endpoint
    from sentinel_vip.probes.local_redis import probe_redis
    from sentinel_vip.probes.sentinel import ask_sentinels

    # Half the deadline at most for the facts: a hung Sentinel must leave time to act.
    facts_deadline = Deadline(deadline.remaining() / 2)
    box: dict = {}
    answers = ask_sentinels(
        config.sentinels if sentinels is None else sentinels,
        config.master_name,
        facts_deadline,
        meanwhile=lambda: box.setdefault(
            "redis", probe_redis(config.redis, facts_deadline, replication=True)
        ),
        replicas=True,
    )
    redis = box["redis"]
    counted = agree(answers, config.agreement, len(config.sentinels))
    node = identity.identity_of(config)
    planned = demotion.plan_demotion(state, redis, counted, answers, node.classify)
    if isinstance(planned, demotion.Skip) or not config.demote:
        return planned, redis, counted
    local = config.redis
    target = Endpoint(planned.host, planned.port, "", local.username, local.password, local.tls)
    local_target = identity.on_this_host(node, planned.host, planned.port, deadline)
    probed = probe_redis(target, deadline, replication=True)
    return demotion.confirm(planned, redis, probed, local_target), redis, counted


def demote_to(endpoint, host: str, port: int, timeout: float, restore=()) -> DemotionResult:
    """Make the local Redis a replica of ``host:port`` and drop its normal clients, the way
    Sentinel does it, in one transaction, within ``timeout`` seconds in all. CONFIG REWRITE
    may fail (no config file, read-only /etc); the demotion still stands, so that is
    reported, not fatal. ``restore``: commands run after REPLICAOF and before CONFIG REWRITE
    (the watcher's fence: see actions.fence)."""
    from sentinel_vip.deadline import Deadline
    from sentinel_vip.probes.resp import ProbeError, connect

    commands = [("REPLICAOF", host, str(port)), *restore]
    commands += [("CONFIG", "REWRITE"), ("CLIENT", "KILL", "TYPE", "normal")]
    try:
        with connect(endpoint, Deadline(timeout)) as conn:
            results = conn.transaction(*commands)
            # A replica whose writes are paused (see fence) would not apply the new master's
            # replication stream. Outside the transaction: Redis < 6.2 lacks UNPAUSE.
            with contextlib.suppress(ProbeError):
                conn.call("CLIENT", "UNPAUSE")
    except ProbeError as exc:
        return DemotionResult(False, f"demotion failed: {_one_line(exc)}")
    replicaof, restored = results[0], results[1 : 1 + len(restore)]
    rewrite, killed = results[1 + len(restore) :]
    if isinstance(replicaof, Exception):
        return DemotionResult(False, f"replicaof failed: {_one_line(replicaof)}")
    notes = [f"replicaof={host}:{port}"]
    notes.append("config_rewrite=" + ("failed" if isinstance(rewrite, Exception) else "ok"))
    notes.append(f"clients_killed={killed if isinstance(killed, int) else 'failed'}")
    if restore:
        failed = any(isinstance(r, Exception) for r in restored)
        notes.append("fence_restored=" + ("failed" if failed else "ok"))
    return DemotionResult(True, " ".join(notes))


def _one_line(exc: Optional[BaseException]) -> str:
    return " ".join(str(exc).split())[:200]
