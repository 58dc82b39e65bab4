"""plan_demotion() and confirm(): when notify may demote, from plain data."""

import pytest
from sentinel_answers import MASTER, ME, OTHER, RUN_IDS, UNKNOWN, VIP, classify, said

from sentinel_vip.decision.agreement import agree
from sentinel_vip.decision.demotion import Demotion, Skip, confirm, plan_demotion
from sentinel_vip.decision.facts import RedisFacts, SentinelAnswer

REPLICA = RedisFacts(True, "slave", None, None, run_id="f" * 40)
TARGET = RedisFacts(True, "master", None, None, run_id=RUN_IDS[OTHER])


def listing(answers, replicas=((ME, None),)):
    """``answers`` with each Sentinel listing ``replicas`` (SENTINEL REPLICAS): by default
    this node's address, as Sentinel lists an old master after a failover."""
    return tuple(
        SentinelAnswer(**{**dict(zip(a._fields, a._values())), "replicas": replicas})
        for a in answers
    )


def plan(state="BACKUP", redis=MASTER, answers=None, replicas=((ME, None),)):
    answers = said(OTHER, OTHER, OTHER) if answers is None else answers
    answers = listing(answers, replicas)
    return plan_demotion(state, redis, agree(answers, 2, 3), answers, classify)


@pytest.mark.parametrize("state", ["BACKUP", "FAULT", "STOP"])
def test_stale_master_is_demoted_to_sentinels_master(state):
    p = plan(state)
    assert isinstance(p, Demotion)
    assert (p.host, p.port, p.runid) == (*OTHER, RUN_IDS[OTHER])
    assert confirm(p, MASTER, TARGET) == p


def test_never_on_master_transition():
    assert isinstance(plan("MASTER"), Skip)


def test_replica_is_left_alone():
    assert isinstance(plan(redis=REPLICA), Skip)


def test_unreachable_redis_is_left_alone():
    assert isinstance(plan(redis=RedisFacts(False, None, "unreachable", "x")), Skip)


def test_no_majority_touches_nothing():
    p = plan(answers=said(OTHER, None, None))
    assert isinstance(p, Skip)
    assert "no sentinel majority" in p.reason


def test_split_touches_nothing():
    assert isinstance(plan(answers=said(OTHER, ME, None)), Skip)


def test_sentinels_naming_us_means_no_demotion():
    assert isinstance(plan(answers=said(ME, ME, OTHER)), Skip)


def test_never_demote_the_server_the_majority_names_whatever_its_address():
    """Issue 10, case 1: hostname-announcing Sentinels name 'localhost:P', or node.addresses
    has a typo: the address is not recognised, the run_id is ours. Never demote."""
    mine = RUN_IDS[ME]
    p = plan(answers=said((OTHER, mine), (OTHER, mine), (OTHER, mine)))
    assert isinstance(p, Skip)
    assert "never demote" in p.reason


def test_an_alias_of_one_sentinel_never_makes_the_majority():
    """Issue 10, case 2: [real, stray, alias of stray] with the stray naming a standalone."""
    answers = said(ME, OTHER, OTHER, ids=["1" * 40, "2" * 40, "2" * 40])
    assert isinstance(plan(answers=answers), Skip)


LINEAGE = "7" * 40  # this server's replication id
STALE = RedisFacts(True, "master", None, None, run_id=RUN_IDS[ME], replid=LINEAGE)


def test_one_sentinel_knowing_the_run_id_is_enough_when_none_contradicts():
    p = plan(answers=said((OTHER, UNKNOWN), (OTHER, UNKNOWN), OTHER))
    assert isinstance(p, Demotion) and p.runid == RUN_IDS[OTHER]


def test_before_the_sentinels_read_the_run_id_only_our_promoted_replica_is_a_target():
    """Right after a switch (3-10 s) no Sentinel knows the new master's run_id: demote only
    to the server that was this one's replica and got promoted (its replid2 is our replid)."""
    p = plan(redis=STALE, answers=said((OTHER, UNKNOWN), (OTHER, UNKNOWN), None))
    assert isinstance(p, Demotion) and p.runid is None
    promoted = RedisFacts(True, "master", None, None, run_id="9" * 40, replid2=LINEAGE)
    assert isinstance(confirm(p, STALE, promoted), Demotion)
    stray = RedisFacts(True, "master", None, None, run_id="9" * 40, replid2="8" * 40)
    skip = confirm(p, STALE, stray)
    assert isinstance(skip, Skip) and "not a promoted replica of this server" in skip.reason
    unknown = RedisFacts(True, "master", None, None, run_id=RUN_IDS[ME])  # no replid read
    assert isinstance(confirm(p, unknown, promoted), Skip)


def test_vip_named_is_not_a_target():
    assert isinstance(plan(answers=said(VIP, VIP, VIP)), Skip)


def _with_fields(answer, **fields):
    merged = {**answer.fields, **fields}
    about = (merged["ip"], int(merged["port"]))
    return SentinelAnswer(
        *[getattr(answer, f) for f in answer._fields[:7]], about, merged, answer.replicas
    )


@pytest.mark.parametrize(
    "fields",
    [{"flags": "master,failover_in_progress"}, {"flags": "master,s_down"},
     {"flags": "master", "failover-state": "wait_promotion"}, {"flags": "master,o_down"}],
)  # fmt: skip
def test_never_fights_a_running_failover(fields):
    answers = said(OTHER, OTHER, OTHER)
    answers = (_with_fields(answers[0], **fields), *answers[1:])
    p = plan(answers=answers)
    assert isinstance(p, Skip)
    assert "busy" in p.reason


def test_a_sentinel_finishing_the_failover_away_from_us_does_not_block():
    """The leader still describes the old master (us) with failover_in_progress while it
    already names the new one; Sentinel will point us at that same new master."""
    answers = said(OTHER, OTHER, OTHER)
    leader = _with_fields(
        answers[0], ip=ME[0], port="6379", flags="master,failover_in_progress",
        **{"failover-state": "reconf_slaves"},
    )  # fmt: skip
    p = plan(answers=(leader, *answers[1:]))
    assert isinstance(p, Demotion)
    assert (p.host, p.port) == OTHER


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (RedisFacts(False, None, "unreachable", "refused"), "did not answer"),
        (RedisFacts(True, "slave", None, None, run_id=RUN_IDS[OTHER]), "role=slave"),
        (RedisFacts(True, "master", None, None, run_id=RUN_IDS[ME]), "itself"),
        (RedisFacts(True, "master", None, None, run_id="9" * 40), "another server"),
    ],
)
def test_the_target_must_be_the_master_the_sentinels_name(target, why):
    """REPLICAOF never points a server at itself or at a stray answering that address."""
    p = confirm(plan(), MASTER, target)
    assert isinstance(p, Skip)
    assert why in p.reason


def test_never_demote_when_the_config_says_the_named_master_is_this_node():
    """redis.port reaching another local server than the one Sentinel manages here: the
    named master is 'this node' by node.addresses, but not the local Redis by run_id."""
    answers = said(ME, ME, ME)
    other_server = RedisFacts(True, "master", None, None, run_id="9" * 40)
    p = plan_demotion("FAULT", other_server, agree(answers, 2, 3), answers, classify)
    assert isinstance(p, Skip)
    assert "fix redis.port" in p.reason


def test_never_demote_towards_a_target_on_this_host():
    p = plan()
    skip = confirm(p, MASTER, TARGET, on_this_host=True)
    assert isinstance(skip, Skip)
    assert "runs on this host" in skip.reason


@pytest.mark.parametrize(
    ("replicas", "demotes"),
    [
        (((ME, None),), True),  # this node's address (the old master, added at the switch)
        ((((("10.0.0.9", 6379)), RUN_IDS[ME]),), True),  # this server's run_id, any address
        (((("10.0.0.9", 6379), "9" * 40),), False),  # replicas, none of them this server
        (((ME, "9" * 40),), False),  # another process at this node's address
        ((), False),
    ],
)
def test_only_a_server_sentinel_knows_as_a_replica_is_demoted(replicas, demotes):
    """Sentinel converts a server reporting role master only when it knows it as a replica
    of that master. Another cluster's Sentinels in sentinel.addresses name their master:
    before, notify demoted this cluster's master into a replica of it."""
    p = plan(replicas=replicas)
    assert isinstance(p, Demotion) == demotes, p
    if not demotes:
        assert "know this server as a replica" in p.reason


def test_sentinel_replicas_refused_says_what_to_grant():
    p = plan(replicas=None)
    assert isinstance(p, Skip) and "grant +sentinel|replicas" in p.reason


def test_a_minority_listing_this_server_is_not_enough():
    answers = said(OTHER, OTHER, OTHER)
    answers = (*listing(answers[:1]), *listing(answers[1:], ()))
    p = plan_demotion("FAULT", MASTER, agree(answers, 2, 3), answers, classify)
    assert isinstance(p, Skip) and "only 1 of the 2" in p.reason


def _epochs(answers, *epochs):
    return tuple(_with_fields(a, **{"config-epoch": str(e)}) for a, e in zip(answers, epochs))


def test_a_freshly_promoted_master_is_not_demoted_toward_the_old_one():
    """In the second after a switch only the leader names the promoted replica (this
    server), under the new config epoch; the others still name the old master, list this
    server as its replica, and the old master still answers as master (a planned
    switchover): every other guard holds. Demoting now would leave no master at all."""
    answers = said(OTHER, OTHER, ME)
    p = plan(answers=_epochs(answers, 7, 7, 8))
    assert isinstance(p, Skip) and "just promoted" in p.reason
    # The leader names this server before it has read its run_id, while its SENTINEL
    # MASTER still describes the old master (reconfiguration): by address, the same.
    leader = SentinelAnswer(*[getattr(answers[2], f) for f in answers[2]._fields[:6]],
                            None, OTHER, {**answers[1].fields, "config-epoch": "8"})  # fmt: skip
    p = plan(answers=(*_epochs(answers[:2], 7, 7), leader))
    assert isinstance(p, Skip) and "just promoted" in p.reason


def test_a_returning_old_master_is_demoted_whatever_epoch_it_was_named_under():
    # One Sentinel still names this (old) master under the epoch it was replaced in.
    p = plan(answers=_epochs(said(OTHER, OTHER, ME), 8, 8, 7))
    assert isinstance(p, Demotion)
    p = plan(answers=_epochs(said(OTHER, OTHER, OTHER), 8, 8, 8))
    assert isinstance(p, Demotion)
