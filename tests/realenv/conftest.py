"""Fixtures for the whole-system tests: the built packages, the heavy lock, cached roots.

These tests are opt-in (`make real-systemd`, `real-rpm`, `real-matrix`, `bare-test`; see
tests/realenv/realenv.mk): they need root, debootstrap and systemd-nspawn, and the first run
builds the cached Debian roots (tests/realenv/roots.py). The session holds the shared heavy
lock (/tmp/svip-heavy.lock) unless `flock` already holds it for us.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for extra in (HERE, REPO / "tests" / "packaging"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import roots  # noqa: E402
from pkgtools import run  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _heavy_lock():
    if os.geteuid() != 0:
        pytest.fail("the realenv tests need root (debootstrap, chroot, systemd-nspawn)")
    for tool in ("debootstrap", "systemd-nspawn", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run scripts/bootstrap")
    with roots.heavy_lock():
        yield


@pytest.fixture(scope="session")
def packages(project_version: str) -> dict[str, Path]:
    """nfpm's .deb and .rpm and the native .rpm; built here unless make built them."""
    if os.environ.get("SENTINEL_VIP_PACKAGES_BUILT") != "1":
        proc = run("make", "packages", "native-rpm", check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    paths = {
        "nfpm-deb": REPO / "dist" / f"sentinel-vip_{project_version}-1_all.deb",
        "nfpm-rpm": REPO / "dist" / f"sentinel-vip-{project_version}-1.noarch.rpm",
        "native-rpm": REPO / "dist" / "native" / f"sentinel-vip-{project_version}-1.noarch.rpm",
    }
    for name, path in paths.items():
        assert path.is_file(), f"{name}: {path} was not built"
    return paths
