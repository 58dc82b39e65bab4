"""Network-namespace plumbing for the e2e cluster: namespaces, veth pairs, one bridge.

Everything here shells out to iproute2 (``ip``); every address lives inside a namespace the
cluster created, nothing is routed from the root namespace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message carries the command and its stderr."""


def run(argv: Sequence[str], check: bool = True, timeout: float = 10.0) -> str:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def exec_argv(ns: str, argv: Sequence[str]) -> list:
    """argv that runs ``argv`` inside ``ns`` (``ip netns exec`` execs it: same pid)."""
    return ["ip", "netns", "exec", ns, *argv]


def namespaces() -> list:
    out = run(["ip", "-j", "netns", "list"], check=False).strip()
    if not out:
        return []
    return [entry["name"] for entry in json.loads(out)]


def add_namespace(ns: str) -> None:
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def pids_in(ns: str) -> list:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def kill_all_in(ns: str, deadline: float = 5.0) -> None:
    """SIGTERM every process in ``ns``, then SIGKILL what is left after ``deadline``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids_in(ns):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + deadline
        while pids_in(ns) and time.monotonic() < end:
            time.sleep(0.05)
        if not pids_in(ns):
            return


def delete_namespace(ns: str) -> None:
    kill_all_in(ns)
    run(["ip", "netns", "del", ns], check=False)


def add_bridge(ns: str, name: str = "br0") -> None:
    run(["ip", "-n", ns, "link", "add", name, "type", "bridge"])
    # VRRP adverts are multicast: no IGMP snooping, no STP delay before forwarding.
    run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "set",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ]
    )
    run(["ip", "-n", ns, "link", "set", name, "up"])


def connect(bridge_ns: str, port: str, node_ns: str, ifname: str, cidr: str, bridge="br0") -> None:
    """veth ``port`` (in the bridge namespace, enslaved to ``bridge``) <-> ``ifname`` in node_ns."""
    run(
        [
            "ip",
            "-n",
            bridge_ns,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            node_ns,
        ]
    )
    run(["ip", "-n", bridge_ns, "link", "set", port, "master", bridge])
    run(["ip", "-n", bridge_ns, "link", "set", port, "up"])
    run(["ip", "-n", node_ns, "addr", "add", cidr, "dev", ifname])
    run(["ip", "-n", node_ns, "link", "set", ifname, "up"])


def set_link(ns: str, ifname: str, up: bool) -> None:
    run(["ip", "-n", ns, "link", "set", ifname, "up" if up else "down"])


def set_master(ns: str, ifname: str, bridge: str) -> None:
    """Enslave (bridge name) or detach ("" = nomaster) a port: a cut with carrier kept up."""
    if bridge:
        run(["ip", "-n", ns, "link", "set", ifname, "master", bridge])
    else:
        run(["ip", "-n", ns, "link", "set", ifname, "nomaster"])


def ipv4_addresses(ns: str) -> list:
    """Every IPv4 address configured in ``ns`` (``ip -j addr``)."""
    out = run(["ip", "-n", ns, "-j", "-4", "addr", "show"], check=False).strip()
    if not out:
        return []
    return [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])]
