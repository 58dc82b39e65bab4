"""Plain-data Sentinel answers for the decision tests (no servers).

Addresses name servers by run_id: ``ME`` is the local server, ``OTHER``/``THIRD`` others.
``said(...)`` builds one answer per configured Sentinel, each with its own Sentinel id.
"""

from __future__ import annotations

from sentinel_vip.decision.facts import RedisFacts, SentinelAnswer

ME = ("10.0.0.1", 6379)
OTHER = ("10.0.0.2", 6379)
THIRD = ("10.0.0.3", 6379)
LOOP = ("127.0.0.1", 6379)
VIP = ("10.0.0.100", 6379)
RUN_IDS = {ME: "a" * 40, OTHER: "b" * 40, THIRD: "c" * 40, LOOP: "d" * 40, VIP: "e" * 40}
KINDS = {ME: "self", OTHER: "other", THIRD: "other", LOOP: "loopback", VIP: "vip"}

MASTER = RedisFacts(True, "master", None, None, run_id=RUN_IDS[ME])
REPLICA = RedisFacts(True, "slave", None, None, "10.0.0.2", 6379, "connected", "f" * 40)
UNKNOWN = object()  # the Sentinel has not read the master's run_id yet


def classify(host, port):
    return KINDS.get((host, port), "other")


def sentinel_id(i: int) -> str:
    return f"{i + 1:040x}"


def said(*masters, ids=None):
    """One SentinelAnswer per argument: an address (reported with that server's run_id),
    ``(address, run_id)`` (``UNKNOWN`` for none yet), None (no answer) or "nil" (unknown
    master name). ``ids`` overrides the Sentinel ids (aliases share one)."""
    out = []
    for i, m in enumerate(masters):
        label = f"10.0.0.{i + 1}:26379"
        sid = ids[i] if ids else sentinel_id(i)
        if m is None:
            out.append(SentinelAnswer(label, False, None, "timed out", "unreachable"))
            continue
        if m == "nil":
            out.append(SentinelAnswer(label, True, None, "unknown master name", None, sid))
            continue
        address, runid = m if isinstance(m[0], tuple) else (m, RUN_IDS.get(m))
        runid = None if runid is UNKNOWN else runid
        fields = {"ip": address[0], "port": str(address[1]), "flags": "master",
                  "runid": runid or ""}  # fmt: skip
        out.append(SentinelAnswer(label, True, address, None, None, sid, runid, address, fields))
    return tuple(out)
