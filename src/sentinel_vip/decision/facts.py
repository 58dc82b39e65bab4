"""What the probes found, as small immutable records (no I/O here).

``redis_probe`` and ``sentinel`` produce these; ``decide`` and ``demote`` evaluate them.
``error_kind`` is one of ``"unreachable"``, ``"auth"``, ``"tls"``, ``"protocol"`` (see ``resp``).
"""

from __future__ import annotations

from sentinel_vip.record import Record


class RedisFacts(Record):
    """The local Redis as ``ROLE`` describes it.

    ``reachable`` is True when the server spoke to us (a ROLE reply, or an auth refusal);
    ``role`` is ROLE's first element ("master", "slave", "sentinel", ...). For replicas the
    master it follows and its link state ("connected", "connecting", "sync", ...) are kept.
    """

    reachable: bool
    role: str | None
    error_kind: str | None
    error: str | None
    master_host: str | None = None
    master_port: int | None = None
    link_status: str | None = None


class SentinelAnswer(Record):
    """One Sentinel's answer to get-master-addr-by-name.

    ``answered`` with ``master=None`` means the Sentinel does not know the master name.
    """

    address: str
    answered: bool
    master: tuple[str, int] | None
    error: str | None
    error_kind: str | None = None


class CheckFacts(Record):
    redis: RedisFacts
    answers: tuple[SentinelAnswer, ...]
