#!/usr/bin/env python3
"""Election benchmark (issue 18): kill -9 of the master, sentinel-vip next to HAProxy.

On the three-node namespace cluster of tests/e2e (redis-server + redis-sentinel + keepalived
+ ``sentinel-vip watch`` per node), each repetition starts a fresh cluster and an HAProxy in
the client namespace that routes to whichever server passes a ``tcp-check`` for
``role:master`` (``inter 1s fall 1 rise 1``, the issue's tuned reference). Two clients
write every 10 ms (50 ms cycle at most with the timeouts): one through the VIP, one through
HAProxy. Then the master's Redis is killed (-9). Both figures come from the same run.

Figures (seconds after the kill): the leader's ``+failover-state-wait-promotion`` (SLAVEOF
NO ONE sent: the promotion), the first sample of the new master answering role:master, the
VIP on the new master (and after the promotion), Sentinel's ``+switch-master``, the first
write acknowledged by the new master through the VIP and through HAProxy, acknowledged
writes lost, seconds with the VIP on a replica or on two nodes.

``--pyz`` is measured; ``--baseline`` (another pyz, e.g. the branch before the change) is
measured in the same run, alternating rep by rep. Prints median [min-max] and the goals,
writes bench/results/election/<UTC time>.json and latest.json. Needs root. Not a test.

    bench/election.py [--reps 5] [--pyz PATH] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from failover import git_describe, loadavg, sha256  # noqa: E402

from e2e import netns  # noqa: E402
from e2e.cluster import REDIS_PORT, Cluster, ClusterError  # noqa: E402
from e2e.invariants import dual_vip_windows, states  # noqa: E402
from e2e.profiles import SentinelVipProfile  # noqa: E402
from e2e.timeline import analyse, majority_master, run_ids  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "election"
BIN_ROOT = "/run/svip-bench-election"  # root-owned: enable_script_security
PREFIX, SUBNET, VRID = "svelect", "10.87.0", 187  # our own: e2e may run at the same time
SAMPLE_INTERVAL = 0.025
HAPROXY = "haproxy"  # the writer's name
TAIL = 2.0

METRICS = (
    ("promotion_s", "promotion (+failover-state-wait-promotion)"),
    ("role_master_s", "new master answers role:master (sampled)"),
    ("vip_on_new_s", "VIP on the new master"),
    ("raise_after_promotion_s", "  track file raised, s after the promotion"),
    ("vip_after_promotion_s", "  VIP on new, s after the promotion"),
    ("switch_event_s", "Sentinel's +switch-master"),
    ("first_ack_vip_s", "first write OK via the VIP"),
    ("first_ack_haproxy_s", "first write OK via HAProxy (reference)"),
    ("vip_minus_haproxy_s", "  VIP minus HAProxy, same rep (s)"),
    ("ack_vip_after_promotion_s", "  via the VIP, s after the promotion"),
    ("ack_haproxy_after_promotion_s", "  via HAProxy, s after the promotion"),
    ("lost_vip", "acked writes lost via the VIP (count)"),
    ("lost_haproxy", "acked writes lost via HAProxy (count)"),
    ("vip_on_replica_s", "VIP on a replica (s)"),
    ("dual_vip_s", "two VIP holders (s)"),
)
GOALS = (
    ("vip_after_promotion_s", 0.25, "VIP on the new master <= 0.25 s after the promotion"),
    ("vip_minus_haproxy_s", 0.0, "first write OK via the VIP <= via HAProxy (same run)"),
)


def haproxy_config(cluster) -> str:
    """The issue's reference: route to the server that says role:master, checked every 1 s,
    one failure marks it down, one success up; sessions to a server marked down are cut."""
    password = cluster.redis_password
    servers = "\n".join(
        f"    server {n} {node.ip}:{REDIS_PORT} check inter 1s fall 1 rise 1"
        " on-marked-down shutdown-sessions"
        for n, node in cluster.nodes.items()
    )
    return f"""global
    maxconn 256
defaults
    mode tcp
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    timeout check 500ms
frontend redis
    bind 127.0.0.1:{REDIS_PORT}
    default_backend redis_master
backend redis_master
    option tcp-check
    tcp-check connect
    tcp-check send AUTH\\ {password}\\r\\n
    tcp-check expect string +OK
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
{servers}
"""


def start_haproxy(cluster) -> subprocess.Popen:
    path = os.path.join(cluster.dir, "haproxy.cfg")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(haproxy_config(cluster))
    subprocess.run(["haproxy", "-c", "-q", "-f", path], check=True)
    log = open(os.path.join(cluster.dir, "haproxy.log"), "wb")
    return subprocess.Popen(
        netns.exec_argv(cluster.client_ns, ["haproxy", "-db", "-f", path]),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def install(source: str, name: str) -> str:
    directory = os.path.join(BIN_ROOT, name)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    os.chmod(BIN_ROOT, 0o755)  # noqa: S103 -- keepalived runs it: root-owned, not writable
    os.chmod(directory, 0o755)  # noqa: S103
    target = os.path.join(directory, "sentinel-vip")
    shutil.copyfile(source, target + ".new")
    os.chmod(target + ".new", 0o755)  # noqa: S103 -- an executable, root-owned
    os.replace(target + ".new", target)
    return target


def _rel(t, origin):
    return None if t is None or origin is None else round(t - origin, 3)


def first_ack(records, writer: str, after: float, run_id) -> float | None:
    times = [
        r.get("t1", r["t"])
        for r in records
        if r.get("n") == writer and r.get("ok") and r["t"] >= after and r.get("rid") == run_id
    ]
    return min(times) if times else None


def figures(records, fault_at: float, addrs: dict) -> dict:
    tl = analyse(records, fault_at, "n1", addrs)
    new = tl.new
    rids = {node: rid for rid, node in run_ids(records).items()}
    events = sorted((r["t"], r["ev"]) for r in records if "ev" in r and r["t"] >= fault_at)
    promotion = next((t for t, ev in events if ev == "+failover-state-wait-promotion"), None)
    role = next(
        (
            r["t"]
            for r in sorted(records, key=lambda r: r["t"])
            if "vip" in r and r["n"] == new and r["t"] >= fault_at and r.get("role") == "master"
        ),
        None,
    )
    seq = [s for s in states(records, addrs) if s.t >= fault_at]
    on_replica = 0.0
    for a, b in zip(seq, seq[1:]):
        if any(a.roles.get(n) == "slave" for n in a.holders):
            on_replica += b.t - a.t
    vip = first_ack(records, "client", fault_at, rids.get(new))
    hap = first_ack(records, HAPROXY, fault_at, rids.get(new))
    return {
        "new": new,
        "promotion_s": _rel(promotion, fault_at),
        "role_master_s": _rel(role, fault_at),
        "vip_on_new_s": _rel(tl.vip_on_new, fault_at),
        "vip_after_promotion_s": _rel(tl.vip_on_new, promotion),
        "switch_event_s": _rel(tl.switch_event, fault_at),
        "first_ack_vip_s": _rel(vip, fault_at),
        "first_ack_haproxy_s": _rel(hap, fault_at),
        "vip_minus_haproxy_s": _rel(vip, hap),
        "ack_vip_after_promotion_s": _rel(vip, promotion),
        "ack_haproxy_after_promotion_s": _rel(hap, promotion),
        "vip_on_replica_s": round(on_replica, 3),
        "dual_vip_s": round(sum(w.seconds for w in dual_vip_windows(seq)), 3),
    }


def followed(addrs: dict, new_rid_seen):
    def done(state):
        master = majority_master(state.sentinel_views(), addrs)
        return master not in (None, "n1") and state.vip_holders() == [master] and new_rid_seen()

    return done


def run_rep(binary: str, args) -> dict:
    started, load_before = time.monotonic(), loadavg()
    cluster = Cluster(
        SentinelVipProfile(binary=binary),
        prefix=PREFIX,
        subnet=SUBNET,
        vrid=VRID,
        down_after_ms=args.down_after_ms,
        min_replicas=args.min_replicas,
    )
    proxy = None
    try:
        cluster.start()
        addrs = {n: node.redis_addr for n, node in cluster.nodes.items()}
        cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1")
        proxy = start_haproxy(cluster)
        with cluster.sampler(
            interval=SAMPLE_INTERVAL, client_writers=((HAPROXY, "127.0.0.1"),)
        ) as sampler:
            sampler.wait_for_writes(10, 30)
            sampler.wait_until(
                lambda _st: any(r.get("n") == HAPROXY and r.get("ok") for r in sampler.snapshot()),
                20,
                "a write acknowledged through HAProxy",
            )
            killed_at = cluster.kill_redis("n1")

            def haproxy_acked_after() -> bool:
                return any(
                    r.get("n") == HAPROXY and r.get("ok") and r["t"] >= killed_at
                    for r in sampler.snapshot()
                )

            budget = args.down_after_ms / 1000 + 40
            sampler.wait_until(followed(addrs, haproxy_acked_after), budget, "both followed")
            sampler.wait_for_writes(10, 20)
            tail_end = time.monotonic() + TAIL
            sampler.wait_until(lambda _st: time.monotonic() >= tail_end, TAIL + 1, "tail")
        records = sampler.snapshot()
        fig = figures(records, killed_at, addrs)
        fig["lost_vip"] = len(sampler.lost_writes())
        fig["lost_haproxy"] = len(sampler.lost_writes(writer=HAPROXY))
        raised = [
            line
            for t, line in cluster.syslog.get(fig["new"] or "", [])
            if t >= killed_at and "event=election action=raise" in line
        ]
        fig["election_raise_lines"] = len(raised)
        raised_at = [
            t
            for t, line in cluster.syslog.get(fig["new"] or "", [])
            if t >= killed_at and "event=election action=raise" in line
        ]
        promotion = fig["promotion_s"]
        fig["raise_after_promotion_s"] = (
            None
            if not raised_at or promotion is None
            else round(raised_at[0] - killed_at - promotion, 3)
        )
        if args.keep:
            cluster.keep_dir = True
        return fig | {
            "ok": True,
            "load_before": load_before,
            "load_after": loadavg(),
            "rep_s": round(time.monotonic() - started, 1),
        }
    except (ClusterError, subprocess.CalledProcessError) as exc:
        cluster.keep_dir = True
        return {"ok": False, "error": str(exc), "rep_s": round(time.monotonic() - started, 1)}
    finally:
        if proxy is not None and proxy.poll() is None:
            os.killpg(proxy.pid, 15)
            proxy.wait(10)
        cluster.stop()


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
    head = "s after kill -9 of the master".ljust(width) + "".join(f"{n:>26}" for n in names)
    rows = [head, "-" * len(head)]
    for key, label in METRICS:
        cells = []
        for name in names:
            s = results[name]["summary"][key]
            if s["median"] is None:
                cells.append(f"{'-':>26}")
                continue
            fmt = "{:g}" if key.startswith("lost") else "{:.3f}"
            lo, mid, hi = (fmt.format(s[k]) for k in ("min", "median", "max"))
            cells.append(f"{mid + ' [' + lo + ', ' + hi + ']':>26}")
        rows.append(label.ljust(width) + "".join(cells))
    ok = "  ".join(f"{n}: {results[n]['ok_reps']}/{results[n]['reps_asked']}" for n in names)
    rows.append(f"median [min, max]; reps completed  {ok}")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="kills per build (5)")
    parser.add_argument(
        "--pyz",
        default=os.environ.get("SENTINEL_VIP_PYZ", "") or str(ROOT / "dist" / "sentinel-vip.pyz"),
    )
    parser.add_argument("--baseline", default="", help="a second pyz measured alongside")
    parser.add_argument("--down-after-ms", type=int, default=3000)
    parser.add_argument(
        "--min-replicas",
        action="store_true",
        help="min-replicas-to-write 1 on every Redis (default off: a new master refuses writes"
        " until Sentinel re-points a replica at it, which no router can hide)",
    )
    parser.add_argument("--keep", action="store_true", help="keep every cluster's logs")
    parser.add_argument("--name", default="", help="result file name (default: UTC time)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: error: needs root (network namespaces, keepalived)", file=sys.stderr)
        return 1
    if shutil.which("haproxy") is None:
        print("bench: error: haproxy missing: run scripts/bootstrap", file=sys.stderr)
        return 1
    builds = {"this build": args.pyz}
    if args.baseline:
        builds["baseline"] = args.baseline
    for name, path in builds.items():
        if not os.path.isfile(path):
            print(f"bench: error: {name}: {path} missing (make pyz)", file=sys.stderr)
            return 1
    binaries = {name: install(path, f"b{i}") for i, (name, path) in enumerate(builds.items())}
    started, t0, load0 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), time.monotonic(), loadavg()
    print(
        f"bench: kill -9 of the master, down-after-milliseconds={args.down_after_ms}; "
        f"{args.reps} rep(s) of {', '.join(builds)}; HAProxy reference in every rep; "
        f"loadavg={load0}",
        flush=True,
    )
    runs: dict = {name: [] for name in builds}
    try:
        for i in range(args.reps):
            for name, binary in binaries.items():
                fig = run_rep(binary, args)
                runs[name].append(fig)
                shown = {k: fig.get(k) for k, _ in METRICS} if fig["ok"] else fig["error"]
                print(f"bench: {name} rep {i + 1}/{args.reps} ({fig['rep_s']} s): {shown}")
                sys.stdout.flush()
    except KeyboardInterrupt:
        print("bench: interrupted; reporting the repetitions done so far", file=sys.stderr)
    results = {}
    for name, figs in runs.items():
        done = [f for f in figs if f["ok"]]
        results[name] = {
            "reps_asked": args.reps,
            "ok_reps": len(done),
            "summary": summarize(done),
            "reps": figs,
        }
    doc = {
        "benchmark": "kill -9 of the master: VIP (election followed) vs HAProxy role check",
        "started_utc": started,
        "runtime_s": round(time.monotonic() - t0, 1),
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
        "builds": {n: {"source": p, "sha256": sha256(p)} for n, p in builds.items()},
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
    # HAProxy's figure depends on where its 1 s check falls after the promotion: pooled over
    # every rep of the run (each build's reps measured it too) it is the steadier reference.
    pooled = [f["first_ack_haproxy_s"] for figs in runs.values() for f in figs if f.get("ok")]
    pooled = [v for v in pooled if v is not None]
    if pooled:
        print(
            f"HAProxy, every rep of this run: first write OK median {statistics.median(pooled):.3f}"
            f" [{min(pooled):.3f}, {max(pooled):.3f}] (n={len(pooled)})"
        )
    for name in builds:
        summary = results[name]["summary"]
        for key, limit, what in GOALS:
            median = summary[key]["median"]
            met = median is not None and median <= limit
            print(f"goal {name}: {what}: {'MET' if met else 'MISSED'} (median {median})")
    print(f"loadavg start={load0} end={doc['loadavg_end']}; runtime {doc['runtime_s']} s; {path}")
    return 0 if all(r["ok_reps"] == args.reps for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
