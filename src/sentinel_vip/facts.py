"""What the probes found, as small immutable records (no I/O here).

``redis_probe`` and ``sentinel`` produce these; ``decide`` and ``demote`` evaluate them.
``error_kind`` is one of ``"unreachable"``, ``"auth"``, ``"tls"``, ``"protocol"`` (see ``resp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class RedisFacts:
    """The local Redis as ``ROLE`` describes it.

    ``reachable`` is True when the server spoke to us (a ROLE reply, or an auth refusal);
    ``role`` is ROLE's first element ("master", "slave", "sentinel", ...). For replicas the
    master it follows and its link state ("connected", "connecting", "sync", ...) are kept.
    """

    reachable: bool
    role: Optional[str]
    error_kind: Optional[str]
    error: Optional[str]
    master_host: Optional[str] = None
    master_port: Optional[int] = None
    link_status: Optional[str] = None


@dataclass(frozen=True)
class SentinelAnswer:
    """One Sentinel's answer to get-master-addr-by-name.

    ``answered`` with ``master=None`` means the Sentinel does not know the master name.
    """

    address: str
    answered: bool
    master: Optional[tuple[str, int]]
    error: Optional[str]
    error_kind: Optional[str] = None


@dataclass(frozen=True)
class CheckFacts:
    redis: RedisFacts
    answers: tuple[SentinelAnswer, ...]
