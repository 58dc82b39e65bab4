"""The one sentinel-vip config builder: a table (dict), written as TOML or loaded.

- ``table(tmp_path=None, **sections)``: a valid minimal config (three Sentinels on 10.0.0.x,
  a VIP), its files under ``tmp_path``/state when given (not created); ``sections`` merge
  in (see ``merge``); a suite's own defaults are one more ``merge``.
- ``node_table(workdir, redis_port, sentinels)``: a node whose Redis is 127.0.0.1:redis_port,
  for tests against real or fake servers on loopback.
- ``make_config(...)``: ``table`` loaded (``config.load.from_mapping``).
- ``write_config(path, table)``: the TOML file, 0600 (the pyz refuses looser secrets).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional


def merge(table: dict, sections: dict) -> dict:
    """``name=dict`` updates that section, ``name=None`` removes it, anything else sets it;
    a dotted name ("check.deadline") sets one key deep down (None removes it)."""
    for name, value in sections.items():
        *parents, leaf = name.split(".")
        node = table
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        elif isinstance(value, dict) and not parents:
            node.setdefault(leaf, {}).update(value)
        else:
            node[leaf] = value
    return table


def table(tmp_path=None, **sections) -> dict:
    base: dict = {
        "master_name": "mymaster",
        "sentinel": {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]},
        "vip": {"address": "10.0.0.100", "interface": "eth0"},
    }
    if tmp_path is not None:
        state = os.path.join(str(tmp_path), "state")
        base["paths"] = {
            "state_dir": state,
            "history_file": os.path.join(state, "history.jsonl"),
        }
        base["check"] = {"track_file": os.path.join(state, "track")}
    return merge(base, sections)


def make_config(tmp_path=None, **sections):
    from sentinel_vip.config.load import from_mapping

    return from_mapping(table(tmp_path, **sections))


def node_table(workdir: str, redis_port: int, sentinels: list, syslog_socket: str = "",
               **sections) -> dict:  # fmt: skip
    """A valid config for a node whose Redis is 127.0.0.1:redis_port, files under workdir."""
    for sub in ("state", "notify.d"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    base = {
        "master_name": "mymaster",
        "redis": {"host": "127.0.0.1", "port": redis_port},
        "sentinel": {"addresses": list(sentinels)},
        "node": {"addresses": [f"127.0.0.1:{redis_port}"], "allow_loopback": True},
        "check": {"deadline": 0.8, "track_file": os.path.join(workdir, "state", "track")},
        "notify": {"deadline": 2, "hooks_dir": os.path.join(workdir, "notify.d")},
        "paths": {
            "state_dir": os.path.join(workdir, "state"),
            "history_file": os.path.join(workdir, "state", "history.jsonl"),
        },
        "log": {"syslog": bool(syslog_socket), "syslog_socket": syslog_socket or "/dev/log"},
    }
    return merge(base, sections)


# -- on disk --------------------------------------------------------------------------------


def write_private(path, text: str, mode: int = 0o600) -> str:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(str(path), mode)
    return str(path)


def write_config(path, config: dict, mode: int = 0o600) -> str:
    return write_private(path, to_toml(config) + "\n", mode)


# -- a minimal TOML writer (tomli_w is not a dependency) -------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: dict, prefix: str = "") -> str:
    lines: list = []
    scalars = [(k, v) for k, v in config.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in config.items() if isinstance(v, dict)]
    if prefix and (scalars or not tables):
        lines.append(f"\n[{prefix}]")
    for key, value in scalars:
        lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines)
    for key, value in tables:
        text += ("\n" if text else "") + to_toml(value, f"{prefix}.{key}" if prefix else key)
    return text.lstrip("\n") if not prefix else text


def tls_table(ca: str = "", cert: str = "", key: str = "", server_name: str = "",
              verify: Optional[bool] = None) -> dict:  # fmt: skip
    """A ``[redis.tls]`` / ``[sentinel.tls]`` table."""
    out = {"enabled": True, "ca_file": ca, "cert_file": cert, "key_file": key,
           "server_name": server_name}  # fmt: skip
    if verify is not None:
        out["verify"] = verify
    return out
