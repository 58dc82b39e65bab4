"""decide(): every verdict from plain data, no servers."""

import pytest
from sentinel_answers import (
    LOOP,
    MASTER,
    ME,
    OTHER,
    REPLICA,
    RUN_IDS,
    THIRD,
    UNKNOWN,
    VIP,
    classify,
    said,
)

from sentinel_vip.decision.decide import Policy, decide, settled
from sentinel_vip.decision.facts import CheckFacts, RedisFacts
from sentinel_vip.errors import ExitCode

POLICY = Policy(agreement=2, sentinel_count=3)


def verdict(redis, answers, policy=POLICY, agreed_age=None, named=None):
    return decide(CheckFacts(redis, answers, named), policy, classify, agreed_age)


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
    inside = verdict(MASTER, said(ME, None, None), policy, agreed_age=5.0)
    assert (inside.ok, inside.in_grace) == (True, True)
    after = verdict(MASTER, said(ME, None, None), policy, agreed_age=11.0)
    assert after.code == ExitCode.NO_MAJORITY
    unknown = verdict(MASTER, said(ME, None, None), policy, agreed_age=None)
    assert unknown.code == ExitCode.NO_MAJORITY


def test_grace_never_from_the_future():
    """An agreement 'recorded later than now' (a hostile state file) is no agreement."""
    policy = Policy(agreement=2, sentinel_count=3, grace=10.0)
    assert verdict(MASTER, said(ME, None, None), policy, agreed_age=-1.0).code == 8


def test_grace_never_covers_another_master():
    policy = Policy(agreement=2, sentinel_count=3, grace=10.0)
    v = verdict(MASTER, said(OTHER, OTHER, None), policy, agreed_age=1.0)
    assert v.code == ExitCode.OTHER_MASTER


def test_split_views_are_no_agreement():
    policy = Policy(agreement=3, sentinel_count=5)
    v = verdict(MASTER, said(ME, ME, OTHER, OTHER, THIRD), policy)
    assert v.code == ExitCode.NO_AGREEMENT


def test_loopback_master_is_an_identity_problem():
    v = verdict(MASTER, said(LOOP, LOOP, LOOP))
    assert v.code == ExitCode.IDENTITY
    assert "loopback" in v.reason


def test_each_hosts_own_loopback_is_still_an_identity_problem():
    """Debian's stock sentinel.conf on every host: every Sentinel names 127.0.0.1:6379 with
    its own host's run_id. No agreement by run_id, but the diagnosis stays exit 10."""
    named = said((LOOP, "1" * 40), (LOOP, "2" * 40), (LOOP, "3" * 40))
    v = verdict(MASTER, named)
    assert v.code == ExitCode.IDENTITY


def test_vip_as_master_is_an_identity_problem():
    assert verdict(MASTER, said(VIP, VIP, ME)).code == ExitCode.IDENTITY


def test_reason_is_stable_between_identical_runs():
    a = verdict(MASTER, said(ME, ME, None), agreed_age=1.0)
    b = verdict(MASTER, said(ME, ME, None), agreed_age=99.0)
    assert a.reason == b.reason


# -- identity by run_id --------------------------------------------------------------------


def test_our_address_with_another_run_id_is_another_master():
    """node.addresses copied from the master onto a standalone server (issue 10, case 3)."""
    v = verdict(MASTER, said((ME, RUN_IDS[OTHER]), (ME, RUN_IDS[OTHER]), ME))
    assert v.code == ExitCode.OTHER_MASTER
    assert "node.addresses" in v.reason


def test_our_run_id_at_an_address_the_config_does_not_describe_is_identity():
    """The real master with a typo in node.addresses / announce_port: never 'another master'
    (notify would demote it to itself), an identity problem the admin must fix."""
    mine = RUN_IDS[ME]
    v = verdict(MASTER, said((OTHER, mine), (OTHER, mine), (OTHER, mine)))
    assert v.code == ExitCode.IDENTITY
    assert "node.addresses" in v.reason


def test_run_id_not_read_yet_confirmed_by_probing_the_address():
    answers = said((ME, UNKNOWN), (ME, UNKNOWN), (ME, UNKNOWN))
    assert verdict(MASTER, answers, named=MASTER).code == ExitCode.OK
    assert verdict(MASTER, answers, named=None).code == ExitCode.NO_AGREEMENT
    other_server = RedisFacts(True, "master", None, None, run_id=RUN_IDS[OTHER])
    assert verdict(MASTER, answers, named=other_server).code == ExitCode.IDENTITY


def test_run_id_not_read_yet_elsewhere_is_another_master():
    answers = said((OTHER, UNKNOWN), (OTHER, UNKNOWN), None)
    assert verdict(MASTER, answers).code == ExitCode.OTHER_MASTER


def test_one_sentinel_under_several_names_counts_once():
    """Issue 10, case 2: a stray Sentinel listed twice names a standalone server."""
    ids = ["1" * 40, "2" * 40, "2" * 40]
    v = verdict(MASTER, said(OTHER, ME, ME, ids=ids))
    assert v.code == ExitCode.NO_AGREEMENT
    assert "duplicate=1" in v.reason


def test_sentinels_naming_one_address_with_different_run_ids_do_not_add_up():
    v = verdict(MASTER, said(ME, (ME, RUN_IDS[OTHER]), None))
    assert v.code == ExitCode.NO_AGREEMENT
    assert "different run_ids" in v.reason


@pytest.mark.parametrize(
    ("so_far", "done"),
    [((ME, ME), True), ((OTHER, OTHER), True), ((ME,), False), ((ME, OTHER), False)],
)
def test_settled_stops_waiting_once_outcome_is_known(so_far, done):
    assert settled(said(*so_far), POLICY) is done


def test_settled_when_no_majority_is_possible():
    policy = Policy(agreement=3, sentinel_count=4)
    assert settled(said(ME, OTHER, THIRD), policy) is True
    assert settled(said(ME, OTHER), policy) is False
    assert settled(said(ME), policy) is False
    assert settled(said(ME, None), policy) is False
    assert settled(said(ME, None, None, None), policy) is True
