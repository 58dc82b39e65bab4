"""The watcher follows Sentinel's failover election: the promoted replica's track file goes up
at promotion time, not ~1 s later when the Sentinels announce it (``+switch-master``).

``decision.election`` turns the events into a promotion a majority-elected leader made (the
evidence rule, documented there and in docs/design.md). Here the I/O around it:

- X is this node: the local Redis must answer ``role:master``, and the server answering at
  X's address from here must be it (same run_id: ``probes.identity.probe_named``, the
  identity rules the check uses). Then the evidence is recorded for the check
  (``store.election``) and the track file raised, through the check's own recorder in turn
  (``store.track``). SLAVEOF NO ONE reaches the replica on the leader's next timer tick
  (~0.1 s): the role is polled for up to ``WAIT_ROLE``, then the polled check decides.
- X is another node: this node's track file goes down (if it was up) once the server at X's
  address answers role:master.
- The leader aborts an accepted promotion: the record is removed, the check rules again.

Epochs only move forward (``Election.accept``); what a link said before it reconnected is
forgotten (``Election.forget``: its backlog may be stale; its next events are fresh).
"""

from __future__ import annotations

import os
import time

from sentinel_vip.actions import check
from sentinel_vip.actions.local import QUERY_DEADLINE
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import agreement
from sentinel_vip.decision import election as rules
from sentinel_vip.decision.decide import Verdict
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.identity import probe_named
from sentinel_vip.probes.local_redis import probe_redis
from sentinel_vip.store import disk, track
from sentinel_vip.store import election as stored

WAIT_ROLE = 2.0  # seconds after the evidence for this node's Redis to say role:master
POLL_SLICE = 0.2  # the longest one step polls the role (the loop has other work)
POLL_EVERY = 0.01


class Follower:
    def __init__(self, local) -> None:
        self.local, self.config, self.logger = local, local.config, local.logger
        need = rules.need(self.config.agreement, len(self.config.sentinels))
        self.rule = rules.Election(self.config.master_name, need)
        self.pending: rules.Promotion | None = None
        self.since = 0.0
        self.raised: rules.Promotion | None = None  # the promotion our record stands for

    @property
    def busy(self) -> bool:
        return self.pending is not None

    def event(self, label: str, sentinel_id, channel: str, data: str) -> None:
        self.rule.event(label, sentinel_id, channel, data)

    def forget(self, label: str) -> None:
        self.rule.forget(label)

    def step(self, now: float) -> bool:
        """Act on the evidence; True when the caller should evaluate afresh (withdrawn)."""
        raised = self.raised
        if raised is not None and self.rule.withdrawn(raised.leader, raised.epoch):
            self.raised = None
            stored.clear(self.config.state_dir)
            self.logger.log(
                "warning", "election", action="withdrawn", evidence=raised.describe(),
                reason="the leader aborted the failover",
            )  # fmt: skip
            return True
        found = self.rule.verdict()
        if found is None:
            self.pending = None
            return False
        if found != self.pending:
            self.pending, self.since = found, now
        mine = self.local.classify(*found.target) == agreement.SELF
        if not (self._raise(found) if mine else self._lower(found)):
            if now - self.since < WAIT_ROLE:
                return False  # not master yet: the next step polls again
            whose = "this node's redis" if mine else "the promoted server"
            self.logger.log(
                "warning", "election", action="not_followed", evidence=found.describe(),
                reason=f"{whose} did not answer role:master within {WAIT_ROLE:g}s",
            )  # fmt: skip
        self.rule.accept(found.epoch)
        self.pending = None
        return False

    def _master(self, probe):
        """``probe()``'s facts once they say role:master (polled for up to ``POLL_SLICE``),
        else None. SLAVEOF NO ONE reaches the replica on the leader's next timer tick."""
        end = time.monotonic() + POLL_SLICE
        while True:
            facts = probe()
            if facts is not None and facts.reachable and not facts.error_kind:
                if facts.role == "master" and facts.run_id:
                    return facts
            if time.monotonic() >= end:
                return None
            time.sleep(POLL_EVERY)

    def _at_target(self, found):
        return probe_named(
            self.config, self.local.identity, *found.target, Deadline(QUERY_DEADLINE)
        )

    def _raise(self, found) -> bool:
        """Raise the track file once this node's Redis is the promoted master, by run_id at
        the promoted address. False: not master yet; True: done (raised or refused)."""
        config = self.config
        redis = self._master(lambda: probe_redis(config.redis, Deadline(QUERY_DEADLINE)))
        if redis is None:
            return False
        named = self._at_target(found)
        if named is None or named.run_id != redis.run_id:
            self.logger.log(
                "warning", "election", action="not_followed", evidence=found.describe(),
                reason="another server answers at the promoted address (node.addresses?)",
            )  # fmt: skip
            return True  # identity refused: leave it to the check, do not retry
        mono = time.monotonic()
        try:
            stored.write(config.state_dir, found, redis.run_id, track.boot_id(), mono)
        except OSError as exc:
            self.logger.log("err", "state_unwritable", path=config.state_dir, error=exc.strerror)
            return True
        # Stamped after the record is on disk: a check that starts later honours it, one
        # that started earlier (and may not have seen it) cannot record over this verdict.
        stamp = track.started()
        verdict = Verdict(True, ExitCode.OK, f"elected: {found.describe()}")
        self._record(verdict, stamp)
        self.raised = found
        self.logger.log(
            "notice", "election", action="raise", evidence=found.describe(),
            after_evidence_ms=max(round((time.monotonic() - self.since) * 1000), 0),
        )  # fmt: skip
        return True

    def _lower(self, found) -> bool:
        """A majority-elected leader promotes another server: once that server answers
        role:master, this node must not hold the VIP (the check agrees once the Sentinels
        announce it). The probe keeps a lying leader (a minority Sentinel can collect honest
        votes: sentinelVoteLeader does not check the master is down) from lowering us."""
        self.raised = None
        stored.clear(self.config.state_dir)
        path = self.config.track_file
        if path and disk.read_text(path, 16) != "1\n":
            self.logger.log("info", "election", action="none", evidence=found.describe())
            return True
        if self._master(lambda: self._at_target(found)) is None:
            return False
        self.logger.log("notice", "election", action="lower", evidence=found.describe())
        reason = f"a promotion elsewhere is under way: {found.describe()}"
        self._record(Verdict(False, ExitCode.OTHER_MASTER, reason), track.started())
        return True

    def _record(self, verdict, stamp) -> None:
        state_path = os.path.join(self.config.state_dir, check.STATE_NAME)
        check.record(
            self.config, self.logger, verdict, state_path, time.time(), time.monotonic(), stamp
        )
