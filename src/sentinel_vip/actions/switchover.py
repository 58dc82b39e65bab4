"""``sentinel-vip switchover``: move the master (and so the VIP) to a chosen replica, losing
no acknowledged write.

An admin runs it, but it lives in actions/, not admin/: it changes servers (replica
priorities, a write pause, a demotion) with the fence's and the demotion's own commands
(actions.fence, actions.demote), and imports only point down the layout.

The steps (``decision.switchover`` decides; this module acts):

1. A run that died earlier left ``switchover.json``: its priorities are put back first.
2. Facts: every Sentinel (one round trip, the majority as ``decision.agreement`` counts it),
   the master and each replica (INFO), SENTINEL REPLICAS of the Sentinel we will ask; the
   target must reach the master's offset within a second. Any refusal: exit, nothing changed.
3. Steer: raise ``replica-priority`` of every replica that could beat the target (recorded
   first), then wait until the Sentinel we ask has read them (its INFO: up to 10 s).
4. Fence and fail over: CLIENT PAUSE WRITE on the master, in segments of at most
   down-after/2 (a dead run leaves no pause for longer, and Sentinel's hello PUBLISHes,
   which the pause holds, never wait long enough for +sdown), wait for the target to reach
   the master's offset, SENTINEL FAILOVER, watch the target until it says master, then
   make the old master its replica at once (Sentinel's own transaction, ``demote_to``: its
   held writes get READONLY, never an acknowledgement) and lift the pause.
5. Follow: the Sentinel majority naming the target, the VIP answering with the target's
   run_id and accepting writes. Restore every priority (``finally``: also on Ctrl-C and
   SIGTERM), record the switchover in the history.
"""

from __future__ import annotations

import socket
import time

from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import switchover as rules
from sentinel_vip.decision.address import label
from sentinel_vip.decision.agreement import agree
from sentinel_vip.errors import ExitCode, SwitchoverRefused
from sentinel_vip.probes import replication
from sentinel_vip.probes.endpoint import Endpoint
from sentinel_vip.probes.resp import ProbeError, ReplyError, connect
from sentinel_vip.probes.sentinel import ask_sentinels
from sentinel_vip.store import history
from sentinel_vip.store import switchover as state

PRIORITY = "replica-priority"
STEER_WAIT_S = 15.0  # Sentinel INFOs a replica every 10 s while nothing is failing over
POLL_S = 0.005


def redis_at(config, address: tuple) -> Endpoint:
    """A Redis server named by Sentinel, reached with the local Redis' user and TLS."""
    local = config.redis
    return Endpoint(address[0], address[1], "", local.username, local.password, local.tls)


def _resolve(host: str) -> set:
    from sentinel_vip.decision.address import canonical_host

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {canonical_host(info[4][0]) for info in infos} - {None}


class Clock:
    """The timeline: each step printed with seconds since the start, and logged."""

    def __init__(self, out, logger) -> None:
        self.start = time.monotonic()
        self.out, self.logger = out, logger
        self.marks: dict = {}

    def mark(self, key: str, text: str) -> float:
        now = time.monotonic()
        self.marks.setdefault(key, round(now - self.start, 3))
        self.out.write(f"+{now - self.start:7.3f}s  {text}\n")
        self.out.flush()
        self.logger.log("notice", "switchover", step=key, t=f"{now - self.start:.3f}", what=text)
        return now


# ----------------------------------------------------------------------------- facts


def gather(config, to, fence_writes=True):
    """(Plan or Refusal, Sentinel answers' down-after ms)."""
    answers = ask_sentinels(config.sentinels, config.master_name, Deadline(3.0))
    counted = agree(answers, config.agreement, len(config.sentinels))
    if rules.running(answers) or not counted.agreed:
        return rules.plan(counted, answers, None, (), None, None, fence_writes), 0
    master_ep = redis_at(config, counted.master)
    master = replication.view(master_ep, Deadline(2.0))
    asked = next(a for a in answers if a.answered and a.master == counted.master)
    down_after = str((asked.fields or {}).get("down-after-milliseconds", ""))
    down_after = int(down_after) if down_after.isdigit() and len(down_after) < 10 else 30000
    try:
        listed = replication.sentinel_replicas(sentinel_at(config, asked.address),
                                               config.master_name, Deadline(2.0))  # fmt: skip
    except ProbeError as exc:
        return rules.Refusal(ExitCode.NO_AGREEMENT, f"SENTINEL REPLICAS: {exc}"), 0
    at_master = {entry[0]: entry for entry in master.replicas}
    candidates = []
    for entry in listed:
        seen = replication.view(redis_at(config, entry["address"]), Deadline(1.0))
        _, st, acked, lag = at_master.get(entry["address"], (None, None, None, None))
        acked = acked if acked is not None else seen.offset  # not listed: its own offset
        gap = master.offset - acked if master.offset is not None and acked is not None else None
        candidates.append(rules.Candidate(
            entry["address"], entry["runid"], entry["flags"], entry["link"],
            seen.priority if seen.priority is not None else entry["priority"],
            st, lag, gap, entry["offset"] or 0, seen.reachable, seen.link,
        ))  # fmt: skip
    target, refusal = rules.resolve_target(to, candidates, _resolve)
    caught = None
    if refusal is None and master.reachable:
        caught = catch_up(master_ep, redis_at(config, target.address), rules.CATCH_UP_S)
    else:
        target = target or rules.Candidate(("-", 0))
    decided = rules.plan(counted, answers, master, candidates, target, caught, fence_writes)
    return (refusal or decided), down_after


def sentinel_at(config, address: str) -> Endpoint:
    return next(e for e in config.sentinels if e.label() == address)


def catch_up(master_ep, target_ep, limit: float):
    """Seconds the target took to reach the master's offset as it is now; None: not within
    ``limit`` (or a server did not answer)."""
    master = replication.view(master_ep, Deadline(1.0))
    if master.offset is None:
        return None
    start = time.monotonic()
    while True:
        seen = replication.view(target_ep, Deadline(0.5))
        if seen.offset is not None and seen.offset >= master.offset:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            return None
        time.sleep(POLL_S)


# ----------------------------------------------------------------------------- restore


def restore(config, record: dict, out) -> bool:
    """Put back every priority we set and that nobody changed since (CONFIG REWRITE too:
    Sentinel's reconfiguration rewrites the replicas' files, ours included); forget the
    record when every replica answered."""
    done = True
    for host, port, was, ours in record.get("steered", []):
        where = label(host, port)
        try:
            with connect(redis_at(config, (host, port)), Deadline(2.0)) as conn:
                now = conn.call("CONFIG", "GET", PRIORITY)
                now = int(now[1]) if isinstance(now, list) and len(now) == 2 else None
                if now != ours:
                    out.write(f"  {where}: {PRIORITY} is {now}, not ours ({ours}): left\n")
                    continue
                conn.call("CONFIG", "SET", PRIORITY, str(was))
                try:
                    conn.call("CONFIG", "REWRITE")
                    note = ""
                except ReplyError as exc:
                    note = f" (CONFIG REWRITE failed: {exc.reply[:80]})"
                out.write(f"  {where}: {PRIORITY} restored to {was}{note}\n")
        except (ProbeError, ValueError) as exc:
            done = False
            out.write(f"  {where}: NOT restored ({exc}): set {PRIORITY} {was} by hand\n")
    if done:
        state.clear(config)
    return done


def restore_leftover(config, out) -> None:
    record = state.saved(config)
    if not record:
        return
    if state.alive(record["pid"]):
        raise SwitchoverRefused(
            ExitCode.FAILOVER_RUNNING,
            f"another switchover is running (pid {record['pid']}, {state.path(config)})",
        )
    out.write(f"an interrupted switchover ({record['master']} -> {record['target']}) left"
              " settings: restoring them\n")  # fmt: skip
    if not restore(config, record, out):
        raise SwitchoverRefused(
            ExitCode.SWITCHOVER_FAILED, f"could not restore what {state.path(config)} records"
        )


# ----------------------------------------------------------------------------- the run


def record_history(config, logger, decided, result: str, marks: dict) -> None:
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "instance": "switchover",
        "from": label(*decided.master),
        "to": label(*decided.target),
        "action": result,
        "timeline": marks,
    }
    try:
        history.append(config.history_file, entry, config.history_max_lines)
    except OSError as exc:
        logger.log("err", "history_unwritable", path=config.history_file, error=exc.strerror)


def pause_segment_ms(down_after: int) -> int:
    """One pause: at most half of down-after (less 100 ms), between 200 ms and 1 s."""
    return max(200, min(1000, down_after // 2 - 100))
