"""The tripwire a watcher armed: the admin's min-replicas values, kept before they change.

``actions.fence`` writes it before ``CONFIG SET`` and clears it once the values are back, so
a watcher that died in between (or doctor) finds what to restore. Untrusted on read: a
record that is not exactly what we write is ignored, and so is one in a file that another
user owns or could have changed: it turns into CONFIG SET (and CONFIG REWRITE) on Redis.
"""

from __future__ import annotations

import os

from sentinel_vip.store import disk, plainjson

STATE_NAME = "fence.json"
_KEYS = ("to_write", "max_lag", "set_to_write", "set_max_lag")


def _path(config) -> str:
    return os.path.join(config.state_dir, STATE_NAME)


def _read(path: str) -> dict:
    """The record, if written by this user or root and writable by nobody else; else {}."""
    try:
        data, info = disk.read_regular_stat(path, 65536)
        record = plainjson.decode(data.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
        return {}
    return record if isinstance(record, dict) else {}


def saved(config) -> dict:
    wire = _read(_path(config)).get("tripwire")
    if not isinstance(wire, dict):
        return {}
    if not all(type(wire.get(k)) is int and 0 <= wire[k] < 2**31 for k in _KEYS):
        return {}
    if not isinstance(wire.get("run_id", ""), str):
        return {}
    # What arming writes (decision.isolation.tripwire_setting): at least one replica
    # required, never less than the admin's value. Anything else would lower or raise the
    # admin's setting on restore, so it is not our record.
    if wire["set_to_write"] < max(1, wire["to_write"]) or wire["set_max_lag"] < 1:
        return {}
    return wire


def save(config, wire: dict) -> None:
    disk.write_json(_path(config), {"tripwire": wire} if wire else {})


def forget(config) -> None:
    """The values are back (our demotion restored them in its transaction): drop the record.
    If that fails the next watcher finds the values restored and drops it then."""
    try:
        save(config, {})
    except OSError:
        pass
