"""The agreed master: which master a Sentinel majority names, and whether it is this node.

The one home of the majority arithmetic (check, notify, status and doctor all use it):

- A Sentinel counts once, by its own id (SENTINEL MYID), however many configured addresses
  reach it: aliases of one Sentinel never make a majority.
- The majority is ``need`` distinct Sentinels (``sentinel.agreement``, resolved against the
  configured count), so an alias among the addresses makes agreement harder, never easier.
- Votes are grouped by the named address (canonical spelling) *and* the master's run_id:
  Sentinels naming the same address with different run_ids name different servers (each
  host's own ``127.0.0.1:6379``, a stray Sentinel's standalone Redis) and do not add up. A
  Sentinel that has not read the run_id yet (right after a switch) counts with the others
  naming that address, as long as those that know it agree on one.

Whether the agreed master is this node is decided by identity (``whose``): the local Redis'
run_id against the run_id the agreeing Sentinels report, together with the address the
config says is this node's. Pure: facts in, answers out.
"""

from __future__ import annotations

from sentinel_vip.decision.address import label
from sentinel_vip.record import Record

# What the agreed master is to this node (``whose``).
SELF = "self"  # this server, proven by its run_id
OTHER = "other"  # another server
LOOPBACK = "loopback"  # an address that identifies no node (see probes.identity)
VIP = "vip"
MISMATCH = "mismatch"  # this server's run_id, but the config describes another address
UNCONFIRMED = "unconfirmed"  # run_id not read yet and this server not confirmed at the address


class Agreement(Record):
    """How the Sentinels' answers split, counted by distinct Sentinel."""

    need: int
    configured: int
    master: tuple | None  # (host, port) named by at least ``need`` distinct Sentinels
    runid: str | None  # the run_id they report for it; None = none has read it yet
    votes: int  # Sentinels naming ``master`` (with a consistent run_id)
    named: tuple  # ((label, count, run_ids), ...) per named address, sorted
    answered: int  # distinct Sentinels that named some master
    duplicates: tuple  # ((configured label, label it duplicates), ...)
    contested: tuple  # ((configured label, label whose id it gave), ...): see _compatible
    failures: tuple  # ((error kind, count), ...): why the silent were silent
    top: tuple | None  # the most named address, run_ids aside (None on a tie)
    top_votes: int
    conflict: bool  # ``top`` is named with different run_ids

    @property
    def agreed(self) -> bool:
        return self.master is not None

    def describe(self) -> str:
        """Stable from run to run while the situation holds (no timings, no run_ids)."""
        parts = [f"need={self.need}/{self.configured}"]
        for where, count, runids in self.named:
            parts.append(f"{where}={count}" + (f"(run_ids={runids})" if runids > 1 else ""))
        parts.append(f"silent={self.configured - self.answered - len(self.duplicates)}")
        if self.duplicates:
            parts.append(f"duplicate={len(self.duplicates)}")
        if self.contested:
            parts.append(f"contested_id={len(self.contested)}")
        if self.failures:
            parts.append(f"({','.join(f'{k}={n}' for k, n in self.failures)})")
        return " ".join(parts)


def _groups(by_address: dict) -> list:
    """((host, port), run_id or None, count) for every group of Sentinels that agree."""
    groups = []
    for address, runids in by_address.items():
        known = [r for r in runids if r is not None]
        if len(known) <= 1:
            groups.append((address, known[0] if known else None, sum(runids.values())))
        else:  # the same address, different servers: only equal run_ids add up
            groups.extend((address, r, runids[r]) for r in known)
    return groups


def _best(counted: list) -> tuple:
    """(item, count) of the largest count, (None, count) on a tie, (None, 0) when empty."""
    ranked = sorted(counted, key=lambda pair: -pair[1])[:2]
    if not ranked:
        return None, 0
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None, ranked[0][1]
    return ranked[0]


def _compatible(vote: tuple, answer) -> bool:
    """Could ``answer`` be the same Sentinel as the one that gave ``vote`` ((master, runid))?

    A Sentinel's id is what it says it is: a peer can give another Sentinel's id. Were every
    repeat of an id dropped, one liar giving an honest Sentinel's id (and answering first)
    would silence that Sentinel: a minority denying the real master its majority. So only a
    repeat that names the same master (run_ids equal, or one not read yet) is an alias and
    counts once; one naming anything else is counted on its own. A Sentinel then adds at
    most one vote to any (address, run_id) group however it spells its id: a repeat that
    would join a group it is in already is compatible, so dropped."""
    master, runid = vote
    if master != answer.master:
        return False
    return runid is None or answer.runid is None or runid == answer.runid


def agree(answers, need: int, configured: int) -> Agreement:
    """Count ``answers`` (``SentinelAnswer``s, configured order) by distinct Sentinel."""
    seen: dict = {}  # sentinel id -> [(configured label, (master, runid)) counted for it]
    duplicates = []
    contested = []
    failures: dict = {}
    by_address: dict = {}  # (host, port) -> {run_id or None: count}
    answered = 0
    for answer in answers:
        if not answer.answered:
            if answer.error_kind:
                failures[answer.error_kind] = failures.get(answer.error_kind, 0) + 1
            continue
        if not answer.sentinel_id:  # the probe never lets this through: count it nowhere
            failures["protocol"] = failures.get("protocol", 0) + 1
            continue
        said = seen.setdefault(answer.sentinel_id, [])
        same = [where for where, vote in said if _compatible(vote, answer)]
        if same:
            duplicates.append((answer.address, same[0]))
            continue
        if said:  # the id of one already counted, naming something else: see _compatible
            contested.append((answer.address, said[0][0]))
        said.append((answer.address, (answer.master, answer.runid)))
        if answer.master is None:
            continue
        answered += 1
        runids = by_address.setdefault(answer.master, {})
        runids[answer.runid] = runids.get(answer.runid, 0) + 1

    best, votes = _best([((a, r), n) for a, r, n in _groups(by_address)])
    master, runid = best if best is not None and votes >= need else (None, None)
    top, top_votes = _best([(a, sum(r.values())) for a, r in by_address.items()])
    named = tuple(
        sorted(
            (label(*address), sum(runids.values()), len([r for r in runids if r]))
            for address, runids in by_address.items()
        )
    )
    return Agreement(
        need=need,
        configured=configured,
        master=master,
        runid=runid,
        votes=votes if master is not None else 0,
        named=named,
        answered=answered,
        duplicates=tuple(duplicates),
        contested=tuple(contested),
        failures=tuple(sorted(failures.items())),
        top=top,
        top_votes=top_votes,
        conflict=top is not None and len([r for r in by_address[top] if r]) > 1,
    )


def settled(answers, need: int, configured: int) -> bool:
    """True once waiting for the Sentinels still pending cannot change whether a majority
    agrees: one does already, or none can any more. ``answers`` are the finished ones
    (answered or failed; a failed one will not vote)."""
    counted = agree(answers, need, configured)
    if counted.agreed:
        return True
    pending = configured - len(answers)
    return counted.top_votes + pending < need


def whose(counted: Agreement, redis, classify, named=None, previous_run_id=None) -> tuple:
    """(what the agreed master is to this node, why): SELF, OTHER, LOOPBACK, VIP, MISMATCH
    or UNCONFIRMED (see the constants). ``redis`` is the local server's facts (its run_id);
    ``classify(host, port)`` says what the config makes of an address ("self", "other",
    "loopback", "vip"); ``named`` is the local probe of the agreed address, made only while
    the Sentinels have not read its run_id, or report the run_id this node had when it was
    last agreed (None when not made or failed).

    ``previous_run_id`` is the local run_id of this node's last agreement (the check's state
    file). A master restarted in place gets a new run_id, and the Sentinels report the old
    one until their next INFO of it (up to 10 s, then ``+reboot``): the Sentinels naming the
    run_id this node itself had, at an address the config says is this node's, where this
    server answers, name this node, as Sentinel itself will conclude at that INFO."""
    host, port = counted.master
    where = label(host, port)
    kind = classify(host, port)
    if kind in (LOOPBACK, VIP):
        return kind, f"sentinels name {where}, a {kind} address that identifies no node"
    mine = redis.run_id
    if counted.runid is not None:
        restarted = previous_run_id is not None and counted.runid == previous_run_id
        if counted.runid != mine and restarted and kind == SELF and _answers_here(named, mine):
            return SELF, (
                f"{where} is this node, restarted (the sentinels still report its previous"
                " run_id; it answers there)"
            )
        if counted.runid != mine:
            extra = ""
            if kind == SELF:
                extra = (
                    " although node.addresses describes it: Sentinel has not seen this server"
                    " since it restarted, or node.addresses names another node's address"
                )
            return OTHER, f"sentinels name {where}, another server (its run_id is not ours){extra}"
        if kind != SELF:
            return MISMATCH, (
                f"sentinels name {where} with this server's run_id, but node.addresses /"
                f" node.announce_port do not describe {where}: add it to node.addresses"
            )
        return SELF, f"{where} is this node (by its run_id)"
    if kind != SELF:
        return OTHER, f"sentinels name {where}"
    if not _answers_here(named, None):
        return UNCONFIRMED, (
            f"sentinels name {where} but have not read its run_id yet, and this server could"
            " not be confirmed there"
        )
    if named.run_id != mine:
        return MISMATCH, (
            f"sentinels name {where}, which node.addresses describes as this node, but another"
            " server answers there: fix node.addresses / node.announce_port or redis.port"
        )
    return SELF, (
        f"{where} is this node (it answers there; the sentinels have not read its run_id yet)"
    )


def is_this_server(address: tuple, runid, redis, classify) -> bool:
    """Does a Sentinel's entry (``address`` and the ``runid`` it reports there, None while it
    has not read it) describe the local server (``redis``)? By run_id once Sentinel has read
    it: another process at this node's address (redis.port naming a second local Redis) is
    not this server. Before that, by the address the config says is this node's."""
    if runid is not None:
        return redis.run_id is not None and runid == redis.run_id
    return classify(*address) == SELF


def describes_this_server(answer, redis, classify) -> bool:
    """Does ``answer``'s SENTINEL MASTER describe the local server (``is_this_server``)?
    It describes ``answer.about``, which during a failover's reconfiguration is still the
    old master while the Sentinel already names the promoted replica."""
    if answer.about is None or not answer.fields:
        return False
    runid = (answer.fields.get("runid") or "").lower() or None  # validated by the probe
    return is_this_server(answer.about, runid, redis, classify)


def _answers_here(named, run_id) -> bool:
    """The probe of the named address found a server (with ``run_id``, when given)."""
    if named is None or not named.reachable or named.error_kind or named.run_id is None:
        return False
    return run_id is None or named.run_id == run_id


def busy_flags(answers, master: tuple) -> set:
    """Flags and failover states that make ``master`` unsafe to follow: a failover or a down
    state *of that master*. A Sentinel still finishing a failover away from the old master
    reports it about the old one (SENTINEL MASTER still describes it); that one is not a
    reason to wait, since Sentinel will point the old master at the same target."""
    busy: set = set()
    for answer in answers:
        fields = answer.fields
        if not fields or (answer.about is not None and answer.about != master):
            continue
        busy |= answer.flags() & BUSY_FLAGS
        failover_state = fields.get("failover-state", "none") or "none"
        if failover_state not in ("none", "failover_state_none"):
            busy.add(f"failover-state:{failover_state}")
    return busy


# Flags in `SENTINEL MASTER` that mean Sentinel is busy with this master right now.
BUSY_FLAGS = frozenset({"failover_in_progress", "promoted", "s_down", "o_down"})
