"""React to Sentinel's decisions as events instead of waiting for the next poll.

Every Sentinel publishes ``+switch-master`` (and its other events) on pub/sub about a second
after a promotion. The watcher listens to all of them and re-evaluates the check the moment
one mentions our master, which rewrites the keepalived track file; keepalived notices by
inotify. The polled ``check`` stays the safety net: if the watcher dies, nothing fails open,
it is only slower. A periodic re-evaluation covers events lost while a Sentinel was away.
"""

from __future__ import annotations

import queue
import threading

from sentinel_vip.actions import check, fence
from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import Terminated
from sentinel_vip.probes.identity import identity_of

CHANNELS = (
    "+switch-master", "+failover-end", "+failover-end-for-timeout", "+odown", "-odown",
    "+sdown", "-sdown", "+convert-to-slave", "+role-change", "-role-change",
    "+config-update-from", "+promoted-slave", "+reset-master",
    *sorted(fence.FENCE_CHANNELS | fence.UNFENCE_CHANNELS),
)  # fmt: skip
# Long enough to cover a failover from +try-failover to our demotion by notify (~2 s);
# if the failover stalls, writes resume when it expires.
FENCE_PAUSE_MS = 10_000
# While a switch propagates, Sentinels disagree for a moment and one may be unreachable;
# an evaluation that waited the full check deadline would delay the next event's. Answers on
# a LAN take milliseconds, and an inconclusive result is not recorded (see check.evaluate).
EVENT_DEADLINE = 0.3
RECONNECTED = "(re)connected"


def relevant(master_name: str, data: str) -> bool:
    """Sentinel payloads name the master either first or after '@'."""
    return master_name in data.split()


def listen(endpoint, master_name: str, events: queue.Queue, stop: threading.Event) -> None:
    """One Sentinel's event stream, forever, reconnecting with a capped backoff."""
    import redis

    from sentinel_vip.probes.endpoint import redis_client

    backoff = 0.2
    while not stop.is_set():
        client = redis_client(endpoint, timeout=5.0)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(*CHANNELS)
            events.put((endpoint.label(), RECONNECTED, ""))
            backoff = 0.2
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    data = str(message.get("data", ""))
                    if relevant(master_name, data):
                        events.put((endpoint.label(), str(message["channel"]), data))
        except (redis.RedisError, OSError) as exc:
            events.put((endpoint.label(), "-connection", " ".join(str(exc).split())[:200]))
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            try:
                pubsub.close()
                client.close()
            except (redis.RedisError, OSError):
                pass


def run(config, logger) -> int:
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    for endpoint in config.sentinels:
        threading.Thread(
            target=listen,
            args=(endpoint, config.master_name, events, stop),
            name=f"watch {endpoint.label()}",
            daemon=True,
        ).start()
    logger.log("info", "watch_start", sentinels=len(config.sentinels),
               reconcile=config.watch_reconcile_interval)  # fmt: skip
    link: dict = {}  # sentinel -> last connection event, so a dead Sentinel logs once
    classify = identity_of(config).classify
    try:
        check.evaluate(config, logger)
        while True:
            try:
                first = events.get(timeout=config.watch_reconcile_interval)
            except queue.Empty:
                first = None  # periodic reconciliation
            for sentinel, channel, data in _drain(first, events):
                if channel in (RECONNECTED, "-connection"):
                    if link.get(sentinel) == channel:
                        continue
                    link[sentinel] = channel
                level = "warning" if channel == "-connection" else "info"
                logger.log(level, "sentinel_event", sentinel=sentinel, channel=channel,
                           data=data or None)  # fmt: skip
                action = fence.action_for(channel, config.master_name, data, classify)
                if action is not None:
                    done = fence.apply(
                        config.redis, action, FENCE_PAUSE_MS, Deadline(config.check_deadline)
                    )
                    logger.log("warning", "fence", action=action, result=done, channel=channel)
            if first is None:  # a quiet-period reconcile: the check's own rules
                check.evaluate(config, logger)
            else:
                check.evaluate(
                    config,
                    logger,
                    deadline=min(config.check_deadline, EVENT_DEADLINE),
                    record_inconclusive=False,
                )
    except Terminated:
        pass
    finally:
        stop.set()
        logger.log("info", "watch_stop")
    return 0


def _drain(first, events: queue.Queue) -> list:
    """Coalesce a burst (every Sentinel publishes the same switch) into one evaluation."""
    batch = [first] if first is not None else []
    while True:
        try:
            batch.append(events.get_nowait())
        except queue.Empty:
            return batch
