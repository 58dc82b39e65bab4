"""status: parsing INFO replication and Sentinel replies, and the human table, with plain data."""

from __future__ import annotations

from sentinel_vip.admin import status
from sentinel_vip.probes.local_redis import parse_info

# INFO replication as Redis 7 sends it, parsed as status reads it.
MASTER_INFO = parse_info(
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=10.0.0.2,port=6379,state=online,offset=5000,lag=0\r\n"
    "slave1:ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=3\r\n"
    "master_failover_state:no-failover\r\nmaster_replid:" + "a" * 40 + "\r\n"
    "master_repl_offset:5012\r\n"
)
REPLICA_INFO = parse_info(
    "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\n"
    "master_link_status:up\r\nmaster_last_io_seconds_ago:1\r\nmaster_sync_in_progress:0\r\n"
    "slave_read_repl_offset:4990\r\nslave_repl_offset:4990\r\nslave_priority:100\r\n"
    "connected_slaves:0\r\nmaster_repl_offset:4990\r\n"
)


def test_replication_of_a_master_lists_replicas_with_lag():
    assert status.replication(MASTER_INFO) == {
        "role": "master",
        "offset": 5012,
        "replicas": [
            {"address": "10.0.0.2:6379", "state": "online", "offset": 5000, "lag_seconds": 0},
            {"address": "10.0.0.3:6379", "state": "wait_bgsave", "offset": 0, "lag_seconds": 3},
        ],
    }


def test_replication_of_a_replica():
    assert status.replication(REPLICA_INFO) == {
        "role": "slave",
        "offset": 4990,
        "master": "10.0.0.1:6379",
        "link": "up",
        "last_io_seconds": 1,
        "replicas": [],
    }


def test_sentinel_rows_say_who_agrees():
    from sentinel_answers import said

    from sentinel_vip.decision.agreement import agree

    answers = said(("10.0.0.1", 6379), ("10.0.0.2", 6379), None)
    rows = status.sentinel_rows(answers, agree(answers, 1, 3))
    assert [(r["master"], r["agrees"], r["quorum"]) for r in rows] == [
        ("10.0.0.1:6379", False, None),
        ("10.0.0.2:6379", False, None),
        (None, False, None),
    ]
    assert rows[2]["error"] == "timed out"
    assert rows[0]["error"] is None and rows[0]["flags"] == "master"
    assert rows[0]["id"] == f"{1:040x}"
    answers = said(("10.0.0.1", 6379), ("10.0.0.1", 6379), ("10.0.0.1", 6379),
                   ids=["1" * 40, "2" * 40, "2" * 40])  # fmt: skip
    rows = status.sentinel_rows(answers, agree(answers, 2, 3))
    assert [(r["agrees"], r["duplicate_of"]) for r in rows] == [
        (True, None),
        (True, None),
        (True, "10.0.0.2:26379"),
    ]


def test_table_escapes_peer_text():
    """Issue 10, case 4: a Sentinel's error text put escape codes on the admin's terminal."""
    hostile = "x\n<30>event=check verdict=ok\x1b[2J"
    row = {"address": "s:1", "id": None, "answered": False, "master": None, "agrees": False,
           "error": hostile, "quorum": None, "flags": None}  # fmt: skip
    doc = {
        "host": "h", "master_name": "m",
        "redis": {"address": "r:1", "reachable": False, "error": hostile},
        "sentinels": {"answers": [row], "master": None, "need": 2, "count": 3},
        "vip": {"address": ""}, "keepalived": {"instance": "i", "state": None, "since": None},
        "check": {"ok": False, "name": "NO_MAJORITY", "code": 8, "reason": hostile,
                  "since": None},
        "transitions": [],
    }  # fmt: skip
    text = status.table(doc)
    assert "\x1b" not in text and "\n<30>" not in text
    assert len(text.splitlines()) == 7
    assert "\\x1b[2J" in text


def test_keepalived_state_is_the_instances_last_record():
    records = [
        {"instance": "sentinel_vip", "to": "BACKUP", "time": "t1", "priority": 100},
        {"instance": "other", "to": "MASTER", "time": "t2", "priority": 50},
        {"instance": "sentinel_vip", "to": "MASTER", "time": "t3", "priority": 100},
        {"instance": "other", "to": "FAULT", "time": "t4", "priority": 50},
    ]
    assert status.keepalived_state(records, "sentinel_vip") == {
        "instance": "sentinel_vip", "state": "MASTER", "since": "t3", "priority": 100,
    }  # fmt: skip
    assert status.keepalived_state([], "x")["state"] is None


def test_check_summary_names_the_code():
    assert status.check_summary({}) is None
    summary = status.check_summary({"ok": False, "code": 7, "reason": "r", "since": 1.0})
    assert (summary["ok"], summary["name"], summary["reason"]) == (False, "OTHER_MASTER", "r")


def sample_doc(**changes):
    doc = {
        "schema": 1,
        "host": "node-a",
        "master_name": "mymaster",
        "redis": {"address": "127.0.0.1:6379", "reachable": True, "error": None,
                  **status.replication(MASTER_INFO)},
        "sentinels": {
            "count": 3, "need": 2, "master": "10.0.0.1:6379", "votes": 3,
            "master_is_this_node": True,
            "answers": [
                {"address": f"10.0.0.{i}:26379", "answered": True, "master": "10.0.0.1:6379",
                 "agrees": True, "error": None, "quorum": 2, "flags": "master"}
                for i in (1, 2, 3)
            ],
        },
        "vip": {"address": "10.0.0.100", "interface": "eth0", "held": True},
        "keepalived": {"instance": "sentinel_vip", "state": "MASTER", "since": "t3",
                       "priority": 100},
        "check": {"ok": True, "code": 0, "name": "OK", "reason": "master agreed",
                  "since": None, "checked": None},
        "transitions": [{"time": "t3", "instance": "sentinel_vip", "from": "BACKUP",
                         "to": "MASTER", "action": "none"}],
    }  # fmt: skip
    doc.update(changes)
    return doc


def test_table_is_aligned_and_says_everything_once():
    text = status.table(sample_doc())
    lines = text.splitlines()
    labels = [line.split()[0] for line in lines]
    assert labels == ["node", "redis", "sentinel", "sentinel", "sentinel", "majority", "vip",
                      "keepalived", "check", "transition"]  # fmt: skip
    column = len("keepalived") + 2
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines)
    assert "replicas: 10.0.0.2:6379 online lag=0s, 10.0.0.3:6379 wait_bgsave lag=3s" in text
    assert "10.0.0.1:6379 (this node)  3/3 name it, need 2" in text
    assert "10.0.0.100 on eth0  HELD by this node" in text
    assert "ok OK (0): master agreed" in text
    assert "t3  sentinel_vip  BACKUP -> MASTER  action=none" in text


def test_table_for_a_broken_node():
    doc = sample_doc(
        redis={"address": "127.0.0.1:6379", "reachable": False, "error": "unreachable: refused"},
        check=None,
        transitions=[],
    )
    doc["sentinels"].update(master=None, votes=0, master_is_this_node=False)
    doc["sentinels"]["answers"][1].update(master=None, agrees=False, error="timed out")
    text = status.table(doc)
    assert "127.0.0.1:6379  UNREACHABLE  unreachable: refused" in text
    assert "10.0.0.2:26379  no answer: timed out" in text
    assert "NONE  need 2 of 3 to agree" in text
    assert "check       no verdict recorded yet" in text
    assert "transition  none recorded" in text
