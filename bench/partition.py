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
import os
import sys
import time

import common

sys.path.insert(0, str(common.ROOT / "tests"))

from e2e.cluster import Cluster, ClusterError
from e2e.partition import cut_figures, events_about
from e2e.profiles import SentinelVipProfile
from e2e.sampler import direct_writer_name, writer_name
from e2e.timeline import majority_master

RESULTS = common.ROOT / "bench" / "results" / "partition"
NET = {"prefix": "svpart", "subnet": "10.89.0", "vrid": 189}  # ours: e2e may run meanwhile
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


def run_rep(mode: str, binary: str, args) -> dict:
    return common.measure_rep(
        lambda: Cluster(
            SentinelVipProfile(binary=binary),
            **NET,
            down_after_ms=args.down_after_ms,
            min_replicas=args.min_replicas,
        ),
        lambda cluster: cut_and_heal(cluster, mode, args),
        keep=args.keep,
        errors=(ClusterError,),
    )


def cut_and_heal(cluster, mode: str, args) -> dict:
    addrs = common.start_on_n1(cluster)
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

        sampler.wait_until(
            lambda st: common.new_master_holds_vip(st, addrs, majority_master, ignore=("n1",)),
            args.down_after_ms / 1000 + 30,
            "VIP on the new master",
        )
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
    figures["sdown_old_after_heal"] = len(events_about(records, "+sdown", addrs["n1"], healed_at))
    lines = [line for _, line in cluster.syslog.get("n1", [])]
    figures["n1_log_lines"] = len(lines)
    figures["n1_fence_lines"] = sum(1 for line in lines if "event=fence" in line)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per variant (3)")
    parser.add_argument("--cut", type=float, default=13.0, help="seconds n1 stays cut off")
    parser.add_argument("--modes", default="drop,link", help="comma-separated: drop, link")
    common.add_pyz(parser)
    parser.add_argument("--down-after-ms", type=int, default=3000)
    parser.add_argument(
        "--min-replicas",
        action="store_true",
        help="configure min-replicas-to-write 1 / max-lag 5 on every Redis (default: off)",
    )
    common.add_keep_name(parser)
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
    binary = common.install_binary(args.pyz)
    binary_sha256 = common.sha256(binary)
    clock = common.RunClock()
    print(
        f"bench: partition of the master, {args.cut:g} s; down-after-milliseconds="
        f"{args.down_after_ms}; min-replicas={'1/5' if args.min_replicas else 'off'}; "
        f"{args.reps} rep(s) of {', '.join(modes)}; loadavg={clock.load0}",
        flush=True,
    )
    runs = common.alternate(modes, args.reps, lambda mode: run_rep(mode, binary, args), METRICS)
    results = {mode: common.outcome(figs, args.reps, METRICS) for mode, figs in runs.items()}
    settings = {
        "cut_s": args.cut,
        "down_after_ms": args.down_after_ms,
        "min_replicas": args.min_replicas,
        "sample_interval_s": SAMPLE_INTERVAL,
    }
    binaries = {"binary_source": args.pyz, "binary_sha256": binary_sha256}
    doc = common.result_doc(
        "partition of the master (cut, heal)", clock, settings, binaries, results
    )
    path = common.write_results(RESULTS, args.name or clock.started_utc, doc)
    print()
    print(
        common.table(results, METRICS, "metric (s after the cut)", col=24, counts=("lost", "sdown"))
    )
    common.print_goals(results, GOALS)
    print(
        f"loadavg start={clock.load0} end={doc['loadavg_end']}; runtime {doc['runtime_s']} s; "
        f"written {path}"
    )
    return common.exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
