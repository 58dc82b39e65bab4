"""What every Sentinel says about our master and about its fellow Sentinels, fresh.

The watcher's evidence before it holds writes: per Sentinel, ``SENTINEL MASTER NAME`` (flags,
failover state, down-after) and ``SENTINEL SENTINELS NAME`` (the peers it hears hellos from:
a Sentinel the others do not hear is no member of the quorum, whatever it claims). Asked
concurrently on one connection each, within one deadline; a Sentinel that does not answer
in time is reported as an error and proves nothing.
"""

from __future__ import annotations

import threading

from sentinel_vip.probes.resp import ProbeError, ProtocolError, ReplyError, TimedOut, connect

MAX_PEERS = 64  # a reply listing more Sentinels than this is a hostile or broken peer


def _fields(reply) -> dict | None:
    if not isinstance(reply, list) or len(reply) % 2:
        return None
    return {
        k: str(v) for k, v in zip(reply[::2], reply[1::2]) if isinstance(k, str) and v is not None
    }


def _ask(endpoint, master_name: str, deadline):
    try:
        with connect(endpoint, deadline) as conn:
            master = _fields(conn.call("SENTINEL", "MASTER", master_name))
            if master is None:
                return ProtocolError(f"{endpoint.label()}: unexpected SENTINEL MASTER reply")
            peers = []
            try:
                reply = conn.call("SENTINEL", "SENTINELS", master_name)
            except ReplyError:
                reply = []  # an ACL without it: the master view still counts
            for entry in reply[:MAX_PEERS] if isinstance(reply, list) else ():
                fields = _fields(entry)
                if fields is not None:
                    peers.append(fields)
            return {"master": master, "sentinels": peers}
    except ProbeError as exc:
        return exc


def views(endpoints, master_name: str, deadline) -> tuple:
    """Per configured Sentinel, in order: {"master": {...}, "sentinels": [{...}, ...]} or the
    ProbeError that prevented it."""
    out: list = [TimedOut("not answered in time")] * len(endpoints)

    def work(index: int, endpoint) -> None:
        try:
            out[index] = _ask(endpoint, master_name, deadline)
        except Exception as exc:  # a bug must not hang the caller: it is an answer too
            out[index] = ProtocolError(f"{endpoint.label()}: internal error: {exc!r}"[:200])

    threads = [
        threading.Thread(target=work, args=(i, e), daemon=True) for i, e in enumerate(endpoints)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline.remaining(), 0.0))
    return tuple(out)


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
