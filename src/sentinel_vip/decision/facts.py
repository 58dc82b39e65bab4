"""What the probes found, as small immutable records (no I/O here).

``probes.local_redis`` and ``probes.sentinel`` produce these; ``decision`` evaluates them.
``error_kind`` is one of ``"unreachable"``, ``"auth"``, ``"tls"``, ``"protocol"`` (see ``resp``).
Everything a peer sent has been validated before it lands here: hosts are canonical IP
literals or hostnames (``decision.address``), ports are integers, ids are 40 hex digits.
"""

from __future__ import annotations

from sentinel_vip.record import Record


class RedisFacts(Record):
    """A Redis server as ``ROLE`` and ``INFO server`` describe it.

    ``reachable`` is True when the server spoke to us (a ROLE reply, or an auth refusal);
    ``role`` is ROLE's first element ("master", "slave", "sentinel", ...). For replicas the
    master it follows and its link state ("connected", "connecting", "sync", ...) are kept.
    ``run_id`` is the server process' identity (INFO server), None when it was not read;
    ``replid``/``replid2`` its replication ids (INFO replication, read only for demotions): a
    replica promoted by a failover keeps its old master's ``replid`` as its ``replid2``.
    """

    reachable: bool
    role: str | None
    error_kind: str | None
    error: str | None
    master_host: str | None = None
    master_port: int | None = None
    link_status: str | None = None
    run_id: str | None = None
    replid: str | None = None
    replid2: str | None = None


class SentinelAnswer(Record):
    """One configured Sentinel address and what the Sentinel behind it said, from one round
    trip: its own id, ``get-master-addr-by-name`` and ``SENTINEL MASTER``.

    ``answered`` with ``master=None`` means the Sentinel does not know the master name.
    ``sentinel_id`` (SENTINEL MYID, or INFO's run_id on Sentinel 6.0) counts the Sentinel
    once however many configured addresses reach it. ``runid`` is the master's run_id as
    this Sentinel knows it *for the address it names* (None when unknown, or when SENTINEL
    MASTER still describes another address, as during a failover's reconfiguration).
    ``fields`` is the SENTINEL MASTER reply (strings; flags, failover-state, quorum, ...).
    """

    address: str
    answered: bool
    master: tuple[str, int] | None
    error: str | None
    error_kind: str | None = None
    sentinel_id: str | None = None
    runid: str | None = None
    about: tuple[str, int] | None = None  # the address SENTINEL MASTER describes
    fields: dict | None = None
    # SENTINEL REPLICAS (read by notify only): ((address, run_id or None), ...); None when
    # not read. The servers this Sentinel knows as the master's replicas, the old master
    # included once a failover has moved away from it: the ones Sentinel itself converts.
    replicas: tuple | None = None
    # SENTINEL SENTINELS (read by the watcher's failover fence only): ((sentinel id, flags,
    # ms since its last hello or None), ...) for the fellow Sentinels this one hears; None
    # when not read or refused.
    peers: tuple | None = None

    def flags(self) -> frozenset:
        if not self.fields:
            return frozenset()
        return frozenset(flag for flag in self.fields.get("flags", "").split(",") if flag)


class CheckFacts(Record):
    """The check's facts. ``named`` is the local probe of the address a Sentinel majority
    names, made only while the Sentinels have not read that master's run_id yet (right after
    a switch): the same process answering there and locally is this node."""

    redis: RedisFacts
    answers: tuple[SentinelAnswer, ...]
    named: RedisFacts | None = None
