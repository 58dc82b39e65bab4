"""Ask every configured Sentinel, concurrently, within one deadline.

One Sentinel's view can be stale or cut off, so callers need all of them; a hung or
black-holed Sentinel must cost no more than the deadline. Each Sentinel is asked in its
own thread with its own connection, in one round trip (pipelined): its own id (SENTINEL
MYID, to count it once however many addresses reach it), the master's address and SENTINEL
MASTER (the master's run_id, flags, failover state). Everything it sends is validated here;
a reply that is not what it must be is a protocol error, never a vote. The caller waits for
the answers until every answer is in, the deadline passes, or ``enough(answers_so_far)``
says the outcome is already decided.

The threads come from the documented low-level ``_thread`` module: ``threading.Thread.start``
waits until each new thread has run, ~0.5 ms apiece on a busy VM, paid every second by the
check. Like daemon threads they never delay the exit, so a hung Sentinel cannot either.
"""

from __future__ import annotations

import _thread
import time
from collections.abc import Callable, Sequence

from sentinel_vip.decision.address import canonical_host, port_number
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.probes.resp import ProbeError, ProtocolError, ReplyError, connect

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: importing typing costs the check ~3 ms a run
    from typing import Any

NOT_WAITED = "not waited for"
UNKNOWN_MASTER = "unknown master name"
# Once ``enough`` says the outcome is settled, answers still on their way are let in for this
# long (Sentinels answer in a millisecond or two; a hung one never): the verdict's reason
# then does not depend on which answer happened to arrive first, so it stays stable from run
# to run and the check does not log a "change" every second.
SETTLED_GRACE = 0.02

# collections.abc, not typing (see decide.py).
Enough = Callable[[tuple[SentinelAnswer, ...]], bool]


def _is_unknown_subcommand(exc) -> bool:
    if not isinstance(exc, ReplyError):
        return False
    text = exc.reply.lower()
    return "unknown" in text and ("subcommand" in text or "command" in text)


def _is_unknown_master(exc) -> bool:
    text = exc.reply.lower()
    return "no such master" in text or "no such primary" in text


def _raise(reply):
    """A reply, or raise the error reply that took its place in a pipeline."""
    if isinstance(reply, ReplyError):
        raise reply
    return reply


def hex_id(text) -> str | None:
    """A 40-hex-digit id (Sentinel's myid, a Redis run_id), lower case; None otherwise."""
    if isinstance(text, str) and len(text) == 40 and not text.strip("0123456789abcdefABCDEF"):
        return text.lower()
    return None


def info_field(info, name: str) -> str | None:
    """The value of ``name:`` in an INFO reply, or None."""
    if isinstance(info, str):
        prefix = name + ":"
        for line in info.split("\n"):  # a section is about 1 KB
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return None


def run_id_of(info) -> str | None:
    """The ``run_id`` line of an ``INFO server`` reply, validated; None when absent."""
    return hex_id(info_field(info, "run_id"))


def _word(text: str) -> bool:
    """Sentinel's flag and state words: letters, digits, '_' and ',' (or nothing)."""
    return text == "" or (text.isascii() and text.replace("_", "").replace(",", "").isalnum())


def _address(host, port):
    """(canonical host, port) from peer text, or None when either is not what it must be."""
    canonical = canonical_host(host)
    number = port_number(port)
    return None if canonical is None or number is None else (canonical, number)


def _master_fields(reply, label: str) -> tuple:
    """(fields, about, runid) of a SENTINEL MASTER reply; ProtocolError when it is not one.

    ``about`` is the address it describes; every field we act on is validated here."""
    if not isinstance(reply, list) or len(reply) % 2 or len(reply) > 400:
        raise ProtocolError(f"{label}: unexpected SENTINEL MASTER reply")
    fields = {}
    for key, value in zip(reply[::2], reply[1::2]):
        if isinstance(key, str) and isinstance(value, (str, int)) and not isinstance(value, bool):
            fields[key] = str(value)
    about = _address(fields.get("ip"), fields.get("port"))
    runid = fields.get("runid", "")
    if about is None:
        raise ProtocolError(f"{label}: SENTINEL MASTER names no valid address")
    if runid and hex_id(runid) is None:
        raise ProtocolError(f"{label}: SENTINEL MASTER has a malformed runid")
    if not _word(fields.get("flags", "")) or not _word(fields.get("failover-state", "")):
        raise ProtocolError(f"{label}: SENTINEL MASTER has malformed flags")
    return fields, about, runid.lower() or None


# SENTINEL REPLICAS: at most this many replicas, and fields per replica, are read.
MAX_REPLICAS = 256
MAX_REPLICA_FIELDS = 200


def _replicas(reply) -> tuple | None:
    """((address, run_id or None), ...) from a SENTINEL REPLICAS reply; entries that are not
    what they must be are left out; None when the reply is not a list (refused, too long)."""
    if not isinstance(reply, list) or len(reply) > MAX_REPLICAS:
        return None
    found = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) % 2 or len(entry) > MAX_REPLICA_FIELDS:
            continue
        fields = dict(zip(entry[::2], entry[1::2]))
        address = _address(fields.get("ip"), fields.get("port"))
        if address is not None:
            found.append((address, hex_id(fields.get("runid"))))
    return tuple(found)


# SENTINEL SENTINELS: a reply listing more peers than this is a hostile or broken peer.
MAX_PEERS = 64


def _peers(reply) -> tuple | None:
    """((sentinel id, flags, ms since its last hello or None), ...) from a SENTINEL
    SENTINELS reply: the fellow Sentinels this one hears. Entries without a valid id are
    left out; None when the reply is not a list (refused by an ACL, too long)."""
    if not isinstance(reply, list) or len(reply) > MAX_PEERS:
        return None
    found = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) % 2 or len(entry) > MAX_REPLICA_FIELDS:
            continue
        fields = dict(zip(entry[::2], entry[1::2]))
        peer_id, flags = hex_id(fields.get("runid")), fields.get("flags", "")
        if peer_id is None or not isinstance(flags, str) or not _word(flags):
            continue
        hello = str(fields.get("last-hello-message", ""))
        hello = int(hello) if hello.isdigit() and len(hello) < 19 else None
        found.append((peer_id, frozenset(f for f in flags.split(",") if f), hello))
    return tuple(found)


def _sentinel_id(conn, reply, label: str) -> str:
    if _is_unknown_subcommand(reply):  # Sentinel 6.0 has no MYID: its run_id is as unique
        reply = run_id_of(conn.call("INFO", "server"))
    else:
        reply = hex_id(_raise(reply))
    if reply is None:
        raise ProtocolError(f"{label}: no valid Sentinel id (SENTINEL MYID)")
    return reply


def _ask(
    endpoint, master_name: str, deadline, replicas: bool = False, peers: bool = False
) -> SentinelAnswer:
    """One Sentinel, one round trip: its id, the master's address and its SENTINEL MASTER
    (and, when ``replicas``, SENTINEL REPLICAS: the servers it would convert; when
    ``peers``, SENTINEL SENTINELS: the Sentinels it hears)."""
    label = endpoint.label()
    known = heard = None
    try:
        with connect(endpoint, deadline) as conn:
            extra = (("SENTINEL", "REPLICAS", master_name),) if replicas else ()
            extra += (("SENTINEL", "SENTINELS", master_name),) if peers else ()
            myid, named, state, *listed = conn.pipeline(
                ("SENTINEL", "MYID"),
                ("SENTINEL", "get-master-addr-by-name", master_name),
                ("SENTINEL", "MASTER", master_name),
                *extra,
            )
            if replicas:
                known = _replicas(listed.pop(0))
            if peers:
                heard = _peers(listed.pop(0))
            if _is_unknown_subcommand(named) or _is_unknown_subcommand(state):
                named, state = conn.pipeline(  # a server that knows only the 'primary' names
                    ("SENTINEL", "get-primary-addr-by-name", master_name),
                    ("SENTINEL", "PRIMARY", master_name),
                )
            sentinel_id = _sentinel_id(conn, myid, label)
        named = _raise(named)
        if isinstance(state, ReplyError) and _is_unknown_master(state) and named is None:
            return SentinelAnswer(label, True, None, UNKNOWN_MASTER, None, sentinel_id)
        fields, about, runid = _master_fields(_raise(state), label)
    except ProbeError as exc:
        return SentinelAnswer(label, False, None, str(exc), exc.kind)
    master = None
    if isinstance(named, list) and len(named) == 2:
        master = _address(named[0], named[1])
    if master is None:
        error = f"{label}: unexpected get-master-addr-by-name reply"
        return SentinelAnswer(label, False, None, error, "protocol")
    # During a failover's reconfiguration the leader already names the promoted replica while
    # SENTINEL MASTER still describes the old master: a runid only counts for its address.
    return SentinelAnswer(
        label, True, master, None, None, sentinel_id,
        runid if about == master else None, about, fields, known, heard,
    )  # fmt: skip


def _gather(
    endpoints: Sequence,
    deadline,
    ask: Callable[[Any], Any],
    missing: Callable[[Any, str, str], Any],
    enough: Callable[[tuple], bool] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple:
    """Run ``ask(endpoint)`` for every endpoint in parallel; results in configured order.

    ``missing(endpoint, error, kind)`` builds the record for one we stopped waiting for.
    ``meanwhile()`` runs in the caller's thread once the workers are started (one thread
    fewer than giving it its own).
    """
    arrived: list = []  # (index, result) as the workers finish
    guard = _thread.allocate_lock()
    wakeup = _thread.allocate_lock()  # held while nothing new has arrived
    wakeup.acquire()

    def worker(index: int, endpoint) -> None:
        try:
            result = ask(endpoint)
        except Exception as exc:  # a bug must not hang the caller; report it as an answer
            result = missing(endpoint, f"{endpoint.label()}: internal error: {exc!r}", "protocol")
        with guard:
            arrived.append((index, result))
            if wakeup.locked():  # only workers release, only under guard: never twice
                wakeup.release()

    for index, endpoint in enumerate(endpoints):
        _thread.start_new_thread(worker, (index, endpoint))
    if meanwhile is not None:
        meanwhile()

    got: dict[int, Any] = {}
    settle_by = None  # once the outcome is settled: how long stragglers may still come in
    while len(got) < len(endpoints):
        with guard:
            new = arrived[len(got) :]
        for index, result in new:
            got[index] = result
            if settle_by is None and enough is not None and len(got) < len(endpoints):
                if enough(tuple(got[i] for i in sorted(got))):
                    settle_by = time.monotonic() + SETTLED_GRACE
        if new:
            continue
        # Past the deadline (``meanwhile`` may have used it up) only what is in counts.
        remaining = deadline.remaining()
        if settle_by is not None:
            remaining = min(remaining, settle_by - time.monotonic())
        if remaining <= 0:
            break
        wakeup.acquire(timeout=remaining)  # a worker's answer, or the deadline
    stopped_early = settle_by is not None

    out = []
    for index, endpoint in enumerate(endpoints):
        if index in got:
            out.append(got[index])
        elif stopped_early:
            out.append(missing(endpoint, NOT_WAITED, None))
        else:
            out.append(missing(endpoint, f"{endpoint.label()}: timed out", "unreachable"))
    return tuple(out)


def ask_sentinels(
    endpoints: Sequence,
    master_name: str,
    deadline,
    enough: Enough | None = None,
    meanwhile: Callable[[], object] | None = None,
    replicas: bool = False,
    peers: bool = False,
) -> tuple[SentinelAnswer, ...]:
    """Every Sentinel's id, ``get-master-addr-by-name`` and ``SENTINEL MASTER``, in the
    configured order (``SentinelAnswer``).

    ``enough(answers_so_far)`` (completed answers, configured order) may end the wait
    early; Sentinels not waited for are recorded as answered=False, error="not waited for".
    ``meanwhile()`` runs in the caller's thread while the Sentinels are being asked.
    ``replicas``: read SENTINEL REPLICAS too (``SentinelAnswer.replicas``; demotions only).
    ``peers``: read SENTINEL SENTINELS too (``SentinelAnswer.peers``; the watcher's fences).
    """

    def missing(endpoint, error: str, kind: str | None) -> SentinelAnswer:
        return SentinelAnswer(endpoint.label(), False, None, error, kind)

    return _gather(
        endpoints,
        deadline,
        lambda endpoint: _ask(endpoint, master_name, deadline, replicas, peers),
        missing,
        enough,
        meanwhile,
    )
