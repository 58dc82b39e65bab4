"""The failover fence: act on what the Sentinels say when asked, never on one event.

A failover event about our master is a hint (rate-limited per Sentinel): every Sentinel is
asked ``SENTINEL MASTER`` and ``SENTINEL SENTINELS`` afresh (``probes.sentinel``, the one
validated query; Sentinels counted by id and this node recognised by run_id as
``decision.agreement`` does it), and ``decision.isolation``
turns the answers into an action -- a pause renewed while a majority sees our master down, a
single brake while a member of the quorum runs a failover that has not promoted yet, the
tripwire on any claim -- each undone as soon as the evidence is gone. The tripwire is never
left behind: undone at start for a watcher that died, at stop, and inside our demotion.
"""

from __future__ import annotations

from sentinel_vip.actions import fence
from sentinel_vip.actions.local import QUERY_DEADLINE
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import agreement
from sentinel_vip.decision import isolation as rules
from sentinel_vip.probes.identity import confirm_named
from sentinel_vip.probes.local_redis import probe_redis
from sentinel_vip.probes.sentinel import ask_sentinels
from sentinel_vip.store import tripwire

REVIEW_EVERY = 1.0  # an armed tripwire or a failover pause is reviewed this often
BRAKE_REVIEW = 0.05  # while braking: lift as soon as the promotion is seen
HINT_RATE, HINT_BURST = 0.5, 2  # reviews a Sentinel's events may cause
BRAKE_EVERY = 30.0  # one brake per claimant per this many seconds


class Failover:
    def __init__(self, local, isolation) -> None:
        self.local, self.isolation = local, isolation
        self.config, self.logger = local.config, local.logger
        self.paused = False  # a majority sees our master down: writes held, renewed
        self.braking = False
        self.brake_until = 0.0
        self.left_behind = False  # a previous watcher's record, not restored yet
        self._buckets: dict = {}

    def start(self) -> None:
        """Undo a tripwire a previous watcher left behind (it crashed or was killed, or the
        host rebooted). Redis may not answer yet (after a reboot the watcher may start
        first): then it is done as soon as Redis answers (``review_due``), not left to the
        armed tripwire's release rules, which may need Sentinels or replicas that are not
        back yet."""
        self.local.wire = tripwire.saved(self.config)
        self.left_behind = bool(self.local.wire)
        if self.left_behind:
            self._restore_left_behind(self.local.server())

    def _restore_left_behind(self, srv) -> None:
        if not srv.reachable:
            return  # tried again by review_due
        self.left_behind = False  # one try once Redis answers; then as any armed tripwire
        self._disarm(srv, "left by a previous watcher")

    def stop(self) -> None:
        if self.local.wire:
            self._disarm(self.local.server(), "watcher stopping")

    def hint(self, sentinel: str, now: float) -> None:
        """A Sentinel published a failover event about our master: ask them all."""
        bucket = self._buckets.setdefault(sentinel, rules.Bucket(HINT_RATE, HINT_BURST, now))
        if bucket.take(now):
            self.review(now, hint=sentinel)

    def review_due(self, now: float) -> None:
        if self.left_behind and self.local.may("left behind", now, REVIEW_EVERY):
            self._restore_left_behind(self.local.server())
        if self.braking and now >= self.brake_until:
            self.braking = False  # the pause ran out by itself; the tripwire stays
            self.logger.log("notice", "fence", kind="brake", action="lift", result="expired")
        busy = self.local.wire or self.paused or self.braking
        if busy and self.local.may("review", now, BRAKE_REVIEW if self.braking else REVIEW_EVERY):
            self.review(now)

    def review(self, now: float, hint: str = "") -> None:
        local, config = self.local, self.config
        deadline = Deadline(QUERY_DEADLINE)
        box: dict = {}
        answers = ask_sentinels(
            config.sentinels,
            config.master_name,
            deadline,
            meanwhile=lambda: box.setdefault("redis", probe_redis(config.redis, deadline)),
            peers=True,
        )
        redis, classify = box["redis"], local.classify
        found = rules.evidence(
            answers,
            lambda answer: agreement.describes_this_server(answer, redis, classify),
            config.agreement,
        )
        local.down_after_ms = found.down_after_ms or local.down_after_ms
        named = self._named(answers, redis, deadline)
        action = rules.failover_action(found)
        if action == rules.BRAKE:
            self._brake(found, now, hint)
        elif self.braking:
            self._release_brake(found)
        if action == rules.PAUSE:
            self._pause(found, now, hint)
        elif self.paused:
            self.paused = False
            result = local.unpause() if named == "self" else "left to expire"
            self.logger.log(
                "notice", "fence", kind="failover", action="lift", result=result,
                evidence=found.describe(),
            )  # fmt: skip
        if action is not None and not local.wire:
            self._arm(found, hint)
        elif local.wire:
            srv = local.server()
            tripped = srv.reachable and srv.good_replicas < local.wire["set_to_write"]
            role = srv.role if srv.reachable else None
            if rules.tripwire_released(role, len(found.claimants), named, tripped):
                self._disarm(srv, f"evidence {found.describe()} named={named or '-'}")

    def _named(self, answers, redis, deadline) -> str:
        """ "self" when a Sentinel majority names this node's server (``agreement.whose``),
        "other" when it names another one, else ""."""
        counted = agreement.agree(answers, self.config.agreement, len(self.config.sentinels))
        if not counted.agreed:
            return ""
        probe = confirm_named(self.config, self.local.identity, redis, counted, deadline)
        kind, _why = agreement.whose(counted, redis, self.local.classify, probe)
        return {agreement.SELF: "self", agreement.OTHER: "other"}.get(kind, "")

    def _pause(self, found, now: float, hint: str) -> None:
        """A majority sees our master down: hold its writes, renewed while that holds (they
        see it down already, so the pause cannot be what makes them)."""
        local = self.local
        if self.isolation.fenced or not local.can_pause() or local.role() != "master":
            return  # a server that is down (or no longer master) has nothing to hold
        result = local.pause()
        if not self.paused:
            self.logger.log(
                "warning", "fence", kind="failover", action="hold_writes", result=result,
                evidence=found.describe(), hint=hint or None,
            )  # fmt: skip
        self.paused = True
        local.due_at("review", now + local.pause_ms() / 3000)

    def _brake(self, found, now: float, hint: str) -> None:
        """One pause per failover a member of the quorum runs on our master, before it
        promotes: the replicas catch up with every acknowledged write. Never renewed, so
        Sentinel's hellos wait less than half of down-after."""
        local = self.local
        if self.braking or self.paused or self.isolation.fenced or not local.can_pause():
            return
        if local.role() != "master":
            return
        claimant = found.braking[0]
        bucket = self._buckets.setdefault(
            f"brake {claimant}", rules.Bucket(1 / BRAKE_EVERY, 1, now)
        )
        if not bucket.take(now):  # this claimant braked lately: its tripwire stays armed
            return
        result = local.pause()
        self.braking = not result.startswith("failed")
        self.brake_until = now + local.pause_ms() / 1000
        local.due_at("review", now + BRAKE_REVIEW)
        self.logger.log(
            "warning", "fence", kind="brake", action="hold_writes", result=result,
            claimant=claimant, evidence=found.describe(), hint=hint or None,
        )  # fmt: skip

    def _release_brake(self, found) -> None:
        """Once the promoted replica has left (the tripwire refuses writes now) or the node
        was demoted, let the held writes go: they get errors, not acknowledgements. Short of
        that proof the pause runs out by itself."""
        local = self.local
        srv = local.server()
        tripped = bool(local.wire) and srv.good_replicas < local.wire["set_to_write"]
        if not srv.reachable or (srv.role == "master" and not tripped):
            return
        self.braking = False
        result = local.unpause()
        why = "tripwire tripped" if srv.role == "master" else f"role={srv.role}"
        self.logger.log(
            "notice", "fence", kind="brake", action="lift", result=result, reason=why,
            evidence=found.describe(),
        )  # fmt: skip

    def _arm(self, found, hint: str) -> None:
        local = self.local
        srv = local.server()
        if not srv.reachable or srv.role != "master":
            return
        if srv.to_write is None or srv.max_lag is None:
            local.say_once(
                "no tripwire", "warning", "fence", kind="tripwire", action="skipped",
                reason="CONFIG GET min-replicas-* refused: allow CONFIG for the watcher's user",
            )  # fmt: skip
            return
        setting = rules.tripwire_setting(srv.to_write, srv.max_lag, srv.good_replicas)
        if setting is None or local.tripwire_refused:
            return
        result = fence.arm(self.config, srv, setting, Deadline(QUERY_DEADLINE))
        if result.startswith(fence.REFUSED):
            local.tripwire_refused = True  # until the watcher restarts: say it once
            local.say_once(
                "tripwire refused", "warning", "fence", kind="tripwire", action="skipped",
                reason="CONFIG SET refused: grant +config|set to the watcher's user, or set "
                "min-replicas-to-write yourself (docs/admin.md)", detail=result,
            )  # fmt: skip
            return
        if not result.startswith("failed"):
            local.wire = tripwire.saved(self.config)
        self.logger.log(
            "warning", "fence", kind="tripwire", action="arm", result=result,
            evidence=found.describe(), hint=hint or None,
        )  # fmt: skip

    def _disarm(self, srv, why: str) -> None:
        result = fence.disarm(self.config, self.local.wire, srv, Deadline(QUERY_DEADLINE))
        if not result.startswith("failed"):
            self.local.wire = {}
        self.logger.log(
            "notice", "fence", kind="tripwire", action="disarm", result=result, reason=why
        )
