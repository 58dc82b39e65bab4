"""One run of the keepalived track script: acquire facts, decide, present.

keepalived discards our output, so the exit code is the answer and syslog is the explanation;
we log only when the verdict changes, so a healthy node is quiet. The track file mirrors the
verdict so keepalived can react by inotify (written only on change).
"""

from __future__ import annotations

import _signal  # not signal: its IntEnums import enum, ~1 ms per check
import os
import time

from sentinel_vip.deadline import Deadline
from sentinel_vip.decision.decide import Policy, Verdict, decide, settled
from sentinel_vip.errors import DeadlineExceeded, ExitCode
from sentinel_vip.store import disk

STATE_NAME = "check.json"


def policy_of(config) -> Policy:
    return Policy(
        agreement=config.agreement,
        sentinel_count=len(config.sentinels),
        grace=config.no_majority_grace,
    )


def gather(config, deadline: Deadline, classify, policy: Policy):
    """Local Redis and every Sentinel, concurrently, all bounded by one deadline.

    The Sentinels are asked in worker threads; the local Redis is probed in this thread
    meanwhile (probe_redis turns every expected failure into a fact, within the deadline).
    """
    from sentinel_vip.decision.facts import CheckFacts
    from sentinel_vip.probes.local_redis import probe_redis
    from sentinel_vip.probes.sentinel import ask_sentinels

    box = {}
    answers = ask_sentinels(
        config.sentinels,
        config.master_name,
        deadline,
        enough=lambda so_far: settled(so_far, policy, classify),
        meanwhile=lambda: box.setdefault("redis", probe_redis(config.redis, deadline)),
    )
    return CheckFacts(box["redis"], answers)


def run(config, logger) -> int:
    """The track script: evaluate once, bounded by a backstop alarm, and exit with the code."""
    _arm_backstop(config.check_deadline)
    try:
        verdict = evaluate(config, logger)
    except BaseException:
        # Killed by keepalived's timeout, out of time, or a bug: whatever the track file said
        # before is no longer known to be true, so fail closed there too.
        try:
            _write_track(config.track_file, False)
        except OSError:
            pass  # the exit code still says fail
        raise
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    # keepalived discards stdout; an admin running the check by hand reads it.
    print(f"{'OK' if verdict.ok else 'FAIL'} {ExitCode(verdict.code).name}: {verdict.reason}")
    return int(verdict.code)


# Verdicts that only say "could not tell in time", as opposed to a definite answer.
INCONCLUSIVE = frozenset({ExitCode.NO_MAJORITY, ExitCode.NO_AGREEMENT, ExitCode.DEADLINE})


def evaluate(
    config,
    logger,
    now: float | None = None,
    deadline: float | None = None,
    record_inconclusive: bool = True,
) -> Verdict:
    """Gather, decide and record one verdict (shared by ``check`` and ``watch``).

    The watcher evaluates with a short deadline and ``record_inconclusive=False``: it may
    raise the verdict or lower it on a definite answer, but an inconclusive result (mid-way
    through a switch, one Sentinel unreachable) is left to the polled check, so the
    accelerator can never take the VIP away on its own haste.
    """
    limit = Deadline(config.check_deadline if deadline is None else deadline)
    policy = policy_of(config)
    from sentinel_vip.probes.identity import identity_of

    classify = identity_of(config).classify
    facts = gather(config, limit, classify, policy)
    now = time.time() if now is None else now

    state_path = os.path.join(config.state_dir, STATE_NAME)
    previous = disk.read_json(state_path)
    verdict = decide(facts, policy, classify, now, previous.get("last_agreed"))
    if record_inconclusive or verdict.code not in INCONCLUSIVE:
        record(config, logger, verdict, previous, state_path, now)
    return verdict


def _arm_backstop(seconds: float) -> None:
    """Every probe honours the deadline; this catches whatever might not (DNS, a bug)."""

    def expired(signum, frame):
        raise DeadlineExceeded(f"check did not finish within check.deadline={seconds:g}s")

    _signal.signal(_signal.SIGALRM, expired)
    _signal.setitimer(_signal.ITIMER_REAL, seconds + 0.25)


def record(config, logger, verdict: Verdict, previous: dict, state_path: str, now: float):
    """Persist the verdict, update the track file, and log only what changed."""
    changed = previous.get("code") != int(verdict.code) or previous.get("reason") != verdict.reason
    current = {
        "ok": verdict.ok,
        "code": int(verdict.code),
        "reason": verdict.reason,
        "since": previous.get("since", now) if not changed else now,
        "checked": now,
        "last_agreed": now if verdict.agreed else previous.get("last_agreed"),
    }
    warnings = _insecure_files(config)
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
        _write_track(config.track_file, verdict.ok)
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


def _write_track(path: str, ok: bool) -> None:
    if not path:
        return
    wanted = "1\n" if ok else "0\n"
    if disk.read_text(path, 16) != wanted:
        disk.atomic_write(path, wanted.encode(), 0o644)


def _insecure_files(config) -> list:
    from sentinel_vip.config.files import insecure_files  # not the validator: cached runs

    return list(insecure_files(config))
