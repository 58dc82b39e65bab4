"""The isolation fence, and the demotion of a returning old master (see decision.isolation).

Per watcher tick: while the Sentinel links say "a majority could be deciding without us",
ask the local Redis whether any replica still acknowledges its replication; if none does,
hold its writes and fail the track file at once. While fenced, renew the short pause, and
as soon as a Sentinel majority answers again ask it whom it names: this node (lift), another
node (demote with notify's guards, then lift), or nobody yet (hold).
"""

from __future__ import annotations

from sentinel_vip.actions import demote, fence
from sentinel_vip.actions.local import QUERY_DEADLINE
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import demotion
from sentinel_vip.decision import isolation as rules
from sentinel_vip.decision.decide import Verdict
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes import pubsub
from sentinel_vip.store import tripwire

PROBE_EVERY = 0.1  # while isolation is suspected: replica probes at most this often
ACK_WAIT_MS = 100  # how long replicas get to acknowledge a probe
CONFIRM_DEADLINE = 0.12  # a silent Sentinel's fresh connection and PING, meanwhile
EVAL_EVERY = 0.2  # while fenced and heard again: fresh verdicts at most this often
DEMOTE_EVERY = 0.5
DEMOTE_TIMEOUT = 1.0


class Isolation:
    def __init__(self, local, evaluate) -> None:
        self.local = local
        self.config, self.logger = local.config, local.logger
        self._evaluate = evaluate  # () -> Verdict: a fresh, recorded evaluation
        self.fenced_since: float | None = None
        self.named = ""  # whom the last fresh verdict says the majority names
        self.refusing = False  # replaced: writes refused by the tripwire instead of paused

    @property
    def fenced(self) -> bool:
        return self.fenced_since is not None

    def stop(self) -> None:
        """A pause is left to expire (under a second): lifting it now would let an isolated
        master acknowledge writes again. The track file stays failed."""
        if self.fenced:
            self.local.fail_track("isolated: watcher stopping while fenced")

    def tick(self, now: float, reach) -> None:
        local = self.local
        suspected = rules.isolation_suspected(reach)
        if not self.fenced:
            if not suspected:
                local.said.discard("not isolated")
                return
            if not local.may("probe", now, PROBE_EVERY):
                return
            # Heartbeats late by a stall of this host look like silence: while the replicas
            # are asked, the silent Sentinels get one fresh PING each.
            silent = [s for s in self.config.sentinels if s.label() in local.silent]
            pings = pubsub.start_pings(silent, Deadline(CONFIRM_DEADLINE))
            role, acks = fence.role_and_acks(
                self.config.redis, ACK_WAIT_MS, Deadline(QUERY_DEADLINE)
            )
            if role == "master" and acks is None:
                acks = self._acks_from_info()
            answered = pings()
            if rules.contact(rules.Reach(reach.total, alive=reach.alive + answered)):
                local.say_once(
                    "not isolated", "notice", "fence", kind="isolation", action="none",
                    reason="silent sentinels answered a fresh connection",
                    sentinels=reach.describe(), answered=answered,
                )  # fmt: skip
                return
            if rules.isolation_step(False, True, role, acks, "") == rules.FENCE:
                self._raise(now, reach)
            elif role == "master" and acks:
                local.say_once(
                    "not isolated", "notice", "fence", kind="isolation", action="none",
                    reason="sentinel majority silent but replicas acknowledge",
                    sentinels=reach.describe(), replicas_acking=acks,
                )  # fmt: skip
            return
        role = None
        if local.may("renew", now, local.pause_ms() / 3000):
            role = self._hold()
        if rules.contact(reach) and local.may("eval", now, EVAL_EVERY):
            self.after_verdict(self._evaluate(), now)
        if role is None and self.named:
            role = local.role()
        step = rules.isolation_step(True, suspected, role, None, self.named)
        if step == rules.LIFT:
            self._lift(now, role)
        elif step == rules.DEMOTE:
            self._refuse_instead()
            self.demote(now)

    def after_verdict(self, verdict: Verdict, now: float) -> None:
        """A fresh verdict: whom the majority names; demote a stale local master."""
        self.named = {ExitCode.OK: "self", ExitCode.OTHER_MASTER: "other"}.get(verdict.code, "")
        if verdict.code == ExitCode.OK and not verdict.agreed:
            self.named = ""  # ok only by grace: no majority named us just now
        if verdict.code == ExitCode.OTHER_MASTER and not self.fenced:
            self.demote(now)

    def _raise(self, now: float, reach) -> None:
        local = self.local
        self.fenced_since = now
        self.named = ""
        self.refusing = False
        result = local.pause() if local.can_pause() else "unavailable"  # the writes first
        local.fail_track(
            f"isolated: no sentinel majority answers and no replica acknowledges "
            f"need={rules.majority(reach.total)}/{reach.total}"
        )
        self.logger.log(
            "warning",
            "fence",
            kind="isolation",
            action="hold_writes",
            result=result,
            sentinels=reach.describe(),
            replicas_acking=0,
        )
        local.due_at("renew", now + local.pause_ms() / 3000)

    def _hold(self):
        """Renew the pause (if this server can pause) and learn the role at the same time."""
        local = self.local
        role = local.role()
        if role == "master" and local.can_pause() and not self.refusing:
            result = local.pause()
            if result.startswith("failed"):
                local.say_once(
                    "renew_failed", "warning", "fence", kind="isolation", action="renew",
                    result=result,
                )  # fmt: skip
        return role

    def _refuse_instead(self) -> None:
        """A majority names another master: every write here is lost, until this node is a
        replica. The pause must not last that long: CLIENT PAUSE WRITE holds Sentinel's
        hello PUBLISH and the PINGs queued behind it, so Sentinel sees this node down and
        never converts it (it converts only an instance not down for failover-timeout) --
        with demotion disabled or refused by a guard, a paused master for good. Writes are
        refused by min-replicas-to-write instead (the tripwire, restored as usual once this
        node is a replica), which lets PUBLISH and PING through; then the pause is lifted."""
        local = self.local
        if self.refusing or local.wire:
            return  # done, or a tripwire holds the admin's record already: keep pausing
        srv = local.server()
        if not srv.reachable or srv.role != "master" or srv.to_write is None:
            return
        if srv.max_lag is None:
            return
        if srv.to_write <= srv.good_replicas or srv.max_lag < 1:
            setting = (max(srv.to_write, srv.good_replicas + 1), srv.max_lag or 10)
            result = fence.arm(self.config, srv, setting, Deadline(QUERY_DEADLINE))
            if result.startswith("failed"):
                local.say_once("refuse_failed", "warning", "fence", kind="isolation",
                               action="refuse_writes", result=result)  # fmt: skip
                return
            local.wire = tripwire.saved(self.config)
        else:
            result = f"already refused by {fence.TO_WRITE}={srv.to_write}"
        self.refusing = True
        unpaused = local.unpause() if local.can_pause() else "nothing held"
        self.logger.log(
            "warning", "fence", kind="isolation", action="refuse_writes", result=result,
            unpause=unpaused, reason="sentinel majority names another master",
        )  # fmt: skip

    def _lift(self, now: float, role) -> None:
        held = round(now - (self.fenced_since or now), 3)
        self.fenced_since = None
        self.refusing = False
        result = "nothing held"
        if role == "master" and self.local.can_pause():
            result = self.local.unpause()
        why = "sentinel majority names this node" if role == "master" else f"role={role}"
        self.logger.log(
            "notice", "fence", kind="isolation", action="lift", result=result, reason=why,
            held_s=held,
        )  # fmt: skip
        self.local.said.discard("renew_failed")

    def _acks_from_info(self):
        """Without PUBLISH/WAIT rights: replicas that acknowledged within the last second
        (Redis' own lag counter, 1 s resolution: a slower but still safe answer)."""
        self.local.say_once(
            "no_wait", "warning", "fence_degraded",
            reason="PUBLISH or WAIT refused: replicas judged by INFO lag (~2 s)",
        )  # fmt: skip
        srv = self.local.server()
        if not srv.reachable or srv.role != "master":
            return None
        return rules.replicas_in_contact(srv.fresh_replicas, srv.online_replicas)

    # ------------------------------------------------------------------ demotion

    def demote(self, now: float) -> None:
        """Demote a local master that a Sentinel majority has replaced, on notify's path
        (``actions.demote.plan``: every guard of ``decision.demotion``, the target confirmed
        from here), restoring the tripwire inside the demotion's transaction."""
        local = self.local
        if not local.may("demote", now, DEMOTE_EVERY):
            return
        # Sentinels our links know to be silent are not asked: while a switch propagates the
        # loop must not stall on a cut-off one (they still count against the majority).
        heard = [s for s in self.config.sentinels if s.label() not in local.silent]
        # "FAULT": the watcher is no keepalived transition; any state that demotes will do.
        plan, _redis, _counted = demote.plan(
            self.config, "FAULT", Deadline(2 * QUERY_DEADLINE), heard
        )
        if isinstance(plan, demotion.Skip):
            local.say_once(
                f"skip {plan.reason}", "info", "demote", action="skipped", reason=plan.reason
            )
            return
        if not self.config.demote:
            local.say_once(
                "disabled", "notice", "demote", action="demotion_disabled", reason=plan.reason
            )
            return
        # The recorded values go back only over ours: an admin's change since then wins.
        restore = ()
        if local.wire and fence.still_ours(local.wire, local.server()):
            restore = fence.restore_commands(local.wire)
        result = demote.demote_to(
            self.config.redis, plan.host, plan.port, DEMOTE_TIMEOUT, restore=restore
        )
        self.logger.log(
            "warning",
            "demote",
            action="demoted" if result.ok else "demote_failed",
            reason=f"{plan.reason} {result.detail}",
            by="watch",
        )
        if result.ok:
            if local.wire:
                tripwire.forget(self.config)
                local.wire = {}
            local.said = {s for s in local.said if not s.startswith("skip ")}
