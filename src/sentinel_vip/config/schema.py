"""The config schema as data, and the walk that checks a parsed TOML table against it.

Pure: no I/O. ``SCHEMA`` maps every key to its ``leaves.Leaf`` (default, what it accepts,
how to say so). ``validate`` visits every key, collects every problem as
``key.path: found <what>, expected <what>`` and never stops at the first one. Cross-key rules
(password vs password_file, agreement vs the number of Sentinels, ...) live in ``rules``.
"""

from __future__ import annotations

from sentinel_vip.config.leaves import (
    INVALID,
    MAX_SHOWN,
    MAX_TEXT,
    Agreement,
    Choice,
    Flag,
    Integer,
    Leaf,
    Seconds,
    Text,
    TextList,
    describe,
    is_absolute_path,
    is_host,
    is_interface,
    is_name,
    join,
)

# -- the schema --------------------------------------------------------------------------------

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
)  # fmt: skip

_PATH_OR_EMPTY = 'an absolute path, or ""'


def _tls_table() -> dict:
    return {
        "enabled": Flag(False),
        "ca_file": Text("", _PATH_OR_EMPTY + " for the system CAs", allow=is_absolute_path),
        "cert_file": Text("", _PATH_OR_EMPTY, allow=is_absolute_path),
        "key_file": Text("", _PATH_OR_EMPTY, allow=is_absolute_path),
        "server_name": Text("", 'a hostname, or "" to skip the hostname check', allow=is_host),
        "verify": Flag(True),
    }


def _auth_keys() -> dict:
    return {
        "username": Text("", 'an ACL user name without spaces, or ""', allow=is_name),
        "password": Text("", f"a string of at most {MAX_TEXT} characters", secret=True),
        "password_file": Text("", _PATH_OR_EMPTY, allow=is_absolute_path),
    }


SENTINEL_ADDRESS = Text(
    None,
    '"host:port", "[IPv6]:port" or "host" (port 26379)',
    allow=lambda v: len(v) <= 300,
    empty_ok=False,
)
NODE_ADDRESS = Text(
    None,
    '"ip", "ip:port", "[IPv6]:port", "hostname" or "hostname:port"',
    allow=lambda v: len(v) <= 300,
    empty_ok=False,
)

ABSOLUTE_PATH = Text(None, "an absolute path", allow=is_absolute_path, empty_ok=False)
UNICAST_PEER = Text(None, "an IP address", allow=is_host, empty_ok=False)


def _is_prom_path(value: str) -> bool:
    return is_absolute_path(value) and value.endswith(".prom")  # node_exporter reads *.prom


SCHEMA: dict = {
    "master_name": Text(
        None,
        'the name from "sentinel monitor <name> ..." (no spaces)',
        allow=is_name,
        empty_ok=False,
        required=True,
    ),
    "redis": {
        "host": Text(
            "127.0.0.1", "a hostname or IP address (IPv6 without brackets)", allow=is_host
        ),
        "port": Integer(6379, 1, 65535),
        "unix_socket": Text("", _PATH_OR_EMPTY + " to use host/port", allow=is_absolute_path),
        **_auth_keys(),
        "tls": _tls_table(),
    },
    "sentinel": {
        "addresses": TextList(None, SENTINEL_ADDRESS, 32, min_items=1, required=True),
        **_auth_keys(),
        "agreement": Agreement(),
        "no_majority_grace": Seconds(0, 600, zero_ok=True),
        # The Sentinel config files on this node (doctor reads them; missing ones are skipped)
        # and where `render` writes the Sentinel snippet ("" = next to the first that exists).
        "config_files": TextList(
            ["/etc/redis/sentinel.conf", "/etc/valkey/sentinel.conf"], ABSOLUTE_PATH, 8
        ),
        "snippet": Text("", _PATH_OR_EMPTY + " for automatic", allow=is_absolute_path),
        "tls": _tls_table(),
    },
    "node": {
        "addresses": TextList((), NODE_ADDRESS, 64),
        "announce_port": Integer(0, 0, 65535, "an integer 1..65535, or 0 for redis.port"),
        "allow_loopback": Flag(False),
    },
    "vip": {
        "address": Text("", 'an IP address without prefix length, or ""', allow=is_host),
        "interface": Text(
            "", 'an interface name (at most 15 characters), or ""', allow=is_interface
        ),
        "prefix": Integer(0, 0, 128, "a prefix length 1..128, or 0 for a host address"),
    },
    "keepalived": {  # read by doctor, written by render
        "config_file": Text(
            "/etc/keepalived/keepalived.conf",
            "an absolute path",
            allow=is_absolute_path,
            empty_ok=False,
        ),
        "snippet": Text(
            "/etc/keepalived/conf.d/sentinel-vip.conf",
            "an absolute path",
            allow=is_absolute_path,
            empty_ok=False,
        ),
        "instance": Text(
            "sentinel_vip", "a vrrp_instance name without spaces", allow=is_name, empty_ok=False
        ),
        "virtual_router_id": Integer(51, 1, 255),
        "priority": Integer(100, 1, 254),
        "unicast_src_ip": Text("", 'this node\'s IP address, or ""', allow=is_host),
        "unicast_peers": TextList([], UNICAST_PEER, 32),
        "script_user": Text(
            "keepalived_script", "a user name without spaces", allow=is_name, empty_ok=False
        ),
    },
    "metrics": {
        "textfile": Text(
            "", 'an absolute path ending in ".prom", or "" for none', allow=_is_prom_path
        ),
    },
    "check": {
        "deadline": Seconds(0.8, 60),
        "track_file": Text("/run/sentinel-vip/track", _PATH_OR_EMPTY, allow=is_absolute_path),
    },
    "watch": {
        "reconcile_interval": Seconds(5, 3600),
    },
    "notify": {
        "deadline": Seconds(5, 300),
        "demote": Flag(True),
        "hooks_dir": Text("/etc/sentinel-vip/notify.d", _PATH_OR_EMPTY, allow=is_absolute_path),
        "hook_timeout": Seconds(10, 3600),
    },
    "paths": {
        "state_dir": Text(
            "/run/sentinel-vip", "an absolute path", allow=is_absolute_path, empty_ok=False
        ),
        "history_file": Text(
            "/var/lib/sentinel-vip/history.jsonl",
            "an absolute path",
            allow=is_absolute_path,
            empty_ok=False,
        ),
        "history_max_lines": Integer(1000, 10, 1_000_000),
    },
    "log": {
        "syslog": Flag(True),
        "syslog_socket": Text(
            "/dev/log", "an absolute path", allow=is_absolute_path, empty_ok=False
        ),
        "facility": Choice("daemon", FACILITIES),
    },
}


# -- the walk ----------------------------------------------------------------------------------


def defaults(schema: dict = SCHEMA) -> dict:
    return {
        key: defaults(spec) if isinstance(spec, dict) else spec.default
        for key, spec in schema.items()
    }


def validate(data, schema: dict = SCHEMA) -> tuple[dict, list]:
    """Check ``data`` against ``schema``: (values with defaults filled in, problems).

    A value that fails is INVALID in the result. Only schema tables are entered, so the depth
    of the walk is the schema's, whatever the input nests.
    """
    problems: list = []
    if not isinstance(data, dict):
        problems.append(f"found {describe(data)} at the top level, expected a table of keys")
        return _all_invalid(schema), problems
    return _walk(data, schema, "", problems), problems


def _all_invalid(schema: dict) -> dict:
    return {k: _all_invalid(s) if isinstance(s, dict) else INVALID for k, s in schema.items()}


def _walk(data: dict, schema: dict, prefix: str, problems: list) -> dict:
    for key in data:
        if key not in schema:
            problems.append(f"{join(prefix, key)}: unknown key{_suggestion(key, schema)}")
    values = {}
    for key, spec in schema.items():
        path = join(prefix, key)
        if isinstance(spec, dict):
            sub = data.get(key, {})
            if isinstance(sub, dict):
                values[key] = _walk(sub, spec, path, problems)
            else:
                problems.append(f"{path}: found {describe(sub)}, expected a table [{path}]")
                values[key] = _all_invalid(spec)
        elif key not in data:
            if spec.required:
                problems.append(f"{path}: missing, expected {spec.expected}")
                values[key] = INVALID
            else:
                values[key] = spec.default
        else:
            values[key] = _leaf(data[key], spec, path, problems)
    return values


def _leaf(value, spec: Leaf, path: str, problems: list):
    if not spec.accepts(value):
        problems.append(f"{path}: found {describe(value, spec.secret)}, expected {spec.expected}")
        return INVALID
    if isinstance(spec, TextList):
        ok = True
        for index, item in enumerate(value):
            if not spec.item.accepts(item):
                problems.append(
                    f"{path}[{index}]: found {describe(item)}, expected {spec.item.expected}"
                )
                ok = False
        if not ok:
            return INVALID
    return spec.convert(value)


def _suggestion(key, schema: dict) -> str:
    if not isinstance(key, str) or len(key) > MAX_SHOWN:
        return ""
    import difflib  # only paid for when there is a typo

    close = difflib.get_close_matches(key, list(schema), n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    elsewhere = [p for p in _leaf_paths(SCHEMA, "") if p.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return " (it belongs in " + " or ".join(f"'{p}'" for p in elsewhere) + ")"
    return " (known keys here: " + ", ".join(schema) + ")"


def _leaf_paths(schema: dict, prefix: str) -> list:
    paths = []
    for key, spec in schema.items():
        path = join(prefix, key)
        paths.extend(_leaf_paths(spec, path) if isinstance(spec, dict) else [path])
    return paths
