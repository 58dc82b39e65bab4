#!/usr/bin/env python3
"""What ``sentinel-vip watch`` costs and how fast it notices a dead Sentinel link.

Against one local Redis master, two replicas and three Sentinels on loopback (the integration
fixture's cluster; no root), for each build given (``--pyz`` and optional ``--baseline``):

  start     from exec to a live subscription on every Sentinel (its log says so), median
  cpu       CPU seconds per minute of the watcher at rest (utime + stime from /proc), on
            the master's node and on a replica's
  rss       resident memory at rest
  dead link a Sentinel frozen with SIGSTOP (what a partition looks like to a subscriber: the
            TCP connection stays up, nothing comes back): seconds until the watcher logs
            that link as dead; "never" within --dead-timeout

Prints medians over --runs; writes bench/results/watch-cost.json. Not a test: it measures.

    bench/watch_cost.py --pyz dist/sentinel-vip.pyz [--baseline /tmp/main.pyz] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

from common import ROOT, cpu_seconds, rss_mib, stats

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from support.cluster import Cluster

RESULTS = ROOT / "bench" / "results" / "watch-cost.json"
UP = ("state=alive", "(re)connected")  # this build's log line, the previous one's
DEAD = ("state=silent", "-connection")


def lines_with(cluster, words, since: int) -> list:
    return [line for line in cluster.syslog_lines()[since:] if any(w in line for w in words)]


def wait(predicate, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    return None


def replica_cpu(pyz: str, cluster: Cluster, args) -> float:
    """The same at rest for a watcher on a replica's node (no fence to keep ready)."""
    config = cluster.write_config(1, **{"watch.reconcile_interval": 3600})
    proc = subprocess.Popen([pyz, "--config", config, "watch"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(2.0)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.rest)
        return round((cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 60, 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)


def one_run(pyz: str, cluster: Cluster, config: str, args) -> dict:
    since = len(cluster.syslog_lines())
    started = time.monotonic()
    proc = subprocess.Popen(
        [pyz, "--config", config, "watch"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    out: dict = {}
    try:
        links = len(cluster.sentinel_ports)
        up = wait(lambda: len(lines_with(cluster, UP, since)) >= links, 30)
        out["start_s"] = round(time.monotonic() - started, 3) if up else None
        time.sleep(2.0)  # settle: the first evaluation and imports are start-up, not rest
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.rest)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        out["cpu_s_per_min"] = round((cpu1 - cpu0) / (t1 - t0) * 60, 3)
        out["rss_mib"] = rss_mib(proc.pid)
        out["replica_cpu_s_per_min"] = replica_cpu(pyz, cluster, args)
        mark = len(cluster.syslog_lines())
        cluster.sigstop_sentinel(1)
        frozen = time.monotonic()
        label = f"127.0.0.1:{cluster.sentinel_ports[1]}"
        dead = wait(
            lambda: [line for line in lines_with(cluster, DEAD, mark) if label in line],
            args.dead_timeout,
        )
        out["dead_link_s"] = round(time.monotonic() - frozen, 3) if dead else None
        cluster.sigcont_sentinel(1)
        wait(lambda: len(lines_with(cluster, UP, mark)) >= 1, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            out["hung_on_sigterm"] = True
        out["traceback"] = b"Traceback" in err
    return out


def median(values):
    return stats(values)["median"]


def measure(pyz: str, args) -> dict:
    runs = []
    with Cluster() as cluster:
        config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
        for i in range(args.runs):
            run = one_run(pyz, cluster, config, args)
            runs.append(run)
            print(f"bench: {pyz} run {i + 1}/{args.runs}: {run}", flush=True)
    dead = [r["dead_link_s"] for r in runs]
    return {
        "start_s": median(r["start_s"] for r in runs),
        "cpu_s_per_min": median(r["cpu_s_per_min"] for r in runs),
        "replica_cpu_s_per_min": median(r["replica_cpu_s_per_min"] for r in runs),
        "rss_mib": median(r["rss_mib"] for r in runs),
        "dead_link_s": median(dead),
        "dead_link_never": sum(1 for d in dead if d is None),
        "runs": runs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", default=str(ROOT / "dist" / "sentinel-vip.pyz"))
    parser.add_argument("--baseline", default="", help="another build to compare with")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rest", type=float, default=20.0, help="seconds of rest measured")
    parser.add_argument("--dead-timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    builds = {"this": args.pyz}
    if args.baseline:
        builds["baseline"] = args.baseline
    results = {name: measure(path, args) for name, path in builds.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"builds": builds, "results": results}, indent=2) + "\n")
    print()
    print(f"{'':28}" + "".join(f"{n:>14}" for n in results))
    for key, label in (("start_s", "start to all links live (s)"),
                       ("cpu_s_per_min", "CPU at rest, master (s/min)"),
                       ("replica_cpu_s_per_min", "CPU at rest, replica (s/min)"),
                       ("rss_mib", "RSS at rest (MiB)"),
                       ("dead_link_s", "frozen Sentinel noticed (s)"),
                       ("dead_link_never", f"  never within {args.dead_timeout:g} s")):  # fmt: skip
        cells = "".join(f"{results[n][key]!s:>14}" for n in results)
        print(f"{label:28}{cells}")
    print(f"medians over {args.runs} runs; written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
