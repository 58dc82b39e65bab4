"""Sentinel pub/sub on our own RESP client, with a heartbeat: a link is known alive.

A subscribed TCP connection survives a network cut silently, and after the heal delivers the
whole backlog of the cut, seconds late. So each link PINGs in subscribed mode every
``PING_EVERY`` (``PING_EVERY_REPLICA`` while the local Redis is a replica: only a master
needs to know within a fraction of a second) and counts as dead when nothing at all came
back for ``SILENT_PINGS`` periods: the connection is then dropped (its backlog with it) and
opened again. The watcher reads each
link's state (``Link``) to tell "Sentinels silent: maybe a partition" from "Sentinels down".

One thread per Sentinel runs ``listen``. It imports nothing (every module it needs is
imported by the time it starts: Python 3.9's zip importer hands a half-initialised module to
a second thread importing it at the same time), never raises, and talks to the watcher only
through ``post`` (a ``queue.SimpleQueue.put``) and its ``Link``.
"""

from __future__ import annotations

import errno as errnos
import threading
import time

from sentinel_vip.deadline import Deadline
from sentinel_vip.decision.isolation import ALIVE, CONNECTING, DOWN, REFUSING, SILENT
from sentinel_vip.probes.resp import ProbeError, ProtocolError, ReplyError, TimedOut, connect
from sentinel_vip.probes.sentinel import hex_id

PING_EVERY = 0.1  # on a master's watcher: its isolation fence needs to know within 0.25 s
PING_EVERY_REPLICA = 1.0  # a replica's watcher has nothing to fence: heartbeats cost CPU
SILENT_PINGS = 2.5  # no reply at all for this many ping periods and the link is dead
SILENT_AFTER = PING_EVERY * SILENT_PINGS
CONNECT_TIMEOUT = 0.3
RETRY_DOWN = (0.1, 2.0)  # refused/closed: first and longest wait before the next attempt
RETRY_REFUSING = 5.0  # auth, TLS or protocol refusal: an admin has to act, do not hammer
STABLE_AFTER = 5.0  # a link that lived this long resets the backoff
# Messages a second on one link beyond which it is dropped as refusing (retried after
# RETRY_REFUSING): a Sentinel publishes a handful per event, a flooding peer 60,000+, each
# parsed here (one core at ~85%, and the fences' own timing suffers).
FLOOD_LIMIT = 5000

# The host answered: no partition hides this Sentinel.
_ANSWERED = frozenset({errnos.ECONNREFUSED, errnos.ECONNRESET, errnos.EPIPE})


class Link:
    """One Sentinel link as its listener sees it. Written by the listener thread only (plain
    attribute stores: atomic under the GIL), read by the watcher."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.state = CONNECTING
        self.sentinel_id: str | None = None  # SENTINEL MYID once known
        self.detail = ""
        self.generation = 0  # +1 per successful (re)subscription
        self.ping_every = PING_EVERY  # set by the watcher: fast while the local Redis is master

    @property
    def key(self) -> str:
        return self.sentinel_id or self.label


def down_kind(exc: ProbeError) -> str:
    """SILENT when nothing answered (maybe a partition), DOWN when the host refused or closed
    the connection, REFUSING when the Sentinel answered but would not let us in."""
    if isinstance(exc, TimedOut):
        return SILENT
    if exc.kind != "unreachable":
        return REFUSING
    if exc.errno is None or exc.errno in _ANSWERED:
        return DOWN  # refused, reset, or closed by the peer (EOF): its host is up
    return SILENT  # no route, host unreachable, network down: nothing answered


class Subscription:
    """A connection subscribed to ``channels`` (opened by ``open``)."""

    def __init__(self, conn, sentinel_id: str | None) -> None:
        self.conn = conn
        self.sentinel_id = sentinel_id

    @classmethod
    def open(cls, endpoint, channels, deadline) -> Subscription:
        conn = connect(endpoint, deadline)
        try:
            sentinel_id = _myid(conn)
            conn.send("SUBSCRIBE", *channels)
            for _ in channels:
                reply = conn.read()
                if not (isinstance(reply, list) and reply and reply[0] == "subscribe"):
                    raise ReplyError(f"unexpected SUBSCRIBE reply {str(reply)[:60]!r}")
        except BaseException:
            conn.close()
            raise
        return cls(conn, sentinel_id)

    def close(self) -> None:
        self.conn.close()


def _myid(conn) -> str | None:
    """SENTINEL MYID (6.2+): counts one Sentinel once however many names reach it."""
    try:
        reply = conn.call("SENTINEL", "MYID")
    except ReplyError:
        return None
    return hex_id(reply)


def listen(endpoint, link: Link, channels, relevant, post, stop) -> None:
    """One Sentinel's events, forever: reconnect after each failure (at once after silence,
    with a capped backoff after a refusal). Never raises: a bug is posted and retried."""
    wait = RETRY_DOWN[0]
    while not stop.is_set():
        try:
            sub = Subscription.open(endpoint, channels, Deadline(CONNECT_TIMEOUT))
        except ProbeError as exc:
            kind = down_kind(exc)
            _set(link, kind, str(exc), post)
            if kind == SILENT:
                stop.wait(0.05)  # the attempt itself took CONNECT_TIMEOUT
            else:
                stop.wait(RETRY_REFUSING if kind == REFUSING else wait)
                wait = min(wait * 2, RETRY_DOWN[1])
            continue
        except Exception as exc:  # a bug: say so once per failure, retry later
            _set(link, REFUSING, f"internal error: {exc!r}"[:200], post)
            stop.wait(RETRY_REFUSING)
            continue
        link.sentinel_id = sub.sentinel_id
        link.generation += 1
        _set(link, ALIVE, "", post)
        opened = time.monotonic()
        try:
            _pump(sub, link, relevant, post, stop)
        except ProbeError as exc:
            kind = down_kind(exc)
            _set(link, kind, str(exc), post)
            if kind == REFUSING:  # a flood (or a protocol error): do not hammer
                stop.wait(RETRY_REFUSING)
        except Exception as exc:
            _set(link, REFUSING, f"internal error: {exc!r}"[:200], post)
            stop.wait(RETRY_REFUSING)
        finally:
            sub.close()
        if time.monotonic() - opened >= STABLE_AFTER:
            wait = RETRY_DOWN[0]  # it had worked for a while: this is a new failure
        else:  # a peer that accepts and drops us at once gets the growing backoff too
            stop.wait(wait)
            wait = min(wait * 2, RETRY_DOWN[1])


def _set(link: Link, state: str, detail: str, post) -> None:
    changed = link.state != state
    link.state, link.detail = state, detail
    if changed:
        post(("link", link.label, state, detail))


def _pump(sub: Subscription, link: Link, relevant, post, stop) -> None:
    conn = sub.conn
    heard = time.monotonic()
    next_ping = heard
    window, count = heard, 0  # messages since ``window``, for FLOOD_LIMIT
    while not stop.is_set():
        now = time.monotonic()
        every = link.ping_every
        silent_after = every * SILENT_PINGS
        if now >= next_ping:
            conn.send("PING", deadline=Deadline(silent_after))
            next_ping = now + every
        until = min(next_ping, heard + silent_after)
        try:
            message = conn.read(Deadline(max(until - now, 0.001)))
        except ReplyError:
            # An ACL without +ping refuses our heartbeat: a refusal is still an answer.
            message = None
        except TimedOut:
            if time.monotonic() < heard + silent_after:
                continue
            try:  # late by our own fault (descheduled)? what is buffered already counts
                message = conn.read(Deadline(0.005))
            except TimedOut:
                raise TimedOut(f"{link.label}: no reply to PING within {silent_after:g}s") from None
        heard = time.monotonic()
        count += 1
        if count > FLOOD_LIMIT:
            if heard - window < 1.0:
                raise ProtocolError(f"{link.label}: over {FLOOD_LIMIT} messages in 1 s: flooding")
            window, count = heard, 0
        if isinstance(message, list) and len(message) == 3 and message[0] == "message":
            channel, data = message[1], message[2]
            if isinstance(channel, str) and isinstance(data, str) and relevant(data):
                post(("event", link.label, channel, data, sub.sentinel_id))


def start_pings(endpoints, deadline):
    """PING each endpoint on a fresh connection, concurrently; returns ``wait()``, which
    blocks until all answered or the deadline passed and returns how many answered (an
    error reply counts: the host spoke). For the watcher to double-check heartbeats that
    went silent before it fences: a stall of this host must not pass for a partition."""
    answered: list = []

    def work(endpoint) -> None:
        try:
            with connect(endpoint, deadline) as conn:
                conn.call("PING")
            answered.append(endpoint.label())
        except ReplyError:
            answered.append(endpoint.label())
        except ProbeError as exc:
            if exc.kind != "unreachable":
                answered.append(endpoint.label())  # auth/TLS refusals: it answered
        except Exception:  # noqa: S110 -- a bug proves nothing either way: not counted
            pass

    threads = [threading.Thread(target=work, args=(e,), daemon=True) for e in endpoints]
    for thread in threads:
        thread.start()

    def wait() -> int:
        for thread in threads:
            thread.join(max(deadline.remaining(), 0.0))
        return len(set(answered))

    return wait
