"""The local Redis as the watcher's fences see it: shared state and the small steps they use.

One ``Local`` per watcher, shared by ``actions.isolation`` and ``actions.failover``: what the
server can do (``CLIENT PAUSE WRITE`` or not, learnt and logged once), this node's identity
(``probes.identity``, re-read now and then), how long a pause may last, the armed tripwire,
and one-line logging that does not repeat itself.
"""

from __future__ import annotations

import os
import time

from sentinel_vip.actions import check, fence
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import isolation as rules
from sentinel_vip.decision.decide import Verdict
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.identity import identity_of
from sentinel_vip.probes.local_redis import probe_redis
from sentinel_vip.store import track

QUERY_DEADLINE = 0.3  # every query the fences make; answers on a LAN take milliseconds
IDENTITY_TTL = 60.0


class Local:
    def __init__(self, config, logger) -> None:
        self.config, self.logger = config, logger
        self._identity, self._identity_at = identity_of(config), time.monotonic()
        self.pause_write: bool | None = None  # unknown until the server tells its version
        self.down_after_ms: int | None = None  # learnt from SENTINEL MASTER
        self.wire: dict = {}  # the armed tripwire (see actions.fence)
        self.tripwire_refused = False  # the server's ACL forbids CONFIG SET
        self.silent: set = set()  # Sentinel addresses whose links are silent right now
        self._due: dict = {}  # what -> monotonic time it may run again
        self.said: set = set()

    @property
    def identity(self):
        """This node's identity, as the check has it; re-read now and then (the host's
        addresses may change under a long-running watcher)."""
        if time.monotonic() - self._identity_at > IDENTITY_TTL:
            self._identity, self._identity_at = identity_of(self.config), time.monotonic()
        return self._identity

    def classify(self, host: str, port: int) -> str:
        return self.identity.classify(host, port)

    def server(self):
        srv = fence.server(self.config.redis, Deadline(QUERY_DEADLINE))
        if srv.reachable and srv.version and self.pause_write is None:
            self.pause_write = srv.pause_write
            if not srv.pause_write:
                self.logger.log(
                    "warning",
                    "fence_unavailable",
                    redis_version=".".join(map(str, srv.version)),
                    reason="CLIENT PAUSE WRITE needs Redis 6.2+: an isolated or "
                    "replaced master is not held; set min-replicas-to-write",
                )
        return srv

    def can_pause(self) -> bool:
        if self.pause_write is None:
            self.server()
        return bool(self.pause_write)

    def pause_ms(self) -> int:
        return rules.pause_ms(self.down_after_ms)

    def pause(self) -> str:
        return fence.pause(self.config.redis, self.pause_ms(), Deadline(QUERY_DEADLINE))

    def unpause(self) -> str:
        return fence.unpause(self.config.redis, Deadline(QUERY_DEADLINE))

    def role(self):
        facts = probe_redis(self.config.redis, Deadline(QUERY_DEADLINE))
        return facts.role if facts.reachable and not facts.error_kind else None

    def fail_track(self, reason: str) -> None:
        """Record a failing verdict now, through the check's own recorder and the one
        ordered writer of the track file (``store.track``): stamped now, so it replaces
        whatever an evaluation that started earlier concluded, and a later one replaces it."""
        stamp = track.started()
        state_path = os.path.join(self.config.state_dir, check.STATE_NAME)
        verdict = Verdict(False, ExitCode.NO_MAJORITY, reason)
        check.record(
            self.config, self.logger, verdict, state_path, time.time(), time.monotonic(), stamp
        )

    def may(self, what: str, now: float, every: float) -> bool:
        if now < self._due.get(what, 0.0):
            return False
        self._due[what] = now + every
        return True

    def due_at(self, what: str, when: float) -> None:
        self._due[what] = when

    def say_once(self, key: str, level: str, event: str, **fields) -> None:
        if key not in self.said:
            self.said.add(key)
            self.logger.log(level, event, **fields)
