#!/usr/bin/env python3
"""Several masters per node: what 1, 3 and 10 instances per node cost, and how fast each VIP
follows its master (issue 16). Root: the three-node namespace cluster of tests/e2e
(``multi_cluster.MultiCluster``), every node running N redis-servers (the first masters
spread over the nodes), one Sentinel monitoring the N masters, one keepalived with N
vrrp_instances (each polling its check every second) and one ``sentinel-vip watch``.

Per N it prints:
  connections   the watcher's TCP connections to Sentinels at rest (median of samples; the
                periodic re-evaluations' short-lived connections included when caught)
  watch cpu     the watcher's CPU at rest (% of one core, per node, median of the nodes) and
                during a failover (from SENTINEL FAILOVER until the VIP moved + 1 s, the
                busiest node)
  checks cpu    keepalived's checks at rest (its VRRP process's reaped children, % of a core)
  check ms      one ``sentinel-vip check`` per instance, wall ms (median over instances of the
                median of --check-runs), run as keepalived runs it (script user)
  vip after     seconds from the first ``+switch-master`` to the VIP on the new master, per
                planned failover (SENTINEL FAILOVER; each instance in turn, at least 3)

Writes bench/results/multi-cost.json. Not a test: it measures.

    bench/multi_cost.py --pyz dist/sentinel-vip.pyz [--counts 1,3,10] [--rest 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from common import ROOT, cpu_seconds, install_binary, rss_mib

sys.path.insert(0, str(ROOT / "tests"))

from e2e import netns
from e2e.multi_cluster import SCRIPT_USER, MultiCluster, Recorder

RESULTS = ROOT / "bench" / "results" / "multi-cost.json"
BIN_DIR = "/run/svip-bench-multi-bin"
SENTINEL_PORT_HEX = f"{26379:04X}"
TIMER = """
import json, subprocess, sys, time
pyz, runs, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
out = {}
for config in configs:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([pyz, "--config", config, "check"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    out[config] = times
print(json.dumps(out))
"""


def sentinel_connections(pid: int) -> int:
    """Established TCP connections of ``pid`` to port 26379 (its namespace's /proc view)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "01" and f[2].endswith(":" + SENTINEL_PORT_HEX) and f[9] in inodes:
                count += 1
    return count


def vrrp_pid(cluster, node) -> int:
    with open(f"{node.dir}/keepalived-vrrp.pid", encoding="ascii") as fh:
        return int(fh.read().split()[0])


def check_ms(cluster, runs: int) -> list:
    """Per instance on n1: the median wall ms of ``runs`` checks run as the script user."""
    node = cluster.nodes["n1"]
    configs = [f"{node.dir}/{s.instance_file}" for s in cluster.shards]
    argv = netns.exec_argv(node.ns, ["setpriv", f"--reuid={SCRIPT_USER}",
                                     f"--regid={SCRIPT_USER}", "--init-groups", "--",
                                     sys.executable, "-c", TIMER, cluster.binary, str(runs),
                                     *configs])  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    times = json.loads(done.stdout)
    return [round(statistics.median(times[c]) * 1000, 1) for c in configs]


def measure(binary: str, count: int, args) -> dict:
    cluster = MultiCluster(binary, prefix="svmb", subnet="10.79.0", shards=count)
    cluster.start()
    try:
        cluster.wait_for(cluster.placed, 120, "each VIP on its first master's node")
        time.sleep(3.0)  # the watchers' first evaluations and subscriptions
        watchers = {n: node.procs["watch"].pid for n, node in cluster.nodes.items()}
        vrrp = {n: vrrp_pid(cluster, node) for n, node in cluster.nodes.items()}
        conns = []
        w0 = {n: cpu_seconds(p) for n, p in watchers.items()}
        k0 = {n: cpu_seconds(p, children=True) for n, p in vrrp.items()}
        t0 = time.monotonic()
        end = t0 + args.rest
        while time.monotonic() < end:
            conns.append(sentinel_connections(watchers["n1"]))
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        rest = [(cpu_seconds(p) - w0[n]) / elapsed * 100 for n, p in watchers.items()]
        checks = [(cpu_seconds(p, True) - k0[n]) / elapsed * 100 for n, p in vrrp.items()]
        rss = statistics.median(rss_mib(p) for p in watchers.values())
        per_check = check_ms(cluster, args.check_runs)
        switches, busy = [], []
        order = list(cluster.shards) * (1 + 2 // len(cluster.shards))
        with Recorder(cluster, interval=0.005, writers=False) as rec:
            for shard in order[: max(3, len(cluster.shards))]:
                before = cluster.shard_master("n1", shard)
                c0: dict = {}
                t_cmd = failover(cluster, shard, lambda c=c0: c.update(
                    {n: cpu_seconds(p) for n, p in watchers.items()}))  # fmt: skip
                switched = rec.wait(lambda s=shard, t=t_cmd: rec.switch_master(s, t), 60,
                                    f"{shard.name} +switch-master")  # fmt: skip
                new = cluster.wait_for(
                    lambda s=shard, b=before: (m := cluster.shard_master("n1", s)) != b and m,
                    30, f"{shard.name} new master")  # fmt: skip
                rec.wait(lambda s=shard, n=new: rec.holders_at_end(s.vip) == {n}, 30,
                         f"{shard.name} VIP on {new}")  # fmt: skip
                came = max(t for t, n, held in rec.vip_changes(shard.vip, t_cmd) if held)
                time.sleep(1.0)
                spent = time.monotonic() - t_cmd
                busy.append(
                    max((cpu_seconds(p) - c0[n]) / spent * 100 for n, p in watchers.items())
                )
                switches.append(round(came - switched, 3))
                # the old master is a replica again before the next failover
                cluster.wait_for(lambda s=shard: _synced(cluster, s), 60, f"{shard.name} synced")
        return {
            "instances": count,
            "connections": statistics.median(conns),
            "connections_max": max(conns),
            "watch_cpu_rest_pct": round(statistics.median(rest), 2),
            "watch_cpu_failover_pct": round(statistics.median(busy), 1),
            "watch_rss_mib": rss,
            "checks_cpu_rest_pct": round(statistics.median(checks), 1),
            "check_ms_per_instance": per_check,
            "check_ms_median": statistics.median(per_check),
            "vip_after_switch_s": switches,
            "vip_after_switch_median_s": statistics.median(switches),
        }
    finally:
        cluster.stop()


def failover(cluster, shard, before) -> float:
    """SENTINEL FAILOVER, once the previous failover of that master has ended (INPROG until
    Sentinel has reconfigured every replica); the time it was accepted."""
    end = time.monotonic() + 90
    while True:
        before()  # the CPU counted from the attempt that is accepted
        t_cmd = time.monotonic()
        reply = cluster._call("n1", "127.0.0.1:26379", "sentinel", "SENTINEL", "FAILOVER",
                              shard.name)  # fmt: skip
        if reply["ok"]:
            return t_cmd
        if "INPROG" not in reply["err"] or time.monotonic() > end:
            raise RuntimeError(f"SENTINEL FAILOVER {shard.name}: {reply['err']}")
        time.sleep(0.5)


def _synced(cluster, shard) -> bool:
    master = cluster.shard_master("n1", shard)
    if master is None:
        return False
    info = cluster.shard_call(master, shard, "INFO", "replication") or ""
    return info.count("state=online") == 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pyz", default=str(ROOT / "dist" / "sentinel-vip.pyz"))
    parser.add_argument("--counts", default="1,3,10")
    parser.add_argument("--rest", type=float, default=10.0, help="seconds at rest measured")
    parser.add_argument("--check-runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench-multi: needs root (network namespaces, keepalived)", file=sys.stderr)
        return 1
    binary = install_binary(args.pyz, BIN_DIR)
    results = []
    try:
        for count in (int(c) for c in args.counts.split(",")):
            result = measure(binary, count, args)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(BIN_DIR, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "loadavg": os.getloadavg()}, indent=2))
    header = ("instances/node", "conns", "watch rss MiB", "watch cpu rest %", "failover %",
              "checks cpu rest %", "check ms", "VIP after switch s (median, all)")  # fmt: skip
    print(" | ".join(header))
    for r in results:
        print(" | ".join(str(v) for v in (
            r["instances"], r["connections"], r["watch_rss_mib"], r["watch_cpu_rest_pct"],
            r["watch_cpu_failover_pct"], r["checks_cpu_rest_pct"], r["check_ms_median"],
            f"{r['vip_after_switch_median_s']} {r['vip_after_switch_s']}",
        )))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
