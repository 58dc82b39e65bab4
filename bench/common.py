"""What the benchmark scripts share: one home for each piece, so that they measure, summarise
and record the same way.

  host facts     loadavg, host, sha256, git_describe, cpu_seconds, rss_mib
  binaries       install_binary: a root-owned copy keepalived's script security accepts
  arguments      add_pyz, add_keep_name
  one rep        measure_rep: wall time and load around it, the figures or the error;
                 start_on_n1, new_master_holds_vip, observe_tail (the namespace cluster's
                 usual steps)
  a whole run    alternate (reps of each variant, in turn), outcome, stats, summarize,
                 table, print_goals, result_doc, write_results, exit_code

Imported by the scripts in this folder (``import common``: a script's own folder is on
sys.path). The namespace-cluster helpers take tests/e2e's cluster and sampler objects but
import nothing from there, so the loopback benchmarks can use the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PYZ = ROOT / "dist" / "sentinel-vip.pyz"
TICKS = os.sysconf("SC_CLK_TCK")
BIN_DIR = "/run/svip-bench-bin"  # install_binary's default: failover.py and partition.py

# ---------------------------------------------------------------------------- host facts


def loadavg() -> list:
    with open("/proc/loadavg", encoding="ascii") as fh:
        return [float(x) for x in fh.read().split()[:3]]


def host() -> dict:
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def sha256(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def git_describe() -> dict:
    def git(*argv):
        res = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return res.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` from /proc (``children``: of its reaped children instead)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / TICKS


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ---------------------------------------------------------------------------- binaries


def root_owned_dir(path: str) -> str:
    """``path`` made, mode 0755: keepalived's enable_script_security refuses a script in a
    directory others can write to."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)  # noqa: S103 -- keepalived runs what is in it: not writable by others
    return path


def install_binary(source: str, directory: str = BIN_DIR) -> str:
    """Copy the pyz to ``directory``/sentinel-vip (root-owned, replaced atomically)."""
    target = os.path.join(root_owned_dir(directory), "sentinel-vip")
    shutil.copyfile(source, target + ".new")
    os.chmod(target + ".new", 0o755)  # noqa: S103 -- an executable, root-owned
    os.replace(target + ".new", target)
    return target


# ---------------------------------------------------------------------------- arguments


def add_pyz(parser) -> None:
    """--pyz: the build measured ($SENTINEL_VIP_PYZ, else dist/sentinel-vip.pyz)."""
    parser.add_argument(
        "--pyz",
        default=os.environ.get("SENTINEL_VIP_PYZ", "") or str(DEFAULT_PYZ),
    )


def add_keep_name(parser) -> None:
    parser.add_argument("--keep", action="store_true", help="keep every cluster's logs")
    parser.add_argument("--name", default="", help="result file name (default: UTC time)")


# ---------------------------------------------------------------------------- one rep


def rel(t: Optional[float], origin: Optional[float]) -> Optional[float]:
    """``t`` in seconds after ``origin``, 3 decimals; None when either is unknown."""
    return None if t is None or origin is None else round(t - origin, 3)


def measure_rep(make_cluster: Callable, measure: Callable, *, keep: bool, errors: tuple) -> dict:
    """One repetition on a fresh cluster: ``measure(cluster)``'s figures with the rep's wall
    time and the load average around it, or the error (one of ``errors``: the cluster's logs
    are kept then, as with ``keep``). The cluster is stopped either way."""
    started, load_before = time.monotonic(), loadavg()
    cluster = make_cluster()
    try:
        figures = measure(cluster)
        if keep:
            cluster.keep_dir = True
        return figures | {
            "ok": True,
            "load_before": load_before,
            "load_after": loadavg(),
            "rep_s": round(time.monotonic() - started, 1),
        }
    except errors as exc:
        cluster.keep_dir = True
        return {
            "ok": False,
            "error": str(exc),
            "load_before": load_before,
            "rep_s": round(time.monotonic() - started, 1),
        }
    finally:
        cluster.stop()


def start_on_n1(cluster, timeout: float = 60) -> dict:
    """Start the namespace cluster and wait for the VIP on n1; node -> Redis address."""
    cluster.start()
    addrs = {n: node.redis_addr for n, node in cluster.nodes.items()}
    cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], timeout, "VIP on n1")
    return addrs


def new_master_holds_vip(state, addrs: dict, majority_master, ignore: tuple = ()):
    """The Sentinel majority's new master (not n1) when it alone holds the VIP (nodes in
    ``ignore`` not counted), else None. ``majority_master``: tests/e2e/timeline's."""
    master = majority_master(state.sentinel_views(), addrs)
    holders = [n for n in state.vip_holders() if n not in ignore]
    return master if master not in (None, "n1") and holders == [master] else None


def observe_tail(sampler, seconds: float) -> None:
    """Keep sampling ``seconds`` more (to catch a flap after the VIP settled)."""
    tail_end = time.monotonic() + seconds
    sampler.wait_until(lambda _st: time.monotonic() >= tail_end, seconds + 1, "tail")


# ---------------------------------------------------------------------------- a whole run


def alternate(variants: list, reps: int, run_one: Callable, metrics) -> dict:
    """``reps`` rounds, each variant once per round (so all see the same machine load);
    prints each rep's figures. variant -> list of rep results; Ctrl-C keeps what is done."""
    runs: dict = {v: [] for v in variants}
    try:
        for i in range(reps):
            for variant in variants:
                fig = run_one(variant)
                runs[variant].append(fig)
                shown = {k: fig.get(k) for k, _ in metrics} if fig["ok"] else fig["error"]
                print(
                    f"bench: {variant} rep {i + 1}/{reps} ({fig['rep_s']} s): {shown}", flush=True
                )
    except KeyboardInterrupt:
        print("bench: interrupted; reporting the repetitions done so far", file=sys.stderr)
    return runs


def stats(values) -> dict:
    """median, min, max (3 decimals) and n of the values that are not None."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


def summarize(reps: list, metrics) -> dict:
    """metric -> stats over the repetitions that have a value."""
    return {key: stats(r.get(key) for r in reps) for key, _ in metrics}


def outcome(figs: list, reps_asked: int, metrics, goals: Optional[Callable] = None) -> dict:
    """One variant's results: reps asked and done, the summary, ``goals(done, summary)`` when
    given, every rep."""
    done = [f for f in figs if f["ok"]]
    summary = summarize(done, metrics)
    out = {"reps_asked": reps_asked, "ok_reps": len(done), "summary": summary}
    if goals is not None:
        out["goals"] = goals(done, summary)
    out["reps"] = figs
    return out


def table(
    results: dict, metrics, head: str, *, col: int, counts=(), digits: int = 2, sep: str = "-"
) -> str:
    """One row per metric, ``median [min{sep}max]`` per variant; keys starting with one of
    ``counts`` are shown as whole numbers, the rest with ``digits`` decimals."""
    names = list(results)
    width = max(len(label) for _, label in metrics) + 2
    head = head.ljust(width) + "".join(f"{n:>{col}}" for n in names)
    rows = [head, "-" * len(head)]
    for key, label in metrics:
        cells = []
        for name in names:
            s = results[name]["summary"][key]
            if s["median"] is None:
                cells.append(f"{'-':>{col}}")
                continue
            fmt = "{:g}" if key.startswith(tuple(counts)) else f"{{:.{digits}f}}"
            lo, mid, hi = (fmt.format(s[k]) for k in ("min", "median", "max"))
            cells.append(f"{mid + ' [' + lo + sep + hi + ']':>{col}}")
        rows.append(label.ljust(width) + "".join(cells))
    ok = "  ".join(f"{n}: {results[n]['ok_reps']}/{results[n]['reps_asked']}" for n in names)
    rows.append(f"median [min{sep}max]; reps completed  {ok}")
    return "\n".join(rows)


def exit_code(results: dict) -> int:
    """0 when every variant completed every rep asked, else 1."""
    return 0 if all(r["ok_reps"] == r["reps_asked"] for r in results.values()) else 1


def print_goals(results: dict, goals) -> None:
    """``goal VARIANT: WHAT: MET|MISSED (median M)`` for each (key, limit, what) in ``goals``:
    met when the variant's median of key is at most limit."""
    for name, result in results.items():
        for key, limit, what in goals:
            median = result["summary"][key]["median"]
            met = median is not None and median <= limit
            print(f"goal {name}: {what}: {'MET' if met else 'MISSED'} (median {median})")


class RunClock:
    """When a run started (UTC name, monotonic clock) and the load average then."""

    def __init__(self) -> None:
        self.started_utc = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.t0 = time.monotonic()
        self.load0 = loadavg()


def result_doc(benchmark: str, clock: RunClock, settings: dict, binaries: dict, results) -> dict:
    """The result file's document: what ran, when, with which settings, on which host, which
    build and commit, and the results."""
    return {
        "benchmark": benchmark,
        "started_utc": clock.started_utc,
        "runtime_s": round(time.monotonic() - clock.t0, 1),
        **settings,
        "loadavg_start": clock.load0,
        "loadavg_end": loadavg(),
        "host": host(),
        **binaries,
        "git": git_describe(),
        "results": results,
    }


def write_results(directory: Path, name: str, doc: dict) -> Path:
    """``directory``/NAME.json and ``directory``/latest.json; the former's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
