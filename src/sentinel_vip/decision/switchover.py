"""A planned switchover: the facts in, a plan or a refusal out (pure; actions.switchover acts).

Sentinel has no way to name the replica it promotes: it picks, among the replicas it finds
fit, the lowest non-zero ``replica-priority``, then the largest replication offset, then the
smallest run_id. So a switchover to a named target raises, for the time of the failover,
the priority of every other replica that could win against it (``steer``), and restores them.

Every precondition is checked before anything changes, each with its own exit code:
a failover already running (or the master seen down) by any Sentinel that answered; a
Sentinel majority naming one master; that master reachable and able to pause writes
(Redis >= 6.2), since the pause is what keeps writes from being acknowledged by a master
that is about to be replaced; the target a replica the Sentinels list (``resolve_target``),
healthy in Sentinel's eyes (no s_down/o_down/disconnected, link ok, priority not 0),
online at the master with a recent ack, and able to reach the master's offset within
``CATCH_UP_S`` (measured by the caller: a replica that keeps up does so in milliseconds).
"""

from __future__ import annotations

from sentinel_vip.decision.address import label
from sentinel_vip.errors import ExitCode
from sentinel_vip.record import Record

MAX_LAG_S = 1  # a replica acknowledges every second: more means it is falling behind
CATCH_UP_S = 1.0  # the target must reach the master's current offset within this
UNFIT_FLAGS = frozenset({"s_down", "o_down", "disconnected"})
RUNNING_FLAGS = frozenset({"failover_in_progress", "promoted"})
DOWN_FLAGS = frozenset({"s_down", "o_down"})


class Refusal(Record):
    code: object  # an ExitCode
    reason: str


class Candidate(Record):
    """A replica as the Sentinel we will ask sees it, with what its master says of it."""

    address: tuple  # (host, port) as Sentinel lists it
    runid: str | None = None
    flags: frozenset = frozenset()
    link: str = ""  # Sentinel's master-link-status
    priority: int | None = None  # the server's replica-priority (INFO), else Sentinel's
    state: str | None = None  # the master's INFO: online, wait_bgsave, ...; None = not listed
    lag: int | None = None  # the master's INFO: seconds since its last ack
    gap: int | None = None  # bytes behind the master when asked
    offset: int = 0  # Sentinel's slave-repl-offset (its own tie-break)
    reachable: bool = True  # answers us directly (its priority can be changed)
    own_link: str | None = None  # its own master_link_status (up, down), None: not read

    def describe(self) -> str:
        flags = ",".join(sorted(self.flags)) or "-"
        lag = "?" if self.lag is None else f"{self.lag}s"
        gap = "?" if self.gap is None else f"{self.gap}B"
        return (
            f"{label(*self.address)} link={self.link or '?'}/{self.own_link or '?'}"
            f" state={self.state or 'not listed'} lag={lag} behind={gap}"
            f" priority={self.priority} flags={flags}"
        )


class Plan(Record):
    master: tuple
    master_runid: str | None
    target: tuple
    steer: tuple  # ((address, original priority, priority for the switchover), ...)
    sentinel: str  # label of the Sentinel asked to fail over
    fence: bool  # pause the master's writes around the promotion
    target_line: str

    def describe(self) -> list:
        lines = [
            f"master   {label(*self.master)}",
            f"target   {self.target_line}",
        ]
        for address, was, now in self.steer:
            lines.append(f"steer    replica-priority of {label(*address)}: {was} -> {now}")
        if not self.steer:
            lines.append("steer    nothing: Sentinel prefers the target already")
        lines.append(
            "fence    " + ("CLIENT PAUSE WRITE on the master until it follows the target"
                          if self.fence else "NONE (--no-fence): writes in flight may be lost")
        )  # fmt: skip
        lines.append(f"failover SENTINEL FAILOVER via {self.sentinel}")
        return lines


def sentinel_order(candidate: Candidate) -> tuple:
    """Sentinel's own preference (lower first): priority, then larger offset, then run_id."""
    return (candidate.priority or 0, -candidate.offset, candidate.runid or "~")


def rival(candidate: Candidate, target: Candidate) -> bool:
    """Could Sentinel pick this replica instead of the target? Only those it finds
    selectable at all (not down or disconnected, priority not 0) with a priority no worse."""
    if candidate.address == target.address or candidate.flags & UNFIT_FLAGS:
        return False
    return candidate.priority is None or 0 < candidate.priority <= target.priority


def unfit(candidate: Candidate) -> str | None:
    """Why Sentinel would not (or should not) promote this replica now; None when fit."""
    bad = sorted(candidate.flags & UNFIT_FLAGS)
    if bad:
        return f"Sentinel flags it {','.join(bad)}"
    if candidate.link != "ok":
        return f"Sentinel sees its link to the master {candidate.link or 'unknown'}"
    if candidate.own_link not in (None, "up"):
        return f"it says its link to the master is {candidate.own_link}"
    if not candidate.priority:
        return "its replica-priority is 0: Sentinel never promotes it"
    if candidate.state is None:
        return "the master does not list it as a replica"
    if candidate.state != "online":
        return f"the master lists it as {candidate.state}, not online"
    if candidate.lag is None or candidate.lag > MAX_LAG_S:
        return f"its last acknowledgement is {candidate.lag}s old (at most {MAX_LAG_S}s)"
    return None


def resolve_target(spec, candidates, resolve) -> tuple:
    """(Candidate, None) or (None, Refusal). ``spec``: --to as given (None: the replica
    Sentinel prefers among the fit ones); ``resolve(host)`` -> set of IP literals it names
    (empty when it does not resolve). An address as Sentinel lists it (host:port, [v6]:port)
    matches exactly; a name or an address without port matches every replica at an address
    it resolves to (replicas listed by name: to an address their name resolves to); more
    than one match is ambiguous."""
    if spec is None:
        fit = sorted((c for c in candidates if unfit(c) is None), key=sentinel_order)
        if not fit:
            shown = "; ".join(c.describe() for c in candidates) or "none listed"
            return None, Refusal(ExitCode.TARGET_UNFIT, f"no replica is fit: {shown}")
        return fit[0], None
    host, port = _split(spec)
    by_label = {label(*c.address): c for c in candidates}
    if port is not None and label(host, port) in by_label:
        return by_label[label(host, port)], None
    wanted = {host} | set(resolve(host))
    matches = [
        c
        for c in candidates
        if (port is None or c.address[1] == port)
        # Sentinel may list replicas by hostname (announce-hostnames): compare addresses
        and wanted & ({c.address[0]} | set(resolve(c.address[0])))
    ]
    listed = ", ".join(sorted(by_label)) or "none"
    if not matches:
        return None, Refusal(
            ExitCode.UNKNOWN_TARGET,
            f"--to {spec}: no replica the Sentinels list is there (replicas: {listed})",
        )
    if len(matches) > 1:
        named = ", ".join(label(*c.address) for c in matches)
        return None, Refusal(
            ExitCode.UNKNOWN_TARGET, f"--to {spec} is ambiguous: it names {named}; give host:port"
        )
    return matches[0], None


def _split(spec: str) -> tuple:
    """(host, port or None) of "host", "host:port", "[v6]:port" or a bare IPv6 literal."""
    text = spec.strip()
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port) if port.isdigit() else None
    return text, None


def running(answers) -> str | None:
    """A failover under way, as any Sentinel that answered reports it (whatever master its
    SENTINEL MASTER describes: a switchover must not start while one is running)."""
    for answer in answers:
        fields = answer.fields or {}
        busy = sorted(answer.flags() & RUNNING_FLAGS)
        state = fields.get("failover-state", "none") or "none"
        if state not in ("none", "failover_state_none"):
            busy.append(f"failover-state={state}")
        if busy:
            return f"{answer.address} reports {' '.join(busy)}"
    return None


def plan(counted, answers, master, candidates, target, caught_up, fence: bool) -> object:
    """Plan or Refusal. ``counted``: the Agreement; ``master``: the agreed master's
    ``ServerView``; ``candidates``: every replica (Candidate) the chosen Sentinel lists;
    ``target``: the resolved Candidate; ``caught_up``: seconds the target took to reach the
    master's offset (None: not within CATCH_UP_S); ``fence``: False with --no-fence."""
    busy = running(answers)
    if busy:
        return Refusal(ExitCode.FAILOVER_RUNNING, f"a failover is running: {busy}")
    if not counted.agreed:
        code = ExitCode.NO_MAJORITY if counted.answered < counted.need else ExitCode.NO_AGREEMENT
        return Refusal(code, f"no Sentinel majority names one master: {counted.describe()}")
    where = label(*counted.master)
    for answer in answers:
        if answer.master == counted.master and answer.about == counted.master:
            down = sorted(answer.flags() & DOWN_FLAGS)
            if down:
                return Refusal(
                    ExitCode.FAILOVER_RUNNING, f"{answer.address} sees {where} {','.join(down)}"
                )
    if not master.reachable:
        return Refusal(ExitCode.UNFENCEABLE, f"the master {where} does not answer: {master.error}")
    if master.role != "master":
        return Refusal(
            ExitCode.FAILOVER_RUNNING,
            f"{where} says it is a {master.role}, not the master the Sentinels name",
        )
    if counted.runid and master.run_id and counted.runid != master.run_id:
        return Refusal(
            ExitCode.NO_AGREEMENT, f"{where} answers with another run_id than the Sentinels know"
        )
    if fence and not master.pause_write:
        version = ".".join(map(str, master.version)) or "unknown"
        return Refusal(
            ExitCode.UNFENCEABLE,
            f"the master {where} (Redis {version}) has no CLIENT PAUSE WRITE (6.2+): writes"
            " it acknowledges during the switch could be lost; --no-fence accepts that",
        )
    why = unfit(target)
    if why is None and caught_up is None:
        why = f"it did not reach the master's offset within {CATCH_UP_S:g}s"
    if why is not None:
        return Refusal(
            ExitCode.TARGET_UNFIT, f"target {label(*target.address)}: {why} ({target.describe()})"
        )
    rivals = [c for c in sorted(candidates, key=lambda c: c.address) if rival(c, target)]
    silent = [label(*c.address) for c in rivals if not c.reachable or c.priority is None]
    if silent:
        return Refusal(
            ExitCode.TARGET_UNFIT,
            f"Sentinel could prefer {', '.join(silent)} to the target, and it does not answer"
            " from here (or hides its replica-priority): that cannot be raised",
        )
    steer = tuple((c.address, c.priority, target.priority + 1) for c in rivals)
    sentinel = next(a.address for a in answers if a.answered and a.master == counted.master)
    line = f"{target.describe()} caught_up_in={caught_up * 1000:.0f}ms"
    return Plan(counted.master, counted.runid, target.address, steer, sentinel, fence, line)
