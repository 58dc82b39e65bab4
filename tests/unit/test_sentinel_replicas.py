"""probes.sentinel._replicas: SENTINEL REPLICAS read as the peer text it is."""

from sentinel_vip.probes.resp import ReplyError
from sentinel_vip.probes.sentinel import MAX_REPLICAS, _replicas

RUN_ID = "Ab" * 20


def replica(ip, port, runid=""):
    return ["name", f"{ip}:{port}", "ip", ip, "port", str(port), "runid", runid, "flags", "slave"]


def test_addresses_and_run_ids_validated_and_canonical():
    reply = [
        replica("127.0.0.1", 6380, RUN_ID),
        replica("::ffff:10.0.0.2", 6379),
        replica("Redis-N1.Example.", 6379, "not-a-run-id"),
        replica("10.0.0.9\n<30>forged", 6379),  # not a host: left out
        replica("10.0.0.3", 70000),  # not a port: left out
        ["ip", "10.0.0.4"],  # no port
        ["odd"],
        "not an entry",
    ]
    assert _replicas(reply) == (
        (("127.0.0.1", 6380), RUN_ID.lower()),
        (("10.0.0.2", 6379), None),
        (("redis-n1.example", 6379), None),
    )


def test_anything_but_a_bounded_list_is_none():
    assert _replicas(ReplyError("ERR unknown subcommand", "x")) is None
    assert _replicas(None) is None
    assert _replicas([replica("10.0.0.2", 6379)] * (MAX_REPLICAS + 1)) is None
    assert _replicas([]) == ()
