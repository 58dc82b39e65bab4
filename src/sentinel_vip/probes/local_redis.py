"""Acquire the local Redis' role with ``ROLE`` (cheap; an ACL user needs only ``+role``)."""

from __future__ import annotations

from sentinel_vip.decision.facts import RedisFacts
from sentinel_vip.probes.resp import ProbeError, connect


def probe_redis(endpoint, deadline) -> RedisFacts:
    """What the local Redis says it is. Expected failures become facts, never exceptions."""
    label = endpoint.label()
    try:
        with connect(endpoint, deadline) as conn:
            reply = conn.call("ROLE")
    except ProbeError as exc:
        # An auth refusal proves the server is up and talking; everything else does not.
        return RedisFacts(exc.kind == "auth", None, exc.kind, str(exc))
    return facts_from_role(reply, label)


def facts_from_role(reply, label: str) -> RedisFacts:
    """Parse a ROLE reply; a shape we do not understand is a protocol error."""
    if not isinstance(reply, list) or not reply or not isinstance(reply[0], str):
        return _garbled(label)
    role = reply[0]
    if role in ("slave", "replica"):
        if len(reply) < 4 or not isinstance(reply[1], str):
            return _garbled(label)
        try:
            port = int(reply[2])
        except (TypeError, ValueError):
            return _garbled(label)
        state = reply[3] if isinstance(reply[3], str) else None
        return RedisFacts(True, role, None, None, reply[1], port, state)
    return RedisFacts(True, role, None, None)


def _garbled(label: str) -> RedisFacts:
    return RedisFacts(False, None, "protocol", f"{label}: unexpected ROLE reply")
