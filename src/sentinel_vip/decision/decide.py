"""The check's evaluation: plain facts in, a Verdict out. No I/O, so it is tested with data.

``classify(ip, port)`` says what an address named by Sentinel is to this node: "self",
"other", "loopback" or "vip" (see ``identity``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from sentinel_vip.errors import ExitCode
from sentinel_vip.record import Record

# collections.abc, not typing: socket has imported it already, typing costs the check ~3 ms.
Classify = Callable[[str, int], str]


class Policy(Record):
    agreement: int  # Sentinels that must name this node
    sentinel_count: int
    grace: float = 0.0  # seconds an earlier agreement is trusted while too few answer


class Verdict(Record):
    ok: bool
    code: ExitCode
    reason: str  # stable from run to run unless the situation changes: no timings in it
    agreed: bool = False  # a Sentinel majority named this node in this very run
    in_grace: bool = False  # ok only because of no_majority_grace: logged loudly


class Tally(Record):
    """How the Sentinels' answers split: the input of both the check and the demotion."""

    named: Counter  # "ip:port" -> count of Sentinels naming it
    kinds: dict  # "ip:port" -> classification
    answered: int  # Sentinels that named some address
    total: int
    # Why the silent ones were silent ("auth", "tls", "unreachable", "protocol"): without it
    # a Sentinel ACL or certificate mistake reads like a network outage.
    failures: Counter = Counter()

    def count(self, kind: str) -> int:
        return sum(n for addr, n in self.named.items() if self.kinds[addr] == kind)

    def leader(self) -> tuple[str | None, int]:
        """The most named address (ties: none wins) and its count."""
        ranked = self.named.most_common()[:2]  # most_common(2) would import heapq every check
        if not ranked:
            return None, 0
        if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
            return None, ranked[0][1]
        return ranked[0]

    def describe(self) -> str:
        parts = [f"{addr}={n}" for addr, n in sorted(self.named.items())]
        parts.append(f"silent={self.total - self.answered}")
        if self.failures:
            parts.append(f"({','.join(f'{k}={n}' for k, n in sorted(self.failures.items()))})")
        return " ".join(parts)


def address_label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tally(answers: Sequence, classify: Classify) -> Tally:
    named: Counter = Counter()
    kinds: dict = {}
    failures: Counter = Counter()
    for answer in answers:
        if not answer.answered and answer.error_kind:
            failures[answer.error_kind] += 1
        if not answer.answered or answer.master is None:
            continue
        host, port = answer.master
        label = address_label(host, port)
        named[label] += 1
        if label not in kinds:
            kinds[label] = classify(host, port)
    return Tally(named, kinds, sum(named.values()), len(answers), failures)


def settled(answers: Sequence, policy: Policy, classify: Classify) -> bool:
    """True once waiting for the Sentinels still pending cannot change the outcome.

    ``answers`` are the finished ones (answered or failed); a failed one will not vote.
    """
    t = tally(answers, classify)
    pending = policy.sentinel_count - len(answers)
    _, top = t.leader()
    if t.count("self") >= policy.agreement or top >= policy.agreement:
        return True
    most = max(top, t.count("self"))
    return most + pending < policy.agreement


REDIS_ERROR_CODES = {
    "auth": ExitCode.REDIS_AUTH,
    "tls": ExitCode.TLS,
}


def decide(
    facts,
    policy: Policy,
    classify: Classify,
    now: float,
    last_agreed: float | None,
) -> Verdict:
    redis = facts.redis
    if not redis.reachable or redis.error_kind:
        kind = redis.error_kind or "unreachable"
        code = REDIS_ERROR_CODES.get(kind, ExitCode.REDIS_UNREACHABLE)
        return Verdict(False, code, f"local redis {kind}: {redis.error or 'no answer'}")

    t = tally(facts.answers, classify)
    need = policy.agreement
    mine = t.count("self")
    views = f"need={need}/{policy.sentinel_count} {t.describe()}"

    if redis.role != "master":
        return Verdict(False, ExitCode.NOT_MASTER, f"local redis role={redis.role} {views}")
    if mine >= need:
        return Verdict(True, ExitCode.OK, f"master agreed {views}", agreed=True)

    leader, top = t.leader()
    if leader is not None and top >= need and t.kinds[leader] in ("loopback", "vip"):
        return Verdict(
            False,
            ExitCode.IDENTITY,
            f"sentinels name {leader}, a {t.kinds[leader]} address that identifies no node; "
            f"monitor the master by its real address {views}",
        )
    if t.answered < need:
        if last_agreed is not None and policy.grace > 0 and now - last_agreed <= policy.grace:
            return Verdict(
                True, ExitCode.OK, f"grace: too few sentinels answered {views}", in_grace=True
            )
        return Verdict(False, ExitCode.NO_MAJORITY, f"too few sentinels answered {views}")
    if leader is not None and top >= need:
        return Verdict(False, ExitCode.OTHER_MASTER, f"sentinels name {leader} {views}")
    return Verdict(False, ExitCode.NO_AGREEMENT, f"sentinels disagree {views}")
