"""Upgrade to the several-instances build (issue 16) on a node configured the old way.

The cluster runs today's single-instance files (one sentinel-vip.toml per node, no
instances/ directory) with sentinel-vip built from the commit before the several-instances
work, keepalived running its check and the watcher running. Then the program is replaced in
place the way the package does (an atomic rename over the installed file: keepalived's next
check runs the new one) and the watcher is restarted (the package's postinst restarts a
running service). The VIP must never leave the master's node, no write acknowledged through
it may be lost, keepalived records no transition, and the new watcher serves the node's one
instance exactly as before (``watch_start``, not the several-instances dispatcher).

This is the program-level upgrade on the e2e cluster; the .deb-level upgrade (dpkg keeping
the conffile) is covered by tests/packaging for the files and is not repeated here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.profiles import SentinelVipProfile
from e2e.sampler import CLIENT

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
UPGRADE_DIR = "/run/svip-e2e-bin/upgrade"
OBSERVE_S = 8.0


def _before_several_instances() -> str:
    """The commit just before config/instances.py was added (the previous program)."""
    added = subprocess.run(
        ["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "--",
         "src/sentinel_vip/config/instances.py"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not added:
        pytest.skip("config/instances.py is not committed yet: nothing to upgrade from")
    return f"{added[-1]}^"


@pytest.fixture
def old_pyz(tmp_path, bin_dir):
    """The previous program, built from git with this tree's build script and vendor cache."""
    tree = tmp_path / "old"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", _before_several_instances()],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    output = tree / "old.pyz"
    subprocess.run(
        [sys.executable, "packaging/build_pyz.py", "--output", str(output), "--vendor-file",
         "packaging/vendor.txt", "--cache", str(REPO / ".cache" / "vendor")],
        cwd=tree, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return output


def _install(source, target: str) -> None:
    """What dpkg does with a changed file: write it aside, rename it over the old one."""
    shutil.copyfile(source, target + ".dpkg-new")
    os.chmod(target + ".dpkg-new", 0o755)
    os.replace(target + ".dpkg-new", target)


def test_a_single_instance_node_keeps_its_vip_through_the_upgrade(make_cluster, old_pyz,
                                                                  runnable_pyz):  # fmt: skip
    os.makedirs(UPGRADE_DIR, mode=0o755, exist_ok=True)
    os.chmod(UPGRADE_DIR, 0o755)
    binary = os.path.join(UPGRADE_DIR, "sentinel-vip")
    _install(old_pyz, binary)
    try:
        c = make_cluster(SentinelVipProfile(binary=binary))
        c.wait_for(lambda: c.vip_holders() == ["n1"], 60, "VIP on n1 at start")
        with c.sampler() as s:
            s.wait_for_writes(20, 30)
            upgraded = c.mark("upgrade: new program installed")
            _install(runnable_pyz, binary)
            for name, node in c.nodes.items():  # postinst: try-restart the watcher
                c._terminate(node, "watch")
                c.start_services(name)
            s.wait_until(
                lambda st: st.latest and all(r["t"] >= upgraded + OBSERVE_S
                                             for r in st.latest.values()),
                OBSERVE_S + 20, "samples after the upgrade",
            )  # fmt: skip
            s.wait_for_writes(20, 30)
        holders = _holders_over_time(s)
        assert holders == {("n1",)}, f"VIP holders over the run: {holders}"
        assert s.lost_writes(writer=CLIENT) == []
        for name in c.nodes:
            lines = [line for t, line in c.syslog[name] if t >= upgraded]
            assert any("event=watch_start" in line for line in lines), name
            assert not any("event=watch_instances" in line for line in lines), name
            assert not any("event=notify" in line for line in lines), (name, lines)
        with open(f"{c.nodes['n1'].dir}/svip-state/track", encoding="ascii") as fh:
            assert fh.read() == "1\n"
    finally:
        shutil.rmtree(UPGRADE_DIR, ignore_errors=True)


def _holders_over_time(sampler) -> set:
    """Every set of VIP holders the node samples showed, in time order."""
    latest: dict = {}
    seen = set()
    rows = sorted((r for r in sampler.snapshot() if "role" in r), key=lambda r: r["t"])
    for r in rows:
        latest[r["n"]] = r["vip"]
        if len(latest) == 3:
            seen.add(tuple(sorted(n for n, held in latest.items() if held)))
    return seen
