#!/usr/bin/env python3
"""Partition benchmark: the master cut off from the other nodes, then healed.

On the three-node namespace cluster of tests/e2e (redis-server + redis-sentinel + keepalived
+ ``sentinel-vip watch`` per node, a client writing through the VIP from its own namespace),
each repetition starts a fresh cluster, starts two applications on n1 (the master) -- one
writing through the VIP, one writing to n1's Redis directly on 127.0.0.1 -- cuts n1 off for
``--cut`` seconds and heals it. Two cut variants, alternated rep by rep:

  drop   n1's port is taken out of the bridge: packets vanish, the carrier stays up
  link   n1's port goes down: n1 sees no carrier (keepalived sees the interface go down)

Figures (seconds after the cut unless said otherwise): when n1 last acknowledged a write of
each application; when the VIP left n1; the VIP on the new master after a Sentinel majority
named it; n1 turned into a replica after the heal; seconds with two Redis masters; writes
acknowledged and lost, per writer. Prints median/min/max per variant and the issue's goals,
and writes bench/results/partition/<UTC time>.json and latest.json. Needs root. Not a test:
it measures.

    bench/partition.py [--reps 3] [--cut 13] [--modes drop,link] [--pyz PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from failover import git_describe, install_binary, loadavg, sha256  # noqa: E402

from e2e.cluster import Cluster, ClusterError  # noqa: E402
from e2e.partition import cut_figures, events_about  # noqa: E402
from e2e.profiles import SentinelVipProfile  # noqa: E402
from e2e.sampler import direct_writer_name, writer_name  # noqa: E402
from e2e.timeline import majority_master  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "partition"
PREFIX, SUBNET, VRID = "svpart", "10.89.0", 189  # our own: e2e may run at the same time
SAMPLE_INTERVAL = 0.05
MODES = {"drop": "detach", "link": "link"}  # bench name -> Cluster.cut mode
APP, DIRECT = writer_name("n1"), direct_writer_name("n1")

METRICS = (
    ("old_stops_acking_s", "n1 stops acknowledging (last ack, either app)"),
    ("vip_last_ack_by_old_s", "  app via VIP: last ack by n1"),
    ("direct_last_ack_by_old_s", "  app direct: last ack by n1"),
    ("vip_off_old_s", "VIP leaves n1"),
    ("lost_vip", "app via VIP: acked and lost (count)"),
    ("lost_direct", "app direct: acked and lost (count)"),
    ("lost_client", "client via VIP: acked and lost (count)"),
    ("sentinel_switch_s", "Sentinel majority names the new master"),
    ("vip_after_switch_s", "VIP on the new master after that (s)"),
    ("demoted_after_heal_s", "n1 a replica, s after the heal"),
    ("two_masters_s", "two Redis masters, in total (s)"),
    ("sdown_old_after_heal", "+sdown of n1 after the heal (count)"),
)
GOALS = (
    ("old_stops_acking_s", 0.5, "isolated master stops acknowledging <= 0.5 s after the cut"),
    ("demoted_after_heal_s", 2.0, "old master demoted <= 2 s after the heal"),
    ("vip_after_switch_s", 0.25, "VIP on the new master <= 0.25 s after the switch"),
)


def summarize(reps: list) -> dict:
    out = {}
    for key, _ in METRICS:
        values = [r[key] for r in reps if r.get(key) is not None]
        out[key] = (
            {
                "median": round(statistics.median(values), 3),
                "min": min(values),
                "max": max(values),
                "n": len(values),
            }
            if values
            else {"median": None, "min": None, "max": None, "n": 0}
        )
    return out


def table(results: dict) -> str:
    names = list(results)
    width = max(len(label) for _, label in METRICS) + 2
    head = "metric (s after the cut)".ljust(width) + "".join(f"{n:>24}" for n in names)
    rows = [head, "-" * len(head)]
    for key, label in METRICS:
        cells = []
        for name in names:
            s = results[name]["summary"][key]
            if s["median"] is None:
                cells.append(f"{'-':>24}")
                continue
            fmt = "{:g}" if key.startswith(("lost", "sdown")) else "{:.2f}"
            lo, mid, hi = (fmt.format(s[k]) for k in ("min", "median", "max"))
            cells.append(f"{mid + ' [' + lo + '-' + hi + ']':>24}")
        rows.append(label.ljust(width) + "".join(cells))
    ok = "  ".join(f"{n}: {results[n]['ok_reps']}/{results[n]['reps_asked']}" for n in names)
    rows.append(f"median [min-max]; reps completed  {ok}")
    return "\n".join(rows)


def run_rep(mode: str, binary: str, args) -> dict:
    started = time.monotonic()
    load_before = loadavg()
    cluster = Cluster(
        SentinelVipProfile(binary=binary),
        prefix=PREFIX,
        subnet=SUBNET,
        vrid=VRID,
        down_after_ms=args.down_after_ms,
        min_replicas=args.min_replicas,
    )
    try:
        cluster.start()
        addrs = {n: node.redis_addr for n, node in cluster.nodes.items()}
        cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1")
        with cluster.sampler(
            interval=SAMPLE_INTERVAL, writers_on=("n1",), direct_on=("n1",)
        ) as sampler:
            sampler.wait_for_writes(10, 30)
            for writer in (APP, DIRECT):
                sampler.wait_until(
                    lambda _st, w=writer: any(
                        r.get("n") == w and r.get("ok") for r in sampler.snapshot()
                    ),
                    20,
                    f"{writer} acknowledged",
                )
            cut_at = cluster.cut("n1", mode=MODES[mode])

            def moved(state):
                master = majority_master(state.sentinel_views(), addrs)
                holders = [n for n in state.vip_holders() if n != "n1"]
                return master not in (None, "n1") and holders == [master]

            sampler.wait_until(moved, args.down_after_ms / 1000 + 30, "VIP on the new master")
            remaining = cut_at + args.cut - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)  # the cut's planned length, not a condition
            healed_at = cluster.heal("n1")
            sampler.wait_until(
                lambda st: st.latest.get("n1", {}).get("role") == "slave", 60, "n1 a replica"
            )
            sampler.wait_for_writes(10, 20)
            tail = time.monotonic() + 1.0
            sampler.wait_until(
                lambda st: st.latest and all(r["t"] >= tail for r in st.latest.values()),
                10,
                "1 s more of samples",
            )
        records = sampler.snapshot()
        figures = cut_figures(
            records, cut_at, healed_at, addrs, writers=(("vip", APP), ("direct", DIRECT))
        )
        figures["lost_client"] = len(sampler.lost_writes())
        figures["lost_vip"] = len(sampler.lost_writes(writer=APP))
        figures["lost_direct"] = len(sampler.lost_writes(writer=DIRECT))
        figures["sdown_old_after_heal"] = len(
            events_about(records, "+sdown", addrs["n1"], healed_at)
        )
        lines = [line for _, line in cluster.syslog.get("n1", [])]
        figures["n1_log_lines"] = len(lines)
        figures["n1_fence_lines"] = sum(1 for line in lines if "event=fence" in line)
        if args.keep:
            cluster.keep_dir = True
        return figures | {
            "ok": True,
            "load_before": load_before,
            "load_after": loadavg(),
            "rep_s": round(time.monotonic() - started, 1),
        }
    except ClusterError as exc:
        cluster.keep_dir = True
        return {
            "ok": False,
            "error": str(exc),
            "load_before": load_before,
            "rep_s": round(time.monotonic() - started, 1),
        }
    finally:
        cluster.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per variant (3)")
    parser.add_argument("--cut", type=float, default=13.0, help="seconds n1 stays cut off")
    parser.add_argument("--modes", default="drop,link", help="comma-separated: drop, link")
    parser.add_argument(
        "--pyz",
        default=os.environ.get("SENTINEL_VIP_PYZ", "") or str(ROOT / "dist" / "sentinel-vip.pyz"),
    )
    parser.add_argument("--down-after-ms", type=int, default=3000)
    parser.add_argument(
        "--min-replicas",
        action="store_true",
        help="configure min-replicas-to-write 1 / max-lag 5 on every Redis (default: off)",
    )
    parser.add_argument("--keep", action="store_true", help="keep every cluster's logs")
    parser.add_argument("--name", default="", help="result file name (default: UTC time)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    if os.geteuid() != 0:
        print("bench: error: needs root (network namespaces, keepalived)", file=sys.stderr)
        return 1
    if not os.path.isfile(args.pyz):
        print(f"bench: error: {args.pyz} missing: run `make pyz`", file=sys.stderr)
        return 1
    binary = install_binary(args.pyz)
    binary_sha256 = sha256(binary)
    started, t0, load0 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), time.monotonic(), loadavg()
    print(
        f"bench: partition of the master, {args.cut:g} s; down-after-milliseconds="
        f"{args.down_after_ms}; min-replicas={'1/5' if args.min_replicas else 'off'}; "
        f"{args.reps} rep(s) of {', '.join(modes)}; loadavg={load0}",
        flush=True,
    )
    runs: dict = {m: [] for m in modes}
    try:
        for i in range(args.reps):
            for mode in modes:
                fig = run_rep(mode, binary, args)
                runs[mode].append(fig)
                shown = {k: fig.get(k) for k, _ in METRICS} if fig["ok"] else fig["error"]
                print(
                    f"bench: {mode} rep {i + 1}/{args.reps} ({fig['rep_s']} s): {shown}", flush=True
                )
    except KeyboardInterrupt:
        print("bench: interrupted; reporting the repetitions done so far", file=sys.stderr)
    results = {}
    for mode, figs in runs.items():
        done = [f for f in figs if f["ok"]]
        results[mode] = {
            "reps_asked": args.reps,
            "ok_reps": len(done),
            "summary": summarize(done),
            "reps": figs,
        }
    doc = {
        "benchmark": "partition of the master (cut, heal)",
        "started_utc": started,
        "runtime_s": round(time.monotonic() - t0, 1),
        "cut_s": args.cut,
        "down_after_ms": args.down_after_ms,
        "min_replicas": args.min_replicas,
        "sample_interval_s": SAMPLE_INTERVAL,
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
        "host": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "binary_source": args.pyz,
        "binary_sha256": binary_sha256,
        "git": git_describe(),
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{args.name or started}.json"
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print()
    print(table(results))
    for mode in modes:
        summary = results[mode]["summary"]
        for key, limit, what in GOALS:
            median = summary[key]["median"]
            met = median is not None and median <= limit
            print(f"goal {mode}: {what}: {'MET' if met else 'MISSED'} (median {median})")
    print(
        f"loadavg start={load0} end={doc['loadavg_end']}; runtime {doc['runtime_s']} s; "
        f"written {path}"
    )
    return 0 if all(r["ok_reps"] == args.reps for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
