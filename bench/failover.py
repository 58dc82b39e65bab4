#!/usr/bin/env python3
"""Failover benchmark: the classic keepalived how-to vs sentinel-vip, kill -9 of the master.

On the three-node namespace cluster of tests/e2e (redis-server + redis-sentinel + keepalived
per node, a client writing through the VIP), each repetition starts a fresh cluster, waits
until the VIP is on n1 and writes are acknowledged, waits a random part of the setup's check
interval (so the kill does not always land at the same phase of keepalived's polling), kills
n1's redis-server with SIGKILL and samples until the VIP is on the new master only, plus a
short tail. The setups alternate rep by rep so both see the same machine load:

  classic       ClassicProfile: bash ``redis-cli info replication | grep role:master``,
                interval 30, weight 50, fall 2, rise 2, every node BACKUP priority 100
  sentinel_vip  SentinelVipProfile: the shipped keepalived snippet, the built pyz (or the
                installed /usr/sbin/sentinel-vip) and ``sentinel-vip watch`` on every node
  custom        (only with --snippet PATH and/or --advert-int S) sentinel-vip with a modified
                copy of the shipped snippet: an experiment to compare, never the default

Figures are seconds after the kill: Sentinel's first ``+switch-master`` (any Sentinel's
pub/sub), the VIP on the new master, the first acknowledged write through the VIP; failed
write attempts; seconds the VIP sat on a node Sentinel's majority does not name, on a replica
while a master exists, and on no node. Prints median/min/max per setup and writes
bench/results/failover/<UTC time>.json and latest.json. Needs root. Not a test: it measures.

    bench/failover.py [--reps 5] [--quick] [--setups classic,sentinel_vip]
    bench/failover.py --setups sentinel_vip,custom --advert-int 0.05
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from typing import Optional

import common

sys.path.insert(0, str(common.ROOT / "tests"))

from e2e.cluster import Cluster, ClusterError
from e2e.profiles import ClassicProfile, SentinelVipProfile
from e2e.timeline import analyse, majority_master

RESULTS = common.ROOT / "bench" / "results" / "failover"
INSTALLED = "/usr/sbin/sentinel-vip"
# Our own cluster name, subnet and VRRP router id: e2e scenarios may run at the same time.
NET = {"prefix": "svbench", "subnet": "10.88.0", "vrid": 188}
SAMPLE_INTERVAL = 0.05  # node samples: VIP holder, Redis role, local Sentinel's master
TAIL = 2.0  # seconds observed after the VIP settled, to catch a flap

# (key, label) in table order; every value is seconds after the kill unless said otherwise.
METRICS = (
    ("switch_event_s", "+switch-master (first Sentinel)"),
    ("vip_on_new_s", "VIP on the new master"),
    ("vip_after_switch_s", "  VIP after +switch-master"),
    ("verdict_ok_s", "  new master's verdict ok (track file)"),
    ("first_ack_s", "first acknowledged write"),
    ("ack_after_vip_s", "  first write after the VIP moved"),
    ("writes_failed", "failed write attempts (count)"),
    ("vip_off_master_s", "VIP on a node Sentinel does not name"),
    ("vip_on_replica_s", "VIP on a replica while a master exists"),
    ("no_vip_s", "VIP on no node"),
)


# ---------------------------------------------------------------------------- pure analysis


def vip_on_replica_seconds(records, fault_at: float, addrs: dict) -> float:
    """Seconds after ``fault_at`` during which a VIP holder's Redis said ``role:slave`` while
    the node Sentinel's majority names answered ``role:master``."""
    latest: dict = {}
    total, last_t = 0.0, None
    for r in sorted((r for r in records if "vip" in r), key=lambda r: r["t"]):
        if last_t is not None and last_t >= fault_at:
            master = majority_master({n: s.get("sm") for n, s in latest.items()}, addrs)
            master_up = master is not None and latest[master].get("role") == "master"
            on_replica = any(s.get("vip") and s.get("role") == "slave" for s in latest.values())
            if master_up and on_replica:
                total += r["t"] - last_t
        latest[r["n"]] = r
        last_t = r["t"]
    return round(total, 3)


def first_log_after(lines, after: float, pattern: str) -> Optional[float]:
    """Time of the first syslog line (monotonic, text) after ``after`` matching ``pattern``."""
    rx = re.compile(pattern)
    for t, line in lines:
        if t >= after and rx.search(line):
            return t
    return None


# Sentinel's steps, in order, as published on its pub/sub (first Sentinel to publish each).
SENTINEL_STEPS = ("+sdown", "+odown", "+try-failover", "+elected-leader", "+promoted-slave",
                  "+switch-master")  # fmt: skip


def sentinel_steps(records, fault_at: float) -> dict:
    """Seconds after the fault at which the first Sentinel published each step about the
    master (``+sdown`` of a replica or Sentinel does not count)."""
    out: dict = {}
    for r in sorted((r for r in records if "ev" in r), key=lambda r: r["t"]):
        ev, msg = r["ev"], r.get("m", "")
        if r["t"] < fault_at or ev not in SENTINEL_STEPS or ev in out:
            continue
        if ev in ("+sdown", "+odown", "+try-failover", "+elected-leader") and not (
            msg.startswith("master ")
        ):
            continue
        out[ev] = round(r["t"] - fault_at, 3)
    return out


def rep_figures(records, fault_at: float, addrs: dict) -> dict:
    """The benchmark's figures for one repetition, from the sampler's records."""
    tl = analyse(records, fault_at, "n1", addrs)
    f = tl.figures()
    switch = f["switch_event_s"]
    return {
        "new": f["new"],
        "sentinel_majority_s": f["sentinel_switch_s"],
        "switch_event_s": switch,
        "vip_on_new_s": f["vip_on_new_s"],
        "vip_after_switch_s": (
            None
            if switch is None or f["vip_on_new_s"] is None
            else round(f["vip_on_new_s"] - switch, 3)
        ),
        "first_ack_s": f["first_ack_s"],
        "ack_after_vip_s": (
            None
            if f["first_ack_s"] is None or f["vip_on_new_s"] is None
            else round(f["first_ack_s"] - f["vip_on_new_s"], 3)
        ),
        "first_ack_by_new": f["first_ack_s"] is not None
        and f["first_ack_s"] == f["first_ack_new_s"],
        "writes_failed": f["writes_failed"],
        "writes_acked": f["writes_acked"],
        "acked_by": f["acked_by"],
        "vip_off_master_s": f["vip_off_master_s"],
        "vip_on_replica_s": vip_on_replica_seconds(records, fault_at, addrs),
        "no_vip_s": f["no_vip_s"],
        "dual_vip_windows": f["dual_vip_windows"],
        "observed_s": f["observed_s"],
        "sentinel_steps_s": sentinel_steps(records, fault_at),
    }


def goals(reps: list, summary: dict, down_after_ms: int) -> dict:
    """The issue's three goals for one setup; each with its figure and verdict."""
    ack_limit = round(down_after_ms / 1000 + 2, 3)
    switch = summary["vip_after_switch_s"]["median"]
    acks = [r.get("first_ack_s") for r in reps]
    worst_ack = None if None in acks or not acks else max(acks)
    replica = [r.get("vip_on_replica_s") for r in reps]
    return {
        "vip_within_1s_of_switch_median": {
            "figure": switch,
            "limit": 1.0,
            "met": switch is not None and switch <= 1.0,
        },
        "first_ack_within_down_after_plus_2s_every_rep": {
            "figure": worst_ack,
            "median": summary["first_ack_s"]["median"],
            "limit": ack_limit,
            "met": worst_ack is not None and worst_ack <= ack_limit,
        },
        "vip_never_on_replica_while_master_exists": {
            "figure": None if None in replica else max(replica, default=None),
            "limit": 0.0,
            "met": bool(replica) and None not in replica and max(replica) == 0.0,
        },
    }


# ---------------------------------------------------------------------------- running


def custom_snippet(base: str, advert_int: Optional[float]) -> tuple:
    """A modified copy of ``base`` (default: the shipped snippet) in BIN_DIR; (path, changes)."""
    base = base or SentinelVipProfile().snippet_path()
    with open(base, encoding="utf-8") as fh:
        text = fh.read()
    root = str(common.ROOT)
    changes = [f"based on {os.path.relpath(base, root) if base.startswith(root) else base}"]
    if advert_int is not None:
        text, count = re.subn(r"(?m)^(\s*advert_int )\S+", rf"\g<1>{advert_int:g}", text)
        if count != 1:
            raise ClusterError(f"{base}: expected one advert_int line, found {count}")
        changes.append(f"advert_int {advert_int:g}")
    os.makedirs(common.BIN_DIR, mode=0o755, exist_ok=True)
    path = os.path.join(common.BIN_DIR, "custom-snippet.conf")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path, changes


def profile_for(setup: str, binary: str, snippet: str):
    if setup == "classic":
        return ClassicProfile(), 30.0
    if setup == "sentinel_vip":
        return SentinelVipProfile(binary=binary), 1.0
    if setup == "custom":
        return SentinelVipProfile(binary=binary, snippet=snippet, name="custom"), 1.0
    raise ValueError(setup)


def followed(addrs: dict):
    """Sampler predicate: the VIP is on the Sentinel majority's new master, and only there."""
    return lambda state: common.new_master_holds_vip(state, addrs, majority_master)


def run_rep(setup: str, profile, interval: float, args, rng: random.Random) -> dict:
    """One fresh cluster, one kill -9 of the master; the figures (or the error)."""
    return common.measure_rep(
        lambda: Cluster(profile, **NET, down_after_ms=args.down_after_ms),
        lambda cluster: kill_master(cluster, interval, args, rng),
        keep=args.keep,
        errors=(ClusterError,),
    )


def kill_master(cluster, interval: float, args, rng: random.Random) -> dict:
    # Classic: the VIP reaches n1 only after n2/n3's checks failed `fall` times.
    addrs = common.start_on_n1(cluster, 3 * interval + 60)
    with cluster.sampler(interval=SAMPLE_INTERVAL) as sampler:
        sampler.wait_for_writes(10, 30)
        phase = rng.uniform(0, interval)
        time.sleep(phase)  # the kill's phase in the check interval, deliberately random
        sampler.wait_until(lambda st: st.vip_holders() == ["n1"], 5, "VIP still on n1")
        killed_at = cluster.kill_redis("n1")
        # Worst case: fall and rise each take (count + 1) intervals after Sentinel's switch.
        budget = 3 * interval + args.down_after_ms / 1000 + 30
        sampler.wait_until(followed(addrs), budget, "VIP on the new master only")
        sampler.wait_for_writes(10, 20)
        common.observe_tail(sampler, TAIL)
    records = sampler.snapshot()
    figures = rep_figures(records, killed_at, addrs)
    new = figures["new"]
    svip_log = cluster.syslog.get(new, []) if new else []
    # Where the time goes on the new master (sentinel-vip only): the watcher's first
    # +switch-master and the check verdict turning ok (the track file written "1").
    figures["watch_event_s"] = common.rel(
        first_log_after(svip_log, killed_at, r"event=sentinel_event .*\+switch-master"),
        killed_at,
    )
    figures["verdict_ok_s"] = common.rel(
        first_log_after(svip_log, killed_at, r"event=check verdict=ok"), killed_at
    )
    figures["kill_phase_s"] = round(phase, 3)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per setup (5)")
    parser.add_argument("--quick", action="store_true", help="one repetition (development)")
    parser.add_argument(
        "--setups",
        default="classic,sentinel_vip",
        help="comma-separated: classic, sentinel_vip, custom",
    )
    parser.add_argument("--snippet", default="", help="keepalived snippet for the custom setup")
    parser.add_argument(
        "--advert-int", type=float, default=None, help="custom setup: this advert_int"
    )
    common.add_pyz(parser)
    parser.add_argument(
        "--binary",
        default="",
        help=f"run this installed sentinel-vip (e.g. {INSTALLED}) instead of a copy of the pyz",
    )
    parser.add_argument(
        "--down-after-ms",
        type=int,
        default=2000,
        help="Sentinel down-after-milliseconds, same for every setup",
    )
    parser.add_argument("--seed", type=int, default=None, help="kill-phase seed (random)")
    common.add_keep_name(parser)
    args = parser.parse_args(argv)
    reps = 1 if args.quick else args.reps
    setups = [s for s in args.setups.split(",") if s]
    unknown = set(setups) - {"classic", "sentinel_vip", "custom"}
    variant = bool(args.snippet) or args.advert_int is not None
    if unknown or ("custom" in setups) != variant:
        parser.error(
            "--setups: classic, sentinel_vip, and custom exactly when --snippet or --advert-int"
            " is given"
        )
    if os.geteuid() != 0:
        print(
            "bench: error: needs root (network namespaces, keepalived): run `sudo make bench`",
            file=sys.stderr,
        )
        return 1
    if args.binary:
        binary, source = args.binary, args.binary
    elif os.path.isfile(args.pyz):
        binary, source = common.install_binary(args.pyz), args.pyz
    else:
        print(
            f"bench: error: {args.pyz} missing: run `make pyz` (or pass --binary {INSTALLED})",
            file=sys.stderr,
        )
        return 1
    # Hash what runs, now: the source may be rebuilt while the benchmark runs.
    binary_sha256 = common.sha256(binary) if os.path.isfile(binary) else None
    if not os.access(binary, os.X_OK):
        print(f"bench: error: {binary} is not executable", file=sys.stderr)
        return 1
    snippet, changes = "", []
    if variant:
        snippet, changes = custom_snippet(args.snippet, args.advert_int)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 -- a kill phase, not a secret
    clock = common.RunClock()
    print(
        f"bench: down-after-milliseconds={args.down_after_ms} (every setup); {reps} rep(s) "
        f"of {', '.join(setups)}; seed={seed}; loadavg={clock.load0}",
        flush=True,
    )

    def run_one(setup: str) -> dict:
        profile, interval = profile_for(setup, binary, snippet)
        return run_rep(setup, profile, interval, args, rng)

    runs = common.alternate(setups, reps, run_one, METRICS)
    results = {}
    for setup, figs in runs.items():
        profile, interval = profile_for(setup, binary, snippet)
        results[setup] = {
            "profile": {k: v for k, v in vars(profile).items() if not callable(v)},
            "check_interval_s": interval,
            "snippet_changes": changes if setup == "custom" else [],
            **common.outcome(
                figs,
                reps,
                METRICS,
                goals=lambda done, summary: goals(done, summary, args.down_after_ms),
            ),
        }
    settings = {
        "down_after_ms": args.down_after_ms,
        "sample_interval_s": SAMPLE_INTERVAL,
        "seed": seed,
    }
    binaries = {"binary": binary, "binary_source": source, "binary_sha256": binary_sha256}
    doc = common.result_doc(
        "failover kill -9 of the master's redis-server", clock, settings, binaries, results
    )
    path = common.write_results(RESULTS, args.name or clock.started_utc, doc)
    print()
    print(
        common.table(
            results, METRICS, "metric (s after kill -9)", col=26, counts=("writes_failed",)
        )
    )
    for setup in setups:
        if setup == "classic":
            continue
        for goal, g in results[setup]["goals"].items():
            print(
                f"goal {setup} {goal}: {'MET' if g['met'] else 'MISSED'} "
                f"(figure {g['figure']}, limit {g['limit']})"
            )
    print(
        f"down-after-milliseconds={args.down_after_ms}; loadavg start={clock.load0} "
        f"end={doc['loadavg_end']}; runtime {doc['runtime_s']} s; written {path}"
    )
    return common.exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
