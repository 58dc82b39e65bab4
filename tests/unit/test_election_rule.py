"""decision.election: Sentinel's election events in, the accepted promotion out (tables)."""

from __future__ import annotations

import pytest

from sentinel_vip.decision import election
from sentinel_vip.decision.election import Election, Promotion
from sentinel_vip.decision.facts import RedisFacts

A, B, C, D, E = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)
IDS = {"s1": A, "s2": B, "s3": C, "s4": D, "s5": E}
OLD = "master mymaster 10.0.0.1 6379"
X = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
Y = "slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379"
XP = ("10.0.0.2", 6379)
YP = ("10.0.0.3", 6379)
OP = ("10.0.0.1", 6379)


def start(link, epoch):
    """What sentinelStartFailover publishes on the would-be leader's link."""
    return [(link, "+new-epoch", str(epoch)), (link, "+try-failover", OLD)]


def vote(link, leader, epoch):
    return [(link, "+new-epoch", str(epoch)), (link, "+vote-for-leader", f"{leader} {epoch}")]


def promote(link, target=X):
    return [
        (link, "+elected-leader", OLD),
        (link, "+failover-state-select-slave", OLD),
        (link, "+selected-slave", target),
        (link, "+failover-state-send-slaveof-noone", target),
    ]


def run(events, ids=None, need=2, accept=()):
    ids = IDS if ids is None else ids
    rule = Election("mymaster", need)
    for epoch in accept:
        rule.accept(epoch)
    for item in events:
        if item[0] == "forget":
            rule.forget(item[1])
            continue
        link, channel, data = item
        rule.event(link, ids.get(link), channel, data)
    return rule.verdict()


HAPPY = start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + promote("s1")

CASES = {
    "majority for the leader, its promotion": (HAPPY, {}, Promotion(5, A, XP, OP, 2)),
    "all three voted": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + vote("s3", A, 5) + promote("s1"),
        {},
        Promotion(5, A, XP, OP, 3),
    ),
    "only the leader's own vote (minority)": (
        start("s1", 5) + vote("s1", A, 5) + promote("s1"),
        {},
        None,
    ),
    "votes split between two leaders": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", B, 5) + vote("s3", C, 5) + promote("s1"),
        {},
        None,
    ),
    "votes in another epoch than the leader's failover": (
        start("s1", 5) + vote("s1", A, 4) + vote("s2", A, 4) + promote("s1"),
        {},
        None,
    ),
    "an alias (two links, one id) counts once": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + promote("s1"),
        {"ids": {"s1": A, "s2": A, "s3": C}},
        None,
    ),
    "a contested id counts once (five Sentinels, need 3)": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + vote("s3", A, 5) + promote("s1"),
        {"ids": {"s1": A, "s2": B, "s3": B, "s4": D, "s5": E}, "need": 3},
        None,
    ),
    "a link without an id counts nowhere": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + promote("s1"),
        {"ids": {"s1": A, "s2": None, "s3": C}},
        None,
    ),
    "abort before promotion (no good slave)": (
        start("s1", 5)
        + vote("s1", A, 5)
        + vote("s2", A, 5)
        + [("s1", "+elected-leader", OLD), ("s1", "-failover-abort-no-good-slave", OLD)],
        {},
        None,
    ),
    "abort after the selection (slave timeout)": (
        [*HAPPY, ("s1", "-failover-abort-slave-timeout", OLD)],
        {},
        None,
    ),
    "an abort by another Sentinel does not void the leader's failover": (
        [*HAPPY, ("s2", "-failover-abort-not-elected", OLD)],
        {},
        Promotion(5, A, XP, OP, 2),
    ),
    "a replay of an accepted epoch": (HAPPY, {"accept": (5,)}, None),
    "a lower epoch than the accepted one": (
        start("s1", 4) + vote("s1", A, 4) + vote("s2", A, 4) + promote("s1"),
        {"accept": (5,)},
        None,
    ),
    "a newer epoch after an accepted one": (
        start("s1", 6) + vote("s1", A, 6) + vote("s2", A, 6) + promote("s1"),
        {"accept": (5,)},
        Promotion(6, A, XP, OP, 2),
    ),
    "joined mid-failover: no +new-epoch/+try-failover pair": (
        vote("s1", A, 5) + vote("s2", A, 5) + promote("s1"),
        {},
        None,
    ),
    "+new-epoch not right before +try-failover": (
        [
            ("s1", "+new-epoch", "5"),
            ("s1", "+sdown", OLD),
            ("s1", "+try-failover", OLD),
            *vote("s1", A, 5),
            *vote("s2", A, 5),
            *promote("s1"),
        ],
        {},
        None,
    ),
    "a promotion published by a Sentinel that is not the voted leader": (
        start("s2", 5) + vote("s1", A, 5) + vote("s3", A, 5) + promote("s2"),
        {},
        None,
    ),
    "the leader's id names two targets in one epoch": (
        HAPPY + start("s3", 5) + promote("s3", Y),
        {"ids": {"s1": A, "s2": B, "s3": A}},
        None,
    ),
    "two leaders with a majority in one epoch (a contested id)": (
        HAPPY + vote("s3", C, 5) + vote("s4", C, 5) + start("s3", 5) + promote("s3", Y),
        {"ids": {"s1": A, "s2": B, "s3": C, "s4": B}, "need": 2},
        None,
    ),
    "a voter's link reconnected: its vote is forgotten": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + [("forget", "s2")] + promote("s1"),
        {},
        None,
    ),
    "the leader's link reconnected mid-failover: its epoch is unknown": (
        start("s1", 5) + vote("s1", A, 5) + vote("s2", A, 5) + [("forget", "s1")] + promote("s1"),
        {},
        None,
    ),
    "a vote re-sent after a reconnect counts again": (
        start("s1", 5)
        + vote("s1", A, 5)
        + vote("s2", A, 5)
        + [("forget", "s2")]
        + vote("s2", A, 5)
        + promote("s1"),
        {},
        Promotion(5, A, XP, OP, 2),
    ),
    "another master's failover": (
        [(e[0], e[1], e[2].replace("mymaster", "other")) for e in HAPPY],
        {},
        None,
    ),
    "the newest of two elected epochs wins": (
        HAPPY + start("s2", 7) + vote("s2", B, 7) + vote("s3", B, 7) + promote("s2", Y),
        {},
        Promotion(7, B, YP, OP, 2),
    ),
    "a promotion of the old master itself": (
        start("s1", 5)
        + vote("s1", A, 5)
        + vote("s2", A, 5)
        + promote("s1", "slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.1 6379"),
        {},
        None,
    ),
    "garbage payloads": (
        [
            *start("s1", 5),
            ("s2", "+vote-for-leader", f"{A} x"),
            ("s3", "+vote-for-leader", f"{A[:39]} 5"),
            ("s2", "+new-epoch", "-1"),
            ("s3", "+vote-for-leader", f"{A} 99999999999999999999"),
            *promote("s1"),
        ],
        {},
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_election_rule(name):
    events, options, expected = CASES[name]
    assert run(events, **options) == expected


def test_accepting_drops_older_state_and_withdrawal_is_seen():
    rule = Election("mymaster", 2)
    for link, channel, data in HAPPY:
        rule.event(link, IDS[link], channel, data)
    found = rule.verdict()
    assert found == Promotion(5, A, XP, OP, 2)
    rule.accept(found.epoch)
    assert rule.verdict() is None and not rule.votes and not rule.promotions
    assert not rule.withdrawn(A, 5)
    rule.event("s1", A, "-failover-abort-slave-timeout", OLD)
    assert rule.withdrawn(A, 5)


@pytest.mark.parametrize(
    "data, shaped",
    [("5", True), (f"{A} 5", True), (f"{A.upper()} 12", True), ("0", False), ("x", False),
     (f"{A} 5 6", False), (OLD, False), (f"{A}", False), ("1" * 21, False)],
)  # fmt: skip
def test_election_payload_shapes(data, shaped):
    assert election.election_payload(data) is shaped


def test_need_is_a_strict_majority_and_at_least_the_agreement():
    assert [election.need(1, n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert election.need(3, 3) == 3


# ------------------------------------------------------------------ the check's hold

RUN = "f" * 40
BOOT = "boot-1"
RECORD = {"boot": BOOT, "mono": 100.0, "epoch": 5, "leader": A, "voters": 2, "target": XP,
          "old": OP, "run_id": RUN}  # fmt: skip
MASTER = RedisFacts(True, "master", None, None, run_id=RUN)
OLD_NAMED = (("10.0.0.1:6379", 3, 1),)


def classify(host, port):
    return "self" if (host, port) == XP else "other"


def hold(record=RECORD, named=OLD_NAMED, answered=3, redis=MASTER, mono=101.0, boot=BOOT):
    return election.holds(record, named, answered, 2, redis, classify, mono, boot)


@pytest.mark.parametrize(
    "change, held",
    [
        ({}, True),
        ({"mono": 100.0}, True),
        ({"mono": 100.0 + election.HOLD}, True),
        ({"mono": 100.0 + election.HOLD + 0.001}, False),  # the bound
        ({"mono": 99.0}, False),  # from the future
        ({"boot": "boot-2"}, False),  # another boot
        ({"boot": ""}, False),
        ({"record": {}}, False),
        ({"record": {**RECORD, "run_id": "e" * 40}}, False),  # Redis restarted since
        ({"record": {**RECORD, "target": YP}}, False),  # not this node's address
        ({"redis": RedisFacts(True, "slave", None, None, run_id=RUN)}, False),
        ({"redis": RedisFacts(False, None, "unreachable", "x")}, False),
        ({"answered": 1}, False),  # too few Sentinels: isolation is not the hold's case
        ({"named": ()}, False),
        ({"named": (("10.0.0.1:6379", 2, 1), ("10.0.0.2:6379", 1, 0))}, True),  # mid-switch
        ({"named": (("10.0.0.3:6379", 3, 1),)}, False),  # a third server named
        ({"named": (("10.0.0.1:6379", 2, 1), ("10.0.0.3:6379", 1, 1))}, False),
    ],
)
def test_the_check_honours_a_fresh_record_only(change, held):
    assert (hold(**change) is not None) is held


def test_a_flood_of_votes_stays_bounded_and_keeps_the_newest():
    rule = Election("mymaster", 2)
    for epoch in range(1, 5000):
        rule.event("s2", B, "+vote-for-leader", f"{C} {epoch}")
        rule.event("s3", C, "-failover-abort-not-elected", OLD)
    assert len(rule.votes) == election.KEEP and min(k[1] for k in rule.votes) == 5000 - 64
    for link, channel, data in start("s1", 9000) + vote("s1", A, 9000) + vote("s2", A, 9000):
        rule.event(link, IDS[link], channel, data)
    for link, channel, data in promote("s1"):
        rule.event(link, IDS[link], channel, data)
    assert rule.verdict() == Promotion(9000, A, XP, OP, 2)
