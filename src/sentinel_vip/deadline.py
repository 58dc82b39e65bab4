"""One total time budget for a run, shared by every probe it makes."""

import time


class Deadline:
    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def timeout(self, cap: float = 0.0) -> float:
        """A socket timeout that never outlives the deadline (and never is 0 = non-blocking)."""
        left = self.remaining()
        if cap:
            left = min(left, cap)
        return max(left, 0.001)
