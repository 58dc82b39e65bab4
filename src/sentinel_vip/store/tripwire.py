"""The tripwire a watcher armed: the admin's min-replicas values, kept before they change.

``actions.fence`` writes it before ``CONFIG SET`` and clears it once the values are back, so
a watcher that died in between (or doctor) finds what to restore. Untrusted on read: a
record that is not exactly what we write is ignored.
"""

from __future__ import annotations

import os

from sentinel_vip.store import disk

STATE_NAME = "fence.json"
_KEYS = ("to_write", "max_lag", "set_to_write", "set_max_lag")


def _path(config) -> str:
    return os.path.join(config.state_dir, STATE_NAME)


def saved(config) -> dict:
    record = disk.read_json(_path(config))
    wire = record.get("tripwire")
    if not isinstance(wire, dict):
        return {}
    if not all(type(wire.get(k)) is int and 0 <= wire[k] < 2**31 for k in _KEYS):
        return {}
    if not isinstance(wire.get("run_id", ""), str):
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
