"""What a switchover needs to know about the servers themselves, and the Sentinels' replicas.

Sentinel's own view of a replica (SENTINEL REPLICAS: flags, link, priority) is refreshed by
its INFO every 10 s; the offsets that say whether a replica keeps up are read from the
servers directly (INFO replication), at the moment they matter. Everything a peer sends is
validated here: addresses canonical (``decision.address``), numbers numbers, ids hex.
"""

from __future__ import annotations

from sentinel_vip.decision.address import canonical_host, port_number
from sentinel_vip.probes.local_redis import info_fields, server_version
from sentinel_vip.probes.resp import ProbeError, ProtocolError, ReplyError, connect
from sentinel_vip.probes.sentinel import MAX_REPLICA_FIELDS, MAX_REPLICAS, hex_id
from sentinel_vip.record import Record


class ServerView(Record):
    """One Redis server (``INFO server`` + ``INFO replication``); ``error`` when it did not
    answer. ``replicas``: ((host, port), state, offset, lag seconds) as the master lists
    them; ``offset`` is the master's master_repl_offset, or a replica's slave_repl_offset."""

    reachable: bool
    error: str = ""
    role: str | None = None
    run_id: str | None = None
    version: tuple = ()
    offset: int | None = None
    link: str | None = None  # a replica's master_link_status
    master: tuple | None = None  # a replica's (master_host, master_port)
    priority: int | None = None  # a replica's slave_priority
    replicas: tuple = ()
    writable: bool = False  # a master with enough good replicas (only read with ``writes``)

    @property
    def pause_write(self) -> bool:
        """CLIENT PAUSE ... WRITE exists from Redis 6.2 (Valkey reports 7.2+)."""
        return self.version >= (6, 2)


def _int(value) -> int | None:
    text = str(value if value is not None else "")
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isdigit() and len(digits) < 19 else None


def _address(host, port) -> tuple | None:
    canonical, number = canonical_host(host), port_number(port)
    return None if canonical is None or number is None else (canonical, number)


def _listed_replicas(fields: dict) -> tuple:
    found = []
    for key, value in fields.items():
        if not key.startswith("slave") or not key[5:].isdigit():
            continue
        entry = dict(item.partition("=")[::2] for item in value.split(","))
        address = _address(entry.get("ip"), entry.get("port"))
        if address is not None:
            found.append(
                (address, entry.get("state", ""), _int(entry.get("offset")), _int(entry.get("lag")))
            )
    return tuple(sorted(found))


def _writable(role, fields: dict, to_write) -> bool:
    """Would a master accept a write now: min-replicas-to-write met (Redis counts the good
    replicas in INFO only while min-replicas-to-write and -max-lag are both set)."""
    if role != "master":
        return False
    needed = None
    if isinstance(to_write, list) and len(to_write) == 2:
        needed = _int(to_write[1])
    good = _int(fields.get("min_slaves_good_slaves"))
    return not needed or good is None or good >= needed


def view(endpoint, deadline, writes: bool = False) -> ServerView:
    """INFO server + replication of one server, in one round trip; never raises.
    ``writes``: also CONFIG GET min-replicas-to-write, for ``writable`` (refused: ignored)."""
    extra = (("CONFIG", "GET", "min-replicas-to-write"),) if writes else ()
    try:
        with connect(endpoint, deadline) as conn:
            server, repl, *to_write = conn.pipeline(
                ("INFO", "server"), ("INFO", "replication"), *extra
            )
    except ProbeError as exc:
        return ServerView(False, str(exc))
    if isinstance(server, ReplyError) or isinstance(repl, ReplyError):
        reply = server if isinstance(server, ReplyError) else repl
        return ServerView(False, f"{endpoint.label()}: INFO refused: {reply.reply[:120]}")
    info, fields = info_fields(server, 400), info_fields(repl, 400)
    role = fields.get("role")
    offset = _int(fields.get("slave_repl_offset" if role == "slave" else "master_repl_offset"))
    return ServerView(
        True,
        "",
        role,
        hex_id(info.get("run_id")),
        server_version(info),
        offset,
        fields.get("master_link_status"),
        _address(fields.get("master_host"), fields.get("master_port")),
        _int(fields.get("slave_priority", fields.get("replica_priority"))),
        _listed_replicas(fields) if role == "master" else (),
        writes and _writable(role, fields, to_write[0] if to_write else None),
    )


def sentinel_replicas(endpoint, master_name: str, deadline) -> tuple:
    """SENTINEL REPLICAS of one Sentinel: a tuple of dicts (address, runid, flags, link,
    priority, offset), entries that are not what they must be left out. Raises ProbeError."""
    with connect(endpoint, deadline) as conn:
        reply = conn.call("SENTINEL", "REPLICAS", master_name)
    if not isinstance(reply, list) or len(reply) > MAX_REPLICAS:
        raise ProtocolError(f"{endpoint.label()}: unexpected SENTINEL REPLICAS reply")
    found = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) % 2 or len(entry) > MAX_REPLICA_FIELDS:
            continue
        fields = {str(k): str(v) for k, v in zip(entry[::2], entry[1::2])}
        address = _address(fields.get("ip"), fields.get("port"))
        if address is None:
            continue
        flags = fields.get("flags", "")
        found.append(
            {
                "address": address,
                "runid": hex_id(fields.get("runid")),
                "flags": frozenset(f for f in flags.split(",") if f.replace("_", "").isalnum()),
                "link": fields.get("master-link-status", "")[:20],
                "priority": _int(fields.get("slave-priority", fields.get("replica-priority"))),
                "offset": _int(fields.get("slave-repl-offset", fields.get("replica-repl-offset"))),
            }
        )
    return tuple(found)
