"""The watcher's fencing rules (decision.isolation): pure, table-tested."""

import pytest

from sentinel_vip.decision import isolation as rules
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.decision.isolation import (
    ALIVE,
    BRAKE,
    CONNECTING,
    DEMOTE,
    DOWN,
    FENCE,
    HOLD,
    LIFT,
    NOTHING,
    PAUSE,
    REFUSING,
    SILENT,
    TRIPWIRE,
)

ME = ("10.0.0.1", 6379)


# ---------------------------------------------------------------------------- payloads


def test_event_master_reads_both_payload_shapes():
    assert rules.event_master("mymaster", "master mymaster 10.0.0.1 6379") == ME
    data = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
    assert rules.event_master("mymaster", data) == ME
    assert rules.event_master("other", data) is None
    assert rules.event_master("mymaster", "master other 10.0.0.1 6379") is None
    assert rules.event_master("mymaster", "garbage") is None
    assert rules.event_master("mymaster", "master mymaster 10.0.0.1 notaport") is None
    assert rules.event_master("mymaster", "master mymaster 10.0.0.1 70000") is None


# ---------------------------------------------------------------------------- isolation


def reach_of(*states, ids=None):
    ids = ids or [f"s{i}" for i in range(len(states))]
    return rules.reach(zip(ids, states))


@pytest.mark.parametrize(
    "states, suspected",
    [
        ((ALIVE, ALIVE, ALIVE), False),
        ((ALIVE, SILENT, SILENT), True),  # the cut master: its own Sentinel only
        ((SILENT, SILENT, SILENT), True),
        ((ALIVE, ALIVE, SILENT), False),  # one Sentinel lost: a majority still answers
        ((DOWN, DOWN, DOWN), False),  # Sentinels stopped: hosts answer, nobody can fail over
        ((ALIVE, DOWN, SILENT), False),  # the silent one alone is no majority
        ((REFUSING, SILENT, SILENT), True),
        ((REFUSING, REFUSING, REFUSING), False),  # wrong password: they answer
        ((CONNECTING, CONNECTING, CONNECTING), False),  # at start: nothing known yet
        ((ALIVE, SILENT, SILENT, SILENT, ALIVE), True),
        ((ALIVE, SILENT, SILENT, ALIVE, ALIVE), False),
    ],
)
def test_isolation_needs_a_silent_majority(states, suspected):
    assert rules.isolation_suspected(reach_of(*states)) is suspected


def test_one_sentinel_under_two_names_counts_once():
    # Two links to the same Sentinel id (aliases) and one other: 2 distinct, majority 2.
    r = reach_of(SILENT, SILENT, ALIVE, ids=["a", "a", "b"])
    assert r.total == 2 and r.silent == 1 and r.alive == 1
    assert not rules.isolation_suspected(r)
    # The best state of the aliases counts: one answering name means it answers.
    r = reach_of(REFUSING, ALIVE, SILENT, ids=["a", "a", "b"])
    assert (r.total, r.alive, r.silent) == (2, 1, 1)


def test_a_silent_link_never_hides_behind_a_live_one_giving_its_id():
    """A liar on this side of a cut gives the id of Sentinel a, cut off on the other: the
    silent link counts on its own, as if the liar had given an id of its own
    (hardening/test_watch_redteam)."""
    r = reach_of(SILENT, SILENT, ALIVE, ids=["a", "b", "a"])
    assert (r.total, r.alive, r.silent) == (3, 1, 2)
    assert rules.isolation_suspected(r)
    assert (reach_of(SILENT, SILENT, SILENT, ids=["a", "b", "a"]).total) == 2  # aliases


@pytest.mark.parametrize(
    "fenced, suspected, role, acks, named, step",
    [
        (False, True, "master", 0, "", FENCE),
        (False, True, "master", 1, "", NOTHING),  # a replica still follows: not isolated
        (False, True, "master", None, "", NOTHING),  # could not tell: never on a guess
        (False, True, "slave", None, "", NOTHING),  # a replica has nothing to fence
        (False, True, None, None, "", NOTHING),  # Redis down: nothing to fence
        (False, False, "master", 0, "", NOTHING),
        (True, True, "master", None, "", HOLD),
        (True, False, "master", None, "", HOLD),  # heard again, majority not asked yet
        (True, False, "master", None, "self", LIFT),
        (True, False, "master", None, "other", DEMOTE),
        (True, False, "slave", None, "", LIFT),  # demoted (by Sentinel or by us)
        (True, True, None, None, "", HOLD),  # restarting: fence it again when it is back
    ],
)
def test_isolation_step(fenced, suspected, role, acks, named, step):
    assert rules.isolation_step(fenced, suspected, role, acks, named) == step


@pytest.mark.parametrize(
    "acked, online, syncing, contact",
    [
        (2, 2, 0, 2),
        (1, 2, 0, 0),  # one replica on the master's side of the cut proves nothing
        (0, 0, 1, 1),  # a replica resyncing connected just now
        (0, 1, 1, 0),
        (0, 0, 0, 0),  # no replica at all
    ],
)
def test_every_online_replica_must_acknowledge(acked, online, syncing, contact):
    assert rules.replicas_in_contact(acked, online, syncing) == contact


def test_contact_is_a_majority_alive():
    assert rules.contact(reach_of(ALIVE, ALIVE, SILENT))
    assert not rules.contact(reach_of(ALIVE, SILENT, SILENT))


# ---------------------------------------------------------------------------- evidence

US = {"ip": "10.0.0.1", "port": "6379", "runid": "1" * 40}
THEM = {"ip": "10.0.0.2", "port": "6379", "runid": "2" * 40}
IDS = {"a": "a" * 40, "b": "b" * 40, "c": "c" * 40, "x": "e" * 40, "liar": "f" * 40}
NEED = 2  # of 3 Sentinels


def state(base, flags, down_after="3000", failover_state=None):
    fields = {**base, "flags": flags, "down-after-milliseconds": down_after}
    if failover_state:
        fields["failover-state"] = failover_state
    return fields


def view(key, master, *peers):
    """What Sentinel ``key`` answered (probes.sentinel, peers=True): SENTINEL MASTER
    ``master`` and the fellow Sentinels it hears."""
    about = (master["ip"], int(master["port"]))
    return SentinelAnswer(
        f"{key}:26379", True, about, None, None, IDS[key], None, about, master, None, peers
    )


def silent(key):
    return SentinelAnswer(f"{key}:26379", False, None, "timed out", "unreachable")


def peer(key, hello_ms=800, flags=("sentinel",)):
    return (IDS[key], frozenset(flags), hello_ms)


def ours(answer):
    return answer.fields.get("runid") == US["runid"]


def test_evidence_counts_claims_and_down_views_about_our_master_only():
    claim = state(US, "master,failover_in_progress,force_failover", failover_state="reconf_slaves")
    views = [
        view("a", claim),
        view("b", state(US, "master")),
        view("c", state(THEM, "master,s_down,o_down,failover_in_progress")),
    ]
    found = rules.evidence(views, ours, NEED)
    assert found.claimants == (IDS["a"],) and found.down == (IDS["a"],) and found.braking == ()
    assert found.answered == 3 and found.need == NEED and found.down_after_ms == 3000
    assert rules.failover_action(found) == TRIPWIRE  # one claim: a minority's word


def test_a_member_failing_our_master_over_brakes_before_the_promotion():
    claim = state(US, "master,failover_in_progress,force_failover", failover_state="wait_start")
    views = [view("a", claim), view("b", state(US, "master"), peer("a")), silent("c")]
    found = rules.evidence(views, ours, NEED)
    assert found.braking == (IDS["a"],) and rules.failover_action(found) == BRAKE
    # Past the promotion: the tripwire alone (Redis already refuses).
    promoted = state(US, "master,failover_in_progress", failover_state="reconf_slaves")
    found = rules.evidence([view("a", promoted), *views[1:]], ours, NEED)
    assert found.braking == () and rules.failover_action(found) == TRIPWIRE


@pytest.mark.parametrize(
    "peers",
    [
        (),  # nobody hears the claimant: a process that only speaks Sentinel
        (peer("a", hello_ms=60000),),  # heard long ago: the real one died, an impostor
        (peer("a", hello_ms=None),),  # no hello time at all
        (peer("a", flags=("sentinel", "s_down")),),
        (peer("a", flags=("sentinel", "disconnected")),),
        (peer("x"),),  # another Sentinel
    ],
)
def test_a_claimant_the_quorum_does_not_hear_gets_no_brake(peers):
    claim = state(US, "master,failover_in_progress", failover_state="select_slave")
    views = [
        view("a", claim),
        view("b", state(US, "master"), *peers),
        view("c", state(US, "master")),
    ]
    found = rules.evidence(views, ours, NEED)
    assert found.braking == () and rules.failover_action(found) == TRIPWIRE


def test_a_majority_seeing_our_master_down_pauses():
    views = [
        view("a", state(US, "master,s_down,o_down,failover_in_progress")),
        view("b", state(US, "master,s_down")),
        silent("c"),
    ]
    found = rules.evidence(views, ours, NEED)
    assert found.answered == 2 and found.need == NEED
    assert rules.failover_action(found) == PAUSE


def test_no_claim_no_action_and_errors_prove_nothing():
    views = [view("a", state(US, "master")), view("b", {**THEM, "flags": ""}), silent("c")]
    found = rules.evidence(views, ours, NEED)
    assert found.answered == 1 and rules.failover_action(found) is None


def test_a_liar_under_several_names_is_still_one_claim():
    claim = state(US, "master,failover_in_progress,s_down,o_down")
    found = rules.evidence(
        [view("liar", claim), view("liar", claim), view("b", state(US, "master"))], ours, NEED
    )
    assert len(found.down) == 1 and rules.failover_action(found) == TRIPWIRE


def test_a_borrowed_live_id_lends_no_membership():
    """A liar gives the id of Sentinel a, which answers us too (honestly: no failover), and
    which b hears: the id is contested and counts for nothing (hardening/test_watch_redteam)."""
    claim = state(US, "master,failover_in_progress", failover_state="select_slave")
    honest = state(US, "master")
    views = [view("a", claim), view("a", honest), view("b", state(US, "master"), peer("a"))]
    found = rules.evidence(views, ours, NEED)
    assert found.claimants == (IDS["a"],) and found.braking == ()
    assert rules.failover_action(found) == TRIPWIRE  # as any claim: no brake
    # The same Sentinel under two names, both claiming: still a member.
    views = [view("a", claim), view("a", claim), view("b", state(US, "master"), peer("a"))]
    assert rules.failover_action(rules.evidence(views, ours, NEED)) == BRAKE


@pytest.mark.parametrize(
    "down_after, ms",
    [(None, 1000), (0, 1000), (30000, 1000), (3000, 1000), (2000, 900), (500, 150), (100, 50)],
)
def test_pause_stays_well_within_down_after(down_after, ms):
    assert rules.pause_ms(down_after) == ms


# ---------------------------------------------------------------------------- tripwire


@pytest.mark.parametrize(
    "to_write, max_lag, good, setting",
    [
        (0, 10, 2, (2, 10)),
        (1, 5, 2, (2, 5)),
        (2, 10, 2, None),  # already as strict as the tripwire
        (3, 10, 2, None),
        (0, 0, 2, (2, 10)),  # max-lag 0 disables the rule: give it Redis' default
        (2, 0, 2, (2, 10)),
        (0, 10, 0, None),  # no replica: nothing to trip
        (None, 10, 2, None),  # CONFIG GET refused: never set what we cannot restore
    ],
)
def test_tripwire_setting(to_write, max_lag, good, setting):
    assert rules.tripwire_setting(to_write, max_lag, good) == setting


@pytest.mark.parametrize(
    "role, claimants, named, tripped, released",
    [
        ("slave", 1, "other", True, True),  # demoted: the failover happened
        ("master", 0, "self", False, True),  # aborted, or the claim is gone
        ("master", 1, "self", False, False),  # still claimed
        ("master", 0, "other", True, False),  # replaced, not yet demoted: keep refusing
        ("master", 0, "", False, False),
        # The leader switched; the others still name us until they hear its hello.
        ("master", 0, "self", True, False),
        (None, 0, "self", False, True),
        (None, 1, "", False, False),
    ],
)
def test_tripwire_release(role, claimants, named, tripped, released):
    assert rules.tripwire_released(role, claimants, named, tripped) is released


# ---------------------------------------------------------------------------- rate limits


def test_bucket_allows_a_burst_then_the_rate_and_counts_refusals():
    bucket = rules.Bucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert bucket.pop_refused() == 2 and bucket.pop_refused() == 0
    assert bucket.take(0.5)  # one token back after 0.5 s at 2/s
    assert not bucket.take(0.5)
    # A flood of 10,000 events over 10 s passes burst + rate * time, no more.
    bucket = rules.Bucket(rate=1.0, burst=10, now=0.0)
    passed = sum(bucket.take(i / 1000) for i in range(10_000))
    assert passed == 10 + 9  # the 10th second's token arrives at t=10.0, after the flood
