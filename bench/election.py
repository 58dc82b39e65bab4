#!/usr/bin/env python3
"""Election benchmark (issue 18): kill -9 of the master, sentinel-vip next to HAProxy.

On the three-node namespace cluster of tests/e2e (redis-server + redis-sentinel + keepalived
+ ``sentinel-vip watch`` per node), each repetition starts a fresh cluster and an HAProxy in
the client namespace that routes to whichever server passes a ``tcp-check`` for
``role:master`` (``inter 1s fall 1 rise 1``, the issue's tuned reference). Two clients
write every 10 ms (50 ms cycle at most with the timeouts): one through the VIP, one through
HAProxy. Then, after a random part of HAProxy's check cycle (seeded: ``--seed``, printed and in
the JSON), the master's Redis is killed (-9). Both figures come from the same run. The random
wait matters: HAProxy checks each server on its own cycle, set when it starts, and the kill
would otherwise fall at about the same phase of that cycle in every rep, so HAProxy's figure
(the first check to see the new master's role:master) would be the same draw of a lottery each
time. A real failure is not synchronised with HAProxy's timer. The cycle is 1.5 s, not 1 s,
for a replica: its check fails only when ``timeout check`` (0.5 s) ends the wait for
``role:master``, and HAProxy schedules the next one ``inter`` (1 s) after a check ends (its log
shows it). The same holds for the writers: while
the VIP has no holder, a connect to it is lost (its SYN goes to the old node's MAC) and fails
at the writer's 0.5 s timeout, so the writer retries on a 0.51 s grid that starts at the kill;
the VIP arrives at nearly the same time after every kill, hence at the same phase of that grid.
So both writers, alike, wait once after their first failure a time drawn from [0, 0.51) (the
sampler's ``reconnect_jitter``, seeded per rep), as clients that spread their reconnects do;
for the HAProxy writer it changes nothing (HAProxy refuses at once while it has no server up,
and the writer retries every 10 ms).

Figures (seconds after the kill): the leader's ``+failover-state-wait-promotion`` (SLAVEOF
NO ONE sent: the promotion), the first sample of the new master answering role:master, the
VIP on the new master (and after the promotion), Sentinel's ``+switch-master``, the first
write acknowledged by the new master through the VIP and through HAProxy, where HAProxy's
check first saw the new master (its log, ``option log-health-checks``, ISO timestamps), how
long the VIP client's in-flight connect had been pending when the VIP moved, acknowledged
writes lost, seconds with the VIP on a replica or on two nodes.

``--pyz`` is measured; ``--baseline`` (another pyz, e.g. the branch before the change) is
measured in the same run, alternating rep by rep, with the keepalived snippet
``--baseline-snippet`` if given (e.g. one with another ``advert_int``; default: etc/'s).
Prints median [min-max] and the goals, writes bench/results/election/<UTC time>.json and
latest.json. Needs root. Not a test.

    bench/election.py [--reps 5] [--seed N] [--pyz PATH] [--baseline PATH [--baseline-snippet F]]
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import common

sys.path.insert(0, str(common.ROOT / "tests"))

from e2e import netns
from e2e.cluster import REDIS_PORT, Cluster, ClusterError
from e2e.invariants import dual_vip_windows, states
from e2e.profiles import SentinelVipProfile
from e2e.sampler import CONNECT_TIMEOUT, WRITE_PAUSE
from e2e.timeline import analyse, majority_master, run_ids

RESULTS = common.ROOT / "bench" / "results" / "election"
BIN_ROOT = "/run/svip-bench-election"  # root-owned: enable_script_security
NET = {"prefix": "svelect", "subnet": "10.87.0", "vrid": 187}  # ours: e2e may run meanwhile
SAMPLE_INTERVAL = 0.025
HAPROXY = "haproxy"  # the writer's name
HAPROXY_INTER_S = 1.0  # the reference: check inter 1s fall 1 rise 1
HAPROXY_CHECK_TIMEOUT_S = 0.5
# A replica's check ends at the timeout (no role:master); the next starts `inter` later.
HAPROXY_CYCLE_S = HAPROXY_INTER_S + HAPROXY_CHECK_TIMEOUT_S
# Both writers, alike, wait once after their first failure a time drawn from [0, this): the
# period of a writer's retries while its connects time out, so its retry phase is uniform.
RECONNECT_JITTER_S = CONNECT_TIMEOUT + WRITE_PAUSE
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
    ("haproxy_up_after_promotion_s", "  HAProxy's check saw it, s after the promotion"),
    ("ack_vip_after_vip_s", "  via the VIP, s after the VIP moved"),
    ("vip_connect_pending_s", "  VIP client's connect pending when it moved (s)"),
    ("kill_delay_s", "random wait before the kill (s)"),
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
    one failure marks it down, one success up; sessions to a server marked down are cut.
    Health-check changes are logged with ISO timestamps (microseconds) for the figures."""
    password = cluster.redis_password
    servers = "\n".join(
        f"    server {n} {node.ip}:{REDIS_PORT} check inter 1s fall 1 rise 1"
        " on-marked-down shutdown-sessions"
        for n, node in cluster.nodes.items()
    )
    return f"""global
    maxconn 256
    log stdout format iso local0
defaults
    mode tcp
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    timeout check {int(HAPROXY_CHECK_TIMEOUT_S * 1000)}ms
frontend redis
    bind 127.0.0.1:{REDIS_PORT}
    default_backend redis_master
backend redis_master
    log global
    option log-health-checks
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


def first_ack(records, writer: str, after: float, run_id) -> float | None:
    times = [
        r.get("t1", r["t"])
        for r in records
        if r.get("n") == writer and r.get("ok") and r["t"] >= after and r.get("rid") == run_id
    ]
    return min(times) if times else None


def haproxy_up(log_path: str, server: str, after: float, wall_minus_mono: float):
    """Monotonic time of HAProxy's first check after ``after`` that found ``server`` up (its
    health-check log line's ISO timestamp, moved to CLOCK_MONOTONIC by ``wall_minus_mono``
    taken at the kill), or None."""
    wanted = f"server redis_master/{server} succeeded"
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        stamp, _, text = line.partition(" ")
        if wanted not in text or "UP" not in text:
            continue
        try:
            wall = datetime.datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            continue
        mono = wall - wall_minus_mono
        if mono >= after:
            return mono
    return None


def pending_connect(records, writer: str, at) -> float:
    """How long the writer's attempt in flight at ``at`` had been pending (0 if none)."""
    if at is None:
        return None
    for r in records:
        if r.get("n") == writer and "seq" in r and r["t"] <= at < r.get("t1", r["t"]):
            return round(at - r["t"], 3)
    return 0.0


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
        "promotion_s": common.rel(promotion, fault_at),
        "role_master_s": common.rel(role, fault_at),
        "vip_on_new_s": common.rel(tl.vip_on_new, fault_at),
        "vip_after_promotion_s": common.rel(tl.vip_on_new, promotion),
        "switch_event_s": common.rel(tl.switch_event, fault_at),
        "first_ack_vip_s": common.rel(vip, fault_at),
        "first_ack_haproxy_s": common.rel(hap, fault_at),
        "vip_minus_haproxy_s": common.rel(vip, hap),
        "ack_vip_after_promotion_s": common.rel(vip, promotion),
        "ack_haproxy_after_promotion_s": common.rel(hap, promotion),
        "ack_vip_after_vip_s": common.rel(vip, tl.vip_on_new),
        "vip_connect_pending_s": pending_connect(records, "client", tl.vip_on_new),
        "vip_on_replica_s": round(on_replica, 3),
        "dual_vip_s": round(sum(w.seconds for w in dual_vip_windows(seq)), 3),
    }


def followed(addrs: dict, new_rid_seen):
    def done(state):
        return common.new_master_holds_vip(state, addrs, majority_master) and new_rid_seen()

    return done


def run_rep(binary: str, snippet: str, args, rng: random.Random) -> dict:
    return common.measure_rep(
        lambda: Cluster(
            SentinelVipProfile(binary=binary, snippet=snippet),
            **NET,
            down_after_ms=args.down_after_ms,
            min_replicas=args.min_replicas,
        ),
        lambda cluster: kill_master(
            cluster, args, rng.uniform(0, HAPROXY_CYCLE_S), rng.randrange(2**32)
        ),
        keep=args.keep,
        errors=(ClusterError, subprocess.CalledProcessError),
    )


def kill_master(cluster, args, delay: float, client_seed: int) -> dict:
    addrs = common.start_on_n1(cluster)
    proxy = start_haproxy(cluster)
    try:
        with cluster.sampler(
            interval=SAMPLE_INTERVAL,
            client_writers=((HAPROXY, "127.0.0.1"),),
            reconnect_jitter=RECONNECT_JITTER_S,
            seed=client_seed,
        ) as sampler:
            sampler.wait_for_writes(10, 30)
            sampler.wait_until(
                lambda _st: any(r.get("n") == HAPROXY and r.get("ok") for r in sampler.snapshot()),
                20,
                "a write acknowledged through HAProxy",
            )
            time.sleep(delay)  # the kill's phase in HAProxy's check grid, deliberately random
            wall_minus_mono = time.time() - time.monotonic()
            killed_at = cluster.kill_redis("n1")

            def haproxy_acked_after() -> bool:
                return any(
                    r.get("n") == HAPROXY and r.get("ok") and r["t"] >= killed_at
                    for r in sampler.snapshot()
                )

            budget = args.down_after_ms / 1000 + 40
            sampler.wait_until(followed(addrs, haproxy_acked_after), budget, "both followed")
            sampler.wait_for_writes(10, 20)
            common.observe_tail(sampler, TAIL)
        records = sampler.snapshot()
        fig = figures(records, killed_at, addrs)
        fig["lost_vip"] = len(sampler.lost_writes())
        fig["lost_haproxy"] = len(sampler.lost_writes(writer=HAPROXY))
        fig["kill_delay_s"] = round(delay, 3)
        fig["client_seed"] = client_seed
        fig["reconnect_jitter_s"] = {
            r["n"]: r["jitter"] for r in records if "jitter" in r and r["t"] >= killed_at
        }
        up = haproxy_up(
            os.path.join(cluster.dir, "haproxy.log"), fig["new"] or "", killed_at, wall_minus_mono
        )
        fig["haproxy_up_after_promotion_s"] = (
            None
            if up is None or fig["promotion_s"] is None
            else round(up - killed_at - fig["promotion_s"], 3)
        )
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
    finally:
        if proxy.poll() is None:
            os.killpg(proxy.pid, 15)
            proxy.wait(10)
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="kills per build (5)")
    common.add_pyz(parser)
    parser.add_argument("--baseline", default="", help="a second pyz measured alongside")
    parser.add_argument(
        "--baseline-snippet", default="", help="the baseline's keepalived snippet (etc/'s)"
    )
    parser.add_argument("--down-after-ms", type=int, default=3000)
    parser.add_argument(
        "--min-replicas",
        action="store_true",
        help="min-replicas-to-write 1 on every Redis (default off: a new master refuses writes"
        " until Sentinel re-points a replica at it, which no router can hide)",
    )
    parser.add_argument("--seed", type=int, default=None, help="kill-phase seed (random)")
    common.add_keep_name(parser)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: error: needs root (network namespaces, keepalived)", file=sys.stderr)
        return 1
    if shutil.which("haproxy") is None:
        print("bench: error: haproxy missing: run scripts/bootstrap", file=sys.stderr)
        return 1
    builds = {"this build": args.pyz}
    snippets = {}
    if args.baseline:
        builds["baseline"] = args.baseline
        snippets["baseline"] = args.baseline_snippet
    for name, path in builds.items():
        if not os.path.isfile(path):
            print(f"bench: error: {name}: {path} missing (make pyz)", file=sys.stderr)
            return 1
    common.root_owned_dir(BIN_ROOT)
    binaries = {
        name: common.install_binary(path, os.path.join(BIN_ROOT, f"b{i}"))
        for i, (name, path) in enumerate(builds.items())
    }
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 -- a kill phase, not a secret
    clock = common.RunClock()
    print(
        f"bench: kill -9 of the master, down-after-milliseconds={args.down_after_ms}; "
        f"{args.reps} rep(s) of {', '.join(builds)}; HAProxy reference in every rep; "
        f"seed={seed}; loadavg={clock.load0}",
        flush=True,
    )
    runs = common.alternate(
        list(builds),
        args.reps,
        lambda name: run_rep(binaries[name], snippets.get(name, ""), args, rng),
        METRICS,
    )
    results = {name: common.outcome(figs, args.reps, METRICS) for name, figs in runs.items()}
    settings = {
        "down_after_ms": args.down_after_ms,
        "min_replicas": args.min_replicas,
        "sample_interval_s": SAMPLE_INTERVAL,
        "seed": seed,
        "kill_delay": f"uniform 0-{HAPROXY_CYCLE_S:g} s (HAProxy's check cycle on a replica)",
        "reconnect_jitter_s": RECONNECT_JITTER_S,
    }
    described = {
        "builds": {
            n: {
                "source": p,
                "sha256": common.sha256(p),
                "keepalived_snippet": snippets.get(n) or "etc/keepalived/conf.d/sentinel-vip.conf",
            }
            for n, p in builds.items()
        }
    }
    doc = common.result_doc(
        "kill -9 of the master: VIP (election followed) vs HAProxy role check",
        clock,
        settings,
        described,
        results,
    )
    path = common.write_results(RESULTS, args.name or clock.started_utc, doc)
    print()
    print(
        common.table(
            results,
            METRICS,
            "s after kill -9 of the master",
            col=26,
            counts=("lost",),
            digits=3,
            sep=", ",
        )
    )
    # HAProxy's figure depends on where its 1 s check falls after the promotion: pooled over
    # every rep of the run (each build's reps measured it too) it is the steadier reference.
    pooled = [f["first_ack_haproxy_s"] for figs in runs.values() for f in figs if f.get("ok")]
    pooled = [v for v in pooled if v is not None]
    if pooled:
        print(
            f"HAProxy, every rep of this run: first write OK median {statistics.median(pooled):.3f}"
            f" [{min(pooled):.3f}, {max(pooled):.3f}] (n={len(pooled)})"
        )
    common.print_goals(results, GOALS)
    print(
        f"loadavg start={clock.load0} end={doc['loadavg_end']}; "
        f"runtime {doc['runtime_s']} s; {path}"
    )
    return common.exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
