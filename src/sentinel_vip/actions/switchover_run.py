"""The switchover command's entry (``run``) and its steps once confirmed: steer, fence, fail
over, follow, restore (see actions.switchover for the whole story and steps 1 and 2, the
facts and the plan; this module is steps 3 to 5)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from sentinel_vip.actions import fence
from sentinel_vip.actions.demote import demote_to
from sentinel_vip.actions.switchover import (
    POLL_S,
    PRIORITY,
    STEER_WAIT_S,
    Clock,
    gather,
    pause_segment_ms,
    record_history,
    redis_at,
    restore,
    restore_leftover,
    sentinel_at,
)  # fmt: skip
from sentinel_vip.deadline import Deadline
from sentinel_vip.decision import switchover as rules
from sentinel_vip.decision.address import label
from sentinel_vip.decision.agreement import agree
from sentinel_vip.errors import ExitCode, SwitchoverRefused, Terminated
from sentinel_vip.probes import replication
from sentinel_vip.probes.endpoint import Endpoint
from sentinel_vip.probes.resp import ProbeError, connect
from sentinel_vip.probes.sentinel import ask_sentinels
from sentinel_vip.store import switchover as state


class Hold:
    """CLIENT PAUSE WRITE on the old master in short segments, renewed while we wait: a dead
    run leaves no pause behind for longer than one segment."""

    def __init__(self, endpoint, segment_ms: int) -> None:
        self.endpoint, self.segment_ms = endpoint, segment_ms
        self.active = False
        self.since = self.until = 0.0

    def pause(self) -> str:
        result = fence.pause(self.endpoint, self.segment_ms, Deadline(0.5))
        if not result.startswith("failed"):
            now = time.monotonic()
            self.since = self.since if self.active else now
            self.active, self.until = True, now + self.segment_ms / 1000
        return result

    def keep(self) -> None:
        if self.active and time.monotonic() > self.until - self.segment_ms / 2000:
            self.pause()

    def lift(self) -> None:
        if self.active:
            fence.unpause(self.endpoint, Deadline(1.0))
        self.active = False


def _poll(check, limit: float, hold: Hold):
    """``check()`` every few ms until it returns something or ``limit`` s pass (None),
    renewing the pause meanwhile."""
    end = time.monotonic() + limit
    while True:
        hold.keep()
        found = check()
        if found or time.monotonic() > end:
            return found
        time.sleep(POLL_S)


def _failed(message: str) -> SwitchoverRefused:
    return SwitchoverRefused(ExitCode.SWITCHOVER_FAILED, f"switchover failed: {message}")


def _steer(config, plan, record: dict, clock: Clock) -> None:
    for address, was, now in plan.steer:
        record["steered"].append([address[0], address[1], was, now])
        state.save(config, record)  # before the change: whatever happens next, it is known
        try:
            with connect(redis_at(config, address), Deadline(2.0)) as conn:
                conn.call("CONFIG", "SET", PRIORITY, str(now))
        except ProbeError as exc:
            raise _failed(f"CONFIG SET {PRIORITY} on {label(*address)}: {exc}") from None
    if plan.steer:
        changed = ", ".join(f"{label(*a)} {was}->{now}" for a, was, now in plan.steer)
        clock.mark("steered", f"{PRIORITY} raised: {changed}")


def _sentinel_read(config, plan, clock: Clock) -> None:
    """Wait until the Sentinel we ask reports our priorities (it reads them by INFO)."""
    if not plan.steer:
        return
    want = {address: now for address, _, now in plan.steer}
    endpoint = sentinel_at(config, plan.sentinel)
    end = time.monotonic() + STEER_WAIT_S
    while True:
        try:
            listed = replication.sentinel_replicas(endpoint, config.master_name, Deadline(1.0))
            seen = {entry["address"]: entry["priority"] for entry in listed}
        except ProbeError:
            seen = {}
        if all(seen.get(a) == p for a, p in want.items()):
            clock.mark("sentinel_read", f"{plan.sentinel} has read the new priorities")
            return
        if time.monotonic() > end:
            raise _failed(f"{plan.sentinel} did not read the new priorities in {STEER_WAIT_S:g}s")
        time.sleep(0.1)


def _promoted(config, candidates: tuple):
    def check():
        for address in candidates:
            if replication.view(redis_at(config, address), Deadline(0.2)).role == "master":
                return address
        return None

    return check


def _switch(config, plan, hold: Hold, timeout: float, clock: Clock, progress: dict):
    """Pause, catch up, SENTINEL FAILOVER, the promotion, the old master's demotion.
    Returns the promoted address."""
    master_ep, target_ep = redis_at(config, plan.master), redis_at(config, plan.target)
    answers = ask_sentinels(config.sentinels, config.master_name, Deadline(2.0))
    busy = rules.running(answers)
    if busy:
        raise _failed(f"a failover started meanwhile: {busy}")
    if plan.fence:
        paused = hold.pause()
        if paused.startswith("failed"):
            raise _failed(f"could not pause writes on {label(*plan.master)}: {paused}")
        what = f"CLIENT PAUSE {hold.segment_ms} WRITE, renewed until it follows the target"
        clock.mark("paused", f"writes paused on {label(*plan.master)} ({what})")
    master = replication.view(master_ep, Deadline(0.5))

    def caught_up():
        seen = replication.view(target_ep, Deadline(0.2))
        return master.offset is not None and (seen.offset or -1) >= master.offset

    if not _poll(caught_up, rules.CATCH_UP_S, hold):
        hold.lift()
        raise _failed(f"{label(*plan.target)} did not reach the master's offset in time")
    clock.mark("caught_up", f"{label(*plan.target)} has every write (offset {master.offset})")
    with _signals_deferred(clock):
        try:
            with connect(sentinel_at(config, plan.sentinel), Deadline(2.0)) as conn:
                conn.call("SENTINEL", "FAILOVER", config.master_name)
        except ProbeError as exc:
            hold.lift()
            raise _failed(f"SENTINEL FAILOVER via {plan.sentinel}: {exc}") from None
        progress["failover"] = True
        clock.mark("failover", f"SENTINEL FAILOVER sent to {plan.sentinel}")
        return _convert(config, plan, hold, timeout, clock, progress)


@contextlib.contextmanager
def _signals_deferred(clock: Clock):
    """Ctrl-C and SIGTERM only noted inside, raised once it is done. From SENTINEL FAILOVER
    to the old master's demotion, leaving would let its pause run out while it is still
    master: the writes it then acknowledged would be lost. (Bounded by --timeout.)"""
    noted: list = []

    def note(signum, _frame) -> None:
        noted.append(signum)  # no buffered I/O here: the signal may land inside a write
        os.write(2, b"sentinel-vip: interrupted: finishing first, the failover is under way\n")

    kept = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)
    if noted:
        clock.mark("deferred", "interrupted during the failover: finished it first")
        raise KeyboardInterrupt if noted[0] == signal.SIGINT else Terminated()


def _convert(config, plan, hold: Hold, timeout: float, clock: Clock, progress: dict):
    """The promotion, then the old master made the promoted one's replica at once."""
    master_ep = redis_at(config, plan.master)
    others = tuple(a for a, _, _ in plan.steer)
    promoted = _poll(_promoted(config, (plan.target, *others)), timeout, hold)
    if promoted is None:
        hold.active = False  # no lifting: Sentinel may still promote; the pause expires
        raise _failed(f"no replica promoted within {timeout:g}s (see Sentinel's log)")
    progress["promoted"] = promoted
    clock.mark("promoted", f"{label(*promoted)} promoted (REPLICAOF NO ONE)")
    demoted = demote_to(master_ep, promoted[0], promoted[1], 2.0)
    if not demoted.ok:
        hold.active = False  # its pause expires; Sentinel converts it
        clock.mark("convert_failed", f"old master not converted: {demoted.detail}")
        return promoted
    held_ms = (time.monotonic() - hold.since) * 1000 if hold.active else 0.0
    hold.active = False  # demote_to lifted it
    progress["converted"] = True
    clock.mark("converted", f"old master {label(*plan.master)} follows {label(*promoted)}"
                            f" ({demoted.detail}); writes were held {held_ms:.0f} ms")  # fmt: skip
    return promoted


def _follow(config, promoted: tuple, timeout: float, clock: Clock) -> tuple:
    """(switched, VIP on the new master, writable through it) within ``timeout``."""
    target_id = replication.view(redis_at(config, promoted), Deadline(1.0)).run_id
    local = config.redis
    vip = None
    if config.vip_address:
        vip = Endpoint(config.vip_address, local.port, "", local.username, local.password,
                       local.tls)  # fmt: skip
    switched = on_vip = writable = False
    end = time.monotonic() + timeout
    while time.monotonic() < end and not (switched and (vip is None or writable)):
        if not switched:
            answers = ask_sentinels(config.sentinels, config.master_name, Deadline(0.5))
            counted = agree(answers, config.agreement, len(config.sentinels))
            if counted.master == promoted:
                switched = True
                clock.mark("switch", f"a Sentinel majority names {label(*promoted)}"
                                     f" ({counted.votes}/{counted.configured})")  # fmt: skip
        if vip is not None and not writable:
            seen = replication.view(vip, Deadline(0.2), writes=True)
            if seen.run_id and seen.run_id == target_id:
                if not on_vip:
                    on_vip = True
                    clock.mark("vip", f"the VIP {config.vip_address} reaches the new master")
                if seen.writable:
                    writable = True
                    clock.mark("writable", "the new master accepts writes through the VIP")
        time.sleep(0.01)
    return switched, on_vip, writable


def execute(config, logger, plan, down_after: int, timeout: float, out) -> int:
    clock = Clock(out, logger)
    record = {
        "pid": os.getpid(), "started": time.time(), "stage": "steering",
        "master": label(*plan.master), "target": label(*plan.target), "steered": [],
    }  # fmt: skip
    hold = Hold(redis_at(config, plan.master), pause_segment_ms(down_after))
    progress: dict = {}
    result, code = "interrupted", ExitCode.INTERRUPTED

    clock.mark("start", f"switchover {record['master']} -> {record['target']}")
    try:
        state.save(config, record)
        _steer(config, plan, record, clock)
        _sentinel_read(config, plan, clock)
        record["stage"] = "failover"
        state.save(config, record)
        promoted = _switch(config, plan, hold, timeout, clock, progress)
        switched, _on_vip, writable = _follow(config, promoted, timeout, clock)
        result, code = "done", ExitCode.OK
        if promoted != plan.target:
            result, code = f"sentinel promoted {label(*promoted)}", ExitCode.SWITCHOVER_FAILED
        elif not switched:
            result, code = "no majority named the target in time", ExitCode.SWITCHOVER_FAILED
        elif config.vip_address and not writable:
            result, code = "the VIP did not reach it in time", ExitCode.SWITCHOVER_FAILED
    except SwitchoverRefused as exc:
        result, code = str(exc), exc.exit_code
        raise
    finally:
        if hold.active and not progress.get("failover"):
            hold.lift()  # nothing was promoted: the old master may write again
        out.write("restoring:\n" if record["steered"] else "")
        restored = restore(config, record, out) if record["steered"] else True
        if not record["steered"]:
            state.clear(config)
        clock.mark("restored", "every changed setting restored" if restored
                   else f"NOT every setting restored: see {state.path(config)}")  # fmt: skip
        record_history(config, logger, plan, result, clock.marks)
    if not restored:
        raise _failed(f"{result}; settings left, recorded in {state.path(config)}")
    if code != ExitCode.OK:
        raise _failed(result)
    return int(code)


def run(config, logger, to=None, yes=False, timeout=30.0, dry_run=False, no_fence=False,
        restore_only=False, out=None, ask=None) -> int:  # fmt: skip
    out = out or sys.stdout
    if restore_only:
        record = state.saved(config)
        if not record:
            out.write("no interrupted switchover recorded: nothing to restore\n")
            return 0
        restore_leftover(config, out)
        return 0
    if not dry_run:
        restore_leftover(config, out)
    decided, down_after = gather(config, to, not no_fence)
    if isinstance(decided, rules.Refusal):
        raise SwitchoverRefused(decided.code, f"switchover refused: {decided.reason}")
    out.write("".join(f"{line}\n" for line in decided.describe()))
    if dry_run:
        out.write("dry run: nothing changed\n")
        return 0
    if not yes and not _confirmed(ask):
        raise SwitchoverRefused(ExitCode.NOT_CONFIRMED, "switchover not confirmed: nothing changed")
    return execute(config, logger, decided, down_after, timeout, out)


def _confirmed(ask) -> bool:
    if ask is None:
        if not sys.stdin.isatty():
            return False
        ask = input
    try:
        return ask("Switch over? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
