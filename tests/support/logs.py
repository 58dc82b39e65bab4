"""A logger that keeps what the product logs, for unit tests that read it back."""

from __future__ import annotations


class RecordingLogger:
    """What ``sentinel_vip.log.Logger`` offers the watcher's parts: ``log(level, event,
    **fields)``. Keeps ``(event, fields)`` in ``lines``, in order."""

    def __init__(self):
        self.lines: list = []

    def log(self, level, event, **fields):
        self.lines.append((event, fields))
