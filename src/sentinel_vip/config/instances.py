"""The instances on this node: one TOML file per Sentinel-monitored master, each with its VIP.

``/etc/sentinel-vip/sentinel-vip.toml`` is the instance named ``default`` (today's single
file, unchanged); every ``/etc/sentinel-vip/instances/NAME.toml`` is the instance ``NAME``,
mirroring Debian's ``redis-server@NAME`` and ``/etc/redis/redis-NAME.conf``. Each file is a
complete config, loaded by ``config.load`` into its own ``Config``: everything per instance
(check, notify, render, the watcher's fences) keeps taking one ``Config``. This module only
finds the set, loads it, and says what two instances must not share (docs/design.md,
"Several masters per node").

The set follows the config path the command was given (``--config``, else
``$SENTINEL_VIP_CONFIG``, else the default): that file plus ``instances/*.toml`` next to it.
A path that is itself inside an ``instances`` directory names that one instance only (it is
how keepalived runs the check and notify of a named instance).
"""

from __future__ import annotations

import ipaddress
import os

from sentinel_vip.errors import ConfigError

DEFAULT_NAME = "default"
DIRECTORY = "instances"
SUFFIX = ".toml"
MAX_NAME = 32  # keepalived's vrrp_instance names and metric labels stay short
MAX_INSTANCES = 64
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def name_problem(name: str) -> str:
    """Why ``name`` cannot name an instance ("" when it can)."""
    if name == DEFAULT_NAME:
        return f"'{DEFAULT_NAME}' is the name of sentinel-vip.toml's instance; choose another"
    if not name or len(name) > MAX_NAME or not set(name) <= _NAME_CHARS or name[0] == "-":
        return (
            f"instance name {name!r}: expected 1-{MAX_NAME} letters, digits, '_' or '-'"
            " (not starting with '-')"
        )
    return ""


def discover(main_path: str, listdir=os.listdir) -> tuple:
    """((name, path), ...) of every instance, in a stable order (default first), and the
    problems with names found in the directory (each names the file)."""
    parent = os.path.dirname(os.path.abspath(main_path))
    if os.path.basename(parent) == DIRECTORY:  # one named instance, as keepalived runs it
        stem = os.path.basename(main_path)
        return ((stem[: -len(SUFFIX)] if stem.endswith(SUFFIX) else stem, main_path),), ()
    members, problems = [], []
    directory = os.path.join(os.path.dirname(main_path), DIRECTORY)
    try:
        entries = sorted(listdir(directory))
    except FileNotFoundError:
        entries = []
    except OSError as exc:
        entries = []
        problems.append(f"{directory}: cannot list: {exc.strerror}")
    for entry in entries:
        if entry.startswith(".") or not entry.endswith(SUFFIX):
            continue  # editors' and dpkg's leftovers (.swp, .dpkg-old) are not instances
        name = entry[: -len(SUFFIX)]
        path = os.path.join(directory, entry)
        problem = name_problem(name)
        if problem:
            problems.append(f"{path}: {problem}")
        elif len(members) >= MAX_INSTANCES:
            problems.append(f"{path}: more than {MAX_INSTANCES} instances; ignored")
        else:
            members.append((name, path))
    if os.path.lexists(main_path) or not members:
        members.insert(0, (DEFAULT_NAME, main_path))  # absent and alone: its load says so
    return tuple(members), tuple(problems)


def name_of(main_path: str, path: str) -> str:
    """The instance name of the config file ``path`` in the set of ``main_path``."""
    for name, member in discover(main_path)[0]:
        if member == path:
            return name
    return DEFAULT_NAME


def load_all(main_path: str, load=None) -> tuple:
    """((name, Config), ...) of the instances that load and share nothing they must not,
    and the problems (invalid files, clashes: the later instance of a clash is left out)."""
    if load is None:
        from sentinel_vip.config.load import load
    members, problems = discover(main_path)
    problems = list(problems)
    loaded = []
    for name, path in members:
        try:
            loaded.append((name, load(path)))
        except ConfigError as exc:
            problems.append(str(exc))
    kept = []
    for name, config in loaded:
        clash = clashes(kept, name, config)
        if clash:
            problems.extend(f"{config.path}: {c}; instance {name} left out" for c in clash)
        else:
            kept.append((name, config))
    return tuple(kept), tuple(problems)


def _family(address: str) -> int:
    return 6 if ":" in address else 4


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


# What two instances on one node must never share: (what, key of a config or None).
def _keys(config) -> list:
    keys = [
        ("master_name", config.master_name),
        ("keepalived.instance", config.keepalived_instance),
        ("keepalived.snippet", config.keepalived_snippet),
        ("paths.state_dir", config.state_dir),
        ("paths.history_file", config.history_file),
        ("check.track_file", config.track_file or None),
        ("vip.address", _canonical(config.vip_address) if config.vip_address else None),
        ("metrics.textfile", config.metrics_textfile or None),
    ]
    if config.vip_interface:  # VRRP ids are per interface and per address family
        family = _family(config.vip_address) if config.vip_address else 4
        keys.append(
            (
                "keepalived.virtual_router_id",
                (config.vip_interface, family, config.keepalived_vrid),
            )
        )
    return keys


def clashes(others, name: str, config) -> list:
    """What ``config`` (instance ``name``) shares with any of ``others`` ((name, Config))."""
    found = []
    mine = _keys(config)
    for other_name, other in others:
        theirs = dict(_keys(other))
        for what, value in mine:
            if value is not None and theirs.get(what) == value:
                shown = value[-1] if isinstance(value, tuple) else value
                found.append(f"{what} {shown} is also instance {other_name}'s ({other.path})")
    return found


def sentinel_set(config) -> frozenset:
    return frozenset(endpoint.label() for endpoint in config.sentinels)


def odd_sentinel_sets(instances) -> list:
    """(name, config, missing, extra) for each instance whose Sentinels differ from the set
    most instances use (ties: the first instance's)."""
    if len(instances) < 2:
        return []
    counts: dict = {}
    for _, config in instances:
        key = sentinel_set(config)
        counts[key] = counts.get(key, 0) + 1
    usual = max(counts, key=lambda key: (counts[key], key == sentinel_set(instances[0][1])))
    odd = []
    for name, config in instances:
        mine = sentinel_set(config)
        if mine != usual:
            odd.append((name, config, sorted(usual - mine), sorted(mine - usual)))
    return odd


def by_vrrp_name(instances, vrrp_name: str):
    """The (name, Config) whose keepalived.instance is ``vrrp_name``, or None."""
    for name, config in instances:
        if config.keepalived_instance == vrrp_name:
            return name, config
    return None
