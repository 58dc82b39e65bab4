"""decide(): every verdict from plain data, no servers."""

import pytest

from sentinel_vip.decision.decide import Policy, decide, settled, tally
from sentinel_vip.decision.facts import CheckFacts, RedisFacts, SentinelAnswer
from sentinel_vip.errors import ExitCode

ME = ("10.0.0.1", 6379)
OTHER = ("10.0.0.2", 6379)
THIRD = ("10.0.0.3", 6379)
KINDS = {ME: "self", OTHER: "other", THIRD: "other", ("127.0.0.1", 6379): "loopback",
         ("10.0.0.100", 6379): "vip"}  # fmt: skip


def classify(host, port):
    return KINDS[(host, port)]


MASTER = RedisFacts(True, "master", None, None)
REPLICA = RedisFacts(True, "slave", None, None, "10.0.0.2", 6379, "connected")
POLICY = Policy(agreement=2, sentinel_count=3)


def said(*masters):
    """One SentinelAnswer per argument: an address, None (no answer) or 'nil' (unknown name)."""
    out = []
    for i, m in enumerate(masters):
        addr = f"10.0.0.{i + 1}:26379"
        if m is None:
            out.append(SentinelAnswer(addr, False, None, "timed out", "unreachable"))
        elif m == "nil":
            out.append(SentinelAnswer(addr, True, None, "unknown master name"))
        else:
            out.append(SentinelAnswer(addr, True, m, None))
    return tuple(out)


def verdict(redis, answers, policy=POLICY, now=1000.0, last_agreed=None):
    return decide(CheckFacts(redis, answers), policy, classify, now, last_agreed)


def test_master_named_by_all_is_ok():
    v = verdict(MASTER, said(ME, ME, ME))
    assert (v.ok, v.code, v.agreed) == (True, ExitCode.OK, True)


def test_master_named_by_bare_majority_is_ok():
    assert verdict(MASTER, said(ME, ME, None)).code == ExitCode.OK


def test_lone_role_master_is_not_enough():
    """The classic check's flaw: a returning old master says role:master too."""
    v = verdict(MASTER, said(OTHER, OTHER, OTHER))
    assert (v.ok, v.code) == (False, ExitCode.OTHER_MASTER)
    assert "10.0.0.2:6379" in v.reason


def test_one_stale_sentinel_cannot_make_us_master():
    assert verdict(MASTER, said(ME, OTHER, OTHER)).code == ExitCode.OTHER_MASTER


def test_replica_fails_even_if_sentinels_name_it():
    assert verdict(REPLICA, said(ME, ME, ME)).code == ExitCode.NOT_MASTER


def test_replica_fails():
    v = verdict(REPLICA, said(OTHER, OTHER, OTHER))
    assert (v.ok, v.code) == (False, ExitCode.NOT_MASTER)
    assert "role=slave" in v.reason


@pytest.mark.parametrize(
    ("kind", "code"),
    [("unreachable", ExitCode.REDIS_UNREACHABLE), ("auth", ExitCode.REDIS_AUTH),
     ("tls", ExitCode.TLS), ("protocol", ExitCode.REDIS_UNREACHABLE)],
)  # fmt: skip
def test_redis_errors_map_to_codes(kind, code):
    redis = RedisFacts(kind == "auth", None, kind, "boom")
    v = verdict(redis, said(ME, ME, ME))
    assert (v.ok, v.code) == (False, code)


def test_too_few_answers_fails_closed():
    v = verdict(MASTER, said(ME, None, None))
    assert (v.ok, v.code) == (False, ExitCode.NO_MAJORITY)


def test_unknown_master_name_counts_as_no_answer():
    assert verdict(MASTER, said(ME, "nil", "nil")).code == ExitCode.NO_MAJORITY


def test_grace_keeps_an_earlier_agreement_for_a_while():
    policy = Policy(agreement=2, sentinel_count=3, grace=10.0)
    inside = verdict(MASTER, said(ME, None, None), policy, now=1005.0, last_agreed=1000.0)
    assert (inside.ok, inside.in_grace) == (True, True)
    after = verdict(MASTER, said(ME, None, None), policy, now=1011.0, last_agreed=1000.0)
    assert after.code == ExitCode.NO_MAJORITY


def test_grace_never_covers_another_master():
    policy = Policy(agreement=2, sentinel_count=3, grace=10.0)
    v = verdict(MASTER, said(OTHER, OTHER, None), policy, now=1001.0, last_agreed=1000.0)
    assert v.code == ExitCode.OTHER_MASTER


def test_split_views_are_no_agreement():
    policy = Policy(agreement=3, sentinel_count=5)
    v = verdict(MASTER, said(ME, ME, OTHER, OTHER, THIRD), policy)
    assert v.code == ExitCode.NO_AGREEMENT


def test_loopback_master_is_an_identity_problem():
    loop = ("127.0.0.1", 6379)
    v = verdict(MASTER, said(loop, loop, loop))
    assert v.code == ExitCode.IDENTITY
    assert "loopback" in v.reason


def test_vip_as_master_is_an_identity_problem():
    vip = ("10.0.0.100", 6379)
    assert verdict(MASTER, said(vip, vip, ME)).code == ExitCode.IDENTITY


def test_reason_is_stable_between_identical_runs():
    a = verdict(MASTER, said(ME, ME, None), now=1.0)
    b = verdict(MASTER, said(ME, ME, None), now=99.0)
    assert a.reason == b.reason


def test_tally_counts_and_leader():
    t = tally(said(ME, OTHER, OTHER), classify)
    assert t.leader() == ("10.0.0.2:6379", 2)
    assert t.count("self") == 1
    assert tally(said(ME, OTHER, None), classify).leader() == (None, 1)


@pytest.mark.parametrize(
    ("so_far", "done"),
    [((ME, ME), True), ((OTHER, OTHER), True), ((ME,), False), ((ME, OTHER), False)],
)
def test_settled_stops_waiting_once_outcome_is_known(so_far, done):
    assert settled(said(*so_far), POLICY, classify) is done


def test_settled_when_no_majority_is_possible():
    policy = Policy(agreement=3, sentinel_count=4)
    assert settled(said(ME, OTHER, THIRD), policy, classify) is True
    assert settled(said(ME, OTHER), policy, classify) is False
    assert settled(said(ME), policy, classify) is False
    assert settled(said(ME, None), policy, classify) is False
    assert settled(said(ME, None, None, None), policy, classify) is True
