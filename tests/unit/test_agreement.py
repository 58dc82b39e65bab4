"""decision.agreement and decision.address: the majority, identity and peer addresses, as
table tests on plain data."""

import pytest
from sentinel_answers import (
    LOOP,
    MASTER,
    ME,
    OTHER,
    RUN_IDS,
    UNKNOWN,
    VIP,
    classify,
    said,
)

from sentinel_vip.decision import address, agreement
from sentinel_vip.decision.facts import RedisFacts, SentinelAnswer

A, B, C = "1" * 40, "2" * 40, "3" * 40  # Sentinel ids


@pytest.mark.parametrize(
    ("masters", "ids", "need", "master", "runid", "votes"),
    [
        ((ME, ME, ME), None, 2, ME, RUN_IDS[ME], 3),
        ((ME, ME, None), None, 2, ME, RUN_IDS[ME], 2),
        ((ME, None, None), None, 2, None, None, 0),
        ((ME, OTHER, None), None, 2, None, None, 0),
        # one Sentinel reached under three names counts once
        ((ME, ME, ME), (A, A, A), 2, None, None, 0),
        ((ME, ME, ME), (A, A, B), 2, ME, RUN_IDS[ME], 2),
        ((OTHER, ME, ME), (A, B, B), 2, None, None, 0),
        # a liar giving an honest Sentinel's id, naming another master, silences nobody
        ((OTHER, ME, ME), (A, A, B), 2, ME, RUN_IDS[ME], 2),
        (("nil", ME, ME), (A, A, B), 2, ME, RUN_IDS[ME], 2),
        (((ME, "9" * 40), ME, ME), (A, A, B), 2, ME, RUN_IDS[ME], 2),
        # ... and a Sentinel under two ids' worth of answers adds one vote to a group at most
        (((ME, UNKNOWN), ME, None), (A, A, None), 2, None, None, 0),
        ((ME, (ME, UNKNOWN), None), (A, A, None), 2, None, None, 0),
        ((ME, (ME, "9" * 40), None), (A, A, None), 2, None, None, 0),
        # the same address, different servers: only equal run_ids add up
        (((ME, "9" * 40), ME, ME), None, 2, ME, RUN_IDS[ME], 2),
        (((ME, "9" * 40), ME, None), None, 2, None, None, 0),
        # not read yet counts with those that know it, if they agree
        (((ME, UNKNOWN), ME, None), None, 2, ME, RUN_IDS[ME], 2),
        (((ME, UNKNOWN), (ME, UNKNOWN), None), None, 2, ME, None, 2),
        (((ME, UNKNOWN), ME, (ME, "9" * 40)), None, 2, None, None, 0),
        (("nil", ME, ME), None, 2, ME, RUN_IDS[ME], 2),
        ((ME, ME, OTHER, OTHER, None), None, 3, None, None, 0),
    ],
)
def test_agree(masters, ids, need, master, runid, votes):
    counted = agreement.agree(said(*masters, ids=ids), need, len(masters))
    assert (counted.master, counted.runid, counted.votes) == (master, runid, votes)


def test_duplicates_and_failures_are_described():
    answers = said(ME, ME, None, ids=(A, A, None))
    counted = agreement.agree(answers, 2, 3)
    assert counted.duplicates == (("10.0.0.2:26379", "10.0.0.1:26379"),)
    assert counted.describe() == "need=2/3 10.0.0.1:6379=1 silent=1 duplicate=1 (unreachable=1)"


def test_a_borrowed_id_is_reported_as_contested():
    counted = agreement.agree(said(OTHER, ME, ME, ids=(A, A, B)), 2, 3)
    assert counted.contested == (("10.0.0.2:26379", "10.0.0.1:26379"),)
    assert counted.duplicates == ()
    assert "contested_id=1" in counted.describe()
    assert "silent=0" in counted.describe()


def test_an_answer_without_a_sentinel_id_never_votes():
    no_id = SentinelAnswer("10.0.0.1:26379", True, ME, None, None, None, RUN_IDS[ME], ME, {})
    counted = agreement.agree((no_id, no_id, no_id), 2, 3)
    assert not counted.agreed
    assert counted.failures == (("protocol", 3),)


def test_top_and_conflict_ignore_run_ids():
    counted = agreement.agree(said((LOOP, "1" * 40), (LOOP, "2" * 40), ME), 2, 3)
    assert (counted.master, counted.top, counted.top_votes, counted.conflict) == (
        None,
        LOOP,
        2,
        True,
    )


OTHER_SERVER = RedisFacts(True, "master", None, None, run_id=RUN_IDS[OTHER])
DOWN = RedisFacts(False, None, "unreachable", "refused")


@pytest.mark.parametrize(
    ("masters", "named", "kind"),
    [
        ((ME, ME, ME), None, agreement.SELF),
        ((OTHER, OTHER, OTHER), None, agreement.OTHER),
        (((ME, RUN_IDS[OTHER]),) * 3, None, agreement.OTHER),
        (((OTHER, RUN_IDS[ME]),) * 3, None, agreement.MISMATCH),
        (((ME, UNKNOWN),) * 3, MASTER, agreement.SELF),
        (((ME, UNKNOWN),) * 3, OTHER_SERVER, agreement.MISMATCH),
        (((ME, UNKNOWN),) * 3, DOWN, agreement.UNCONFIRMED),
        (((ME, UNKNOWN),) * 3, None, agreement.UNCONFIRMED),
        (((OTHER, UNKNOWN),) * 3, MASTER, agreement.OTHER),
        (((LOOP, RUN_IDS[ME]),) * 3, None, agreement.LOOPBACK),
        ((VIP, VIP, VIP), None, agreement.VIP),
    ],
)
def test_whose(masters, named, kind):
    counted = agreement.agree(said(*masters), 2, 3)
    assert agreement.whose(counted, MASTER, classify, named)[0] == kind


OLD_ME = "0" * 40  # this node's run_id before its Redis restarted in place


@pytest.mark.parametrize(
    ("masters", "named", "previous", "kind"),
    [
        # Sentinel still reports the run_id this node had at its last agreement, and this
        # server answers at the named address: this node, restarted.
        (((ME, OLD_ME),) * 3, MASTER, OLD_ME, agreement.SELF),
        # ... not without the proof that it answers there
        (((ME, OLD_ME),) * 3, None, OLD_ME, agreement.OTHER),
        (((ME, OLD_ME),) * 3, DOWN, OLD_ME, agreement.OTHER),
        (((ME, OLD_ME),) * 3, OTHER_SERVER, OLD_ME, agreement.OTHER),
        # ... not for a run_id this node never had
        (((ME, OLD_ME),) * 3, MASTER, None, agreement.OTHER),
        (((ME, OLD_ME),) * 3, MASTER, "9" * 40, agreement.OTHER),
        # ... not at an address the config says is another node's
        (((OTHER, OLD_ME),) * 3, MASTER, OLD_ME, agreement.OTHER),
    ],
)
def test_whose_recognises_this_node_restarted_in_place(masters, named, previous, kind):
    counted = agreement.agree(said(*masters), 2, 3)
    assert agreement.whose(counted, MASTER, classify, named, previous)[0] == kind


def test_busy_flags_only_about_the_target():
    answers = list(said(OTHER, OTHER, OTHER))
    old = SentinelAnswer(
        "10.0.0.3:26379", True, OTHER, None, None, "3" * 40, None, ME,
        {"ip": ME[0], "port": "6379", "flags": "master,failover_in_progress",
         "failover-state": "reconf_slaves"},
    )  # fmt: skip
    assert agreement.busy_flags([*answers[:2], old], OTHER) == set()
    target = SentinelAnswer(
        "10.0.0.3:26379", True, OTHER, None, None, "3" * 40, None, OTHER,
        {"ip": OTHER[0], "port": "6379", "flags": "master,s_down"},
    )  # fmt: skip
    assert agreement.busy_flags([*answers[:2], target], OTHER) == {"s_down"}


# -- decision.address: what a peer may call a host -------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("FD00::0001", "fd00::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("Redis-A.Example.", "redis-a.example"),
        ("redis_1", "redis_1"),
        ("localhost", "localhost"),
        ("10.0.0.9\n<30> event=check verdict=ok", None),
        ("host\x1b[2J", None),
        ("a b", None),
        ("", None),
        ("-lead.example", None),
        ("x" * 64 + ".example", None),
        ("10.0.0.999", None),
        ("0x0a000064", None),  # the resolver reads it as 10.0.0.100
        ("0x7f.1", None),
        ("1.2.3", None),
        ("ünicode.example", None),
        ("fe80::1%eth0\n", None),
        (6379, None),
        (None, None),
    ],
)
def test_canonical_host(text, canonical):
    assert address.canonical_host(text) == canonical


@pytest.mark.parametrize(
    ("value", "port"),
    [("6379", 6379), (6379, 6379), ("0", None), ("65536", None), ("6379; rm", None),
     ("-1", None), ("٣", None), (True, None), ("", None)],
)  # fmt: skip
def test_port_number(value, port):
    assert address.port_number(value) == port


def test_loopback_names():
    assert address.is_loopback("localhost") and address.is_loopback("db.localhost")
    assert address.is_loopback("127.0.1.1") and address.is_loopback("::1")
    assert not address.is_loopback("localhost.example") and not address.is_loopback("10.0.0.1")


def test_a_sentinel_entry_is_this_server_by_run_id_else_by_address():
    from sentinel_vip.decision.agreement import describes_this_server, is_this_server

    mine, theirs = RUN_IDS[ME], RUN_IDS[OTHER]
    assert is_this_server(OTHER, mine, MASTER, classify)  # the run_id wins over the address
    assert not is_this_server(ME, theirs, MASTER, classify)  # another process at our address
    assert is_this_server(ME, None, MASTER, classify)  # not read yet: the config's address
    assert not is_this_server(OTHER, None, MASTER, classify)
    down = RedisFacts(False, None, "unreachable", "x")
    assert not is_this_server(ME, mine, down, classify)  # no run_id here: no proof
    (answer,) = said(ME)
    assert describes_this_server(answer, MASTER, classify)
    (answer,) = said(OTHER)
    assert not describes_this_server(answer, MASTER, classify)
