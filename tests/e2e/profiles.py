"""keepalived profiles: how each node's keepalived.conf (and its scripts) are rendered.

A profile is any object with ``name``, ``prepare()`` (one-time host setup, e.g. the script
user) and ``render(ctx) -> list[RenderedFile]`` (must include ``keepalived.conf``). The
cluster writes the files into the node's directory and starts keepalived on them.

- ``ClassicProfile``: the 2017 how-to (bash ``redis_is_master`` + redis-cli | grep,
  interval 30, weight 50, fall 2, rise 2, every node BACKUP priority 100). The only change:
  the password is read from a file into REDISCLI_AUTH instead of the how-to's ``-a $1`` on
  argv, which leaves the check's behaviour identical.
- ``SentinelVipProfile``: the shipped keepalived snippet (etc/keepalived/conf.d) with the
  installed sentinel-vip, rendered per node by render's code into ``conf.d/``, included from
  ``keepalived.conf``, and a per-node TOML from the cluster's facts.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
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
    host: str = ""  # the node's hostname when the Sentinels announce hostnames


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


REPO_SNIPPET = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "etc/keepalived/conf.d/sentinel-vip.conf",
)
INSTALLED_SNIPPET = "/etc/keepalived/conf.d/sentinel-vip.conf"
REPO_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
SNIPPET_NAME = "conf.d/sentinel-vip.conf"  # in the node directory, included by keepalived.conf
INSTANCE = "sentinel_vip"  # the shipped snippet's vrrp_instance (keepalived.instance)


def _render_module():
    """sentinel_vip.admin.render from this checkout (tools/demo and bench run without src/ on
    sys.path): the profile writes the node snippet with render's own code."""
    src = os.path.abspath(REPO_SRC)
    if src not in sys.path:
        sys.path.insert(0, src)
    from sentinel_vip.admin import render

    return render


class SnippetMismatch(RuntimeError):
    """The shipped snippet no longer has a line the profile must adapt per node."""


@dataclass
class SentinelVipProfile:
    """The shipped keepalived snippet, run with the same commands as the installed package.

    Laid out like a real installation: ``keepalived.conf`` holds ``global_defs`` and includes
    ``conf.d/sentinel-vip.conf``, which is what ``sentinel-vip render`` writes from the node's
    TOML (interface, router id, priority, VIP — the snippet's "EDIT" lines — and what three
    nodes on one host cannot share: ``--config <node>/sentinel-vip.toml`` and the track file in
    the node directory). The only difference from render's output is the program path
    (``binary``). Every adapted line must be found, so a changed snippet fails loudly. The
    TOML points doctor at these files and at the node's sentinel.conf.
    """

    binary: str = "/usr/sbin/sentinel-vip"
    snippet: str = ""  # "" = the repo's etc/keepalived/conf.d, else the installed one
    priorities: tuple = (100, 90, 80)  # n1, n2, n3 (the snippet says: different per node)
    script_user: str = SCRIPT_USER
    extra_toml: Optional[dict] = None  # section -> {key: value}, merged over the defaults
    name: str = "sentinel_vip"
    watch: bool = True  # run `sentinel-vip watch` as the package's service does

    def services(self, ctx: NodeContext) -> list:
        """The watcher runs as the script user, like the packaged systemd unit."""
        if not self.watch:
            return []
        argv = ["setpriv", f"--reuid={self.script_user}", f"--regid={self.script_user}",
                "--init-groups", "--", self.binary, "--config", self.paths(ctx)["config"],
                "watch"]  # fmt: skip
        return [("watch", argv)]

    def prepare(self) -> None:
        ensure_script_user(self.script_user)

    def snippet_path(self) -> str:
        if self.snippet:
            return self.snippet
        return REPO_SNIPPET if os.path.isfile(REPO_SNIPPET) else INSTALLED_SNIPPET

    def paths(self, ctx: NodeContext) -> dict:
        d = ctx.node_dir
        return {
            "config": f"{d}/sentinel-vip.toml",
            "state_dir": f"{d}/svip-state",
            "track_file": f"{d}/svip-state/track",
            "history_file": f"{d}/svip-history/history.jsonl",
            "hooks_dir": f"{d}/notify.d",
            "keepalived_conf": f"{d}/keepalived.conf",
            "snippet": f"{d}/{SNIPPET_NAME}",
            "sentinel_conf": f"{d}/sentinel.conf",
            "metrics": f"{d}/svip-metrics/sentinel-vip.prom",
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
                "config_files": [p["sentinel_conf"]],
            },
            # How Sentinel names this node: its hostname when Sentinels announce hostnames.
            "node": {"addresses": [ctx.host or ctx.ip]},
            "vip": {"address": ctx.vip, "interface": ctx.interface, "prefix": ctx.prefix_len},
            # What doctor reads and render writes: this node's real files.
            "keepalived": {
                "config_file": p["keepalived_conf"],
                "snippet": p["snippet"],
                "instance": INSTANCE,
                "virtual_router_id": ctx.vrid,
                "priority": self.priority(ctx),
                "script_user": self.script_user,
            },
            "metrics": {"textfile": p["metrics"]},
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

    def snippet_conf(self, ctx: NodeContext) -> str:
        """The node's ``conf.d/sentinel-vip.conf``: what ``sentinel-vip render`` writes from
        the node's TOML (render's own functions, starting from the snippet), except that the
        program is ``binary`` (render always names /usr/sbin/sentinel-vip)."""
        render = _render_module()
        with open(self.snippet_path(), encoding="utf-8") as fh:
            template = fh.read()
        p = self.paths(ctx)
        values = {
            "instance": INSTANCE,
            "interface": ctx.interface,
            "vrid": ctx.vrid,
            "priority": self.priority(ctx),
            "vip": f"{ctx.vip}/{ctx.prefix_len}",
            "track_file": p["track_file"],
            "program": f"{self.binary} --config {p['config']}",
        }
        text = render.keepalived_text(values, template)
        # A snippet without the lines render adapts must fail loudly, not run unadapted.
        wanted = [
            f'"{values["program"]} check"',
            f'"{values["program"]} notify"',
            f'file "{p["track_file"]}"',
            f"interface {ctx.interface}",
            f"virtual_router_id {ctx.vrid}",
            f"priority {values['priority']}",
            values["vip"],
            f"vrrp_instance {INSTANCE} {{",
        ]
        for line in wanted:
            if line not in text:
                raise SnippetMismatch(f"{self.snippet_path()}: no line to adapt to {line!r}")
        return render.header(p["config"]) + render.generated(text)

    def keepalived_conf(self, ctx: NodeContext) -> str:
        """keepalived.conf as an admin writes it: global_defs, then include the snippet."""
        return (
            "global_defs {\n"
            f"  router_id {ctx.name}\n"
            "  enable_script_security\n"
            f"  script_user {self.script_user}\n"
            "}\n\n"
            f"include {self.paths(ctx)['snippet']}\n"
        )

    def priority(self, ctx: NodeContext) -> int:
        return self.priorities[int(ctx.name.lstrip("n")) - 1]

    def render(self, ctx: NodeContext) -> list:
        # 0644 like the package's snippet and a usual keepalived.conf (no secret in either:
        # VRRPv3 has no auth_pass), so doctor can read them as the script user.
        return [
            RenderedFile("keepalived.conf", self.keepalived_conf(ctx), 0o644),
            RenderedFile(SNIPPET_NAME, self.snippet_conf(ctx), 0o644),
            RenderedFile("sentinel-vip.toml", self.toml(ctx), 0o640, group=self.script_user),
        ]

    def writable_dirs(self, ctx: NodeContext) -> list:
        """Directories the check/notify (running as script_user) must write."""
        p = self.paths(ctx)
        return [p["state_dir"], *(p[k].rsplit("/", 1)[0] for k in ("history_file", "metrics"))]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


PROFILES = {"classic": ClassicProfile, "sentinel_vip": SentinelVipProfile}
