"""plan_demotion(): when notify may demote, from plain data."""

import pytest

from sentinel_vip.decision.demotion import Demotion, Skip, plan_demotion
from sentinel_vip.decision.facts import RedisFacts, SentinelAnswer

ME = ("10.0.0.1", 6379)
OTHER = ("10.0.0.2", 6379)
KINDS = {ME: "self", OTHER: "other", ("10.0.0.100", 6379): "vip"}
MASTER = RedisFacts(True, "master", None, None)
REPLICA = RedisFacts(True, "slave", None, None)
CALM = ({"flags": "master", "failover-state": "none", "ip": "10.0.0.2", "port": "6379"},) * 3


def classify(host, port):
    return KINDS[(host, port)]


def answers(*masters):
    return tuple(
        SentinelAnswer(f"s{i}", m is not None, m, None if m else "down")
        for i, m in enumerate(masters)
    )


def plan(state="BACKUP", redis=MASTER, said=(OTHER, OTHER, OTHER), states=CALM):
    return plan_demotion(state, redis, answers(*said), states, classify, 2)


@pytest.mark.parametrize("state", ["BACKUP", "FAULT", "STOP"])
def test_stale_master_is_demoted_to_sentinels_master(state):
    p = plan(state)
    assert isinstance(p, Demotion)
    assert (p.host, p.port) == OTHER


def test_never_on_master_transition():
    p = plan("MASTER")
    assert isinstance(p, Skip)


def test_replica_is_left_alone():
    assert isinstance(plan(redis=REPLICA), Skip)


def test_unreachable_redis_is_left_alone():
    assert isinstance(plan(redis=RedisFacts(False, None, "unreachable", "x")), Skip)


def test_no_majority_touches_nothing():
    p = plan(said=(OTHER, None, None))
    assert isinstance(p, Skip)
    assert "no sentinel majority" in p.reason


def test_split_touches_nothing():
    assert isinstance(plan(said=(OTHER, ME, None)), Skip)


def test_sentinels_naming_us_means_no_demotion():
    p = plan(said=(ME, ME, OTHER))
    assert isinstance(p, Skip)


def test_vip_named_is_not_a_target():
    vip = ("10.0.0.100", 6379)
    assert isinstance(plan(said=(vip, vip, vip)), Skip)


@pytest.mark.parametrize(
    "state",
    [{"flags": "master,failover_in_progress"}, {"flags": "master,s_down"},
     {"flags": "master", "failover-state": "wait_promotion"},
     {"flags": "master,o_down", "ip": "10.0.0.2", "port": "6379"}],
)  # fmt: skip
def test_never_fights_a_running_failover(state):
    p = plan(states=(state, CALM[0], CALM[0]))
    assert isinstance(p, Skip)
    assert "busy" in p.reason


def test_a_sentinel_finishing_the_failover_away_from_us_does_not_block():
    """The leader still describes the old master (us) with failover_in_progress while the
    others already name the new one; Sentinel will point us at that same new master."""
    leader = {"flags": "master,failover_in_progress", "ip": "10.0.0.1", "port": "6379"}
    p = plan(states=(leader, CALM[0], CALM[0]))
    assert isinstance(p, Demotion)
    assert (p.host, p.port) == OTHER


def test_unreadable_sentinel_master_states_prove_nothing():
    """A hung or garbled SENTINEL MASTER cannot rule out a failover: no demotion."""
    garbled = (None, {"flags": ""}, {"flags": "master", "ip": "10.0.0.2", "port": "6379"})
    p = plan(states=garbled)
    assert isinstance(p, Skip)
    assert "cannot rule out" in p.reason
