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


@pytest.fixture
def installed_pyz(root, runnable_pyz):
    """The built pyz where keepalived accepts it: enable_script_security refuses scripts on
    paths others can write, so it is copied to a root-owned directory and run from there
    exactly like /usr/sbin/sentinel-vip."""
    os.makedirs(BIN_DIR, mode=0o755, exist_ok=True)
    os.chmod(BIN_DIR, 0o755)
    target = os.path.join(BIN_DIR, "sentinel-vip")
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
    """report_timeline(name, figures): print the figures and keep them in build/e2e/."""

    def write(name: str, figures: dict) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{request.node.name}.json"
        path.write_text(json.dumps({"scenario": name, **figures}, indent=2) + "\n")
        _TIMELINES.append(f"{name}: {json.dumps(figures)}")

    return write


_TIMELINES: list = []


def pytest_terminal_summary(terminalreporter):
    if _TIMELINES:
        from e2e.invariants import BUDGETS

        terminalreporter.section("e2e timelines (seconds after the fault)")
        terminalreporter.write_line(f"budgets: {json.dumps(BUDGETS)}")
        for line in _TIMELINES:
            terminalreporter.write_line(line)


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
