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


# -- SENTINEL SENTINELS (the watcher's failover fence) --------------------------------------


def fellow(runid, flags="sentinel", hello="800"):
    return ["name", runid, "ip", "10.0.0.9", "port", "26379", "runid", runid, "flags", flags,
            "last-hello-message", hello]  # fmt: skip


def test_peers_validated_ids_flags_and_hello_times():
    from sentinel_vip.probes.sentinel import _peers

    reply = [
        fellow(RUN_ID),
        fellow("c" * 40, "sentinel,s_down", "60000"),
        fellow("d" * 40, hello="soon"),  # no hello time: kept, never fresh
        fellow("not-an-id"),  # no id: left out (a claimant is matched by id)
        fellow("e" * 40, "sentinel\n<30>forged"),  # not flag words: left out
        ["odd"],
        "not an entry",
    ]
    assert _peers(reply) == (
        (RUN_ID.lower(), frozenset({"sentinel"}), 800),
        ("c" * 40, frozenset({"sentinel", "s_down"}), 60000),
        ("d" * 40, frozenset({"sentinel"}), None),
    )
    assert _peers(ReplyError("NOPERM", "x")) is None
    assert _peers([fellow(RUN_ID)] * 65) is None
