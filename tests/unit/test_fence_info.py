"""actions.fence: what INFO replication says about the replicas, parsed without a server."""

from sentinel_vip.actions import fence
from sentinel_vip.probes.local_redis import info_fields, parse_info, server_version

INFO = """# Replication\r
role:master\r
connected_slaves:3\r
slave0:ip=10.0.0.2,port=6379,state=online,offset=100,lag=0\r
slave1:ip=10.0.0.3,port=6379,state=online,offset=90,lag=4\r
slave2:ip=10.0.0.4,port=6379,state=send_bulk,offset=0,lag=0\r
slaveX:garbage\r
master_repl_offset:100\r
"""


def test_replicas_counted_as_redis_counts_them():
    info = info_fields(INFO)
    assert fence._good_replicas(info, 10) == 2  # online within max-lag
    assert fence._good_replicas(info, 1) == 1  # acknowledged within the last second
    assert fence._good_replicas(info, 3) == 1
    assert fence._syncing(info) == 1  # connected just now, in a full sync


def test_version_parsing():
    assert server_version({"redis_version": "6.0.16"}) == (6, 0, 16)
    assert server_version({"redis_version": "7.2.4", "valkey_version": "8.1.1"}) == (8, 1, 1)
    assert server_version({"redis_version": "7.2.4-rc1"}) == (7, 2)
    assert server_version({}) == ()
    assert fence.Server(True, version=(6, 0, 16)).pause_write is False
    assert fence.Server(True, version=(6, 2, 0)).pause_write is True


def test_one_reader_of_info_lines_for_every_caller():
    fields = info_fields(INFO)
    assert fields["role"] == "master" and fields["slaveX"] == "garbage"
    assert "# Replication" not in fields and all(" " not in k for k in fields)
    assert list(info_fields(INFO, 2)) == ["role"]  # a peer's reply is read to a bound
    assert parse_info(INFO)["slave1"] == {
        "ip": "10.0.0.3", "port": 6379, "state": "online", "offset": 90, "lag": 4
    }  # fmt: skip
    assert parse_info(INFO)["connected_slaves"] == 3
