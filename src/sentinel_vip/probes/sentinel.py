"""Ask every configured Sentinel, concurrently, within one deadline.

One Sentinel's view can be stale or cut off, so callers need all of them; a hung or
black-holed Sentinel must cost no more than the deadline. Each Sentinel is asked in its
own thread with its own connection; the caller waits for their answers until every
answer is in, the deadline passes, or ``enough(answers_so_far)`` says the outcome is
already decided.

The threads come from the documented low-level ``_thread`` module: ``threading.Thread.start``
waits until each new thread has run, ~0.5 ms apiece on a busy VM, paid every second by the
check. Like daemon threads they never delay the exit, so a hung Sentinel cannot either.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable, Sequence

from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.probes.resp import ProbeError, ProtocolError, ReplyError, Unreachable, connect

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: importing typing costs the check ~3 ms a run
    from typing import Any, Union

    # one SENTINEL MASTER reply as a dict of strings, or the ProbeError that prevented it
    MasterState = Union[dict[str, str], ProbeError]

NOT_WAITED = "not waited for"
UNKNOWN_MASTER = "unknown master name"

# collections.abc, not typing: socket has imported it already.
Enough = Callable[[tuple[SentinelAnswer, ...]], bool]


def _is_unknown_subcommand(exc: ReplyError) -> bool:
    text = exc.reply.lower()
    return "unknown" in text and ("subcommand" in text or "command" in text)


def _call_sentinel(conn, subcommand: str, fallback: str, master_name: str):
    """SENTINEL <subcommand> NAME; Valkey-only servers may know only the 'primary' name."""
    try:
        return conn.call("SENTINEL", subcommand, master_name)
    except ReplyError as exc:
        if not _is_unknown_subcommand(exc):
            raise
    return conn.call("SENTINEL", fallback, master_name)


def _master_address(endpoint, master_name: str, deadline) -> SentinelAnswer:
    label = endpoint.label()
    try:
        with connect(endpoint, deadline) as conn:
            reply = _call_sentinel(
                conn, "get-master-addr-by-name", "get-primary-addr-by-name", master_name
            )
    except ReplyError as exc:
        return SentinelAnswer(label, False, None, str(exc), exc.kind)
    except ProbeError as exc:
        return SentinelAnswer(label, False, None, str(exc), exc.kind)
    if reply is None:
        return SentinelAnswer(label, True, None, UNKNOWN_MASTER)
    if (
        isinstance(reply, list)
        and len(reply) == 2
        and isinstance(reply[0], str)
        and isinstance(reply[1], str)
        and reply[0]
    ):
        try:
            port = int(reply[1])
        except ValueError:
            port = -1
        if 0 < port < 65536:
            return SentinelAnswer(label, True, (reply[0], port), None)
    error = f"{label}: unexpected get-master-addr-by-name reply"
    return SentinelAnswer(label, False, None, error, "protocol")


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
    stopped_early = False
    while len(got) < len(endpoints) and not stopped_early:
        with guard:
            new = arrived[len(got) :]
        if not new:
            # Past the deadline (``meanwhile`` may have used it up) only what is in counts.
            remaining = deadline.remaining()
            if remaining <= 0:
                break
            wakeup.acquire(timeout=remaining)  # a worker's answer, or the deadline
            continue
        for index, result in new:
            got[index] = result
            if enough is not None and len(got) < len(endpoints):
                if enough(tuple(got[i] for i in sorted(got))):
                    stopped_early = True
                    break

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
) -> tuple[SentinelAnswer, ...]:
    """Every Sentinel's ``get-master-addr-by-name``, in the configured order.

    ``enough(answers_so_far)`` (completed answers, configured order) may end the wait
    early; Sentinels not waited for are recorded as answered=False, error="not waited for".
    ``meanwhile()`` runs in the caller's thread while the Sentinels are being asked.
    """

    def missing(endpoint, error: str, kind: str | None) -> SentinelAnswer:
        return SentinelAnswer(endpoint.label(), False, None, error, kind)

    return _gather(
        endpoints,
        deadline,
        lambda endpoint: _master_address(endpoint, master_name, deadline),
        missing,
        enough,
        meanwhile,
    )


# -- SENTINEL MASTER NAME -------------------------------------------------------------------


def _master_fields(endpoint, master_name: str, deadline) -> MasterState:
    label = endpoint.label()
    try:
        with connect(endpoint, deadline) as conn:
            reply = _call_sentinel(conn, "master", "primary", master_name)
    except ReplyError as exc:
        if "no such master" in exc.reply.lower() or "no such primary" in exc.reply.lower():
            return ReplyError(UNKNOWN_MASTER, label)
        return exc
    except ProbeError as exc:
        return exc
    if not isinstance(reply, list) or len(reply) % 2:
        return ProtocolError(f"{label}: unexpected SENTINEL MASTER reply")
    fields = {}
    for key, value in zip(reply[::2], reply[1::2]):
        if isinstance(key, str) and isinstance(value, (str, int)):
            fields[key] = str(value)
    return fields


def master_state(endpoints: Sequence, master_name: str, deadline) -> tuple[MasterState, ...]:
    """Per Sentinel (configured order): the ``SENTINEL MASTER NAME`` reply as a dict of
    strings ("flags", "num-other-sentinels", "quorum", "failover-state", ...), or the
    ``ProbeError`` that prevented it."""

    def missing(endpoint, error: str, kind: str | None) -> MasterState:
        return Unreachable(error)

    return _gather(
        endpoints,
        deadline,
        lambda endpoint: _master_fields(endpoint, master_name, deadline),
        missing,
    )


def flags_of(state: MasterState) -> frozenset:
    """The flags of one master_state() entry ("master", "s_down", "o_down",
    "failover_in_progress", ...); empty for an error."""
    if not isinstance(state, dict):
        return frozenset()
    return frozenset(flag for flag in state.get("flags", "").split(",") if flag)
