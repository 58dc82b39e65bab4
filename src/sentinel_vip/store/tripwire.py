"""The tripwire a watcher armed: the admin's min-replicas values, kept before they change.

``actions.fence`` writes it before ``CONFIG SET`` and clears it once the values are back, so
a watcher that died in between (or doctor) finds what to restore. It lives beside the
history (``/var/lib/sentinel-vip`` by default), not in ``paths.state_dir`` (``/run``, a
tmpfs): a CONFIG REWRITE while the tripwire is armed (Sentinel's conversion of a replica
does one; so may an admin) saves our values in redis.conf, and after a reboot Redis starts
with them for good unless this record is still there for the watcher to put the admin's
back. It is named after the history file (``history.jsonl`` -> ``history.fence.json``):
each instance has its own history file, and instances may share its directory. Written
durably (fsync): it must outlive a power loss as redis.conf does.

A record at the old place (``state_dir/fence.json``, before this moved) is still read when
there is none at the new one, and removed once a record is written here: an upgrade with the
tripwire armed keeps the admin's values.

Untrusted on read: a record that is not exactly what we write is ignored, and so is one in
a file that another user owns or could have changed: it turns into CONFIG SET (and CONFIG
REWRITE) on Redis.
"""

from __future__ import annotations

import os

from sentinel_vip.store import disk, plainjson

SUFFIX = ".fence.json"
LEGACY_NAME = "fence.json"  # in state_dir, where it lived before
_KEYS = ("to_write", "max_lag", "set_to_write", "set_max_lag")
UNKNOWN = -1  # "rewrites": how many CONFIG REWRITEs Redis had run when we armed, if known


def path(config) -> str:
    """``history_file`` without its extension, plus ``.fence.json``, in the same directory."""
    directory, name = os.path.split(config.history_file)
    stem = os.path.splitext(name)[0] or name
    return os.path.join(directory or ".", stem + SUFFIX)


def legacy_path(config) -> str:
    return os.path.join(config.state_dir, LEGACY_NAME)


def _read(where: str):
    """The record, if written by this user or root and writable by nobody else; {} if not;
    None when there is no file at all."""
    try:
        data, info = disk.read_regular_stat(where, 65536)
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        record = plainjson.decode(data.decode("utf-8"))
    except ValueError:
        return {}
    if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
        return {}
    return record if isinstance(record, dict) else {}


def saved(config) -> dict:
    record = _read(path(config))
    if record is None:  # nothing here yet: a record an older version left in state_dir
        record = _read(legacy_path(config)) or {}
    wire = record.get("tripwire")
    if not isinstance(wire, dict):
        return {}
    if not all(type(wire.get(k)) is int and 0 <= wire[k] < 2**31 for k in _KEYS):
        return {}
    if not isinstance(wire.get("run_id", ""), str):
        return {}
    rewrites = wire.get("rewrites", UNKNOWN)  # absent in older records: unknown
    if type(rewrites) is not int or not UNKNOWN <= rewrites < 2**63:
        return {}
    # What arming writes (decision.isolation.tripwire_setting): at least one replica
    # required, never less than the admin's value. Anything else would lower or raise the
    # admin's setting on restore, so it is not our record.
    if wire["set_to_write"] < max(1, wire["to_write"]) or wire["set_max_lag"] < 1:
        return {}
    return wire


def save(config, wire: dict) -> None:
    """Write (or, with {}, clear) the record durably; then the old place's copy is stale."""
    disk.write_json(path(config), {"tripwire": wire} if wire else {}, durable=True)
    try:
        os.unlink(legacy_path(config))
    except OSError:
        pass  # none (the usual case); or left, but the record here is the one read now


def forget(config) -> None:
    """The values are back (our demotion restored them in its transaction): drop the record.
    If that fails the next watcher finds the values restored and drops it then."""
    try:
        save(config, {})
    except OSError:
        pass
