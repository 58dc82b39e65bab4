"""Plan the demotion of a local Redis that still thinks it is master: pure, from live facts.

Sentinel itself converts a returning old master about 8 s after it sees it, and never if it
cannot reach it. We may do it sooner (``actions.demote``), with the same target, only when
every guard holds, so the two can never pull the Redis in different directions, and a
server can never be pointed at itself or at a stray:

- a Sentinel majority (distinct Sentinels, ``decision.agreement``) names the target;
- the run_id the Sentinels report for it is not the local server's (the majority does not
  name this server, whatever address it uses);
- no failover of the target is running (flags, failover-state), and no Sentinel names this
  server master under a newer config epoch (it was just promoted: ``promoted_lately``);
- a Sentinel majority knows this server as a replica of the target (SENTINEL REPLICAS, by
  run_id or by this node's address): the servers Sentinel itself would convert;
- the agreed master's address is not this node's by the config (it is, with another run_id,
  when redis.port reaches another local server than the one Sentinel manages), and the
  target does not run on this host at all;
- the target answers from here, says role master, is not this server, and is the server the
  Sentinels name (``confirm``): it has the run_id they report; or, while they have not read
  it yet (after a switch, until Sentinel's next INFO of the new master: measured 3-8 s, up
  to 10 s), it is this server's own replica promoted by the failover: a promoted replica
  keeps its old master's replication id as its ``master_replid2`` (PSYNC2, Redis 4+), which
  no stray or unrelated server has. Without that proof, nothing is done.

We never promote. Two steps because the last guard needs a probe of the target in between.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_vip.decision import agreement
from sentinel_vip.decision.address import label

DEMOTE_STATES = frozenset({"BACKUP", "FAULT", "STOP"})


@dataclass(frozen=True)
class Demotion:
    host: str
    port: int
    runid: str | None  # None: not read by the Sentinels yet (see confirm)
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


def plan_demotion(state: str, redis, counted, answers, classify) -> Demotion | Skip:
    """The candidate target from the Sentinels' answers, before the target is probed.

    ``counted`` is ``agreement.agree(answers, ...)``; decided from live facts only, so
    repeated or reordered notify calls are harmless."""
    if state not in DEMOTE_STATES:
        return Skip(f"state {state} never demotes")
    if not redis.reachable or redis.error_kind:
        return Skip("local redis unreachable")
    if redis.role != "master":
        return Skip(f"local redis already role={redis.role}")
    if not counted.agreed:
        return Skip(f"no sentinel majority names a master {counted.describe()}")
    kind, why = agreement.whose(counted, redis, classify)
    where = label(*counted.master)
    if kind in (agreement.SELF, agreement.MISMATCH) or counted.runid == redis.run_id:
        return Skip(f"never demote the master the sentinels name: {why}")
    if kind in (agreement.LOOPBACK, agreement.VIP):
        return Skip(why)
    if classify(*counted.master) == agreement.SELF:
        # The config says the master is this node, the run_id says it is not the local
        # Redis: redis.port (or the socket) reaches another server than the one Sentinel
        # manages here. Demoting would wipe that other server's data.
        return Skip(
            f"never demote: sentinels name {where}, which node.addresses/announce_port say is"
            " this node, but the local redis is another server (run_id): fix redis.port or"
            " node.addresses"
        )
    busy = agreement.busy_flags(answers, counted.master)
    if busy:
        return Skip(f"sentinel busy flags={','.join(sorted(busy))}")
    if promoted_lately(answers, counted, redis, classify):
        return Skip(
            f"a sentinel names this server master under a newer config epoch than those naming"
            f" {where}: it was just promoted and the others have not heard yet"
        )
    knowing = known_as_replica(answers, counted, redis, classify)
    if not any(a.replicas is not None for a in answers if a.master == counted.master):
        return Skip(
            "the sentinels did not answer SENTINEL REPLICAS (grant +sentinel|replicas): cannot"
            " tell whether Sentinel knows this server as a replica, so not demoting"
        )
    if knowing < counted.need:
        return Skip(
            f"only {knowing} of the {counted.need} sentinels needed know this server as a"
            f" replica of {where}: Sentinel would not convert it either (another cluster's"
            " sentinels in sentinel.addresses, or redis.port not this node's managed redis?)"
        )
    host, port = counted.master
    return Demotion(host, port, counted.runid, f"sentinels name {where} {counted.describe()}")


def known_as_replica(answers, counted, redis, classify) -> int:
    """How many distinct Sentinels naming the agreed master list this server among its
    replicas (SENTINEL REPLICAS): by its run_id, or, while Sentinel has not read that entry's
    run_id, by an address the config says is this node's. Sentinel converts a server
    reporting role master only when it knows it as a replica of that master (the old master
    is added to that list at the switch); a server it never knew (another cluster's master,
    a second local Redis) is not ours to demote."""
    knowing = set()
    for answer in answers:
        if answer.master != counted.master or not answer.replicas or not answer.sentinel_id:
            continue
        for address, runid in answer.replicas:
            if agreement.is_this_server(address, runid, redis, classify):
                knowing.add(answer.sentinel_id)
                break
    return len(knowing)


def promoted_lately(answers, counted, redis, classify) -> bool:
    """Does a Sentinel name this server as master under a newer config epoch than every one
    naming the agreed master? Then this server was just promoted and the others have not
    heard yet: they learn a switch from the leader's hello, ~1-2 s later (the leader names
    the promoted replica as soon as it reports role master, while SENTINEL MASTER there may
    still describe the old address, under the new epoch already). Demoting it toward the
    old master then would leave no master at all. A returning old master is named, if at
    all, only under the epoch it was replaced in. A minority can claim this and so delay a
    demotion (Sentinel converts the old master itself): never cause one."""
    ours, theirs = [], []
    for answer in answers:
        epoch = _config_epoch(answer.fields)
        if epoch is None or answer.master is None:
            continue
        if answer.master == counted.master:
            theirs.append(epoch)
        elif agreement.is_this_server(answer.master, answer.runid, redis, classify):
            ours.append(epoch)
    return bool(ours) and max(ours) > max(theirs, default=-1)


def _config_epoch(fields) -> int | None:
    text = (fields or {}).get("config-epoch", "")
    return int(text) if text.isdigit() and len(text) < 20 else None


def confirm(plan: Demotion, redis, target, on_this_host: bool = False) -> Demotion | Skip:
    """The candidate, if the target (``RedisFacts`` probed at its address from here) is the
    master the Sentinels name: role master, their run_id, not this server, and not on this
    host (``on_this_host``: its address is one of this host's own, loopback aside)."""
    where = label(plan.host, plan.port)
    if on_this_host:
        # One Redis per node: the master Sentinel manages on this host is this node's, so
        # the local redis (redis.port) is some other server that Sentinel never saw.
        return Skip(
            f"never demote: target {where} runs on this host, so the local redis is not the"
            " server Sentinel manages here: fix redis.port / node.announce_port"
        )
    if not target.reachable or target.error_kind:
        return Skip(f"target {where} did not answer: {target.error or 'no answer'}")
    if target.role != "master":
        return Skip(f"target {where} says role={target.role}, not master")
    if target.run_id == redis.run_id:
        return Skip(f"target {where} is this server: never replicate from itself")
    if plan.runid is not None:
        if target.run_id != plan.runid:
            return Skip(
                f"target {where} is another server than the one the sentinels name (run_id)"
            )
        return plan
    if redis.replid is None or target.replid2 != redis.replid:
        return Skip(
            f"sentinels have not read the run_id of {where} yet, and it is not a promoted"
            " replica of this server (replication ids)"
        )
    return Demotion(plan.host, plan.port, None, f"{plan.reason} promoted_from=this_server")
