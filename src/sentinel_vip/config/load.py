"""Load /etc/sentinel-vip/sentinel-vip.toml into a frozen ``Config``, reporting every problem.

``load`` reads the file (bounded, never blocking on a FIFO, a clear reason for every way a
file can be unusable) and parses it; ``from_mapping`` checks the table against
``schema.SCHEMA`` and the cross-key rules (``rules``), reads password files and builds the
records. Whatever is wrong ends in one ``ConfigError`` listing all problems, and no
password (inline or from a file) ever appears in it.
"""

from __future__ import annotations

import os
import sys

from sentinel_vip.config import rules, schema
from sentinel_vip.config.files import (  # noqa: F401 - re-exported: config.X as before
    DEFAULT_PATH,
    ENV_VAR,
    MAX_CONFIG_BYTES,
    MAX_SECRET_BYTES,
    PERMISSION_FIX,
    SECRET_GROUPS,
    insecure_files,
    resolve_path,
)
from sentinel_vip.config.files import Unusable as _Unusable
from sentinel_vip.config.files import decode as _decode
from sentinel_vip.config.files import read_bounded_stat as _read_bounded_stat
from sentinel_vip.config.files import root_trust_problem as _root_trust_problem
from sentinel_vip.config.record import Config
from sentinel_vip.errors import ConfigError
from sentinel_vip.probes.endpoint import Endpoint

MAX_PROBLEMS = 50  # one line in syslog must stay readable


def load(path: str) -> Config:
    try:
        data, info = _read_bounded_stat(path, MAX_CONFIG_BYTES)
        text = _decode(data)
    except _Unusable as exc:
        raise ConfigError(path, [exc.reason]) from None
    if os.geteuid() == 0:  # admins run notify, render, status as root
        untrusted = _root_trust_problem(path, info)
        if untrusted:
            raise ConfigError(path, [untrusted])
    if not text.strip():
        raise ConfigError(
            path, ["file is empty, expected at least master_name and [sentinel] addresses"]
        )
    return _build(_parse(path, text), path, from_file=True)


def from_mapping(data: dict, path: str = "<memory>") -> Config:
    """Validate an already parsed table (tests, ``render``); password files are still read."""
    return _build(data, path, from_file=False)


def _toml_module():
    if sys.version_info >= (3, 11):
        import tomllib  # novm

        return tomllib
    import tomli  # vendored in the zipapp, a dependency of the venv install

    return tomli


def _parse(path: str, text: str) -> dict:
    try:
        toml = _toml_module()
    except ImportError:
        raise ConfigError(path, ["cannot parse TOML: install python3-tomli"]) from None
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        problem = "invalid TOML: " + _without_source_text(str(exc))
    except RecursionError:
        problem = "invalid TOML: values nested too deeply"
    except ValueError:  # int() refuses numbers of more than 4300 digits
        problem = "invalid TOML: a number is too large"
    raise ConfigError(path, [problem])


def _without_source_text(message: str) -> str:
    """Decoder messages quote an offending character, which may sit inside a password."""
    if message.startswith(("Illegal character", "Found invalid character")):
        head, _, rest = message.partition(" '")
        _, _, position = rest.rpartition(" (at ")
        return f"{head} (at {position}" if position else head
    return message


# -- building ------------------------------------------------------------------------------


def _build(data, path: str, from_file: bool) -> Config:
    values, problems = schema.validate(data)
    redis, sentinel, node = values["redis"], values["sentinel"], values["node"]
    allow_loopback = node["allow_loopback"] is True
    vip = rules.vip(values["vip"]["address"], allow_loopback, problems)
    redis_password, redis_file = rules.password(redis, "redis", problems)
    sentinel_password, sentinel_file = rules.password(sentinel, "sentinel", problems)
    redis_tls = rules.tls(redis["tls"], "redis.tls", problems)
    sentinel_tls = rules.tls(sentinel["tls"], "sentinel.tls", problems)
    redis_host = rules.redis_host(redis, vip, problems)
    sentinel_hosts = rules.sentinel_addresses(sentinel["addresses"], vip, problems)
    agreement = rules.agreement(sentinel["agreement"], sentinel_hosts, problems)
    node_addresses = rules.node_addresses(node["addresses"], allow_loopback, vip, problems)
    keepalived = values["keepalived"]
    unicast_src = rules.unicast_ips([keepalived["unicast_src_ip"]], "unicast_src_ip", problems)
    unicast_peers = rules.unicast_ips(keepalived["unicast_peers"], "unicast_peers", problems)
    rules.vip_prefix(values["vip"]["prefix"], vip, problems)
    rules.track_file(values["check"]["track_file"], keepalived["script_user"], problems)
    rules.state_dir(values["paths"]["state_dir"], keepalived["script_user"], problems)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], f"... and {more} more problems"]
        raise ConfigError(path, problems)

    secret_files = [path] if from_file else []
    for used in (redis_file, sentinel_file):
        if used and used not in secret_files:
            secret_files.append(used)
    check, notify, paths, log = values["check"], values["notify"], values["paths"], values["log"]
    return Config(
        path=path,
        master_name=values["master_name"],
        redis=Endpoint(
            host=redis_host,
            port=redis["port"],
            unix_socket=redis["unix_socket"],
            username=redis["username"],
            password=redis_password,
            tls=redis_tls,
        ),
        sentinels=tuple(
            Endpoint(
                host=host,
                port=port,
                username=sentinel["username"],
                password=sentinel_password,
                tls=sentinel_tls,
            )
            for host, port in sentinel_hosts
        ),
        agreement=agreement,
        no_majority_grace=sentinel["no_majority_grace"],
        node_addresses=node_addresses,
        announce_port=node["announce_port"] or redis["port"],
        allow_loopback=allow_loopback,
        vip_address=str(vip) if vip else "",
        vip_interface=values["vip"]["interface"],
        check_deadline=check["deadline"],
        track_file=check["track_file"],
        watch_reconcile_interval=values["watch"]["reconcile_interval"],
        notify_deadline=notify["deadline"],
        demote=notify["demote"],
        hooks_dir=notify["hooks_dir"],
        hook_timeout=notify["hook_timeout"],
        state_dir=paths["state_dir"],
        history_file=paths["history_file"],
        history_max_lines=paths["history_max_lines"],
        log_syslog=log["syslog"],
        syslog_socket=log["syslog_socket"],
        log_facility=log["facility"],
        secret_files=tuple(secret_files),
        sentinel_config_files=tuple(sentinel["config_files"]),
        sentinel_snippet=sentinel["snippet"],
        vip_prefix=values["vip"]["prefix"],
        keepalived_config_file=keepalived["config_file"],
        keepalived_snippet=keepalived["snippet"],
        keepalived_instance=keepalived["instance"],
        keepalived_vrid=keepalived["virtual_router_id"],
        keepalived_priority=keepalived["priority"],
        keepalived_unicast_src_ip=unicast_src[0] if unicast_src else "",
        keepalived_unicast_peers=unicast_peers,
        keepalived_script_user=keepalived["script_user"],
        metrics_textfile=values["metrics"]["textfile"],
    )
