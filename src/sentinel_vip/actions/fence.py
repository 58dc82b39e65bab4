"""What the watcher does to the local Redis to keep it from acknowledging doomed writes.

``decision.isolation`` decides when; this module only talks to Redis, on our own RESP client,
and never raises: each call returns what happened, for the log.

- ``pause``: ``CLIENT PAUSE ms WRITE`` (Redis 6.2+). Short, and renewed by the watcher while
  the reason holds, so a watcher that dies leaves no pause behind for longer than ``ms``.
  Writes wait instead of being acknowledged; a demotion then turns them into READONLY errors.
- ``tripwire``: ``CONFIG SET min-replicas-to-write N`` with N = the replicas in sync right
  now. It holds nothing until one of them leaves. Because CONFIG REWRITE (run by Sentinel's
  conversion of an old master, and by our demotion) would write it to redis.conf, the
  admin's values are kept (``store.tripwire``, on disk: they must outlive a reboot as
  redis.conf does) *before* the change, restored inside
  our demotion's transaction, and restored (plus CONFIG REWRITE if a conversion may have
  saved ours) by any later watcher that finds them.
"""

from __future__ import annotations

from sentinel_vip.decision.isolation import replicas_in_contact
from sentinel_vip.probes.local_redis import info_fields, parse_info, server_version
from sentinel_vip.probes.resp import ProbeError, ReplyError, connect
from sentinel_vip.record import Record
from sentinel_vip.store import tripwire

PROBE_CHANNEL = "__sentinel-vip__:replica-probe"
TO_WRITE, MAX_LAG = "min-replicas-to-write", "min-replicas-max-lag"


class Server(Record):
    """The local Redis as the fence needs it (one connection, a few cheap commands)."""

    reachable: bool
    role: str | None = None
    run_id: str = ""
    version: tuple = ()
    good_replicas: int = 0  # online, within min-replicas-max-lag (what Redis counts)
    fresh_replicas: int = 0  # online, acknowledged within the last second or so
    online_replicas: int = 0  # online, however late
    to_write: int | None = None  # None: CONFIG GET refused (ACL) or unreadable
    max_lag: int | None = None
    error: str = ""

    @property
    def pause_write(self) -> bool:
        """CLIENT PAUSE ... WRITE exists from Redis 6.2 (Valkey reports 7.2+)."""
        return self.version >= (6, 2)


def _good_replicas(info: dict, max_lag: int | None) -> int:
    """Replicas online and within max-lag, as Redis counts them for min-replicas-to-write
    (``max_lag`` 1: acknowledged within the last second or so; they ack once a second)."""
    count = 0
    for key, value in info.items():
        if not key.startswith("slave") or not key[5:].isdigit():
            continue
        fields = dict(item.partition("=")[::2] for item in value.split(","))
        try:
            lag = int(fields.get("lag", "-1"))
        except ValueError:
            continue
        if fields.get("state") == "online" and 0 <= lag <= (max_lag or 10):
            count += 1
    return count


def _config_int(conn, name: str) -> int | None:
    try:
        reply = conn.call("CONFIG", "GET", name)
    except ReplyError:
        return None
    try:
        return int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else None
    except ValueError:
        return None


def server(endpoint, deadline) -> Server:
    try:
        with connect(endpoint, deadline) as conn:
            info = info_fields(conn.call("INFO", "server"))
            repl = info_fields(conn.call("INFO", "replication"))
            to_write = _config_int(conn, TO_WRITE)
            max_lag = _config_int(conn, MAX_LAG)
    except ProbeError as exc:
        return Server(exc.kind == "auth", error=str(exc))
    version = server_version(info)
    return Server(
        True,
        repl.get("role"),
        info.get("run_id", ""),
        version,
        _good_replicas(repl, max_lag),
        _good_replicas(repl, 1),
        _good_replicas(repl, 2**31),
        to_write,
        max_lag,
    )


SYNCING = frozenset({"wait_bgsave", "send_bulk"})  # a replica (re)connected just now


def role_and_acks(endpoint, wait_ms: int, deadline) -> tuple:
    """(role, replicas in contact) of the local Redis: replicas that acknowledged a probe
    within ``wait_ms``, plus those in the middle of a (re)sync (they connected just now),
    and 0 unless every online replica acknowledged (``decision.isolation.replicas_in_contact``).

    A PUBLISH is propagated to the replicas like a write (it changes no key); WAIT then asks
    them for their offset and counts those that acknowledge it. The count is None when it
    could not be learned (ACL without PUBLISH/WAIT: see docs), the role None when Redis
    did not answer."""
    try:
        with connect(endpoint, deadline) as conn:
            role = conn.call("ROLE")
            role = role[0] if isinstance(role, list) and role else None
            if role != "master":
                return role, None
            try:
                info = info_fields(conn.call("INFO", "replication"))
                online = _good_replicas(info, 2**31)
                conn.call("PUBLISH", PROBE_CHANNEL, "1")
                acks = conn.call("WAIT", str(max(online, 1)), str(wait_ms))
            except ReplyError:
                return role, None
            if not isinstance(acks, int):
                return role, None
            return role, replicas_in_contact(acks, online, _syncing(info))
    except ProbeError:
        return None, None


def _syncing(info: dict) -> int:
    count = 0
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit():
            fields = dict(item.partition("=")[::2] for item in value.split(","))
            count += fields.get("state") in SYNCING
    return count


def pause(endpoint, ms: int, deadline) -> str:
    try:
        with connect(endpoint, deadline) as conn:
            conn.call("CLIENT", "PAUSE", str(ms), "WRITE")
    except ProbeError as exc:
        return f"failed: {exc}"
    return f"paused_ms={ms}"


def unpause(endpoint, deadline) -> str:
    try:
        with connect(endpoint, deadline) as conn:
            conn.call("CLIENT", "UNPAUSE")
    except ProbeError as exc:
        return f"failed: {exc}"
    return "unpaused"


# -------------------------------------------------------------------------- tripwire


REFUSED = "refused"  # the server's ACL forbids CONFIG SET: no use asking again


def rewrites(conn) -> int:
    """How many CONFIG REWRITEs this server has run (INFO commandstats), or
    ``tripwire.UNKNOWN``: Redis < 7 counts CONFIG's subcommands together, and an ACL may
    refuse INFO commandstats."""
    try:
        stats = parse_info(conn.call("INFO", "commandstats"))
    except ReplyError:
        return tripwire.UNKNOWN
    if not any(key.startswith("cmdstat_config|") for key in stats):
        return tripwire.UNKNOWN  # no per-subcommand figures (Redis 6)
    entry = stats.get("cmdstat_config|rewrite", {"calls": 0})  # listed once it has run
    calls = entry.get("calls") if isinstance(entry, dict) else None
    return calls if type(calls) is int and 0 <= calls < 2**63 else tripwire.UNKNOWN


def arm(config, srv: Server, setting: tuple, deadline) -> str:
    """Record the admin's values, then set ours. Nothing is changed if they cannot be kept."""
    to_write, max_lag = setting
    wire = {
        "to_write": srv.to_write,
        "max_lag": srv.max_lag,
        "set_to_write": to_write,
        "set_max_lag": max_lag,
        "run_id": srv.run_id,
    }
    changed = False
    try:
        with connect(config.redis, deadline) as conn:
            # Counted before ours are set: a CONFIG REWRITE from now on may save them.
            wire["rewrites"] = rewrites(conn)
            try:
                tripwire.save(config, wire)
            except OSError as exc:
                where = exc.filename or tripwire.path(config)
                return f"failed: cannot record the current values in {where}: {exc.strerror}"
            if max_lag != srv.max_lag:
                conn.call("CONFIG", "SET", MAX_LAG, str(max_lag))
                changed = True
            conn.call("CONFIG", "SET", TO_WRITE, str(to_write))
    except ProbeError as exc:
        # Refused outright before anything changed: a record would make the next watcher
        # "restore" values never touched. Any other failure (a timeout) may have applied.
        if isinstance(exc, ReplyError) and not changed:
            tripwire.forget(config)
        return f"{REFUSED if exc.kind == 'auth' else 'failed'}: {exc}"
    return f"armed {TO_WRITE}={to_write} {MAX_LAG}={max_lag} (was {srv.to_write}/{srv.max_lag})"


def restore_commands(wire: dict) -> list:
    """The CONFIG SETs that put the admin's values back (for our demotion's transaction)."""
    return [
        ("CONFIG", "SET", TO_WRITE, str(wire["to_write"])),
        ("CONFIG", "SET", MAX_LAG, str(wire["max_lag"])),
    ]


def still_ours(wire: dict, srv: Server) -> bool:
    """Are the values we set still in place? If not, an admin (or a restart) changed them
    since: theirs win, and the record must not be put back over them."""
    return (srv.to_write, srv.max_lag) == (wire["set_to_write"], wire["set_max_lag"])


def disarm(config, wire: dict, srv: Server, deadline) -> str:
    """Put the admin's values back if ours are still in place (an admin's later change
    wins), then forget the record. CONFIG REWRITE when a rewrite may have saved our values
    to the config file meanwhile: the server was converted (Sentinel rewrites) or restarted,
    or its count of CONFIG REWRITEs moved since we armed (an admin's, a tool's), or that
    count is unknown (Redis 6, an older record). While Redis does not answer nothing is
    known: the record stays for a later try."""
    if not srv.reachable or srv.to_write is None:
        return f"failed: cannot read {TO_WRITE} ({srv.error or 'CONFIG GET refused'})"
    ours = still_ours(wire, srv)
    rewrite = srv.role != "master" or (wire.get("run_id") and wire.get("run_id") != srv.run_id)
    result = "left: changed meanwhile"
    if ours:
        try:
            with connect(config.redis, deadline) as conn:
                armed_at = wire.get("rewrites", tripwire.UNKNOWN)
                if not rewrite and (armed_at == tripwire.UNKNOWN or rewrites(conn) != armed_at):
                    rewrite = True
                for command in restore_commands(wire):
                    conn.call(*command)
                result = f"restored {TO_WRITE}={wire['to_write']} {MAX_LAG}={wire['max_lag']}"
                if rewrite:
                    try:
                        conn.call("CONFIG", "REWRITE")
                        result += " config_rewrite=ok"
                    except ReplyError as exc:
                        result += f" config_rewrite=failed: {exc.reply}"
        except ProbeError as exc:
            return f"failed: {exc}"
    try:
        tripwire.save(config, {})
    except OSError as exc:
        result += f" (state not cleared: {exc.strerror})"
    return result
