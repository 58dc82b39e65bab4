"""One run of the keepalived track script: acquire facts, decide, present.

keepalived discards our output, so the exit code is the answer and syslog is the explanation;
we log only when the verdict changes, so a healthy node is quiet. The track file mirrors the
verdict so keepalived can react by inotify (written only on change), through the one ordered
writer (``store.track``) the watcher uses too: older facts never overwrite newer ones.
"""

from __future__ import annotations

import os
import signal
import time

from sentinel_vip.deadline import Deadline
from sentinel_vip.decision.decide import Policy, Verdict, decide, settled
from sentinel_vip.errors import DeadlineExceeded, ExitCode
from sentinel_vip.log import escape_controls
from sentinel_vip.store import checkstate, disk, track

STATE_NAME = checkstate.NAME


def policy_of(config) -> Policy:
    return Policy(
        agreement=config.agreement,
        sentinel_count=len(config.sentinels),
        grace=config.no_majority_grace,
    )


def gather(config, deadline: Deadline, policy: Policy, identity, previous_run_id=None):
    """Local Redis and every Sentinel, concurrently, all bounded by one deadline.

    The Sentinels are asked in worker threads; the local Redis is probed in this thread
    meanwhile (probe_redis turns every expected failure into a fact, within the deadline).
    Right after a switch the Sentinels name the new master before they have read its run_id
    (until their next INFO, up to 10 s): then, if the config says the named address is this
    node's, the server answering there from here is probed too (see whose()); likewise
    while they still report ``previous_run_id``, this node's before its Redis restarted.
    """
    from sentinel_vip.decision.agreement import agree
    from sentinel_vip.decision.facts import CheckFacts
    from sentinel_vip.probes.identity import confirm_named
    from sentinel_vip.probes.local_redis import probe_redis
    from sentinel_vip.probes.sentinel import ask_sentinels

    box = {}
    answers = ask_sentinels(
        config.sentinels,
        config.master_name,
        deadline,
        enough=lambda so_far: settled(so_far, policy),
        meanwhile=lambda: box.setdefault("redis", probe_redis(config.redis, deadline)),
    )
    redis = box["redis"]
    counted = agree(answers, policy.agreement, policy.sentinel_count)
    named = confirm_named(config, identity, redis, counted, deadline, previous_run_id)
    return CheckFacts(redis, answers, named)


def run(config, logger) -> int:
    """The track script: evaluate once, bounded by a backstop alarm, and exit with the code."""
    _arm_backstop(config.check_deadline)
    stamp = track.started()
    try:
        verdict = evaluate(config, logger, started=stamp)
    except BaseException:
        # Killed by keepalived's timeout, out of time, or a bug: whatever the track file said
        # before is no longer known to be true, so fail closed there too (unless a later
        # evaluation has recorded since: its facts are newer than anything we knew).
        try:
            fail_closed(config, stamp)
        except OSError:
            pass  # the exit code still says fail
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # keepalived discards stdout; an admin running the check by hand reads it.
    name = ExitCode(verdict.code).name
    print(escape_controls(f"{'OK' if verdict.ok else 'FAIL'} {name}: {verdict.reason}"))
    return int(verdict.code)


def fail_closed(config, stamp: tuple) -> None:
    """Write "0" to the track file, unless an evaluation that started later has recorded."""
    with track.Turn(config.state_dir, stamp, wait=0.1) as turn:
        if turn.fresh or turn.error is not None:
            track.write_track(config.track_file, False)
            turn.recorded()


# Verdicts that only say "could not tell in time", as opposed to a definite answer.
INCONCLUSIVE = frozenset({ExitCode.NO_MAJORITY, ExitCode.NO_AGREEMENT, ExitCode.DEADLINE})


def evaluate(
    config,
    logger,
    now: float | None = None,
    deadline: float | None = None,
    record_inconclusive: bool = True,
    started: tuple | None = None,
) -> Verdict:
    """Gather, decide and record one verdict (shared by ``check`` and ``watch``).

    The watcher evaluates with a short deadline and ``record_inconclusive=False``: it may
    raise the verdict or lower it on a definite answer, but an inconclusive result (mid-way
    through a switch, one Sentinel unreachable) is left to the polled check, so the
    accelerator can never take the VIP away on its own haste.

    ``started`` (``track.started()``) stamps the facts: the verdict is recorded only if no
    evaluation that started later has recorded already (``store.track``). ``now`` is the
    wall clock shown in the state file.
    """
    stamp = track.started() if started is None else started
    limit = Deadline(config.check_deadline if deadline is None else deadline)
    policy = policy_of(config)
    from sentinel_vip.probes.identity import identity_of

    identity = identity_of(config)
    state_path = os.path.join(config.state_dir, STATE_NAME)
    now = time.time() if now is None else now
    # Read before gathering: the probes need the run_id of this node's last agreement.
    previous = checkstate.read(state_path, now, time.monotonic(), track.boot_id())
    previous_run_id = previous.get("agreed_run_id")
    facts = gather(config, limit, policy, identity, previous_run_id)
    mono = time.monotonic()
    age = checkstate.agreed_age(previous, mono)
    verdict = decide(facts, policy, identity.classify, age, previous_run_id)
    if not verdict.ok and verdict.code in HOLDABLE:
        verdict = _elected(config, facts, policy, identity.classify, mono) or verdict
    if record_inconclusive or verdict.code not in INCONCLUSIVE:
        record(config, logger, verdict, state_path, now, mono, stamp, facts.redis.run_id)
    return verdict


# Failing verdicts a fresh election record may override: the Sentinels still announce the
# old master (or disagree mid-switch). Never a local fault, an identity error, or too few
# Sentinels answering.
HOLDABLE = frozenset({ExitCode.OTHER_MASTER, ExitCode.NO_AGREEMENT})


def _elected(config, facts, policy, classify, mono) -> Verdict | None:
    """OK for a few seconds after the watcher raised this node on election evidence (see
    ``decision.election.holds``): the polled check must not take the VIP off the promoted
    master during the ~1 s before the Sentinels announce it. Imported only on this path."""
    from sentinel_vip.decision import election
    from sentinel_vip.decision.agreement import agree
    from sentinel_vip.store import election as stored

    record = stored.read(config.state_dir, mono)
    if not record:
        return None
    counted = agree(facts.answers, policy.agreement, policy.sentinel_count)
    need = election.need(policy.agreement, policy.sentinel_count)
    why = election.holds(
        record, counted.named, counted.answered, need, facts.redis, classify, mono,
        track.boot_id(),
    )  # fmt: skip
    return None if why is None else Verdict(True, ExitCode.OK, f"{why} {counted.describe()}")


def _arm_backstop(seconds: float) -> None:
    """Every probe honours the deadline; this catches whatever might not (DNS, a bug)."""

    def expired(signum, frame):
        raise DeadlineExceeded(f"check did not finish within check.deadline={seconds:g}s")

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds + 0.25)


def record(config, logger, verdict, state_path, now, mono, stamp, run_id=None):
    """Persist the verdict, update the track file, and log only what changed: in turn, so
    a verdict from older facts never replaces a newer one (``store.track``)."""
    warnings = _insecure_files(config)
    with track.Turn(config.state_dir, stamp) as turn:
        if turn.error is not None:
            # No lock, no order: only a fail-closed "0" cannot be wrong news. The exit code
            # still carries the verdict. Said every run: there is no state to dedupe against.
            logger.log("err", "state_unwritable", path=config.state_dir, error=_why(turn.error))
            if not verdict.ok:
                try:
                    track.write_track(config.track_file, False)
                except OSError:
                    pass
            return
        if not turn.fresh:
            logger.log(
                "info", "check_superseded", verdict="ok" if verdict.ok else "fail",
                code=int(verdict.code), reason="a later evaluation has already recorded",
            )  # fmt: skip
            return
        boot = track.boot_id()
        previous = checkstate.read(state_path, now, mono, boot)
        _record_in_turn(config, logger, verdict, previous, warnings, state_path, now, mono, run_id)
        try:
            turn.recorded()
        except OSError as exc:
            logger.log("err", "state_unwritable", path=config.state_dir, error=_why(exc))


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _record_in_turn(config, logger, verdict, previous, warnings, state_path, now, mono, run_id):
    changed = previous.get("code") != int(verdict.code) or previous.get("reason") != verdict.reason
    current = {
        "ok": verdict.ok,
        "code": int(verdict.code),
        "reason": verdict.reason,
        "since": previous.get("since", now) if not changed else now,
        "checked": now,
    }
    if verdict.agreed:
        current.update(last_agreed=now, agreed_boot=track.boot_id(), agreed_mono=mono)
        if run_id:
            current["agreed_run_id"] = run_id
    else:
        for key in ("last_agreed", "agreed_boot", "agreed_mono", "agreed_run_id"):
            if key in previous:
                current[key] = previous[key]
    if changed or verdict.in_grace:
        level = "info" if verdict.ok and not verdict.in_grace else "warning"
        logger.log(
            level,
            "check",
            verdict="ok" if verdict.ok else "fail",
            code=int(verdict.code),
            name=ExitCode(verdict.code).name.lower(),
            reason=verdict.reason,
            was=_was(previous),
        )
    if warnings != previous.get("warnings", []):
        for warning in warnings:
            logger.log("warning", "insecure_file", detail=warning)
    current["warnings"] = warnings
    try:
        track.write_track(config.track_file, verdict.ok)
        disk.write_json(state_path, current)
        if changed and config.metrics_textfile:
            from sentinel_vip.store import metrics  # only on a change: the hot path stays lean

            metrics.on_check_change(config, logger)
    except OSError as exc:
        # The exit code still carries the verdict; keepalived's script tracking does not need
        # our files. Say so every run: there is no state left to deduplicate against.
        path = exc.filename or config.state_dir  # the file that failed: track, state, ...
        logger.log("err", "state_unwritable", path=path, error=exc.strerror)


def _was(previous: dict) -> str:
    if not previous:
        return "unknown"
    return "ok" if previous.get("ok") else f"fail:{previous.get('code')}"


def _insecure_files(config) -> list:
    from sentinel_vip.config.files import insecure_files  # not the validator: cached runs

    return list(insecure_files(config))
