"""The watcher's fencing rules, pure: link states, Sentinel replies and counts in, a step out.

Two fences, each on evidence rather than on one event:

Isolation (compare Patroni's failsafe mode). A master that can reach neither a Sentinel
majority nor any replica that acknowledges its replication may have been replaced on the
other side of a partition: every write it acknowledges from then on can be lost. It is
isolated when the Sentinels that stay *silent* (no answer at all: maybe alive behind the
cut) could form a majority without it, fewer than a majority answer, and no replica acks.
A Sentinel that refuses the connection or the password is not silent: its host answered,
so no partition hides it, and a cluster whose Sentinels are merely down cannot fail over.
The fence is lifted only once a Sentinel majority names this node again, or after the
node was demoted: lifting earlier would let the old master acknowledge writes that the
new one never sees.

Failover. An event is a hint; what counts is what the Sentinels report when asked
(``SENTINEL MASTER``, ``SENTINEL SENTINELS``). If a majority (``sentinel.agreement``, as
``decision.agreement`` counts it) reports our master down or being failed over, its
writes are paused (renewed while that holds). A planned ``SENTINEL FAILOVER`` is known only
to the Sentinel running it until the switch, so no majority can confirm it. Two things
then, neither of which a lying minority can turn into a failed write:
- a *tripwire*, on any claim: Redis is told to require as many good replicas as it has now.
  That changes nothing until a replica leaves -- and the replica being promoted leaves at
  the instant of its promotion, when Redis itself starts refusing writes;
- a *brake*, only when the claimant is a member of the quorum (a majority counting it hears
  its hellos: a process that merely speaks Sentinel is heard by none) and its failover has
  not promoted yet: one pause, shorter than half of down-after (so Sentinel never sees our
  master down), that lets the replicas catch up with what was acknowledged before the
  promotion. A member could fail our master over for real anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from sentinel_vip.record import Record

ALIVE, SILENT, DOWN, REFUSING, CONNECTING = "alive", "silent", "down", "refusing", "connecting"
# When one Sentinel is reached under several names, its best state is the one that counts.
_RANK = {ALIVE: 4, REFUSING: 3, DOWN: 2, CONNECTING: 1, SILENT: 0}

FENCE, LIFT, DEMOTE, HOLD, NOTHING = "fence", "lift", "demote", "hold", "nothing"
PAUSE, BRAKE, TRIPWIRE = "pause", "brake", "tripwire"
DOWN_FLAGS = frozenset({"s_down", "o_down"})
CLAIM_FLAG = "failover_in_progress"


def majority(total: int) -> int:
    """Sentinel's own majority of ``total`` distinct Sentinels: what a failover leader needs
    to be elected. Isolation is about whether the Sentinels we cannot hear could elect one
    (not about ``sentinel.agreement``, how many must name a master for us to follow it)."""
    return total // 2 + 1


class Reach(Record):
    """How many distinct Sentinels are in each state."""

    total: int
    alive: int = 0
    silent: int = 0
    down: int = 0
    refusing: int = 0
    connecting: int = 0

    def describe(self) -> str:
        return (
            f"alive={self.alive} silent={self.silent} down={self.down} "
            f"refusing={self.refusing} connecting={self.connecting} of={self.total}"
        )


def reach(links: Iterable) -> Reach:
    """``links``: (key, state) per configured Sentinel; key is its id when known (so one
    Sentinel behind several names counts once, in its best state), else its address.

    An id is what a peer says it is, so a silent link never hides behind another link that
    gives the same id and is not silent: it counts on its own. Otherwise a liar on this
    side of a cut, giving the id of a Sentinel cut off on the other, would stand in for it
    and shrink the count (three Sentinels counted as two: one silent, no majority) and the
    isolated master would never be fenced. Counted apart, the liar gets what its own id
    would get it. (The price: one Sentinel reached under two names, only one of them cut
    off, counts one silent Sentinel more.)"""
    by_key: dict = {}
    for key, state in links:
        by_key.setdefault(key, []).append(state)
    counts = {state: 0 for state in _RANK}
    for states in by_key.values():
        rest = [s for s in states if s != SILENT]
        if rest and len(rest) < len(states):
            counts[SILENT] += len(states) - len(rest)
            states = rest
        counts[max(states, key=_RANK.__getitem__)] += 1
    return Reach(
        sum(counts.values()),
        counts[ALIVE],
        counts[SILENT],
        counts[DOWN],
        counts[REFUSING],
        counts[CONNECTING],
    )


def isolation_suspected(r: Reach) -> bool:
    """A majority could be deciding without us, and we do not hear one."""
    need = majority(r.total)
    return r.total > 0 and r.silent >= need and r.alive < need


def contact(r: Reach) -> bool:
    """A Sentinel majority answers our heartbeats again."""
    return r.total > 0 and r.alive >= majority(r.total)


def replicas_in_contact(acked: int, online: int, syncing: int = 0) -> int:
    """Replicas that prove the master is not cut off: those that acknowledged a probe
    (``acked`` of the ``online`` ones it lists) plus those resyncing (connected just now);
    0 unless *every* online replica acknowledged. One replica on the master's side of a cut
    proves nothing: the Sentinel majority on the other side can promote another, and what
    the master acknowledged with the first is lost at the heal (Patroni's failsafe mode
    likewise asks for every member)."""
    return acked + syncing if acked >= online else 0


def isolation_step(fenced: bool, suspected: bool, role, replica_acks, named: str) -> str:
    """What to do now about the isolation fence.

    ``role``: the local Redis' role (None if unreachable); ``replica_acks``: replicas that
    acknowledged a probe just now (None: not asked or could not tell); ``named``: whom a
    fresh Sentinel majority names -- "self", "other" or "" (no majority, not asked).
    """
    if not fenced:
        if suspected and role == "master" and replica_acks == 0:
            return FENCE
        return NOTHING
    if role is None:
        return HOLD  # down or restarting: nothing to pause now; fence it again when it is back
    if role != "master":
        return LIFT  # demoted (by us or by Sentinel): a replica acknowledges no client write
    if named == "self":
        return LIFT
    if named == "other":
        return DEMOTE
    return HOLD


# -------------------------------------------------------------------------- failover evidence


class Evidence(Record):
    """What fresh ``SENTINEL MASTER`` replies say about our master, per distinct Sentinel
    (by its id)."""

    claimants: tuple  # Sentinels running a failover of our master
    down: tuple  # Sentinels that see our master down (s_down/o_down) or fail it over
    answered: int  # Sentinels whose reply we could read
    need: int  # Sentinels that make a majority (sentinel.agreement)
    down_after_ms: int | None = None  # the smallest down-after-milliseconds reported
    braking: tuple = ()  # claimants the quorum knows, not yet past the promotion

    def describe(self) -> str:
        return (
            f"claimants={len(self.claimants)} members={len(self.braking)} "
            f"down={len(self.down)} answered={self.answered} need={self.need}"
        )


# Failover states before Sentinel sends REPLICAOF NO ONE (sentinel.c sentinelFailoverStateStr);
# from "wait_promotion" on, the replica may already be promoted: too late for a brake.
BEFORE_PROMOTION = frozenset({"wait_start", "select_slave", "send_slaveof_noone"})
HELLO_FRESH_MS = 5000  # Sentinels publish a hello every 2 s
_STALE_PEER_FLAGS = frozenset({"s_down", "o_down", "disconnected"})


def evidence(answers, ours, need: int) -> Evidence:
    """``answers``: ``SentinelAnswer``s read with their peers (``probes.sentinel``,
    ``peers=True``); ``ours(answer)`` says whether the master its SENTINEL MASTER describes
    is this node's server (``agreement.describes_this_server``); ``need``: the Sentinels
    that make a majority. One Sentinel behind several addresses counts once (its id)."""
    answers = [a for a in answers if a.answered and a.sentinel_id and a.fields]
    claimants, down, answered, down_after = set(), set(), set(), []
    before: set = set()
    claimed: dict = {}  # sentinel id -> whether each answer under it claimed a failover
    for answer in answers:
        key, fields = answer.sentinel_id, answer.fields
        if not fields.get("flags"):
            continue
        answered.add(key)
        try:
            down_after.append(int(fields.get("down-after-milliseconds", "")))
        except ValueError:
            pass
        flags = answer.flags() if ours(answer) else frozenset()
        claimed.setdefault(key, set()).add(CLAIM_FLAG in flags)
        if CLAIM_FLAG in flags:
            claimants.add(key)
            if fields.get("failover-state") in BEFORE_PROMOTION:
                before.add(key)
        if flags & DOWN_FLAGS or CLAIM_FLAG in flags:
            down.add(key)
    # An id is what a peer says it is: under an id that claims a failover in one answer and
    # not in another, a liar gives a live Sentinel's id. Its claim still arms the tripwire
    # (as any claim does), but it borrows no membership of the quorum: no brake.
    contested = {key for key, claims in claimed.items() if len(claims) > 1}
    before -= contested
    braking = {k for k in before if 1 + _vouchers(k, answers) >= need}
    return Evidence(
        tuple(sorted(claimants)),
        tuple(sorted(down)),
        len(answered),
        need,
        min(down_after) if down_after else None,
        tuple(sorted(braking)),
    )


def _vouchers(claimant: str, answers) -> int:
    """Other Sentinels that heard a hello from ``claimant`` lately: a process that speaks
    Sentinel but that the quorum does not hear can claim anything and fail nothing over."""
    count = set()
    for answer in answers:
        if answer.sentinel_id == claimant:
            continue
        for peer_id, flags, hello_ms in answer.peers or ():
            fresh = hello_ms is not None and hello_ms <= HELLO_FRESH_MS
            if peer_id == claimant and fresh and not flags & _STALE_PEER_FLAGS:
                count.add(answer.sentinel_id)
    return len(count)


def failover_action(e: Evidence) -> str | None:
    """PAUSE on a majority's word; BRAKE when a member of the quorum runs a failover of our
    master that has not promoted yet; TRIPWIRE on any other claim; else None."""
    if e.need and len(e.down) >= e.need:
        return PAUSE
    if e.braking:
        return BRAKE
    if e.claimants:
        return TRIPWIRE
    return None


def pause_ms(down_after_ms: int | None, longest: int = 1000) -> int:
    """A pause Sentinel cannot mistake for a dead master: PUBLISH (its hello) waits behind
    CLIENT PAUSE WRITE and holds its link, so a pause must end well within down-after."""
    if down_after_ms is None or down_after_ms <= 0:
        return longest
    return max(50, min(longest, down_after_ms // 2 - 100))


# -------------------------------------------------------------------------- tripwire


def tripwire_setting(to_write, max_lag, good_replicas: int):
    """(to_write, max_lag) that makes Redis refuse writes as soon as one of its
    ``good_replicas`` leaves, or None when there is nothing to arm (no replica, or the
    admin's setting is already as strict). max-lag 0 disables the rule in Redis."""
    if good_replicas < 1 or to_write is None or max_lag is None:
        return None
    if to_write >= good_replicas and max_lag > 0:
        return None
    return max(to_write, good_replicas), (max_lag if max_lag > 0 else 10)


def tripwire_released(role, claimants: int, named: str, tripped: bool) -> bool:
    """Disarm once the node is no longer master (the failover happened and it was demoted),
    or when no Sentinel claims a failover any more, a majority names this node and the
    tripwire has not tripped. Once a replica left during the claim, it stays armed until
    the demotion: after the leader's switch the other Sentinels name the old master for a
    moment longer (until they hear the leader's hello), which is no reason to write again."""
    if role is not None and role != "master":
        return True
    return claimants == 0 and named == "self" and not tripped


# -------------------------------------------------------------------------- rate limits


class Bucket:
    """Token bucket: ``burst`` at once, then ``rate`` per second. Counts what it refused, so
    a suppressed burst is summarised in one line instead of vanishing."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = burst, now
        self.refused = 0

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.refused += 1
        return False

    def pop_refused(self) -> int:
        refused, self.refused = self.refused, 0
        return refused


# -------------------------------------------------------------------------- event payloads


def event_master(master_name: str, data: str):
    """The master an event is about, as (ip, port), or None if it is not about ours.

    Payloads are ``<type> <name> <ip> <port>`` for a master, and
    ``<type> <name> <ip> <port> @ <master-name> <master-ip> <master-port>`` otherwise.
    """
    parts = data.split()
    if "@" in parts:
        tail = parts[parts.index("@") + 1 :]
        if len(tail) >= 3 and tail[0] == master_name:
            return _address(tail[1], tail[2])
        return None
    if len(parts) >= 4 and parts[0] == "master" and parts[1] == master_name:
        return _address(parts[2], parts[3])
    return None


def _address(ip: str, port: str):
    try:
        value = int(port)
    except ValueError:
        return None
    return (ip, value) if 0 < value < 65536 else None
