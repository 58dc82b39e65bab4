"""decision.switchover: facts in, a plan or a refusal (with its own exit code) out."""

from __future__ import annotations

import pytest

from sentinel_vip.decision import switchover as rules
from sentinel_vip.decision.agreement import agree
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.replication import ServerView

M = ("10.0.0.11", 6379)
A = ("10.0.0.12", 6379)
B = ("10.0.0.13", 6379)
RUNID = "a" * 40


def answer(i: int, master=M, flags="master", state="none", answered=True) -> SentinelAnswer:
    if not answered:
        return SentinelAnswer(f"10.0.0.{i}:26379", False, None, "timed out", "unreachable")
    fields = {"flags": flags, "failover-state": state, "runid": RUNID}
    return SentinelAnswer(
        f"10.0.0.{i}:26379", True, master, None, None, f"{i:040x}", RUNID, master, fields
    )


def healthy(address, priority=100, lag=0, **kw) -> rules.Candidate:
    base = dict(flags=frozenset({"slave"}), link="ok", priority=priority, state="online",
                lag=lag, gap=0, offset=1000)  # fmt: skip
    base.update(kw)
    return rules.Candidate(address, None, **base)


MASTER = ServerView(True, "", "master", RUNID, (7, 0, 15), 1000)


def decide(answers=None, master=MASTER, candidates=None, target=None, caught=0.002, fence=True):
    answers = answers if answers is not None else [answer(1), answer(2), answer(3)]
    candidates = candidates if candidates is not None else [healthy(A, 50), healthy(B)]
    target = target or candidates[-1]
    counted = agree(answers, 2, 3)
    return rules.plan(counted, answers, master, candidates, target, caught, fence)


def test_a_plan_raises_every_replica_that_would_beat_the_target():
    plan = decide()
    assert isinstance(plan, rules.Plan), plan
    assert plan.target == B and plan.master == M
    assert plan.steer == ((A, 50, 101),)
    assert plan.sentinel == "10.0.0.1:26379" and plan.fence
    assert any("50 -> 101" in line for line in plan.describe())


def test_a_replica_already_worse_than_the_target_is_left_alone():
    plan = decide(candidates=[healthy(A, 150), healthy(B, 100)])
    assert plan.steer == ()
    plan = decide(candidates=[healthy(A, 0), healthy(B, 100)])  # 0: never promoted anyway
    assert plan.steer == ()


@pytest.mark.parametrize(
    "case, kwargs, code, words",
    [
        ("two Sentinels silent",
         {"answers": [answer(1), answer(2, answered=False), answer(3, answered=False)]},
         ExitCode.NO_MAJORITY, "no Sentinel majority"),
        ("Sentinels split",
         {"answers": [answer(1), answer(2, master=A), answer(3, master=B)]},
         ExitCode.NO_AGREEMENT, "no Sentinel majority"),
        ("failover in progress on one",
         {"answers": [answer(1), answer(2, flags="master,failover_in_progress"), answer(3)]},
         ExitCode.FAILOVER_RUNNING, "failover_in_progress"),
        ("failover state on one",
         {"answers": [answer(1), answer(2), answer(3, state="select_slave")]},
         ExitCode.FAILOVER_RUNNING, "failover-state=select_slave"),
        ("master seen down",
         {"answers": [answer(1, flags="master,s_down"), answer(2), answer(3)]},
         ExitCode.FAILOVER_RUNNING, "s_down"),
        ("master unreachable", {"master": ServerView(False, "refused")},
         ExitCode.UNFENCEABLE, "does not answer"),
        ("master without CLIENT PAUSE WRITE",
         {"master": ServerView(True, "", "master", RUNID, (6, 0, 16), 1000)},
         ExitCode.UNFENCEABLE, "--no-fence"),
        ("master says replica", {"master": ServerView(True, "", "slave", RUNID, (7, 0), 1)},
         ExitCode.FAILOVER_RUNNING, "says it is a slave"),
        ("another server at the master's address",
         {"master": ServerView(True, "", "master", "b" * 40, (7, 0), 1)},
         ExitCode.NO_AGREEMENT, "another run_id"),
        ("target link down", {"target": healthy(B, link="err")},
         ExitCode.TARGET_UNFIT, "link to the master err"),
        ("target says its link is down", {"target": healthy(B, own_link="down")},
         ExitCode.TARGET_UNFIT, "it says its link to the master is down"),
        ("target s_down", {"target": healthy(B, flags=frozenset({"slave", "s_down"}))},
         ExitCode.TARGET_UNFIT, "s_down"),
        ("target lagging", {"target": healthy(B, lag=7)},
         ExitCode.TARGET_UNFIT, "7s old"),
        ("target not online", {"target": healthy(B, state="wait_bgsave")},
         ExitCode.TARGET_UNFIT, "wait_bgsave"),
        ("target priority 0", {"target": healthy(B, priority=0)},
         ExitCode.TARGET_UNFIT, "never promotes"),
        ("target does not catch up", {"caught": None},
         ExitCode.TARGET_UNFIT, "did not reach the master's offset"),
    ],
)  # fmt: skip
def test_every_failed_precondition_has_its_refusal(case, kwargs, code, words):
    refused = decide(**kwargs)
    assert isinstance(refused, rules.Refusal), case
    assert refused.code == code, (case, refused)
    assert words in refused.reason, (case, refused.reason)


def test_no_fence_accepts_a_master_without_pause_write():
    plan = decide(master=ServerView(True, "", "master", RUNID, (6, 0, 16), 1000), fence=False)
    assert isinstance(plan, rules.Plan) and not plan.fence


def test_an_unfit_target_shows_lag_link_and_bytes_behind():
    refused = decide(target=healthy(B, lag=7, gap=123456, link="err"))
    assert "lag=7s" in refused.reason and "behind=123456B" in refused.reason
    assert "link=err/" in refused.reason


CANDIDATES = [healthy(A, 50), healthy(B), healthy(("10.0.0.13", 6380))]


def names(host):
    known = {"redis-b.example": {"10.0.0.13"}, "redis-a.example": {"10.0.0.12"}}
    return known.get(host, {host} if host[0].isdigit() else set())


@pytest.mark.parametrize(
    "spec, expected, code",
    [
        ("10.0.0.12:6379", A, None),
        ("10.0.0.12", A, None),  # one replica at that address
        ("redis-a.example", A, None),
        ("redis-a.example:6379", A, None),
        ("10.0.0.13:6380", ("10.0.0.13", 6380), None),
        ("10.0.0.13", None, ExitCode.UNKNOWN_TARGET),  # two replicas there: ambiguous
        ("redis-b.example", None, ExitCode.UNKNOWN_TARGET),
        ("10.0.0.11:6379", None, ExitCode.UNKNOWN_TARGET),  # the master is no replica
        ("10.0.0.99:6379", None, ExitCode.UNKNOWN_TARGET),
        ("nowhere.example", None, ExitCode.UNKNOWN_TARGET),
    ],
)
def test_to_names_exactly_one_listed_replica(spec, expected, code):
    found, refused = rules.resolve_target(spec, CANDIDATES, names)
    if code is None:
        assert refused is None and found.address == expected
    else:
        assert found is None and refused.code == code
        assert spec in refused.reason


def test_ambiguity_is_named_in_the_refusal():
    _, refused = rules.resolve_target("10.0.0.13", CANDIDATES, names)
    assert "ambiguous" in refused.reason and "10.0.0.13:6380" in refused.reason


def test_without_to_the_replica_sentinel_prefers_among_the_fit_ones():
    found, _ = rules.resolve_target(None, CANDIDATES, names)
    assert found.address == A  # lowest priority
    unfit_a = [healthy(A, 50, link="err"), healthy(B, offset=5), healthy(("h", 1), offset=9)]
    found, _ = rules.resolve_target(None, unfit_a, names)
    assert found.address == ("h", 1)  # then the largest offset
    _, refused = rules.resolve_target(None, [healthy(A, link="err")], names)
    assert refused.code == ExitCode.TARGET_UNFIT


def test_ipv6_spellings():
    v6 = rules.Candidate(("2001:db8::12", 6379), None, frozenset(), "ok", 100, "online", 0)
    found, _ = rules.resolve_target("[2001:db8::12]:6379", [v6], names)
    assert found is v6
    found, _ = rules.resolve_target("2001:db8::12", [v6], names)
    assert found is v6


def test_a_rival_that_cannot_be_steered_refuses_before_anything_changes():
    refused = decide(candidates=[healthy(A, 50, reachable=False), healthy(B)])
    assert refused.code == ExitCode.TARGET_UNFIT and "10.0.0.12:6379" in refused.reason
    refused = decide(candidates=[healthy(A, None), healthy(B)])
    assert refused.code == ExitCode.TARGET_UNFIT
    # a replica Sentinel cannot select anyway (down, or priority 0) needs no steering
    down = healthy(A, 50, flags=frozenset({"slave", "s_down"}), reachable=False)
    assert decide(candidates=[down, healthy(B)]).steer == ()
    assert decide(candidates=[healthy(A, 0, reachable=False), healthy(B)]).steer == ()


def test_replicas_listed_by_hostname_match_an_address_or_another_name():
    by_name = [healthy(("redis-a.example", 6379), 50), healthy(("redis-b.example", 6379))]
    for spec in ("10.0.0.13", "10.0.0.13:6379", "redis-b.example", "redis-b.example:6379"):
        found, refused = rules.resolve_target(spec, by_name, names)
        assert refused is None and found.address == ("redis-b.example", 6379), spec
    _, refused = rules.resolve_target("10.0.0.99", by_name, names)
    assert refused.code == ExitCode.UNKNOWN_TARGET
