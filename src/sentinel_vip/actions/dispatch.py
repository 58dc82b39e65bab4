"""One watcher for several instances: one subscription per Sentinel, events routed by master.

With one instance the watcher is ``actions.watch`` as it always was. With several
(``config.instances``), this module owns the Sentinel links: one ``probes.pubsub.listen``
thread and one connection per distinct Sentinel, however many instances use it, instead of
one per instance and Sentinel. Every event Sentinel publishes names its master
(``<type> <name> <ip> <port> @ <master-name> ...``), so each event goes to the inbox of the
instances whose master it names, and each link change to every instance that counts that
Sentinel. Each instance keeps its own ``watch.Watcher`` (its own evaluations, fences, rate
limits and track file) in its own thread: a slow evaluation or a fence of one master never
delays another's.

A link's heartbeat period is the fastest any of its instances wants (``PING_EVERY`` while one
of them may be master): one master on this node is enough to need a partition known fast.
"""

from __future__ import annotations

import queue
import threading
import time

from sentinel_vip import stopping
from sentinel_vip.actions import watch
from sentinel_vip.decision.election import election_payload
from sentinel_vip.log import Logger
from sentinel_vip.probes import pubsub

SUPERVISE_EVERY = 1.0
JOIN_TIMEOUT = 5.0


class InstanceLogger(Logger):
    """The instance's logger: every line says which instance it is about."""

    def __init__(self, name: str, config) -> None:
        super().__init__(
            syslog=config.log_syslog,
            socket_path=config.syslog_socket,
            facility=config.log_facility,
        )
        self.instance = name

    def log(self, level: str, event: str, **fields) -> str:
        return super().log(level, event, instance=self.instance, **fields)


class InstanceWatcher(watch.Watcher):
    """``watch.Watcher`` for one instance, on links the ``Hub`` owns: it starts and
    supervises no listener, and asks the hub to set the links' heartbeat."""

    def __init__(self, hub, name: str, config, logger, inbox) -> None:
        super().__init__(config, logger, inbox)
        self.hub, self.name = hub, name
        self.links = {s.label(): hub.links[hub.key(s)] for s in config.sentinels}
        self.ping_every = pubsub.PING_EVERY

    def _start(self, endpoint) -> None:
        """The hub's listener serves this Sentinel."""

    def _supervise(self, now: float) -> None:
        """The hub supervises the listeners."""

    def _pace(self, verdict) -> None:
        from sentinel_vip.errors import ExitCode

        replica = verdict.code == ExitCode.NOT_MASTER
        self.ping_every = pubsub.PING_EVERY_REPLICA if replica else pubsub.PING_EVERY
        self.hub.pace()


class Hub:
    def __init__(self, instances, logger) -> None:
        self.logger = logger
        self.stop = threading.Event()
        self.endpoints: dict = {}  # key -> Endpoint
        self.links: dict = {}  # key -> pubsub.Link
        self.threads: dict = {}
        self.restart_at: dict = {}
        self.restarts: dict = {}
        for _, config in instances:
            for endpoint in config.sentinels:
                key = self.key(endpoint)
                if key not in self.links:
                    self.endpoints[key] = endpoint
                    self.links[key] = pubsub.Link(endpoint.label())
        self.watchers = []
        for name, config in instances:
            inbox: queue.SimpleQueue = queue.SimpleQueue()
            self.watchers.append(
                InstanceWatcher(self, name, config, InstanceLogger(name, config), inbox)
            )
        # key -> the watchers that count this Sentinel, master name -> the watchers of it
        self.by_link = {key: [] for key in self.links}
        self.by_master: dict = {}
        for watcher in self.watchers:
            for endpoint in watcher.config.sentinels:
                self.by_link[self.key(endpoint)].append(watcher)
            self.by_master.setdefault(watcher.config.master_name, []).append(watcher)
        self.masters = frozenset(self.by_master)
        self.loops: list = []

    @staticmethod
    def key(endpoint):
        """One connection per Sentinel and per way of reaching it: instances that name the
        same Sentinel with other credentials or TLS settings get their own connection."""
        return endpoint  # a frozen record: equal fields, equal key

    # ------------------------------------------------------------------ routing

    def relevant(self, data: str) -> bool:
        # +new-epoch and +vote-for-leader name no master (watch.relevant lets them through
        # too): every instance on the link gets them, its election rule ties them to its own
        # master through the leader's +try-failover.
        return not self.masters.isdisjoint(data.split()) or election_payload(data)

    def post_from(self, key):
        """The ``post`` of one listener: its items, routed to the instances concerned."""
        sharing = self.by_link[key]

        def post(item) -> None:
            if item[0] == "link":
                for watcher in sharing:
                    watcher.inbox.put(item)
                return
            data = item[3] if len(item) > 3 and isinstance(item[3], str) else ""
            words, unnamed = data.split(), election_payload(data)
            for watcher in sharing:
                if unnamed or watcher.config.master_name in words:
                    watcher.inbox.put(item)

        return post

    def pace(self) -> None:
        for key, link in self.links.items():
            wanted = [w.ping_every for w in self.by_link[key]]
            link.ping_every = min(wanted) if wanted else pubsub.PING_EVERY_REPLICA

    # ------------------------------------------------------------------ threads

    def _start(self, key) -> None:
        thread = threading.Thread(
            target=pubsub.listen,
            args=(
                self.endpoints[key],
                self.links[key],
                watch.CHANNELS,
                self.relevant,
                self.post_from(key),
                self.stop,
            ),
            name=f"watch {self.links[key].label}",
            daemon=True,
        )
        thread.start()
        self.threads[key] = thread

    def supervise(self, now: float) -> None:
        """A listener never returns; if one died anyway, start it again, later each time."""
        for key in self.links:
            if self.threads[key].is_alive():
                continue
            label = self.links[key].label
            if key not in self.restart_at:
                count = self.restarts.get(key, 0)
                wait = min(watch.RESTART_BACKOFF[0] * 2**count, watch.RESTART_BACKOFF[1])
                self.restart_at[key] = now + wait
                self.logger.log("err", "listener_died", sentinel=label, restart_in_s=wait)
            elif now >= self.restart_at[key]:
                del self.restart_at[key]
                self.restarts[key] = self.restarts.get(key, 0) + 1
                self._start(key)

    def _loop(self, watcher) -> None:
        try:
            watcher.run()
        except BaseException as exc:
            self.logger.log(
                "err", "watch_error", instance=watcher.name, error=watch.peer_text(repr(exc))
            )
        finally:
            try:
                watcher.close()
            except Exception as exc:
                self.logger.log(
                    "err", "watch_error", instance=watcher.name, error=watch.peer_text(repr(exc))
                )

    def run(self, wake) -> None:
        for key in self.links:
            self._start(key)
        self.logger.log(
            "info",
            "watch_instances",
            instances=",".join(w.name for w in self.watchers),
            sentinel_connections=len(self.links),
        )
        for watcher in self.watchers:
            loop = threading.Thread(
                target=self._loop, args=(watcher,), name=f"instance {watcher.name}", daemon=True
            )
            loop.start()
            self.loops.append(loop)
        while not stopping.requested():
            try:
                item = wake.get(timeout=SUPERVISE_EVERY)
            except queue.Empty:
                item = None
            if item == stopping.WAKE:
                break
            self.supervise(time.monotonic())

    def close(self) -> None:
        self.stop.set()
        for watcher in self.watchers:
            watcher.inbox.put(stopping.WAKE)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for loop in self.loops:
            loop.join(max(0.0, deadline - time.monotonic()))


def run(instances, problems, logger) -> int:
    """Serve every instance that loaded; say once which did not (their checks still run)."""
    for problem in problems:
        logger.log("err", "instance_skipped", problem=problem)
    wake: queue.SimpleQueue = queue.SimpleQueue()
    stopping.wake_through(wake)
    if stopping.requested() or not instances:
        return 0
    for _, config in instances:
        watch._preload(config)
    hub = Hub(instances, logger)
    try:
        hub.run(wake)
    finally:
        hub.close()
    return 0
