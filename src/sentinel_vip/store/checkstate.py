"""The check's state file (``state_dir/check.json``), read as the untrusted input it is.

Anyone who can write the state directory, a crash, or a disk error can leave anything in
it. Every field is checked for type and range on read and dropped when wrong, so a bad file
costs one run's memory of the past, never a crash loop (the next record replaces it whole),
and never a verdict: ``last_agreed`` in the future, a string, or ``1e300`` is discarded.

``no_majority_grace`` is measured on CLOCK_MONOTONIC of the boot that recorded the agreement
(``agreed_boot``, ``agreed_mono``): a wall-clock step cannot stretch it, a reboot ends it.
``last_agreed`` (wall clock) stays for people reading the file. ``agreed_run_id`` is the
local Redis' run_id at that agreement: it lets the check recognise its own master restarted
in place while the Sentinels still report the old run_id (see ``agreement.whose``).
"""

from __future__ import annotations

from sentinel_vip.store import disk

NAME = "check.json"
MAX_TEXT = 2000
MAX_WARNINGS = 50
HEX = frozenset("0123456789abcdef")


def _number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value  # not NaN
        and -1e18 < value < 1e18
    )


def validated(data: dict, now: float, mono: float, boot: str) -> dict:
    """The fields of ``data`` that are what they must be. ``now`` is the wall clock, ``mono``
    CLOCK_MONOTONIC and ``boot`` the boot id, as of this run."""
    out: dict = {}
    if isinstance(data.get("ok"), bool):
        out["ok"] = data["ok"]
    code = data.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255:
        out["code"] = code
    reason = data.get("reason")
    if isinstance(reason, str) and len(reason) <= MAX_TEXT:
        out["reason"] = reason
    for key in ("since", "checked", "last_agreed"):
        value = data.get(key)
        if _number(value) and 0 <= value <= now:
            out[key] = value
    agreed_mono = data.get("agreed_mono")
    if data.get("agreed_boot") == boot and boot and _number(agreed_mono):
        if 0 <= agreed_mono <= mono:
            out["agreed_boot"], out["agreed_mono"] = boot, agreed_mono
    run_id = data.get("agreed_run_id")
    # Only from an agreement of this boot: a state file copied from another node (a cloned
    # VM, a shared directory) or kept over a reboot must not vouch for a restart.
    if "agreed_boot" in out and isinstance(run_id, str) and len(run_id) == 40:
        if all(c in HEX for c in run_id):
            out["agreed_run_id"] = run_id
    warnings = data.get("warnings")
    if isinstance(warnings, list) and len(warnings) <= MAX_WARNINGS:
        if all(isinstance(w, str) and len(w) <= MAX_TEXT for w in warnings):
            out["warnings"] = warnings
    return out


def read(path: str, now: float, mono: float, boot: str) -> dict:
    """The stored state, validated; {} when missing, unreadable or not a JSON object."""
    return validated(disk.read_json(path), now, mono, boot)


def agreed_age(state: dict, mono: float) -> float | None:
    """Seconds since a Sentinel majority last named this node, on this boot; else None."""
    if "agreed_mono" not in state:
        return None
    return mono - state["agreed_mono"]
