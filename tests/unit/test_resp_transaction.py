"""resp's MULTI/EXEC (the demotion's transaction) and INFO parsing (status, doctor), against
support.resp_server: what a real server sends, including its refusals."""

from __future__ import annotations

import pytest

from sentinel_vip.actions.demote import demote_to
from sentinel_vip.deadline import Deadline
from sentinel_vip.probes import resp
from sentinel_vip.probes.local_redis import parse_info
from support.resp_server import FakeServer

QUEUED3 = b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"


def transaction(server, *commands):
    with resp.connect(server.endpoint(), Deadline(2)) as conn:
        return conn.transaction(*commands)


COMMANDS = (("REPLICAOF", "10.0.0.2", "6379"), ("CONFIG", "REWRITE"), ("CLIENT", "KILL"))


def test_exec_replies_come_back_in_order_with_errors_in_place(serve):
    server = serve(
        QUEUED3 + b"*3\r\n+OK\r\n-ERR The server is running without a config file\r\n:4\r\n"
    )
    replies = transaction(server, *COMMANDS)
    assert replies[0] == "OK" and replies[2] == 4
    assert isinstance(replies[1], resp.ReplyError) and "config file" in replies[1].reply
    # one round trip: MULTI, the commands and EXEC in one write
    assert server.received[0].startswith(b"*1\r\n$5\r\nMULTI\r\n")
    assert server.received[0].endswith(b"*1\r\n$4\r\nEXEC\r\n")


def test_a_command_refused_when_queued_aborts_and_raises_that_refusal(serve):
    noperm = b"-NOPERM User svip has no permissions to run the 'config|rewrite' command\r\n"
    execabort = b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    server = serve(b"+OK\r\n+QUEUED\r\n" + noperm + b"+QUEUED\r\n" + execabort)
    with pytest.raises(resp.ReplyError) as info:
        transaction(server, *COMMANDS)
    assert info.value.kind == "auth" and "NOPERM" in info.value.reply


def test_an_exec_reply_of_the_wrong_shape_is_a_protocol_error(serve):
    server = serve(QUEUED3 + b"*1\r\n+OK\r\n")
    with pytest.raises(resp.ProtocolError):
        transaction(server, *COMMANDS)


def test_errors_nested_deeper_than_exec_stay_protocol_errors(serve):
    server = serve(QUEUED3 + b"*3\r\n*1\r\n-ERR nested\r\n+OK\r\n+OK\r\n")
    with pytest.raises(resp.ProtocolError):
        transaction(server, *COMMANDS)


def test_demotion_reports_each_step(serve):
    server = serve(
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
        b"*5\r\n+OK\r\n+OK\r\n+OK\r\n-ERR no config file\r\n:2\r\n",
        b"+OK\r\n",  # CLIENT UNPAUSE
    )
    restore = [("CONFIG", "SET", "min-replicas-to-write", "0")]
    result = demote_to(server.endpoint(), "10.0.0.2", 6379, 2.0, restore=[*restore, *restore])
    assert result.ok, result
    assert result.detail == (
        "replicaof=10.0.0.2:6379 config_rewrite=failed clients_killed=2 fence_restored=ok"
    )


def test_demotion_refused_is_a_failure_naming_why(serve):
    server = serve(b"-NOAUTH Authentication required.\r\n")
    result = demote_to(server.endpoint(), "10.0.0.2", 6379, 2.0)
    assert not result.ok and "NOAUTH" in result.detail


def test_demotion_of_a_hung_server_ends_within_its_time(serve):
    server = serve(FakeServer.HOLD)
    result = demote_to(server.endpoint(), "10.0.0.2", 6379, 0.3)
    assert not result.ok and "timed out" in result.detail


def test_parse_info_types_numbers_and_replica_lines():
    text = (
        "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
        "slave0:ip=10.0.0.2,port=6379,state=online,offset=42,lag=0\r\n"
        "master_replid:abc\r\nmaster_repl_offset:42\r\nrun_id:0123\r\n"
    )
    info = parse_info(text)
    assert info["role"] == "master" and info["connected_slaves"] == 1
    assert info["slave0"] == {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 42,
                              "lag": 0}  # fmt: skip
    assert info["master_repl_offset"] == 42 and info["run_id"] == "0123"
    assert parse_info(None) == {} and parse_info("garbage") == {}
