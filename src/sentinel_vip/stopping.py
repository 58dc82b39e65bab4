"""SIGTERM (and, for the watcher, SIGINT) without exceptions at arbitrary points.

The short-lived commands (check, notify, admin commands) stop on the first SIGTERM by raising
``Terminated`` where the main thread happens to be: the check's guard then fails the track
file closed. Only the first signal raises: a second SIGTERM a fraction of a millisecond
later must not interrupt that fail-closed write (it left the track file "1" in 9 of 15 runs).

The watcher never raises from the handler. A signal can land inside an import, where the
zip importer swallows the exception ("Exception ignored ...") and the process runs on,
deaf to the stop it was asked for. The handler only sets a flag and wakes the watcher's
loop through a ``queue.SimpleQueue``, whose ``put`` is reentrant (safe in a handler).
"""

from __future__ import annotations

import signal

from sentinel_vip.errors import Terminated

WAKE = "stop"  # what the handler puts into the watcher's queue

_state: dict = {"requested": False, "raising": True, "wake": None}


def install(raising: bool = True) -> None:
    """SIGTERM handler for this process; ``raising=False`` also takes SIGINT (watcher)."""
    _state["raising"] = raising
    signal.signal(signal.SIGTERM, _handler)
    if not raising:
        signal.signal(signal.SIGINT, _handler)


def wake_through(wake) -> None:
    """From now on a stop request also ``wake.put(WAKE)``; if one arrived already, now."""
    _state["wake"] = wake
    if _state["requested"]:
        wake.put(WAKE)


def requested() -> bool:
    return _state["requested"]


def _handler(signum, frame) -> None:
    first = not _state["requested"]
    _state["requested"] = True
    wake = _state["wake"]
    if wake is not None:
        wake.put(WAKE)
    if first and _state["raising"]:
        raise Terminated()
