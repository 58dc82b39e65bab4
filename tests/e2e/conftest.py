"""Fixtures for the e2e cluster: root check, a cluster factory that always tears down.

Every test here is marked ``e2e`` by tests/conftest.py. Without root they skip with the
reason; ``make e2e`` refuses to run without root, so a skip never passes for a run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from e2e.cluster import Cluster, cleanup_stale
from e2e.profiles import SentinelVipProfile

RESULTS_DIR = Path(__file__).resolve().parents[2] / "build" / "e2e"
BIN_DIR = "/run/svip-e2e-bin"


@pytest.fixture(scope="session")
def root():
    if os.geteuid() != 0:
        pytest.skip("e2e tests need root (network namespaces, keepalived): run `sudo make e2e`")
    return True


@pytest.fixture(scope="session")
def clean_host(root):
    """Remove leftovers of a crashed earlier run before the first cluster starts."""
    removed = cleanup_stale()
    if removed:
        print(f"e2e: removed stale clusters {removed}")
    return True


@pytest.fixture(scope="session")
def bin_dir(root):
    """A root-owned directory for the pyz, removed after the session (nothing left in /run)."""
    os.makedirs(BIN_DIR, mode=0o755, exist_ok=True)
    os.chmod(BIN_DIR, 0o755)
    yield BIN_DIR
    shutil.rmtree(BIN_DIR, ignore_errors=True)


@pytest.fixture
def installed_pyz(bin_dir, runnable_pyz):
    """The built pyz where keepalived accepts it: enable_script_security refuses scripts on
    paths others can write, so it is copied to a root-owned directory and run from there
    exactly like /usr/sbin/sentinel-vip."""
    target = os.path.join(bin_dir, "sentinel-vip")
    shutil.copyfile(runnable_pyz, target + ".new")
    os.chmod(target + ".new", 0o755)
    os.replace(target + ".new", target)  # a concurrent run keeps executing a whole file
    return target


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def make_cluster(clean_host, request):
    """make_cluster(profile, **kwargs) -> a started Cluster, stopped after the test
    (its logs are kept under /run/svip-e2e/<prefix>-failed-* when the test failed)."""
    made = []

    def factory(profile, **kwargs) -> Cluster:
        cluster = Cluster(profile, **kwargs)
        made.append(cluster)
        cluster.start()
        return cluster

    yield factory
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    for cluster in made:
        cluster.keep_dir = cluster.keep_dir or failed
        cluster.stop()


@pytest.fixture
def report_timeline(request):
    """report_timeline(name, figures, setup): keep the figures in build/e2e/<test>.json and
    name them in the pytest summary. ``setup`` says whose they are: "sentinel-vip", or
    "classic" for the how-to baseline, which is slow by design (not a failure)."""

    def write(name: str, figures: dict, setup: str = "sentinel-vip") -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{request.node.name}.json"
        path.write_text(json.dumps({"scenario": name, "setup": setup, **figures}, indent=2) + "\n")
        _TIMELINES.append((setup, name, figures, path))

    return write


_TIMELINES: list = []
# The figures the summary shows, in seconds after the fault (the rest: the JSON report).
_SHOWN = (
    ("switch_event_s", "+switch-master"),
    ("vip_on_new_s", "VIP on the new master"),
    ("first_ack_new_s", "first write acknowledged"),
    ("vip_not_master_s", "VIP on a non-master for"),
    ("vip_off_master_s", "VIP where the Sentinels' majority does not name it for"),
)
_SETUPS = {
    "sentinel-vip": "sentinel-vip",
    "classic": "baseline: the classic how-to, not sentinel-vip (slow by design, not a failure)",
}


def pytest_terminal_summary(terminalreporter):
    if not _TIMELINES:
        return
    terminalreporter.section("e2e timelines (seconds after the fault)")
    for setup, name, figures, path in _TIMELINES:
        shown = ", ".join(f"{label} {figures.get(key)}" for key, label in _SHOWN)
        terminalreporter.write_line(f"{_SETUPS.get(setup, setup)}")
        terminalreporter.write_line(f"  {name}: {shown}")
        terminalreporter.write_line(f"  every figure: {os.path.relpath(path)}")


@pytest.fixture
def svip(make_cluster, installed_pyz):
    """A started cluster with the sentinel_vip profile, the VIP on n1 (the first master)."""

    def start(**profile):
        cluster = make_cluster(SentinelVipProfile(binary=installed_pyz, **profile))
        cluster.wait_for(lambda: cluster.vip_holders() == ["n1"], 60, "VIP on n1 at start")
        cluster.wait_for(lambda: all(_subscribed(cluster, n) for n in cluster.nodes), 30,
                         "every watcher subscribed to every Sentinel")  # fmt: skip
        return cluster

    return start


def _subscribed(cluster, node: str) -> bool:
    """The node's watcher has a link to each Sentinel (this version's log line, or the
    previous one's, so a baseline run of an older build waits the same way)."""
    lines = [line for _t, line in cluster.syslog[node]]
    alive = {line.split("sentinel=")[1].split()[0] for line in lines if "state=alive" in line}
    older = {line.split("sentinel=")[1].split()[0] for line in lines if "(re)connected" in line}
    return max(len(alive), len(older)) >= len(cluster.nodes)
