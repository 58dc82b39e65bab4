"""keepalived profiles: how each node's keepalived.conf (and its scripts) are rendered.

A profile is any object with ``name``, ``prepare()`` (one-time host setup, e.g. the script
user) and ``render(ctx) -> list[RenderedFile]`` (must include ``keepalived.conf``). The
cluster writes the files into the node's directory and starts keepalived on them.

- ``ClassicProfile``: the 2017 how-to (bash ``redis_is_master`` + redis-cli | grep,
  interval 30, weight 50, fall 2, rise 2, every node BACKUP priority 100). The only change:
  the password is read from a file into REDISCLI_AUTH instead of the how-to's ``-a $1`` on
  argv, which leaves the check's behaviour identical.
- ``SentinelVipProfile``: the installed sentinel-vip (``check`` as vrrp_script, track_file,
  generic ``notify``), with a per-node TOML written from the cluster's facts.
"""

from __future__ import annotations

import json
import pwd
import subprocess
from dataclasses import dataclass, field
from typing import Optional

SCRIPT_USER = "keepalived_script"


@dataclass(frozen=True)
class RenderedFile:
    name: str  # relative to the node directory
    content: str
    mode: int = 0o644
    group: str = ""  # "" = root; else readable by this group (e.g. the script user)
    user: str = ""  # "" = root


@dataclass(frozen=True)
class NodeContext:
    """What a profile may know about one node; paths are absolute, inside ``node_dir``."""

    name: str  # "n1"
    ip: str
    node_dir: str
    interface: str
    vip: str
    prefix_len: int
    vrid: int
    vrrp_pass: str
    master_name: str
    redis_port: int
    redis_password_file: str
    sentinel_addresses: tuple[str, ...]
    sentinel_password_file: str
    syslog_socket: str
    peers: tuple[str, ...] = field(default_factory=tuple)


def ensure_script_user(user: str = SCRIPT_USER) -> None:
    """keepalived refuses scripts under enable_script_security when this user is missing."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
            check=True,
            capture_output=True,
        )


def _instance(ctx: NodeContext, priority: int, state: str, tracks: str, extra: str = "") -> str:
    return f"""vrrp_instance redis_failover {{
  state {state}
  virtual_router_id {ctx.vrid}
  interface {ctx.interface}
  priority {priority}
  advert_int 1
  authentication {{
    auth_type PASS
    auth_pass {ctx.vrrp_pass}
  }}
  virtual_ipaddress {{
    {ctx.vip}/{ctx.prefix_len} dev {ctx.interface}
  }}
{tracks}{extra}}}
"""


@dataclass
class ClassicProfile:
    """The classic keepalived + Sentinel how-to, kept faithful (see module doc)."""

    interval: int = 30
    weight: int = 50
    fall: int = 2
    rise: int = 2
    priority: int = 100
    name: str = "classic"

    def prepare(self) -> None:
        ensure_script_user()

    def render(self, ctx: NodeContext) -> list:
        script_path = f"{ctx.node_dir}/redis_is_master"
        script = f"""#!/bin/bash

# This is a helper script to check if the current redis instance is the master of the
# replication scheme (the classic how-to). Only change: the password comes from a file via
# REDISCLI_AUTH instead of "-a $1", so it never appears on a command line.
export REDISCLI_AUTH="$(cat {ctx.redis_password_file})"

REPLICATION_DATA=`redis-cli info replication 2> /dev/null`

if [ $? -ne 0 ]; then
 exit 1;
fi

# Check the data for master information
echo $REPLICATION_DATA | grep -q 'role:master'

exit $?
"""
        tracks = "  track_script {\n    redis_failover_track\n  }\n"
        conf = f"""global_defs {{
  router_id {ctx.name}
  enable_script_security
}}

vrrp_script redis_failover_track {{
  script "{script_path}"
  interval {self.interval}
  weight {self.weight}
  fall {self.fall}
  rise {self.rise}
}}

{_instance(ctx, self.priority, "BACKUP", tracks)}"""
        return [
            RenderedFile("redis_is_master", script, 0o755),
            RenderedFile("keepalived.conf", conf, 0o600),
        ]


@dataclass
class SentinelVipProfile:
    """The installed sentinel-vip; commands may use ``{config}`` for the node's TOML path."""

    check_command: str = "/usr/sbin/sentinel-vip --config {config} check"
    notify_command: str = "/usr/sbin/sentinel-vip --config {config} notify"
    interval: float = 1
    timeout: float = 1
    fall: int = 1
    rise: int = 1
    script_weight: int = 0
    # weight 0 reverse: "1" = ok, "0" or a missing file = fail (fail closed).
    track_file_weight: str = "0 reverse"
    priority: int = 100
    script_user: str = SCRIPT_USER
    extra_toml: Optional[dict] = None  # section -> {key: value}, merged over the defaults
    name: str = "sentinel_vip"

    def prepare(self) -> None:
        ensure_script_user(self.script_user)

    def paths(self, ctx: NodeContext) -> dict:
        d = ctx.node_dir
        return {
            "config": f"{d}/sentinel-vip.toml",
            "state_dir": f"{d}/svip-state",
            "track_file": f"{d}/svip-state/track",
            "history_file": f"{d}/svip-history/history.jsonl",
            "hooks_dir": f"{d}/notify.d",
        }

    def toml(self, ctx: NodeContext) -> str:
        p = self.paths(ctx)
        sections = {
            "": {"master_name": ctx.master_name},
            "redis": {
                "host": ctx.ip,
                "port": ctx.redis_port,
                "password_file": ctx.redis_password_file,
            },
            "sentinel": {
                "addresses": list(ctx.sentinel_addresses),
                "password_file": ctx.sentinel_password_file,
            },
            "node": {"addresses": [ctx.ip]},
            "vip": {"address": ctx.vip, "interface": ctx.interface},
            "check": {"track_file": p["track_file"]},
            "notify": {"hooks_dir": p["hooks_dir"]},
            "paths": {"state_dir": p["state_dir"], "history_file": p["history_file"]},
            "log": {"syslog": True, "syslog_socket": ctx.syslog_socket},
        }
        for section, values in (self.extra_toml or {}).items():
            sections.setdefault(section, {}).update(values)
        lines = [f"{k} = {_toml_value(v)}" for k, v in sections.pop("").items()]
        for section, values in sections.items():
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        return "\n".join(lines) + "\n"

    def render(self, ctx: NodeContext) -> list:
        p = self.paths(ctx)
        check = self.check_command.format(config=p["config"])
        notify = self.notify_command.format(config=p["config"])
        tracks = (
            "  track_script {\n    sentinel_vip_check\n  }\n"
            "  track_file {\n    sentinel_vip_track\n  }\n"
        )
        conf = f"""global_defs {{
  router_id {ctx.name}
  enable_script_security
  script_user {self.script_user}
}}

vrrp_script sentinel_vip_check {{
  script "{check}"
  interval {self.interval}
  timeout {self.timeout}
  weight {self.script_weight}
  fall {self.fall}
  rise {self.rise}
}}

track_file sentinel_vip_track {{
  file "{p["track_file"]}"
  weight {self.track_file_weight}
}}

{_instance(ctx, self.priority, "BACKUP", tracks, f'  notify "{notify}"' + chr(10))}"""
        return [
            RenderedFile("keepalived.conf", conf, 0o600),
            RenderedFile("sentinel-vip.toml", self.toml(ctx), 0o640, group=self.script_user),
        ]

    def writable_dirs(self, ctx: NodeContext) -> list:
        """Directories the check/notify (running as script_user) must write."""
        p = self.paths(ctx)
        return [p["state_dir"], p["history_file"].rsplit("/", 1)[0]]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


PROFILES = {"classic": ClassicProfile, "sentinel_vip": SentinelVipProfile}
