"""The validated configuration as an immutable record (config.py builds it).

No validation here: the check's config cache rebuilds a ``Config`` without importing the
validator. Other modules rely on these attribute names.
"""

from __future__ import annotations

from sentinel_vip.probes.endpoint import Endpoint
from sentinel_vip.record import Record


class Config(Record):
    path: str
    master_name: str
    redis: Endpoint
    sentinels: tuple  # tuple[Endpoint, ...], one per sentinel.addresses entry, in order
    agreement: int  # resolved count of Sentinels that must name this node
    no_majority_grace: float
    node_addresses: tuple  # ((host, port or None), ...): canonical IPs or lower-case names
    announce_port: int  # 0 in the file is resolved to redis.port here
    allow_loopback: bool
    vip_address: str  # normalised IP, or ""
    vip_interface: str
    check_deadline: float
    track_file: str
    watch_reconcile_interval: float
    notify_deadline: float
    demote: bool
    hooks_dir: str
    hook_timeout: float
    state_dir: str
    history_file: str
    history_max_lines: int
    log_syslog: bool
    syslog_socket: str
    log_facility: str
    secret_files: tuple  # the config file (when loaded from one) and every password file used
    # Admin tools (doctor reads, render writes, check/notify export metrics)
    sentinel_config_files: tuple  # tuple[str, ...]
    sentinel_snippet: str  # "" = next to the first existing sentinel_config_files entry
    vip_prefix: int  # 0 = host address (/32 or /128)
    keepalived_config_file: str
    keepalived_snippet: str
    keepalived_instance: str
    keepalived_vrid: int
    keepalived_priority: int
    keepalived_unicast_src_ip: str  # normalised IP, or ""
    keepalived_unicast_peers: tuple  # tuple[str, ...] of normalised IPs
    keepalived_script_user: str
    metrics_textfile: str  # "" = no node_exporter textfile
