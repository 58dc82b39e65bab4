"""actions.election in the watcher: events through Watcher._handle, probes faked (the real
servers are in tests/e2e/test_election.py)."""

from __future__ import annotations

import json
import queue

import pytest

from sentinel_vip.actions import election, watch
from sentinel_vip.config.load import from_mapping
from sentinel_vip.decision.facts import RedisFacts
from sentinel_vip.store import election as stored
from support.logs import RecordingLogger

A, B = "a" * 40, "b" * 40
RUN = "f" * 40
OLD = "master mymaster 192.0.2.20 6379"
SELF_X = "slave 192.0.2.10:6379 192.0.2.10 6379 @ mymaster 192.0.2.20 6379"
OTHER_X = "slave 192.0.2.30:6379 192.0.2.30 6379 @ mymaster 192.0.2.20 6379"
MASTER = RedisFacts(True, "master", None, None, run_id=RUN)
REPLICA = RedisFacts(True, "slave", None, None, run_id=RUN)


@pytest.fixture
def w(tmp_path):
    config = from_mapping(
        {
            "master_name": "mymaster",
            "sentinel": {"addresses": ["192.0.2.1:26379", "192.0.2.2:26379", "192.0.2.3:26379"]},
            "node": {"addresses": ["192.0.2.10"]},
            "check": {"track_file": str(tmp_path / "track")},
            "paths": {"state_dir": str(tmp_path), "history_file": str(tmp_path / "h.jsonl")},
            "log": {"syslog": False},
        }
    )
    return watch.Watcher(config, RecordingLogger(), queue.SimpleQueue())


def feed(w, target, ids=(A, B, "c" * 40)):
    labels = list(w.links)
    s1, s2 = labels[0], labels[1]
    batch = [
        ("event", s1, "+new-epoch", "7", ids[0]),
        ("event", s1, "+try-failover", OLD, ids[0]),
        ("event", s1, "+vote-for-leader", f"{A} 7", ids[0]),
        ("event", s2, "+new-epoch", "7", ids[1]),
        ("event", s2, "+vote-for-leader", f"{A} 7", ids[1]),
        ("event", s1, "+elected-leader", OLD, ids[0]),
        ("event", s1, "+selected-slave", target, ids[0]),
        ("event", s1, "+failover-state-send-slaveof-noone", target, ids[0]),
    ]
    w._handle(batch, 0.0)


def fake(monkeypatch, roles, named=MASTER):
    seq = iter(roles)
    last = {}

    def probe(endpoint, deadline, replication=False):
        last["r"] = next(seq, last.get("r"))
        return last["r"]

    monkeypatch.setattr(election, "probe_redis", probe)
    monkeypatch.setattr(election, "probe_named", lambda *a: named)
    monkeypatch.setattr(election, "POLL_EVERY", 0.001)


def test_this_node_promoted_raises_its_track_file_once_master(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("0\n")
    fake(monkeypatch, [REPLICA, REPLICA, MASTER])
    feed(w, SELF_X)
    assert w.election.step(0.0) is False
    assert (tmp_path / "track").read_text() == "1\n"
    record = json.loads((tmp_path / stored.NAME).read_text())
    assert record["epoch"] == 7 and record["leader"] == A and record["run_id"] == RUN
    assert json.loads((tmp_path / "check.json").read_text())["reason"].startswith("elected")
    assert not w.election.busy
    # a replay of the same epoch changes nothing
    (tmp_path / "track").write_text("0\n")
    feed(w, SELF_X)
    w.election.step(1.0)
    assert (tmp_path / "track").read_text() == "0\n"


def test_without_the_votes_nothing_is_raised(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("0\n")
    fake(monkeypatch, [MASTER])
    feed(w, SELF_X, ids=(A, None, None))  # the second voter has no id: a minority
    w.election.step(0.0)
    assert (tmp_path / "track").read_text() == "0\n"
    assert not (tmp_path / stored.NAME).exists()


def test_a_reconnect_voids_what_the_link_said(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("0\n")
    fake(monkeypatch, [MASTER])
    labels = list(w.links)
    w._handle(
        [
            ("event", labels[0], "+new-epoch", "7", A),
            ("event", labels[0], "+try-failover", OLD, A),
            ("event", labels[0], "+vote-for-leader", f"{A} 7", A),
            ("event", labels[1], "+vote-for-leader", f"{A} 7", B),
            ("link", labels[1], "alive", ""),
            ("event", labels[0], "+selected-slave", SELF_X, A),
        ],
        0.0,
    )
    w.election.step(0.0)
    assert (tmp_path / "track").read_text() == "0\n"


def test_a_replica_that_never_becomes_master_is_not_raised(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("0\n")
    fake(monkeypatch, [REPLICA])
    feed(w, SELF_X)
    assert w.election.step(10.0) is False and w.election.busy
    w.election.step(10.0 + election.WAIT_ROLE / 2)
    assert w.election.busy
    w.election.step(10.0 + election.WAIT_ROLE + 0.01)
    assert not w.election.busy
    assert (tmp_path / "track").read_text() == "0\n"
    assert any(f.get("action") == "not_followed" for e, f in w.logger.lines if e == "election")


def test_another_server_at_the_promoted_address_is_refused(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("0\n")
    fake(monkeypatch, [MASTER], named=RedisFacts(True, "master", None, None, run_id="e" * 40))
    feed(w, SELF_X)
    w.election.step(0.0)
    assert (tmp_path / "track").read_text() == "0\n"


def test_a_promotion_elsewhere_lowers_this_node(w, monkeypatch, tmp_path):
    (tmp_path / "track").write_text("1\n")
    fake(monkeypatch, [MASTER])
    feed(w, OTHER_X)
    w.election.step(0.0)
    assert (tmp_path / "track").read_text() == "0\n"
    assert json.loads((tmp_path / "check.json").read_text())["ok"] is False


def test_an_abort_after_raising_withdraws_the_record(w, monkeypatch, tmp_path):
    fake(monkeypatch, [MASTER])
    feed(w, SELF_X)
    w.election.step(0.0)
    assert (tmp_path / stored.NAME).exists()
    s1 = next(iter(w.links))
    w._handle([("event", s1, "-failover-abort-slave-timeout", OLD, A)], 1.0)
    assert w.election.step(1.0) is True  # the caller evaluates afresh
    assert not (tmp_path / stored.NAME).exists()


def test_the_listener_lets_election_payloads_through():
    assert watch.relevant("mymaster", f"{A} 7")
    assert watch.relevant("mymaster", "7")
    assert not watch.relevant("mymaster", "master other 10.0.0.1 6379")


def test_a_promotion_elsewhere_is_believed_only_once_that_server_is_master(
    w, monkeypatch, tmp_path
):
    """A lying leader can collect honest votes (sentinelVoteLeader does not ask whether the
    master is down); its promotion of a server that stays a replica lowers nothing."""
    (tmp_path / "track").write_text("1\n")
    fake(monkeypatch, [MASTER], named=REPLICA)
    feed(w, OTHER_X)
    w.election.step(10.0)
    assert (tmp_path / "track").read_text() == "1\n" and w.election.busy
    w.election.step(10.0 + election.WAIT_ROLE + 0.01)
    assert (tmp_path / "track").read_text() == "1\n" and not w.election.busy
    assert any(f.get("action") == "not_followed" for e, f in w.logger.lines if e == "election")
