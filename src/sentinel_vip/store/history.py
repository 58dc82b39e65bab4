"""The transition history: one JSON object per line, newest last, bounded in length.

Appends happen under an exclusive flock so concurrent notify runs cannot interleave; when the
file grows past its bound it is rewritten (atomically) with only the newest lines.
"""

from __future__ import annotations

import fcntl
import json
import os

from sentinel_vip.store.disk import atomic_write

# Trim only when this far over the bound, so a busy history is not rewritten on every append.
SLACK = 0.1


def append(path: str, record: dict, max_lines: int) -> None:
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        lines = _count_lines(path)
        if lines > max_lines * (1 + SLACK):
            _trim(path, max_lines)


def _count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(65536), b""))


def _trim(path: str, max_lines: int) -> None:
    with open(path, "rb") as fh:
        keep = fh.read().splitlines(keepends=True)[-max_lines:]
    atomic_write(path, b"".join(keep), 0o640)


def read(path: str, limit: int = 0) -> list[dict]:
    """The newest ``limit`` records (all when 0); unparsable lines are skipped, not fatal."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read().splitlines()
    except OSError:
        return []
    records = []
    for line in raw[-limit:] if limit else raw:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def last_record(records: list, instance: str) -> dict | None:
    """The instance's newest record that describes its state (not a superseded one, see
    notify.superseded_by_live_state)."""
    for record in reversed(records):
        if record.get("instance") == instance and not record.get("superseded"):
            return record
    return None


def last_state(path: str, instance: str) -> str | None:
    record = last_record(read(path, 200), instance)
    return record.get("to") if record else None
