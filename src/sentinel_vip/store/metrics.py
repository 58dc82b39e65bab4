"""node_exporter textfile: the node's VIP, check and transition figures for Prometheus.

Off unless ``[metrics] textfile`` is set. The file is rebuilt as a whole from the state we
already keep (``check.json``, ``transitions.json``, this host's addresses) and written
atomically, so node_exporter never reads half a file and either writer (check on a verdict
change, notify on a transition) leaves a complete picture. ``check`` imports this module only
when its verdict changed: a steady node pays nothing.
"""

from __future__ import annotations

import os
import time

from sentinel_vip.store import disk

TRANSITIONS_NAME = "transitions.json"
CHECK_NAME = "check.json"  # written by check.record

_HELP = {
    "sentinel_vip_vip_held": "1 when the VIP is configured on this host",
    "sentinel_vip_check_ok": "1 when the last check passed (this node may hold the VIP)",
    "sentinel_vip_check_code": "exit code of the last check (0 = ok; see the README)",
    "sentinel_vip_check_since_timestamp_seconds": "when the check verdict last changed",
    "sentinel_vip_keepalived_master": "1 when keepalived last reported MASTER for the instance",
    "sentinel_vip_transitions_total": "keepalived transitions recorded by notify since boot",
    "sentinel_vip_last_transition_timestamp_seconds": "when notify last recorded a transition",
}
_COUNTERS = ("sentinel_vip_transitions_total",)


def render(values: dict, labels: dict | None = None) -> str:
    """Prometheus text format for ``values`` (name -> number); unknown values are left out."""
    label_text = ""
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        label_text = "{" + inner + "}"
    lines = []
    for name, help_text in _HELP.items():
        value = values.get(name)
        if value is None:
            continue
        kind = "counter" if name in _COUNTERS else "gauge"
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{label_text} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return str(int(value))


def collect(check: dict, transitions: dict, vip_held: bool | None) -> dict:
    """The metric values from the stored check verdict and transition counter (pure)."""
    values: dict = {"sentinel_vip_transitions_total": transitions.get("count", 0)}
    if vip_held is not None:
        values["sentinel_vip_vip_held"] = vip_held
    if "code" in check:
        values["sentinel_vip_check_ok"] = bool(check.get("ok"))
        values["sentinel_vip_check_code"] = check["code"]
        if check.get("since") is not None:
            values["sentinel_vip_check_since_timestamp_seconds"] = check["since"]
    if transitions.get("last_ts") is not None:
        values["sentinel_vip_last_transition_timestamp_seconds"] = transitions["last_ts"]
        values["sentinel_vip_keepalived_master"] = transitions.get("last_state") == "MASTER"
    return values


def write(config) -> bool:
    """Rebuild the textfile from the stored state; False when metrics are off."""
    if not config.metrics_textfile:
        return False
    check = disk.read_json(os.path.join(config.state_dir, CHECK_NAME))
    transitions = disk.read_json(os.path.join(config.state_dir, TRANSITIONS_NAME))
    from sentinel_vip.probes.identity import vip_held

    values = collect(check, transitions, vip_held(config.vip_address))
    text = render(values, {"instance_name": config.keepalived_instance})
    disk.atomic_write(config.metrics_textfile, text.encode(), 0o644)
    return True


def count_transition(config, new_state: str, now: float | None = None) -> dict:
    """Add one keepalived transition to the counter (notify calls this once per call)."""
    path = os.path.join(config.state_dir, TRANSITIONS_NAME)
    now = time.time() if now is None else now
    # Own lock: concurrent notify runs must not lose an increment.
    fd = disk.open_private(path + ".lock", os.O_RDWR)  # never through a planted symlink
    try:
        disk.lock(fd, path + ".lock")
        current = disk.read_json(path)
        updated = {
            "count": int(current.get("count", 0)) + 1,
            "last_ts": round(now, 3),
            "last_state": new_state,
        }
        disk.write_json(path, updated, 0o644)
        return updated
    finally:
        os.close(fd)


def on_check_change(config, logger=None) -> None:
    """check.record's hook after a verdict change; metrics must never break the check."""
    _safely(lambda: write(config), config, logger)


def on_transition(config, new_state: str, logger=None) -> None:
    """notify's hook after recording a transition."""
    if not config.metrics_textfile:
        return

    # Apart: a lock file that cannot be used (planted, wrong owner) costs the counter, not
    # the textfile's other figures.
    _safely(lambda: count_transition(config, new_state), config, logger)
    _safely(lambda: write(config), config, logger)


def _safely(action, config, logger) -> None:
    try:
        action()
    except OSError as exc:
        if logger is not None:
            path = exc.filename or config.metrics_textfile  # the file that failed
            logger.log("err", "metrics_unwritable", path=path, error=exc.strerror)
