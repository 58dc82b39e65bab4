"""The check's evaluation: plain facts in, a Verdict out. No I/O, so it is tested with data.

``classify(host, port)`` says what an address named by Sentinel is to this node by the
config: "self", "other", "loopback" or "vip" (see ``probes.identity``). Who the Sentinel
majority names, and whether that is this server, is ``decision.agreement``'s job.
"""

from __future__ import annotations

from collections.abc import Callable

from sentinel_vip.decision import agreement
from sentinel_vip.errors import ExitCode
from sentinel_vip.record import Record

# collections.abc, not typing: ~0.1 ms to import against typing's ~3 ms on every check.
Classify = Callable[[str, int], str]


class Policy(Record):
    agreement: int  # distinct Sentinels that must name this node
    sentinel_count: int  # configured Sentinel addresses
    grace: float = 0.0  # seconds an earlier agreement is trusted while too few answer


class Verdict(Record):
    ok: bool
    code: ExitCode
    reason: str  # stable from run to run unless the situation changes: no timings in it
    agreed: bool = False  # a Sentinel majority named this node in this very run
    in_grace: bool = False  # ok only because of no_majority_grace: logged loudly


def settled(answers, policy: Policy) -> bool:
    """True once waiting for the Sentinels still pending cannot change the outcome."""
    return agreement.settled(answers, policy.agreement, policy.sentinel_count)


REDIS_ERROR_CODES = {
    "auth": ExitCode.REDIS_AUTH,
    "tls": ExitCode.TLS,
}
_BY_KIND = {
    agreement.LOOPBACK: ExitCode.IDENTITY,
    agreement.VIP: ExitCode.IDENTITY,
    agreement.MISMATCH: ExitCode.IDENTITY,
    agreement.OTHER: ExitCode.OTHER_MASTER,
    agreement.UNCONFIRMED: ExitCode.NO_AGREEMENT,  # inconclusive: Sentinel will read it soon
}


def decide(
    facts,
    policy: Policy,
    classify: Classify,
    agreed_age: float | None,
    previous_run_id: str | None = None,
) -> Verdict:
    """``agreed_age``: seconds since a Sentinel majority last named this node (monotonic,
    this boot), None when unknown; only ``no_majority_grace`` uses it. ``previous_run_id``:
    the local run_id when this node was last agreed (see ``agreement.whose``)."""
    redis = facts.redis
    if not redis.reachable or redis.error_kind:
        kind = redis.error_kind or "unreachable"
        code = REDIS_ERROR_CODES.get(kind, ExitCode.REDIS_UNREACHABLE)
        return Verdict(False, code, f"local redis {kind}: {redis.error or 'no answer'}")

    counted = agreement.agree(facts.answers, policy.agreement, policy.sentinel_count)
    views = counted.describe()
    if redis.role != "master":
        return Verdict(False, ExitCode.NOT_MASTER, f"local redis role={redis.role} {views}")
    if counted.agreed:
        kind, why = agreement.whose(counted, redis, classify, facts.named, previous_run_id)
        if kind == agreement.SELF:
            return Verdict(True, ExitCode.OK, f"master agreed: {why} {views}", agreed=True)
        if kind in (agreement.LOOPBACK, agreement.VIP):
            why += "; monitor the master by its real address"
        return Verdict(False, _BY_KIND[kind], f"{why} {views}")

    top = counted.top
    if top is not None and counted.top_votes >= policy.agreement:
        kind = classify(*top)
        if kind in (agreement.LOOPBACK, agreement.VIP):
            return Verdict(
                False,
                ExitCode.IDENTITY,
                f"sentinels name {agreement.label(*top)}, a {kind} address that identifies no"
                f" node; monitor the master by its real address {views}",
            )
    if counted.answered < policy.agreement:
        if agreed_age is not None and policy.grace > 0 and 0 <= agreed_age <= policy.grace:
            return Verdict(
                True, ExitCode.OK, f"grace: too few sentinels answered {views}", in_grace=True
            )
        return Verdict(False, ExitCode.NO_MAJORITY, f"too few sentinels answered {views}")
    if counted.conflict and counted.top_votes >= policy.agreement:
        return Verdict(
            False,
            ExitCode.NO_AGREEMENT,
            f"sentinels name {agreement.label(*top)} but report different run_ids for it:"
            f" different servers behind one address {views}",
        )
    return Verdict(False, ExitCode.NO_AGREEMENT, f"sentinels disagree {views}")
