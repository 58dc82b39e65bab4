"""Follow Sentinel's failover election from its events: events in, a promotion out. Pure.

Sentinel elects one leader per failover epoch and only that leader promotes a replica
(redis src/sentinel.c). What each step publishes, and what we take from it:

- ``sentinelStartFailover``: ``+new-epoch <E>`` and at once ``+try-failover <master>`` on
  the would-be leader's own channel: the epoch of *its* failover of our master (the pair
  must be adjacent on that link; without it the epoch is unknown and nothing is accepted).
- ``sentinelVoteLeader``: ``+vote-for-leader <leader-runid> <E>`` on the voter's own channel,
  at most once per master and epoch (``leader_epoch < req_epoch``). The payload names no
  master: votes are attributed by (leader, epoch), and the leader's own failover anchors
  them to our master. The voter is the Sentinel whose channel carried the vote, known by its
  id (``SENTINEL MYID``, as ``decision.agreement`` counts Sentinels).
- ``sentinelGetLeader``: a leader needs an absolute majority of the voters (and the quorum);
  ``sentinelFailoverSelectSlave`` then publishes ``+selected-slave`` and
  ``+failover-state-send-slaveof-noone`` for the chosen replica, and
  ``sentinelFailoverSendSlaveOfNoOne`` ``+failover-state-wait-promotion`` once SLAVEOF NO ONE
  is sent. None of them carries the epoch or the leader: both come from the link.
  (``+promoted-slave`` follows only after the leader's next INFO of the replica, ~1 s later.)
- ``sentinelAbortFailover`` is preceded by ``-failover-abort-*``: that failover is void.

The rule (``Election.verdict``): the leader L published the promotion of X during its
failover of epoch E; a strict majority of distinct Sentinels published a vote for L in E;
no other leader has such a majority in E; L's id names one target in E; E is above every
epoch already accepted; L has not aborted that failover. Whether X is this node and answers
``role:master`` is the caller's part (``actions.election``).

The check may keep the track file up while the Sentinels still announce the old master
(``holds``): only on this boot, for ``HOLD`` seconds after the evidence was recorded, while
the local Redis is that master with the recorded run_id and a majority of Sentinels answer,
naming only the old master or X.
"""

from __future__ import annotations

from sentinel_vip.decision.address import canonical_host, port_number
from sentinel_vip.decision.address import label as address_label
from sentinel_vip.decision.isolation import event_master
from sentinel_vip.record import Record

NEW_EPOCH = "+new-epoch"
VOTE = "+vote-for-leader"
TRY = "+try-failover"
PROMOTION = ("+selected-slave", "+failover-state-send-slaveof-noone",
             "+failover-state-wait-promotion", "+promoted-slave")  # fmt: skip
ABORT = ("-failover-abort-not-elected", "-failover-abort-no-good-slave",
         "-failover-abort-slave-timeout", "-failover-abort-master-changed")  # fmt: skip
CHANNELS = (NEW_EPOCH, VOTE, TRY, *PROMOTION, *ABORT)
HOLD = 5.0  # seconds the check honours recorded election evidence (see ``holds``)
KEEP = 64  # (leader, epoch) entries kept per table: the newest epochs; a flood stays bounded
_HEX = frozenset("0123456789abcdef")
_MAX_EPOCH = 2**64 - 1


def need(agreement: int, configured: int) -> int:
    """A strict majority of the configured Sentinels, and at least ``sentinel.agreement``."""
    return max(agreement, configured // 2 + 1)


def _epoch(text: str) -> int | None:
    if not text.isdigit() or len(text) > 20:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_EPOCH else None


def _run_id(text: str) -> str | None:
    text = text.lower()
    return text if len(text) == 40 and set(text) <= _HEX else None


def election_payload(data: str) -> bool:
    """Is ``data`` shaped like a ``+new-epoch`` or ``+vote-for-leader`` payload? They name no
    master, so the listener lets these shapes through besides the events naming ours."""
    parts = data.split()
    if len(parts) == 1:
        return _epoch(parts[0]) is not None
    return len(parts) == 2 and _run_id(parts[0]) is not None and _epoch(parts[1]) is not None


def promoted(master_name: str, data: str):
    """(replica, master) addresses of a promotion payload about our master, else None:
    ``slave <ip:port> <ip> <port> @ <name> <master-ip> <master-port>``."""
    parts = data.split()
    old = event_master(master_name, data)
    if old is None or len(parts) < 8 or parts[0] != "slave" or parts[4] != "@":
        return None
    target, old = _canonical(parts[2], parts[3]), _canonical(*old)
    return None if target is None or old is None else (target, old)


def _canonical(host, port):
    """(canonical host, port) as ``probes.sentinel`` spells Sentinel's answers, else None."""
    host, port = canonical_host(host), port_number(port)
    return None if host is None or port is None else (host, port)


class Promotion(Record):
    epoch: int
    leader: str  # the leader's Sentinel id
    target: tuple  # (host, port) it promotes
    old: tuple  # (host, port) of the master it fails over
    voters: int  # distinct Sentinels that voted for it in ``epoch``

    def describe(self) -> str:
        return (
            f"epoch={self.epoch} leader={self.leader[:8]} votes={self.voters}"
            f" promoted={address_label(*self.target)} from={address_label(*self.old)}"
        )


class _Link:
    __slots__ = ("failover", "pending")

    def __init__(self) -> None:
        self.pending: int | None = None  # +new-epoch, valid for the very next event only
        self.failover: tuple | None = None  # (epoch, old master) of this Sentinel's failover


class Election:
    """What the Sentinels' events say about the failovers of one master. Feed it every
    event (``event``) in the order each link delivered them; ``forget`` a link whenever it
    reconnects or goes away (what it said before is not re-checked: drop it)."""

    def __init__(self, master_name: str, need: int) -> None:
        self.master_name, self.need = master_name, need
        self.links: dict = {}  # label -> _Link
        self.votes: dict = {}  # (leader, epoch) -> {voter id: {labels}}
        self.promotions: dict = {}  # (leader, epoch) -> {(target, old): {labels}}
        self.aborted: set = set()  # (leader, epoch)
        self.floor = 0  # epochs <= floor are ignored: accepted already (or known older)

    def event(self, label: str, sentinel_id: str | None, channel: str, data: str) -> None:
        link = self.links.setdefault(label, _Link())
        pending, link.pending = link.pending, None
        sid = _run_id(sentinel_id or "")
        if sid is None:
            return  # a Sentinel we cannot tell apart from others counts nowhere
        if channel == NEW_EPOCH:
            link.pending = _epoch(data.strip())
        elif channel == VOTE:
            parts = data.split()
            if len(parts) == 2 and election_payload(data):
                epoch = _epoch(parts[1])
                if epoch > self.floor:
                    key = (_run_id(parts[0]), epoch)
                    self.votes.setdefault(key, {}).setdefault(sid, set()).add(label)
        elif channel == TRY:
            old = event_master(self.master_name, data)
            if old is not None:
                link.failover = (pending, old) if pending is not None else None
        elif channel in PROMOTION:
            found = promoted(self.master_name, data)
            if found is not None and link.failover is not None:
                epoch, old = link.failover
                if found[1] == old and epoch > self.floor:
                    entry = self.promotions.setdefault((sid, epoch), {})
                    entry.setdefault(found, set()).add(label)
        elif channel in ABORT:
            if event_master(self.master_name, data) is not None and link.failover is not None:
                self.aborted.add((sid, link.failover[0]))
                link.failover = None
        self._bound()

    def _bound(self) -> None:
        """Votes for other masters' elections are never accepted here: keep the newest."""
        for table in (self.votes, self.promotions):
            if len(table) > KEEP:
                for key in sorted(table, key=lambda k: k[1])[: len(table) - KEEP]:
                    del table[key]
        if len(self.aborted) > KEEP:
            self.aborted = set(sorted(self.aborted, key=lambda k: k[1])[-KEEP:])

    def forget(self, label: str) -> None:
        """Drop everything ``label``'s link told us (it reconnected or went away)."""
        self.links.pop(label, None)
        for table in (self.votes, self.promotions):
            for key in list(table):
                for inner in list(table[key]):
                    table[key][inner].discard(label)
                    if not table[key][inner]:
                        del table[key][inner]
                if not table[key]:
                    del table[key]

    def accept(self, epoch: int) -> None:
        """Epochs only move forward: nothing at or below ``epoch`` counts any more."""
        self.floor = max(self.floor, epoch)
        for table in (self.votes, self.promotions):
            for key in [k for k in table if k[1] <= self.floor]:
                del table[key]

    def count(self, leader: str, epoch: int) -> int:
        return len(self.votes.get((leader, epoch), ()))

    def verdict(self) -> Promotion | None:
        """The promotion a majority-elected leader made in the newest epoch, or None."""
        best = None
        for (leader, epoch), targets in self.promotions.items():
            if epoch <= self.floor or (leader, epoch) in self.aborted or len(targets) != 1:
                continue
            voters = self.count(leader, epoch)
            if voters < self.need or self._rivals(leader, epoch):
                continue
            ((target, old),) = targets
            if target == old:
                continue
            if best is None or epoch > best.epoch:
                best = Promotion(epoch, leader, target, old, voters)
        return best

    def _rivals(self, leader: str, epoch: int) -> bool:
        """Another leader with a majority in the same epoch: an id is contested."""
        return any(
            e == epoch and other != leader and len(v) >= self.need
            for (other, e), v in self.votes.items()
        )

    def withdrawn(self, leader: str, epoch: int) -> bool:
        """Did the leader of an accepted promotion abort it since?"""
        return (leader, epoch) in self.aborted


# ------------------------------------------------------------------ the check's hold


def holds(record: dict, answers_named: tuple, answered: int, need_: int, redis, classify,
          mono: float, boot: str, hold: float = HOLD) -> str | None:  # fmt: skip
    """Why the check may keep this node up on election evidence the watcher recorded
    (``store.election``), or None. ``answers_named`` is ``Agreement.named`` and ``answered``
    ``Agreement.answered``; ``redis`` the local server's facts; ``mono``/``boot`` now.

    Bounded: this boot only, ``0 <= age <= hold``; the local Redis is a master with the
    recorded run_id; the config still says the promoted address is this node's; at least
    ``need_`` distinct Sentinels answered and every one names the old master or this one
    (they have not announced the switch yet; anything else and the check's own rules rule).
    """
    if not record or record.get("boot") != boot or not boot:
        return None
    age = mono - record["mono"]
    if not 0 <= age <= hold:
        return None
    if not redis.reachable or redis.error_kind or redis.role != "master":
        return None
    if not redis.run_id or redis.run_id != record["run_id"]:
        return None
    target, old = record["target"], record["old"]
    if classify(*target) != "self":
        return None
    allowed = {address_label(*target), address_label(*old)}
    if answered < need_ or not answers_named:
        return None
    if any(where not in allowed for where, _count, _runids in answers_named):
        return None
    return (
        f"elected: epoch {record['epoch']} leader {record['leader'][:8]} promoted"
        f" {address_label(*target)} with {record['voters']} votes; sentinels have not"
        " announced it yet"
    )
