"""The one ordered writer of the keepalived track file (and of the check's state with it).

The polled check and the watcher both evaluate and record verdicts, concurrently. A verdict
computed from older facts must never overwrite a newer one: a check that started before a
Sentinel switch and ran into its deadline once wrote "0" over the "1" the watcher had just
written for the new master, and the VIP left the new master for 0.4 s. So every evaluation
takes a stamp when it starts (``started()``), and records only through ``Turn``: under an
exclusive lock it compares its stamp with the stamp of the last evaluation that recorded,
and records only if it did not start earlier; then it leaves its own stamp.

Stamps are (boot id, CLOCK_MONOTONIC ns): comparable across processes on one boot, immune to
wall-clock steps; a stamp from another boot is older than any of this one.

The lock file lives in the state directory, which another local user might control: it is
opened through ``store.disk.open_private`` (no planted symlink followed, a regular file with
one link of the directory's owner, a FIFO refused before it can stall us). Its content is the
last recorded stamp.
"""

from __future__ import annotations

import os
import time

from sentinel_vip.store import disk

LOCK_NAME = "track.lock"
_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
_boot_id = None


def boot_id() -> str:
    """This boot's id (the kernel's), read once per process; "" when unreadable."""
    global _boot_id
    if _boot_id is None:
        try:
            with open(_BOOT_ID_FILE, "rb") as fh:
                text = fh.read(64).decode("ascii", "replace").strip()
        except OSError:
            text = ""
        _boot_id = text if len(text) == 36 and text.replace("-", "").isalnum() else ""
    return _boot_id


def started() -> tuple:
    """The stamp of an evaluation starting now."""
    return (boot_id(), time.monotonic_ns())


def _parse(data: bytes):
    boot, _, ns = data.decode("ascii", "replace").strip().partition(" ")
    try:
        return boot, int(ns)
    except ValueError:
        return None


class Turn:
    """``with Turn(state_dir, stamp, wait) as turn:`` holds the lock; ``turn.fresh`` says
    whether no evaluation that started later has recorded; ``turn.recorded()`` leaves this
    evaluation's stamp (call it once the verdict is written).

    ``turn.error`` is set (and ``fresh`` False) when the lock cannot be used: the state
    directory is missing or unwritable, the lock file is not ours, or it stayed locked for
    ``wait`` seconds. The caller then writes only a fail-closed "0" (see actions.check).
    """

    def __init__(self, state_dir: str, stamp: tuple, wait: float = 0.2) -> None:
        self._path = os.path.join(state_dir, LOCK_NAME)
        self._stamp = stamp
        self._wait = wait
        self._fd = -1
        self.fresh = False
        self.error: OSError | None = None

    def __enter__(self) -> Turn:
        try:
            # store.disk: never through a planted symlink, a regular file of the directory's
            # owner only; the lock wait is bounded (a holder keeps it for microseconds).
            self._fd = disk.open_private(self._path, os.O_RDWR, 0o600)
            disk.lock(self._fd, self._path, self._wait)
            last = _parse(os.pread(self._fd, 128, 0))
        except OSError as exc:
            self.error = exc
            self.__exit__()
            return self
        # Another boot's stamp is older than any of this boot's.
        self.fresh = last is None or last[0] != self._stamp[0] or last[1] <= self._stamp[1]
        return self

    def recorded(self) -> None:
        if self._fd >= 0:
            data = f"{self._stamp[0]} {self._stamp[1]}\n".encode()
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def __exit__(self, *exc) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def write_track(path: str, ok: bool) -> None:
    """Write "1"/"0" to the track file (only when it changes: keepalived watches it)."""
    if not path:
        return
    wanted = "1\n" if ok else "0\n"
    if disk.read_text(path, 16) != wanted:
        disk.atomic_write(path, wanted.encode(), 0o644)
