#!/usr/bin/env python3
"""What one ``sentinel-vip check`` costs, side by side with the classic bash check.

keepalived execs its track script every interval on every node, forever, so the check's own
wall and CPU time matter. This starts a real local Redis (master) and Sentinels on loopback
(tests/support/cluster.py's ``Cluster``), then execs, alternately so both see the same
machine load:

  classic  a bash script: ``REPLICATION_DATA=$(redis-cli info replication);
           echo $REPLICATION_DATA | grep -q role:master`` (password via REDISCLI_AUTH)
  pyz      the built dist/sentinel-vip.pyz ``check``, exec'd directly as keepalived does
           (the kernel follows its shebang), stdin/stdout/stderr on /dev/null

and reports wall time (spawn to reap) and CPU time (user+sys of the child and everything it
waited for, from wait4). It also prints the ``-X importtime`` profile of one pyz run.

``--scale`` instead measures the pyz check against 3, 5 and 7 Sentinels, each time also with
one Sentinel black-holed (SIGSTOPped: the kernel still accepts its TCP connections, nothing
ever answers), to show the Sentinel queries run concurrently within the deadline.

Results go to bench/results/<name>.json. Nothing here is a test: it measures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, loadavg, sha256

sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.cluster import Cluster  # noqa: E402
from support.servers import binaries_available  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SYSTEM_PYTHON = "/usr/bin/python3"
CLASSIC_SCRIPT = """#!/bin/bash
REPLICATION_DATA=$(redis-cli -h 127.0.0.1 -p {port} info replication)
echo $REPLICATION_DATA | grep -q role:master
"""


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: list) -> dict:
    """Milliseconds: median, p90, min, max of wall and cpu; exit codes seen."""
    out: dict = {"runs": len(samples)}
    for key in ("wall", "cpu"):
        values = [s[key] * 1000 for s in samples]
        out[key] = {
            "median": round(statistics.median(values), 2),
            "p90": round(percentile(values, 0.9), 2),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
        }
    codes: dict = {}
    for s in samples:
        codes[str(s["rc"])] = codes.get(str(s["rc"]), 0) + 1
    out["exit_codes"] = codes
    return out


def run_once(argv: list, env: dict) -> dict:
    """posix_spawn (vfork-like, so the parent adds little), then wait4 for the rusage."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rc": os.waitstatus_to_exitcode(status),
    }


def base_env() -> dict:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def classic_script(cluster: Cluster) -> str:
    path = os.path.join(cluster.tmpdir, "classic_check.sh")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(CLASSIC_SCRIPT.format(port=cluster.redis_ports[0]))
    os.chmod(path, 0o700)
    return path


def measure(variants: dict, runs: int, warmup: int = 5) -> dict:
    """{name: (argv, env)} -> {name: summary}; variants interleaved run by run."""
    for argv, env in variants.values():
        for _ in range(warmup):
            run_once(argv, env)
    samples: dict = {name: [] for name in variants}
    for _ in range(runs):
        for name, (argv, env) in variants.items():
            samples[name].append(run_once(argv, env))
    return {name: summary(s) for name, s in samples.items()}


def shebang_flags(pyz: Path) -> list:
    with open(pyz, "rb") as fh:
        line = fh.readline().decode().strip()
    return line[2:].split()[1:]


def importtime(pyz: Path, config: str, top: int = 15) -> dict:
    """One check run under -X importtime (with the shebang's flags): top modules by self time."""
    argv = [SYSTEM_PYTHON, *shebang_flags(pyz), "-X", "importtime", str(pyz)]
    argv += ["--config", config, "check"]
    result = subprocess.run(argv, capture_output=True, text=True, env=base_env(), check=False)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (part.strip() for part in line[12:].split("|"))
        rows.append({"module": name.strip(), "self_us": int(self_us), "cum_us": int(cumulative)})
    ranked = sorted(rows, key=lambda r: r["self_us"], reverse=True)
    return {
        "modules": len(rows),
        "total_self_us": sum(r["self_us"] for r in rows),
        "top": ranked[:top],
        "all": [r["module"].strip() for r in rows],
    }


def print_table(title: str, results: dict, baseline: str = "") -> None:
    print(f"\n{title}")
    header = f"{'variant':<22}{'wall med':>9}{'p90':>8}{'min':>8}{'max':>8}"
    header += f"{'cpu med':>9}{'p90':>8}{'x base':>8}  exit codes"
    print(header)
    base = results.get(baseline, {}).get("wall", {}).get("median")
    for name, r in results.items():
        w, c = r["wall"], r["cpu"]
        ratio = f"{w['median'] / base:.2f}" if base else "-"
        print(
            f"{name:<22}{w['median']:>9.2f}{w['p90']:>8.2f}{w['min']:>8.2f}{w['max']:>8.2f}"
            f"{c['median']:>9.2f}{c['p90']:>8.2f}{ratio:>8}  {r['exit_codes']}"
        )
    print("(milliseconds; cpu = user+sys of the process and its children)")


def print_importtime(profile: dict) -> None:
    print(
        f"\n-X importtime of one pyz check: {profile['modules']} modules, "
        f"{profile['total_self_us'] / 1000:.1f} ms self time in total; top {len(profile['top'])}:"
    )
    print(f"{'self us':>9}{'cum us':>9}  module")
    for row in profile["top"]:
        print(f"{row['self_us']:>9}{row['cum_us']:>9}  {row['module']}")


def pyz_variant(pyz: Path, config: str) -> tuple:
    return [str(pyz), "--config", config, "check"], base_env()


def variant_config(cluster: Cluster, label: str) -> str:
    """A config with its own state_dir and track file: builds compared side by side must not
    share (and invalidate) each other's state or config cache."""
    base = os.path.join(cluster.tmpdir, "variant-" + "".join(c for c in label if c.isalnum()))
    os.makedirs(os.path.join(base, "state"), mode=0o700, exist_ok=True)
    overrides = {
        "paths.state_dir": os.path.join(base, "state"),
        "check.track_file": os.path.join(base, "track"),
    }
    return cluster.write_config(0, path=os.path.join(base, "sentinel-vip.toml"), **overrides)


def cost(args) -> dict:
    with Cluster(replicas=0, sentinels=3) as cluster:
        config = cluster.write_config(0)
        classic = classic_script(cluster)
        classic_env = dict(base_env(), REDISCLI_AUTH=cluster.redis_password)
        variants = {"classic bash": ([classic], classic_env)}
        # The floor for any check written in Python: the interpreter starting and exiting.
        variants["python3 -IS -c pass"] = ([SYSTEM_PYTHON, "-IS", "-c", "pass"], base_env())
        variants["sentinel-vip check"] = pyz_variant(args.pyz, config)
        for label, other in args.compare:
            variants[label] = pyz_variant(other, variant_config(cluster, label))
        load_before = loadavg()
        results = measure(variants, args.runs)
        load_after = loadavg()
        profile = importtime(args.pyz, config)
    print_table(f"check cost, {args.runs} runs each, interleaved", results, "classic bash")
    print(f"load average before {load_before} after {load_after}, {os.cpu_count()} CPUs")
    print_importtime(profile)
    avoided = avoided_imports(max(11, args.runs // 10))
    return {
        "results": results,
        "load_before": load_before,
        "load_after": load_after,
        "importtime": profile,
        "avoided_imports_ms": avoided,
    }


def scale(args) -> dict:
    results: dict = {}
    for count in (3, 5, 7):
        with Cluster(replicas=0, sentinels=count, quorum=count // 2 + 1) as cluster:
            config = cluster.write_config(0)
            variant = pyz_variant(args.pyz, config)
            results[f"{count} sentinels"] = measure({"x": variant}, args.runs)["x"]
            cluster.sigstop_sentinel(0)
            try:
                hung = measure({"x": variant}, args.runs)["x"]
            finally:
                cluster.sigcont_sentinel(0)
            results[f"{count} sentinels, 1 hung"] = hung
            # Too few left to agree: the check can only wait for its deadline, and must end there.
            hung_count = count // 2 + 1
            for j in range(hung_count):
                cluster.sigstop_sentinel(j)
            try:
                stuck = measure({"x": variant}, min(args.runs, 10), warmup=1)["x"]
            finally:
                for j in range(hung_count):
                    cluster.sigcont_sentinel(j)
            results[f"{count} sentinels, {hung_count} hung"] = stuck
    print_table(f"check latency vs Sentinel count, {args.runs} runs each", results)
    print(
        "hung: SIGSTOPped Sentinels (the kernel accepts TCP, nothing answers); check.deadline"
        " 0.8 s; with a majority hung no agreement is possible and exit 8 (NO_MAJORITY) at the"
        " deadline is the right answer"
    )
    print(f"load average now {loadavg()}, {os.cpu_count()} CPUs")
    return {"results": results}


# What the check imports anyway (runpy runs the zip; socket, json, threading... do the work),
# so the figures below are what each avoided module would add on top.
ALREADY_IMPORTED = "runpy, socket, signal, json, threading, queue, ipaddress, collections.abc"
AVOIDED_IMPORTS = {
    "dataclasses (+inspect, ast, dis...)": "dataclasses",
    "typing": "typing",
    "tempfile (+shutil, random...)": "tempfile",
    "encodings.idna (+stringprep...)": "encodings.idna",
    "tomllib (+typing, string, datetime)": "tomllib",
    "argparse": "argparse",
}


def timed_import(flags: list, module: str) -> float:
    code = (
        f"import time; import {ALREADY_IMPORTED}; t = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [SYSTEM_PYTHON, *flags, "-c", code], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def avoided_imports(samples: int) -> dict:
    """Marginal import cost of each module the check no longer loads (fresh interpreter each
    sample, median), and the cost of the site module (-I vs -IS startup)."""
    costs = {}
    for label, module in AVOIDED_IMPORTS.items():
        times = [timed_import(["-IS"], module) for _ in range(samples)]
        costs[label] = round(statistics.median(times) * 1000, 2)
    env = base_env()
    startup = {}
    for flags in ("-I", "-IS"):
        argv = [SYSTEM_PYTHON, flags, "-c", "pass"]
        startup[flags] = statistics.median(run_once(argv, env)["wall"] for _ in range(samples))
    costs["site (-I vs -IS startup)"] = round((startup["-I"] - startup["-IS"]) * 1000, 2)
    print(f"\nmarginal cost of imports the check avoids (median of {samples}, ms):")
    for label, ms in costs.items():
        print(f"{ms:>8.2f}  {label}")
    return costs


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "packaging"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def labelled_path(text: str) -> tuple:
    label, equals, path = text.partition("=")
    if not equals or not label or not os.access(path, os.X_OK):
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH to an executable pyz: {text!r}")
    return label, Path(path)


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "sentinel-vip.pyz")
    parser.add_argument("--runs", type=int, default=200, help="runs per variant (default 200)")
    parser.add_argument("--scale", action="store_true", help="3/5/7 Sentinels, one hung")
    parser.add_argument("--name", default="", help="results file name (default: mode + time)")
    parser.add_argument(
        "--compare",
        type=labelled_path,
        action="append",
        default=[],
        metavar="LABEL=PYZ",
        help="also measure another build (e.g. before an optimisation), interleaved",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not binaries_available():
        print("check_cost: redis-server / redis-sentinel not installed", file=sys.stderr)
        return 1
    if not os.access(args.pyz, os.X_OK):
        print(f"check_cost: {args.pyz} missing or not executable: run `make pyz`", file=sys.stderr)
        return 1
    mode = "scale" if args.scale else "cost"
    data = scale(args) if args.scale else cost(args)
    data.update(
        mode=mode,
        runs=args.runs,
        git=git_revision(),
        pyz_sha256=sha256(args.pyz),
        python=subprocess.run(
            [SYSTEM_PYTHON, "-VV"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        machine=platform.platform(),
        cpus=os.cpu_count(),
        when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.name or f"{mode}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    target = RESULTS / f"{name}.json"
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten: {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
