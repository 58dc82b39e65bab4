"""``sentinel-vip status``: what this node is doing now, at a glance or as stable JSON.

Acquisition (``gather``) asks the local Redis (INFO replication, ``local_redis.read_info``),
every Sentinel and the local state files; presentation (``table``) is pure, so its
output is tested with plain data. The JSON document is versioned by ``SCHEMA`` (docs/admin.md
describes it); fields are only ever added within a version.
"""

from __future__ import annotations

import os
import socket
import time

from sentinel_vip.admin.findings import without_address
from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ExitCode
from sentinel_vip.log import escape_controls
from sentinel_vip.store import checkstate, history, switchover, track

SCHEMA = 1
DEADLINE = 3.0  # seconds for all the probes together
TRANSITIONS = 5


# -- pure: parsing replies ------------------------------------------------------------------


def replication(info: dict) -> dict:
    """The parts of INFO replication an admin needs (``local_redis.parse_info``'s dict)."""
    role = info.get("role")
    out: dict = {"role": role, "offset": info.get("master_repl_offset")}
    if role == "slave":
        out["master"] = _address(info.get("master_host"), info.get("master_port"))
        out["link"] = info.get("master_link_status")
        out["last_io_seconds"] = info.get("master_last_io_seconds_ago")
        master_offset = info.get("master_repl_offset")
        replica_offset = info.get("slave_repl_offset")
        out["offset"] = replica_offset if replica_offset is not None else master_offset
    replicas = []
    for key in sorted(k for k in info if k.startswith("slave") and k[5:].isdigit()):
        entry = info[key]
        if isinstance(entry, dict):
            replicas.append(
                {
                    "address": _address(entry.get("ip"), entry.get("port")),
                    "state": entry.get("state"),
                    "offset": entry.get("offset"),
                    "lag_seconds": entry.get("lag"),
                }
            )
    out["replicas"] = replicas
    return out


def _address(host, port) -> str | None:
    if not host:
        return None
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def sentinel_rows(answers, counted) -> list:
    """One dict per configured Sentinel: its id, what it names, whether that is the
    majority's answer (same address and run_id), whether it is another configured address's
    duplicate, and its SENTINEL MASTER quorum and flags."""
    duplicates = dict(counted.duplicates)
    contested = dict(counted.contested)
    rows = []
    for answer in answers:
        named = _address(*answer.master) if answer.master else None
        fields = answer.fields or {}
        agrees = (
            counted.agreed
            and answer.master == counted.master
            and (answer.runid is None or counted.runid is None or answer.runid == counted.runid)
        )
        rows.append(
            {
                "address": answer.address,
                "id": answer.sentinel_id,
                "duplicate_of": duplicates.get(answer.address),
                "contests": contested.get(answer.address),
                "answered": answer.answered,
                "master": named,
                "runid": answer.runid,
                "agrees": bool(agrees),
                "error": answer.error if not answer.answered or named is None else None,
                "quorum": _int(fields.get("quorum")),
                "flags": fields.get("flags"),
            }
        )
    return rows


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def keepalived_state(records: list, instance: str) -> dict:
    """The instance's last notify record: keepalived's state as the notify hook saw it
    (records notify marked as superseded by a later transition are skipped)."""
    record = history.last_record(records, instance)
    if record is None:
        return {"instance": instance, "state": None, "since": None, "priority": None}
    return {
        "instance": instance,
        "state": record.get("to"),
        "since": record.get("time"),
        "priority": record.get("priority"),
    }


def transition_rows(records: list) -> list:
    keys = (
        "time", "instance", "from", "to", "redis_role", "sentinel_master", "action", "superseded",
    )  # fmt: skip
    return [{k: r.get(k) for k in keys} for r in records]


def switchover_summary(record: dict) -> dict | None:
    """A switchover in progress, or interrupted (its process gone), from its record."""
    if not record:
        return None
    return {
        "from": record["master"],
        "to": record["target"],
        "stage": record["stage"],
        "pid": record["pid"],
        "running": switchover.alive(record["pid"]),
        "since": _when(record["started"]),
        "steered": [f"{_address(h, p)} {was}->{now}" for h, p, was, now in record["steered"]],
    }


def _switchover_line(s: dict) -> str:
    steered = ", ".join(s["steered"]) or "nothing yet"
    if s["running"]:
        head = f"IN PROGRESS (pid {s['pid']}, {s['stage']})"
    else:
        head = "INTERRUPTED: run `sentinel-vip switchover --restore`"
    return f"{head}  {s['from']} -> {s['to']}  since {s['since']}  replica-priority {steered}"


def check_summary(stored: dict) -> dict | None:
    if "code" not in stored:
        return None
    code = stored["code"]
    try:
        name = ExitCode(code).name
    except ValueError:
        name = str(code)
    return {
        "ok": bool(stored.get("ok")),
        "code": code,
        "name": name,
        "reason": stored.get("reason"),
        "since": stored.get("since"),
        "checked": stored.get("checked"),
    }


# -- pure: presentation ---------------------------------------------------------------------


def _when(ts) -> str:
    if ts is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _redis_line(redis: dict) -> str:
    if not redis.get("reachable"):
        return f"{redis['address']}  UNREACHABLE  {redis.get('error') or ''}".rstrip()
    role = redis.get("role")
    parts = [redis["address"], role or "?"]
    if role == "slave":
        parts.append(
            f"of {redis.get('master')} link={redis.get('link')}"
            f" last_io={redis.get('last_io_seconds')}s"
        )
    elif redis.get("replicas") is not None:
        shown = [f"{r['address']} {r['state']} lag={r['lag_seconds']}s" for r in redis["replicas"]]
        parts.append(f"replicas: {', '.join(shown) or 'none'}")
    return "  ".join(str(p) for p in parts)


def _sentinel_line(row: dict) -> str:
    who = f"id={row['id'][:8]}" if row.get("id") else "id=?"
    if row.get("duplicate_of"):
        return f"{row['address']}  {who}  DUPLICATE of {row['duplicate_of']}: counted once"
    if row.get("contests"):
        who += f" (CONTESTED: also given by {row['contests']})"
    if row["master"] is None:
        return f"{row['address']}  no answer: {without_address(row['address'], row['error'])}"
    verdict = "agrees" if row["agrees"] else "DISAGREES"
    extra = f"  quorum={row['quorum']} flags={row['flags']}" if row["flags"] else ""
    return f"{row['address']}  {who}  names {row['master']}  {verdict}{extra}"


def table(doc: dict) -> str:
    """The human view: one aligned ``label  value`` row per fact."""
    rows = [("node", f"{doc['host']}  master_name={doc['master_name']}")]
    rows.append(("redis", _redis_line(doc["redis"])))
    for row in doc["sentinels"]["answers"]:
        rows.append(("sentinel", _sentinel_line(row)))
    s = doc["sentinels"]
    if s["master"]:
        me = "this node" if s["master_is_this_node"] else "another node"
        majority = f"{s['master']} ({me})  {s['votes']}/{s['count']} name it, need {s['need']}"
    else:
        majority = f"NONE  need {s['need']} of {s['count']} to agree"
    rows.append(("majority", majority))
    if s.get("identity"):
        rows.append(("identity", s["identity"]))
    vip = doc["vip"]
    if vip["address"]:
        held = {True: "HELD by this node", False: "not here", None: "?"}[vip["held"]]
        rows.append(("vip", f"{vip['address']} on {vip['interface'] or '?'}  {held}"))
    k = doc["keepalived"]
    rows.append(
        ("keepalived", f"{k['instance']}  {k['state'] or 'unknown (no notify yet)'}"
         + (f"  since {k['since']}" if k["since"] else ""))
    )  # fmt: skip
    check = doc["check"]
    if check is None:
        rows.append(("check", "no verdict recorded yet"))
    else:
        verdict = "ok" if check["ok"] else "FAIL"
        rows.append(
            ("check", f"{verdict} {check['name']} ({check['code']}): {check['reason']}"
             f"  since {_when(check['since'])}")
        )  # fmt: skip
    if doc.get("switchover"):
        rows.append(("switchover", _switchover_line(doc["switchover"])))
    for t in doc["transitions"]:
        rows.append(
            ("transition", f"{t['time']}  {t['instance']}  {t['from'] or '?'} -> {t['to']}"
             f"  action={t['action']}")
        )  # fmt: skip
    if not doc["transitions"]:
        rows.append(("transition", "none recorded"))
    width = max(len(label) for label, _ in rows)
    # Values come from peers and from files the script user can write: never raw to a terminal.
    return "".join(f"{label.ljust(width)}  {escape_controls(value)}\n" for label, value in rows)


# -- acquisition ----------------------------------------------------------------------------


def redis_status(endpoint, timeout: float) -> dict:
    from sentinel_vip.probes.local_redis import read_info
    from sentinel_vip.probes.resp import ProbeError

    out = {"address": endpoint.label(), "reachable": False, "error": None}
    try:
        (info,) = read_info(endpoint, Deadline(timeout), "replication")
    except ProbeError as exc:
        if exc.kind == "auth":
            out["error"] = f"authentication or ACL refused: {exc}"[:200]
        elif exc.kind == "unreachable":
            out["error"] = f"unreachable: {exc}"[:200]
        else:
            out["error"] = f"refused: {exc}"[:200]
        return out
    out["reachable"] = True
    out.update(replication(info))
    return out


def gather(config, transitions: int = TRANSITIONS, now: float | None = None) -> dict:
    from sentinel_vip.decision.address import label
    from sentinel_vip.decision.agreement import SELF, agree, whose
    from sentinel_vip.probes.identity import confirm_named, identity_of, vip_held
    from sentinel_vip.probes.local_redis import probe_redis
    from sentinel_vip.probes.sentinel import ask_sentinels

    deadline = Deadline(DEADLINE)
    identity = identity_of(config)
    box: dict = {}
    answers = ask_sentinels(
        config.sentinels,
        config.master_name,
        deadline,
        meanwhile=lambda: box.setdefault("local", probe_redis(config.redis, deadline)),
    )
    counted = agree(answers, config.agreement, len(config.sentinels))
    local = box["local"]
    kind = why = None
    if counted.agreed and local.reachable and not local.error_kind:
        named = confirm_named(config, identity, local, counted, deadline)
        kind, why = whose(counted, local, identity.classify, named)
    records = history.read(config.history_file, 200)
    now = time.time() if now is None else now
    state = checkstate.read(
        os.path.join(config.state_dir, checkstate.NAME), now, time.monotonic(), track.boot_id()
    )
    doc = {
        "schema": SCHEMA,
        "generated": round(now, 3),
        "host": socket.gethostname(),
        "config": config.path,
        "master_name": config.master_name,
        "redis": redis_status(config.redis, deadline.timeout(cap=2.0)),
        "sentinels": {
            "count": len(config.sentinels),
            "distinct": len(config.sentinels) - len(counted.duplicates),
            "need": config.agreement,
            "master": label(*counted.master) if counted.agreed else None,
            "runid": counted.runid,
            "votes": counted.votes,
            "master_is_this_node": kind == SELF,
            "identity": why,
            "answers": sentinel_rows(answers, counted),
        },
        "vip": {
            "address": config.vip_address,
            "interface": config.vip_interface,
            "held": vip_held(config.vip_address),
        },
        "keepalived": keepalived_state(records, config.keepalived_instance),
        "check": check_summary(state),
        "transitions": transition_rows(records[-transitions:] if transitions else []),
        "switchover": switchover_summary(switchover.saved(config)),
    }
    return doc


def run(config, as_json: bool = False, transitions: int = TRANSITIONS, out=None) -> int:
    import json
    import sys

    out = out or sys.stdout
    doc = gather(config, transitions)
    if as_json:
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        out.write(table(doc))
    return 0
