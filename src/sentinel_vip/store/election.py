"""The watcher's record of election evidence (``state_dir/election.json``), for the check.

Written by the watcher when it raised this node's track file on a promotion it followed
(``actions.election``), removed when that failover aborts or another promotion is accepted.
The check reads it only when its own rules fail this node (``decision.election.holds``), and
honours it for a few seconds of this boot only: ``boot``/``mono`` are the boot id and
CLOCK_MONOTONIC of the writer. Read as the untrusted input it is: any field of the wrong
type or range voids the whole record (it is all or nothing: a partial record proves nothing).
"""

from __future__ import annotations

import os

from sentinel_vip.store import disk

NAME = "election.json"
_HEX = frozenset("0123456789abcdef")


def _hex40(value) -> bool:
    return isinstance(value, str) and len(value) == 40 and set(value) <= _HEX


def _address(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and 0 < len(value[0]) <= 255
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 < value[1] < 65536
    )


def _count(value, top: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= top


def validated(data: dict, mono: float) -> dict:
    """``data`` when every field is what it must be (``mono`` now: no record from the
    future), else {}."""
    stamp = data.get("mono")
    if not (isinstance(stamp, (int, float)) and not isinstance(stamp, bool)):
        return {}
    if not (stamp == stamp and 0 <= stamp <= mono):  # NaN, future
        return {}
    ok = (
        isinstance(data.get("boot"), str)
        and _hex40(data.get("leader"))
        and _hex40(data.get("run_id"))
        and _count(data.get("epoch"), 2**64 - 1)
        and _count(data.get("voters"), 10_000)
        and _address(data.get("target"))
        and _address(data.get("old"))
    )
    if not ok:
        return {}
    out = {k: data[k] for k in ("boot", "mono", "leader", "run_id", "epoch", "voters")}
    out["target"], out["old"] = tuple(data["target"]), tuple(data["old"])
    return out


def path_of(state_dir: str) -> str:
    return os.path.join(state_dir, NAME)


def read(state_dir: str, mono: float) -> dict:
    return validated(disk.read_json(path_of(state_dir)), mono)


def write(state_dir: str, promotion, run_id: str, boot: str, mono: float) -> None:
    data = {
        "boot": boot,
        "mono": mono,
        "epoch": promotion.epoch,
        "leader": promotion.leader,
        "voters": promotion.voters,
        "target": list(promotion.target),
        "old": list(promotion.old),
        "run_id": run_id,
    }
    disk.write_json(path_of(state_dir), data, 0o640)


def clear(state_dir: str) -> None:
    try:
        os.unlink(path_of(state_dir))
    except FileNotFoundError:
        pass
