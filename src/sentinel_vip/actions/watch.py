"""React to Sentinel's decisions as events, and fence this node's master when it must not write.

Every Sentinel publishes ``+switch-master`` (and its other events) on pub/sub. The watcher
listens to all of them (``probes.pubsub``: one thread per Sentinel, with a heartbeat, so a
dead link is known within ``SILENT_AFTER``) and re-evaluates the check the moment one
mentions our master, which rewrites the keepalived track file; keepalived notices by inotify.
The polled ``check`` stays the safety net: if the watcher dies, nothing fails open, it is
only slower. A periodic re-evaluation covers events lost while a Sentinel was away.

It also follows the failover election (``actions.election``): the replica a majority-elected
leader promotes gets its track file raised at promotion time, ~1 s before the announcement.

An event is only ever a hint: what the watcher does is decided from fresh answers (the
election's evidence is votes from a majority plus the promoted server's own ROLE). Besides
the track file it keeps this node's Redis from acknowledging writes that would be lost
(``actions.isolation``): when it is cut off from a Sentinel majority and from its replicas,
and while a Sentinel majority fails it over; and it demotes it when it comes back after a
failover. Everything a peer can trigger (evaluations, queries, log lines) is rate-limited.
"""

from __future__ import annotations

import queue
import threading
import time

from sentinel_vip import stopping
from sentinel_vip.actions import check
from sentinel_vip.decision import agreement, election
from sentinel_vip.decision import isolation as rules
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes import pubsub
from sentinel_vip.store import track

VERDICT_CHANNELS = (
    "+switch-master", "+failover-end", "+failover-end-for-timeout", "+odown", "-odown",
    "+sdown", "-sdown", "+convert-to-slave", "+role-change", "-role-change",
    "+config-update-from", "+promoted-slave", "+reset-master",
    "-failover-abort-not-elected", "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout", "-failover-abort-master-changed",
)  # fmt: skip
# Events that precede a promotion (in Sentinel's order), and the down states behind them.
FAILOVER_CHANNELS = (
    "+try-failover", "+elected-leader", "+failover-state-select-slave", "+selected-slave",
    "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion", "+sdown", "+odown",
)  # fmt: skip
CHANNELS = tuple(sorted(set(VERDICT_CHANNELS) | set(FAILOVER_CHANNELS) | set(election.CHANNELS)))
# While a switch propagates, Sentinels disagree for a moment and one may be unreachable; an
# evaluation that waited the full check deadline would delay the next event's. Answers on a
# LAN take milliseconds, and an inconclusive result is not recorded (see check.evaluate).
EVENT_DEADLINE = 0.3
EVENT_DEADLINE_SILENT = 0.1  # when some Sentinel is known silent: waiting for it is useless
TICK = 0.05  # while a fence may be needed or is up
REST_TICK = 0.5  # otherwise: link changes and events wake the loop anyway
LOG_RATE, LOG_BURST = 1.0, 10  # sentinel_event lines per Sentinel
EVAL_RATE, EVAL_BURST = 2.0, 4  # event-triggered evaluations per Sentinel
RESTART_BACKOFF = (1.0, 30.0)


def relevant(master_name: str, data: str) -> bool:
    """Sentinel payloads name the master either first or after '@'; ``+new-epoch`` and
    ``+vote-for-leader`` name none (``decision.election`` attributes them)."""
    return master_name in data.split() or election.election_payload(data)


def peer_text(text: str, limit: int = 200) -> str:
    """What a peer sent, safe for one log line: control characters escaped, bounded."""
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _preload(config) -> None:
    """Import now, in the main thread, everything the threads or later code import lazily:
    Python 3.9's zip importer hands a half-initialised module to a second thread."""
    from sentinel_vip.actions import demote, election, failover, isolation, local  # noqa: F401
    from sentinel_vip.config import files  # noqa: F401 -- check.record
    from sentinel_vip.decision import demotion, facts  # noqa: F401
    from sentinel_vip.probes import endpoint, local_redis, sentinel  # noqa: F401  # novm
    from sentinel_vip.store import checkstate, metrics  # noqa: F401

    if config.redis.tls.enabled or any(s.tls.enabled for s in config.sentinels):
        import socket  # noqa: F401
        import ssl  # noqa: F401


class Watcher:
    def __init__(self, config, logger, inbox) -> None:
        from sentinel_vip.actions.election import Follower
        from sentinel_vip.actions.failover import Failover
        from sentinel_vip.actions.isolation import Isolation
        from sentinel_vip.actions.local import Local

        self.config, self.logger, self.inbox = config, logger, inbox
        self.stop = threading.Event()
        self.links = {s.label(): pubsub.Link(s.label()) for s in config.sentinels}
        self.threads: dict = {}
        self.restart_at: dict = {}
        self.restarts: dict = {}
        self.errors: dict = {}  # error text -> when it may be logged again
        self.local = Local(config, logger)
        self.isolation = Isolation(self.local, self.evaluate)
        self.failover = Failover(self.local, self.isolation)
        self.election = Follower(self.local)
        now = time.monotonic()
        self.log_buckets = {k: rules.Bucket(LOG_RATE, LOG_BURST, now) for k in self.links}
        self.eval_buckets = {k: rules.Bucket(EVAL_RATE, EVAL_BURST, now) for k in self.links}

    # ------------------------------------------------------------------ threads

    def _start(self, endpoint) -> None:
        label = endpoint.label()
        name = self.config.master_name
        thread = threading.Thread(
            target=pubsub.listen,
            args=(
                endpoint,
                self.links[label],
                CHANNELS,
                lambda d: relevant(name, d),
                self.inbox.put,
                self.stop,
            ),
            name=f"watch {label}",
            daemon=True,
        )
        thread.start()
        self.threads[label] = thread

    def _supervise(self, now: float) -> None:
        """A listener never returns; if one died anyway, start it again, later each time."""
        for endpoint in self.config.sentinels:
            label = endpoint.label()
            if self.threads[label].is_alive():
                continue
            if label not in self.restart_at:
                count = self.restarts.get(label, 0)
                wait = min(RESTART_BACKOFF[0] * 2**count, RESTART_BACKOFF[1])
                self.restart_at[label] = now + wait
                self.logger.log("err", "listener_died", sentinel=label, restart_in_s=wait)
            elif now >= self.restart_at[label]:
                del self.restart_at[label]
                self.restarts[label] = self.restarts.get(label, 0) + 1
                self._start(endpoint)

    # ------------------------------------------------------------------ evaluation

    def reach(self):
        self.local.silent = {k for k, link in self.links.items() if link.state == rules.SILENT}
        return rules.reach((link.key, link.state) for link in self.links.values())

    def evaluate(self, full: bool = False):
        """A fresh verdict, recorded unless inconclusive (the polled check's job), in turn
        with the check's (``store.track``): stamped before its facts are gathered, so it never
        replaces a verdict from facts gathered later, nor is replaced by one from older."""
        stamp = track.started()
        if full:
            return check.evaluate(self.config, self.logger, started=stamp)
        silent = any(link.state != rules.ALIVE for link in self.links.values())
        limit = EVENT_DEADLINE_SILENT if silent else EVENT_DEADLINE
        return check.evaluate(
            self.config,
            self.logger,
            deadline=min(self.config.check_deadline, limit),
            record_inconclusive=False,
            started=stamp,
        )

    def _handle(self, batch, now: float) -> tuple:
        """Log (rate-limited) and sort the hints: (evaluate?, Sentinels hinting a failover)."""
        wanted, failover = False, set()
        for item in batch:
            kind, label = item[0], item[1]
            bucket = self.log_buckets[label]
            if kind == "link":
                state, detail = item[2], item[3]
                self.election.forget(label)  # its backlog may be stale: what it said is void
                if bucket.take(now):
                    level = "info" if state == rules.ALIVE else "warning"
                    self.logger.log(
                        level,
                        "sentinel_link",
                        sentinel=label,
                        state=state,
                        detail=peer_text(detail) or None,
                        suppressed=bucket.pop_refused() or None,
                    )
                if state == rules.ALIVE:  # what happened while away: ask, do not replay
                    wanted = wanted or self.eval_buckets[label].take(now)
                continue
            channel, data = item[2], item[3]
            sentinel_id = item[4] if len(item) > 4 else self.links[label].sentinel_id
            self.election.event(label, sentinel_id, channel, data)
            if bucket.take(now):
                skipped = bucket.pop_refused()
                self.logger.log(
                    "info",
                    "sentinel_event",
                    sentinel=label,
                    channel=peer_text(channel, 64),
                    data=peer_text(data) or None,
                    suppressed=skipped or None,
                )
            if channel in FAILOVER_CHANNELS and self._about_us(data):
                failover.add(label)
            if channel in VERDICT_CHANNELS:
                wanted = wanted or self.eval_buckets[label].take(now)
        return wanted, failover

    def _about_us(self, data: str) -> bool:
        address = rules.event_master(self.config.master_name, data)
        # Only a hint (what to review): event payloads carry addresses, never a run_id.
        return address is not None and self.local.classify(*address) == agreement.SELF

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        for endpoint in self.config.sentinels:
            self._start(endpoint)
        self.logger.log(
            "info",
            "watch_start",
            sentinels=len(self.config.sentinels),
            reconcile=self.config.watch_reconcile_interval,
        )
        try:
            self.failover.start()
        except Exception as exc:  # a bug must not end the watcher: one line, go on
            self._error(exc)
        next_reconcile = time.monotonic()  # the first pass evaluates, as the check would
        while not stopping.requested():
            try:
                batch = _drain(self.inbox, TICK if self._busy() else REST_TICK)
                if stopping.WAKE in batch:
                    break
                now = time.monotonic()
                wanted, failover = self._handle(batch, now)
                for label in sorted(failover):
                    self.failover.hint(label, now)
                wanted = self.election.step(now) or wanted
                reconcile = now >= next_reconcile
                if (wanted or reconcile) and not self.isolation.fenced:
                    verdict = self.evaluate(full=reconcile)
                    self.isolation.after_verdict(verdict, time.monotonic())
                    self._pace(verdict)
                    if reconcile:
                        next_reconcile = now + self.config.watch_reconcile_interval
                self.isolation.tick(time.monotonic(), self.reach())
                self.failover.review_due(time.monotonic())
                self._supervise(time.monotonic())
            except Exception as exc:  # a bug must not end the watcher: one line, go on
                self._error(exc)
                self.stop.wait(1.0)

    def _busy(self) -> bool:
        """Something that needs the loop every TICK: a suspected or raised fence, a review."""
        failover = self.failover
        suspected = rules.isolation_suspected(self.reach())
        busy = suspected or self.isolation.fenced or failover.braking or failover.paused
        return busy or self.election.busy

    def _pace(self, verdict) -> None:
        """Fast heartbeats while the local Redis may be master (verdicts other than "this
        is a replica"): only a master has writes to fence."""
        every = (
            pubsub.PING_EVERY_REPLICA if verdict.code == ExitCode.NOT_MASTER else pubsub.PING_EVERY
        )
        for link in self.links.values():
            link.ping_every = every

    def _error(self, exc: Exception) -> None:
        """One line per distinct error per minute: a bug that repeats must not flood syslog."""
        text = peer_text(f"{type(exc).__name__}: {exc}")
        now = time.monotonic()
        if now >= self.errors.get(text, 0.0):
            self.errors[text] = now + 60.0
            self.logger.log("err", "watch_error", error=text)

    def close(self) -> None:
        self.stop.set()
        try:
            self.failover.stop()
            self.isolation.stop()
        finally:
            self.logger.log("info", "watch_stop")


def _drain(inbox, timeout: float) -> list:
    """Everything queued (a burst of events becomes one evaluation), waiting up to
    ``timeout`` for the first."""
    try:
        batch = [inbox.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            batch.append(inbox.get_nowait())
        except queue.Empty:
            return batch


LOCK_NAME = "watch.lock"


def _only_watcher(config, logger):
    """Hold ``state_dir/watch.lock`` for the watcher's life (released when it exits, however
    it exits). A second watcher on the same state would undo the first one's tripwire at
    its start (``Failover.start``) and fence alongside it: it refuses to run instead."""
    import os

    from sentinel_vip.errors import UsageError
    from sentinel_vip.store import disk

    path = os.path.join(config.state_dir, LOCK_NAME)
    try:
        fd = disk.open_private(path, os.O_RDWR, 0o600)
    except OSError as exc:  # the check reports an unusable state directory: not our job
        logger.log("warning", "watch_lock", path=path, error=exc.strerror or str(exc))
        return None
    try:
        disk.lock(fd, path, wait=0)
    except OSError:
        os.close(fd)
        raise UsageError(
            f"another watcher runs on {config.state_dir} (it holds {path}): stop it first"
            " (systemctl stop sentinel-vip-watch), one watcher per node"
        ) from None
    return fd


def run(config, logger) -> int:
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    stopping.wake_through(inbox)
    if stopping.requested():
        return 0
    held = _only_watcher(config, logger)  # noqa: F841 -- the lock lives as long as the fd
    _preload(config)
    watcher = Watcher(config, logger, inbox)
    try:
        watcher.run()
    finally:
        watcher.close()
    return 0
