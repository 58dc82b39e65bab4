"""A switchover in progress: what it changed, kept before it changes it.

``actions.switchover`` writes ``switchover.json`` beside the history (``/var/lib``: the
values it records live on other hosts and outlast a reboot of this one) before each CONFIG
SET of a replica's ``replica-priority``, and removes it once every value is back. A run that
died in between (SIGKILL, a crash, a reboot) leaves it for the next run (which restores
first), for ``status`` (which shows it) and for ``doctor`` (which points at it). Untrusted on
read: a record that is not exactly what we write is ignored.
"""

from __future__ import annotations

import os

from sentinel_vip.store import disk

STATE_NAME = "switchover.json"


def path(config) -> str:
    return os.path.join(os.path.dirname(config.history_file) or ".", STATE_NAME)


def _steered(entry) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 4
        and isinstance(entry[0], str)
        and type(entry[1]) is int
        and all(type(v) is int and 0 <= v < 2**31 for v in entry[2:])
    )


def saved(config) -> dict:
    """The record of a switchover in progress (or interrupted), or {}."""
    record = disk.read_json(path(config))
    if not record:
        return {}
    steered = record.get("steered")
    if not isinstance(steered, list) or not all(_steered(e) for e in steered):
        return {}
    if type(record.get("pid")) is not int or not isinstance(record.get("started"), (int, float)):
        return {}
    if not all(isinstance(record.get(k), str) for k in ("master", "target", "stage")):
        return {}
    return record


def save(config, record: dict) -> None:
    disk.write_json(path(config), record, 0o600)


def clear(config) -> None:
    try:
        os.unlink(path(config))
    except FileNotFoundError:
        pass


def alive(pid: int) -> bool:
    """The process that wrote the record is still running (another switchover)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
