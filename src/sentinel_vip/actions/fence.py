"""Fence the local master while Sentinel replaces it, so no write it acknowledges is lost.

Sentinel promotes a replica with REPLICAOF NO ONE and converts the old master only later
(about 8 s for a live one). Every write the old master acknowledges after the promotion is
discarded when it resyncs from the new master. Sentinel announces a failover before it
promotes (``+try-failover``, then ``+elected-leader``, ``+selected-slave``, ...), so when the
master being replaced is this node we pause its writes (``CLIENT PAUSE ms WRITE``): clients
wait instead of being acknowledged, then follow the VIP to the new master once notify demotes
this Redis (which drops them). If the failover is aborted, we unpause; if we miss that event,
the pause simply expires.
"""

from __future__ import annotations

# Events that precede the promotion, in the order Sentinel emits them.
FENCE_CHANNELS = frozenset({
    "+try-failover", "+elected-leader", "+failover-state-select-slave", "+selected-slave",
    "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion",
})  # fmt: skip
UNFENCE_CHANNELS = frozenset({
    "-failover-abort-not-elected", "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout", "-failover-abort-master-changed",
})  # fmt: skip


def master_of(master_name: str, data: str):
    """The master an event is about, as (ip, port), or None if it is not about ours.

    Payloads are ``<type> <name> <ip> <port>`` for a master, and
    ``<type> <name> <ip> <port> @ <master-name> <master-ip> <master-port>`` otherwise.
    """
    parts = data.split()
    if "@" in parts:
        tail = parts[parts.index("@") + 1 :]
        if len(tail) >= 3 and tail[0] == master_name:
            return _address(tail[1], tail[2])
        return None
    if len(parts) >= 4 and parts[0] == "master" and parts[1] == master_name:
        return _address(parts[2], parts[3])
    return None


def _address(ip: str, port: str):
    try:
        return ip, int(port)
    except ValueError:
        return None


def action_for(channel: str, master_name: str, data: str, classify):
    """ "pause", "unpause" or None: pure, so the event handling is tested without servers."""
    if channel not in FENCE_CHANNELS and channel not in UNFENCE_CHANNELS:
        return None
    address = master_of(master_name, data)
    if address is None or classify(*address) != "self":
        return None
    return "pause" if channel in FENCE_CHANNELS else "unpause"


def apply(endpoint, action: str, pause_ms: int, deadline) -> str:
    """Pause or unpause writes on the local Redis; returns what happened, for the log."""
    from sentinel_vip.probes.resp import ProbeError, connect

    try:
        with connect(endpoint, deadline) as conn:
            if action == "unpause":
                conn.call("CLIENT", "UNPAUSE")
                return "unpaused"
            role = conn.call("ROLE")
            if not isinstance(role, list) or not role or role[0] != "master":
                return "skipped: not master"
            conn.call("CLIENT", "PAUSE", str(pause_ms), "WRITE")
            return f"paused_ms={pause_ms}"
    except ProbeError as exc:
        return f"failed: {exc}"
