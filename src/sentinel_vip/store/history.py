"""The transition history: one JSON object per line, newest last, bounded in length.

Appends happen under an exclusive flock so concurrent notify runs cannot interleave; when the
file grows past its bound it is rewritten (atomically) with only the newest lines.
"""

from __future__ import annotations

import errno
import json
import os

from sentinel_vip.store import disk

# Trim only when this far over the bound, so a busy history is not rewritten on every append.
SLACK = 0.1


MAX_READ_BYTES = 16 << 20  # status/doctor read at most this much of the history's end
MAX_LINE_BYTES = 4096  # a record is well under 1 KB: the bound on what a trim reads per line


def append(path: str, record: dict, max_lines: int) -> None:
    """One line, under the lock. The file is opened safely (disk.open_private: no symlink,
    one link, the directory owner's file) and everything after uses that descriptor, never
    the name again."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    for _ in range(10):
        fh = os.fdopen(disk.open_private(path, os.O_RDWR | os.O_APPEND, 0o640), "r+b")
        with fh:
            disk.lock(fh.fileno(), path)
            if not _still_named(fh.fileno(), path):
                continue  # trimmed (replaced) while we waited for the lock: append to the new one
            end = os.fstat(fh.fileno()).st_size
            if end and os.pread(fh.fileno(), 1, end - 1) != b"\n":
                fh.write(b"\n")  # a cut-off last line (a crash, a planted file) stays apart
            fh.write(line.encode("utf-8"))
            fh.flush()
            # Never more than the bound's worth: a history grown (or made sparse) to
            # gigabytes must not be read whole by a notify run as root.
            bound = int(max_lines * (1 + SLACK))
            size = os.fstat(fh.fileno()).st_size
            data = _tail(fh.fileno(), size, bound * MAX_LINE_BYTES)
            if len(data) < size or data.count(b"\n") > bound:
                lines = data.splitlines(keepends=True)
                if len(data) < size:
                    lines = lines[1:]  # began mid-line
                disk.atomic_write(path, b"".join(lines[-max_lines:]), 0o640)
            return
    raise OSError(errno.EAGAIN, "the history kept being replaced", path)


def _still_named(fd: int, path: str) -> bool:
    try:
        now = os.stat(path)  # only compared: a link we followed to open it is fine
    except OSError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _tail(fd: int, size: int, limit: int) -> bytes:
    """The file's last ``limit`` bytes (of ``size``)."""
    chunks, offset = [], max(0, size - limit)
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def read(path: str, limit: int = 0) -> list[dict]:
    """The newest ``limit`` records (all when 0); unparsable lines are skipped, not fatal.
    Only a regular file is read (a FIFO there must not hang status), and only its last
    MAX_READ_BYTES."""
    try:
        fd = disk.open_regular(path)
    except OSError:
        return []
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - MAX_READ_BYTES)
        data = os.pread(fd, MAX_READ_BYTES, start)
    except OSError:
        return []
    finally:
        os.close(fd)
    raw = data.splitlines()
    if start and raw:
        raw = raw[1:]  # began mid-line
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
