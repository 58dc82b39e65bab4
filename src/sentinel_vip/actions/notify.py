"""keepalived notify hooks: record every transition, demote a stale local master, run hooks.

keepalived runs notify scripts without ordering guarantees, so nothing here trusts the order
of calls: the demotion decision is taken from the live state of Redis and the Sentinels on
entry, and runs are serialised with a lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass

from sentinel_vip.actions import demote, hooks
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import demotion
from sentinel_vip.errors import UsageError
from sentinel_vip.probes import identity
from sentinel_vip.store import disk, history, metrics

STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
TYPES = ("INSTANCE", "GROUP")
USAGE = (
    "notify expects keepalived's arguments: 'notify TYPE NAME STATE PRIORITY' "
    "(generic notify) or 'notify master|backup|fault|stop [NAME]' (notify_* hooks)"
)


@dataclass(frozen=True)
class Transition:
    kind: str  # INSTANCE or GROUP
    name: str
    state: str
    priority: int | None


def parse_args(args: list[str]) -> Transition:
    """Both forms keepalived can call us with; anything else is a usage error."""
    if args and args[0].upper() in TYPES:
        if len(args) not in (3, 4):
            raise UsageError(f"{USAGE}; got {len(args)} arguments")
        kind, name, state = args[0].upper(), args[1], args[2].upper()
        priority = _priority(args[3]) if len(args) == 4 else None
    elif args and args[0].upper() in STATES:
        if len(args) > 2:
            raise UsageError(f"{USAGE}; got {len(args)} arguments")
        kind, state = "INSTANCE", args[0].upper()
        name = args[1] if len(args) == 2 else "-"
        priority = None
    else:
        shown = " ".join(a[:40] for a in args[:5]) or "none"
        raise UsageError(f"{USAGE}; got: {shown}")
    if state not in STATES:
        raise UsageError(f"unknown keepalived state {state[:40]!r}: expected one of {STATES}")
    if not name or len(name) > 128 or any(c.isspace() or not c.isprintable() for c in name):
        raise UsageError("instance name must be 1-128 printable characters without spaces")
    return Transition(kind, name, state, priority)


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"priority must be a number 0-255, got {text[:20]!r}") from None
    if not 0 <= value <= 255:
        raise UsageError(f"priority must be 0-255, got {value}")
    return value


def run(config, logger, transition: Transition) -> int:
    # The facts as they were when keepalived told us, not after waiting for another run.
    arrived = time.time()
    superseded = superseded_by_live_state(transition.state, identity.vip_held(config.vip_address))
    # The lock wait has its own bound; the deadline covers the probes and the demotion.
    with _lock(config.state_dir, Deadline(config.notify_deadline)):
        deadline = Deadline(config.notify_deadline)
        previous = history.last_state(config.history_file, transition.name)
        outcome = _observe_and_act(config, transition, deadline)
        # keepalived repeats a state (restarts, reordered calls): not a transition to record,
        # unless it demoted (or failed to), which the history must show.
        repeated = previous == transition.state
        acted = outcome["action"] in ("demoted", "demote_failed")
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(arrived)),
            "ts": round(arrived, 3),
            "host": socket.gethostname(),
            "type": transition.kind,
            "instance": transition.name,
            "from": previous,
            "to": transition.state,
            "priority": transition.priority,
            "superseded": superseded,
            **outcome,
        }
        if repeated:
            record["repeated"] = True
        level = "warning" if outcome["action"] in ("demoted", "demote_failed") else "notice"
        logger.log(
            level,
            "notify",
            instance=transition.name,
            state=f"{previous or 'UNKNOWN'}->{transition.state}",
            repeated="yes" if repeated else None,
            priority=transition.priority,
            redis_role=outcome["redis_role"],
            sentinel_master=outcome["sentinel_master"],
            action=outcome["action"],
            reason=outcome["reason"],
            superseded=superseded,
        )
        if not repeated or acted:
            try:
                history.append(config.history_file, record, config.history_max_lines)
            except OSError as exc:
                logger.log(
                    "err", "history_unwritable", path=config.history_file, error=exc.strerror
                )
        if not repeated and superseded is None:
            metrics.on_transition(config, transition.state, logger)
    if not repeated or acted:
        _run_hooks(config, logger, transition, previous, outcome, superseded)
    return 0


def superseded_by_live_state(state: str, vip_held: bool | None) -> str | None:
    """Why this transition is no longer keepalived's state, or None if it may still be.

    keepalived runs notify scripts without ordering them (keepalived #1884): FAULT -> BACKUP
    -> MASTER within milliseconds can reach us as MASTER, BACKUP. keepalived adds the VIP
    before it notifies MASTER and removes it before it notifies anything else, so a MASTER
    notify without the VIP, or any other with it, describes a state already left. Such a
    record stays in the history (marked) but is not taken as the instance's state.
    """
    if vip_held is None:
        return None
    if state == "MASTER" and not vip_held:
        return "vip not held: a later transition already happened"
    if state in ("BACKUP", "FAULT", "STOP") and vip_held:
        return "vip held: a later MASTER transition already happened"
    return None


def _observe_and_act(config, transition: Transition, deadline: Deadline) -> dict:
    from sentinel_vip.decision.address import label

    plan, redis, counted = demote.plan(config, transition.state, deadline)
    master = label(*counted.master) if counted.agreed else None
    elected = _elected(config, redis, counted)
    if transition.state == "MASTER":
        master = elected or master
    outcome = {
        "redis_role": redis.role if redis.reachable else "unreachable",
        "sentinel_master": master,
        "sentinels": counted.describe(),
        "action": "none",
        "reason": "",
    }
    if isinstance(plan, demotion.Skip):
        outcome["reason"] = plan.reason
        return outcome
    if elected:  # keepalived enters BACKUP on the way up: never undo the promotion
        outcome["reason"] = f"this server was just promoted ({elected}): not announced yet"
        return outcome
    if not config.demote:
        outcome.update(action="demotion_disabled", reason=plan.reason)
        return outcome
    result = demote.demote_to(config.redis, plan.host, plan.port, deadline.timeout())
    outcome["action"] = "demoted" if result.ok else "demote_failed"
    outcome["reason"] = f"{plan.reason} {result.detail}"
    return outcome


def _elected(config, redis, counted):
    """The promoted address, while the check honours the watcher's election record (this
    node promoted, the Sentinels not announcing it yet: ``decision.election.holds``): the
    master the Sentinels are about to name, not the one they still name. Else None."""
    import time

    from sentinel_vip.decision import election
    from sentinel_vip.decision.address import label
    from sentinel_vip.store import election as stored
    from sentinel_vip.store import track

    mono = time.monotonic()
    record = stored.read(config.state_dir, mono)
    if not record:
        return None
    need = election.need(config.agreement, len(config.sentinels))
    classify = identity.identity_of(config).classify
    why = election.holds(
        record, counted.named, counted.answered, need, redis, classify, mono, track.boot_id()
    )
    return None if why is None else label(*record["target"])


def _run_hooks(config, logger, transition: Transition, previous, outcome: dict, superseded) -> None:
    variables = {
        "SENTINEL_VIP_TYPE": transition.kind,
        "SENTINEL_VIP_INSTANCE": transition.name,
        "SENTINEL_VIP_STATE": transition.state,
        "SENTINEL_VIP_PREVIOUS_STATE": previous or "",
        "SENTINEL_VIP_PRIORITY": transition.priority,
        "SENTINEL_VIP_REDIS_ROLE": outcome["redis_role"],
        "SENTINEL_VIP_MASTER": outcome["sentinel_master"],
        "SENTINEL_VIP_ACTION": outcome["action"],
        "SENTINEL_VIP_SUPERSEDED": "1" if superseded else "",
    }
    for result in hooks.run_hooks(config.hooks_dir, variables, config.hook_timeout):
        level = "info" if result.status == "ok" else "warning"
        logger.log(
            level, "hook", name=result.name, status=result.status, code=result.code,
            detail=result.detail or None,
        )  # fmt: skip


class _lock:
    """Serialise notify runs on this host, but never wait past the deadline."""

    def __init__(self, state_dir: str, deadline: Deadline) -> None:
        self._path = os.path.join(state_dir, "notify.lock")
        self._deadline = deadline
        self._fd = -1

    def __enter__(self):
        try:
            # never through a planted symlink; created as the state directory's owner
            self._fd = disk.open_private(self._path, os.O_RDWR)
        except OSError:
            return self  # no state dir: run unserialised rather than not at all
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if self._deadline.expired():
                    return self
                time.sleep(0.02)  # a lock wait, not a stand-in for a condition

    def __exit__(self, *exc) -> None:
        if self._fd >= 0:
            os.close(self._fd)
