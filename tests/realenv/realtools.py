"""Helpers for the whole-system tests: polling, figures, and one node set up as an admin would.

A "node" here is a booted Debian root (tests/realenv/roots.py) with its own network
namespace: Debian's redis-server and redis-sentinel services on loopback, a veth pair whose
one end carries the VIP, keepalived including the package's snippet, and sentinel-vip's
config pointing at all of that.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The VIP the shipped snippet carries (its documentation example), which the steps keep.
VIP = re.search(
    r"virtual_ipaddress \{\s*([0-9.]+)/",
    (REPO / "etc" / "keepalived" / "conf.d" / "sentinel-vip.conf").read_text(),
).group(1)
VIP_IFACE = "svip0"
TRACK = "/run/sentinel-vip/track"
CONF = "/etc/sentinel-vip/sentinel-vip.toml"
SNIPPET = "/etc/keepalived/conf.d/sentinel-vip.conf"
UNIT = "sentinel-vip-watch.service"

NODE_CONFIG = f"""\
master_name = "mymaster"
[redis]
host = "127.0.0.1"
port = 6379
[sentinel]
addresses = ["127.0.0.1:26379"]
[node]
addresses = ["127.0.0.1:6379"]
allow_loopback = true
[vip]
address = "{VIP}"
interface = "{VIP_IFACE}"
"""

KEEPALIVED_CONF = """\
global_defs {
    enable_script_security
    script_user keepalived_script
}
include /etc/keepalived/conf.d/*.conf
"""


def figure(**fields) -> None:
    """One `figure key=value ...` line in the test output (shown with pytest -s)."""
    print("figure " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def poll(what: str, probe, timeout: float = 30.0, interval: float = 0.1):
    """probe() until it returns something true; fail with its last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {value!r})")
        time.sleep(interval)


def add_vip_link(root) -> None:
    """A veth pair inside the root's network namespace: keepalived puts the VIP on one end."""
    root.sh(
        f"ip link add {VIP_IFACE} type veth peer name svip1\n"
        f"ip addr add 192.0.2.1/24 dev {VIP_IFACE}\n"
        f"ip link set {VIP_IFACE} up\nip link set svip1 up\n"
    )


def vip_present(root) -> bool:
    out = root.run(["ip", "-o", "addr", "show", "dev", VIP_IFACE]).stdout
    return f" {VIP}/" in out


def track(root) -> str:
    proc = root.run(["cat", TRACK], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else "missing"


def sentinel_answers(root) -> bool:
    out = root.run(["redis-cli", "-p", "26379", "SENTINEL", "get-master-addr-by-name",
                    "mymaster"], check=False).stdout  # fmt: skip
    return out.split() == ["127.0.0.1", "6379"]


def configure_node(root) -> None:
    """What the admin edits after installing: the TOML (kept 0640 root:keepalived_script),
    the snippet's interface, keepalived.conf's global_defs and include."""
    poll("Debian's Sentinel names the local Redis", lambda: sentinel_answers(root))
    root.host_path(CONF).write_text(NODE_CONFIG)  # the file exists: owner and mode stay
    root.run(["sed", "-i", f"s/interface eth0 /interface {VIP_IFACE} /", SNIPPET])
    root.write("/etc/keepalived/keepalived.conf", KEEPALIVED_CONF)


def unit_state(root, unit: str = UNIT) -> tuple:
    out = root.run(["systemctl", "show", "-p", "ActiveState", "-p", "MainPID", "-p",
                    "UnitFileState", unit]).stdout  # fmt: skip
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return fields.get("ActiveState"), int(fields.get("MainPID") or 0), fields.get("UnitFileState")


def journal(root, *args: str) -> list:
    out = root.run(["journalctl", "--no-pager", "-o", "json", *args]).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def uid_of(root, user: str) -> str:
    return root.run(["id", "-u", user]).stdout.strip()
