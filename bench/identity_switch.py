#!/usr/bin/env python3
"""How soon after Sentinel's switch the new master's ``check`` passes, and what waiting for
Sentinel to read its run_id would cost instead.

Identity is decided by run_id (issue 10). Right after a switch Sentinel names the promoted
replica before it has read its run_id: Sentinel resets the master instance, and reads INFO
of the new master only at its next INFO period (10 s for a master). Meanwhile ``check``
confirms identity by probing the named address from the node itself (same run_id as the
local Redis). This measures, on a loopback cluster (tests/support/cluster.py: one master,
two replicas, three Sentinels), for each ``SENTINEL FAILOVER``:

  check_ok_s     from the switch (a Sentinel majority names the new master) to the first
                 ``check`` exiting 0 on the new master (the built pyz, run back to back)
  runid_known_s  from the switch to every Sentinel reporting the new master's run_id: the
                 earliest a check that waits for Sentinel's run_id could pass

Medians over the runs. Results go to bench/results/identity-switch-<time>.json. It measures;
it does not pass or fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import ROOT, stats

sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.cluster import Cluster  # noqa: E402
from support.servers import binaries_available, wait_for  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def check_passes(pyz: str, config: str) -> bool:
    done = subprocess.run(
        [pyz, "--config", config, "check"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        timeout=10,
        check=False,
    )
    return done.returncode == 0


def runid_known(cluster: Cluster, port: int) -> bool:
    for j in cluster.live_sentinels():
        info = cluster.master_info(j)
        if info.get("port") != str(port) or not info.get("runid"):
            return False
    return True


def one_switch(cluster: Cluster, pyz: str) -> dict:
    old = wait_for(cluster.current_master_port, 10, "a master")
    configs = {
        port: cluster.write_config(cluster.redis_index(port)) for port in cluster.redis_ports
    }
    cluster.sentinel_call(0, "SENTINEL", "FAILOVER", cluster.master_name)
    new = wait_for(
        lambda: (p := cluster.current_master_port()) not in (None, old) and p, 30, "the switch"
    )
    switched = time.monotonic()
    check_ok = runid_at = None
    while check_ok is None or runid_at is None:
        now = time.monotonic() - switched
        if now > 30:
            break
        if check_ok is None and check_passes(pyz, configs[new]):
            check_ok = time.monotonic() - switched
        if runid_at is None and runid_known(cluster, new):
            runid_at = time.monotonic() - switched
    # Let the old master settle as a replica before the next switch.
    wait_for(lambda: cluster._replica_linked(cluster.redis_index(old), new), 40, "old linked")
    return {"check_ok_s": check_ok, "runid_known_s": runid_at}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not binaries_available():
        print("redis-server / redis-sentinel not installed", file=sys.stderr)
        return 1
    runs = []
    with Cluster() as cluster:
        for i in range(args.runs):
            result = one_switch(cluster, args.pyz)
            runs.append(result)
            print(f"run {i + 1}: {json.dumps(result)}", flush=True)
    summary = {key: stats(r[key] for r in runs) for key in ("check_ok_s", "runid_known_s")}
    print(f"after Sentinel's switch, medians over {args.runs} runs:")
    print(f"  check passes on the new master:   {summary['check_ok_s']['median']} s")
    print(f"  Sentinels know its run_id:        {summary['runid_known_s']['median']} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"identity-switch-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
