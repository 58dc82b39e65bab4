"""Acquire a Redis server's role and identity: ``ROLE`` and ``INFO server``, one round trip.

The role says whether it is master; the ``run_id`` says which process it is, the identity
Sentinel reports for the master (SENTINEL MASTER's runid). Demotions also read ``INFO
replication`` (the replication ids) in the same round trip. An ACL user needs ``+role`` and
``+info``.
"""

from __future__ import annotations

from sentinel_vip.decision.address import canonical_host
from sentinel_vip.decision.facts import RedisFacts
from sentinel_vip.probes.resp import ProbeError, ReplyError, connect
from sentinel_vip.probes.sentinel import hex_id, info_field, run_id_of


def probe_redis(endpoint, deadline, replication: bool = False) -> RedisFacts:
    """What the Redis at ``endpoint`` says it is (with its replication ids when
    ``replication``). Expected failures become facts, never exceptions."""
    label = endpoint.label()
    commands = [("ROLE",), ("INFO", "server")]
    if replication:
        commands.append(("INFO", "replication"))
    try:
        with connect(endpoint, deadline) as conn:
            role, *infos = conn.pipeline(*commands)
        if isinstance(role, ReplyError):
            raise role
        for info in infos:
            if isinstance(info, ReplyError):
                raise ReplyError(f"INFO refused ({info.reply}): grant +info", label)
        info = infos[0]
    except ProbeError as exc:
        # An auth refusal proves the server is up and talking; everything else does not.
        return RedisFacts(exc.kind == "auth", None, exc.kind, str(exc))
    facts = facts_from_role(role, label)
    run_id = run_id_of(info)
    if not facts.reachable:
        return facts
    if run_id is None:
        return RedisFacts(False, None, "protocol", f"{label}: no valid run_id in INFO server")
    replid = replid2 = None
    if replication:
        replid = hex_id(info_field(infos[1], "master_replid"))
        replid2 = hex_id(info_field(infos[1], "master_replid2"))
    return RedisFacts(
        True, facts.role, None, None, facts.master_host, facts.master_port, facts.link_status,
        run_id, replid, replid2,
    )  # fmt: skip


def facts_from_role(reply, label: str) -> RedisFacts:
    """Parse a ROLE reply; a shape we do not understand is a protocol error."""
    if not isinstance(reply, list) or not reply or not isinstance(reply[0], str):
        return _garbled(label)
    role = reply[0]
    if role in ("slave", "replica"):
        if len(reply) < 4 or not isinstance(reply[1], str):
            return _garbled(label)
        host = canonical_host(reply[1])
        try:
            port = int(reply[2])
        except (TypeError, ValueError):
            return _garbled(label)
        state = reply[3] if isinstance(reply[3], str) and reply[3].isidentifier() else None
        if host is None:
            return _garbled(label)
        return RedisFacts(True, role, None, None, host, port, state)
    if role not in ("master", "sentinel"):
        return _garbled(label)
    return RedisFacts(True, role, None, None)


def _garbled(label: str) -> RedisFacts:
    return RedisFacts(False, None, "protocol", f"{label}: unexpected ROLE reply")


def read_info(endpoint, deadline, *sections) -> list:
    """``INFO section`` for each of ``sections`` in one round trip, each parsed by
    ``parse_info``, for the admin commands (status, doctor). Raises ``ProbeError``; a
    refused INFO is an "auth" error (NOPERM) or a "protocol" one."""
    with connect(endpoint, deadline) as conn:
        replies = conn.pipeline(*(("INFO", section) for section in sections))
    for reply in replies:
        if isinstance(reply, ReplyError):
            raise reply
    return [parse_info(reply) for reply in replies]


def server_version(info: dict) -> tuple:
    """(major, minor, patch) from INFO server fields; Valkey reports its own version in
    ``valkey_version`` (its ``redis_version`` is the compatibility level, 7.2.4)."""
    parts = []
    text = str(info.get("valkey_version") or info.get("redis_version", ""))
    for part in text.split(".")[:3]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def info_fields(text, limit: int | None = None) -> dict:
    """An INFO reply as {field: the text after the colon}: the one reader of INFO's
    ``key:value`` lines. ``limit`` bounds the lines read from a peer's reply."""
    fields: dict = {}
    for line in str(text or "").splitlines()[:limit]:
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


def parse_info(text) -> dict:
    """An INFO reply as {field: value}: integers as int, ``k=v,k=v`` values (slave0, db0)
    as dicts of the same, everything else as the string sent."""
    fields: dict = {}
    for key, value in info_fields(text).items():
        if "=" in value and "," in value:
            pairs = (part.partition("=") for part in value.split(","))
            fields[key] = {k: _number(v) for k, _, v in pairs}
        else:
            fields[key] = _number(value)
    return fields


def _number(text: str):
    """An integer when ``text`` is one written the canonical way ("0123", an id, stays)."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit() and len(stripped) < 20 and str(int(stripped)) == stripped:
        return int(stripped)
    return stripped
