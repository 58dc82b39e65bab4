"""Fixtures for the packaging tests: the layout and the built packages.

`make package-test` builds every package first and sets SENTINEL_VIP_PACKAGES_BUILT=1; run
alone, the `built` fixture builds them with the same make targets. Installing needs root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pkgtools import INSTALLED_BY_TESTS, PACKAGE, REPO, load_layout_module, need_tool, purge, run

layout = load_layout_module()


@pytest.fixture(scope="session")
def entries() -> list[layout.Entry]:
    return layout.read_layout()


@pytest.fixture(scope="session")
def built(project_version: str) -> dict[str, Path]:
    """Paths of the four packages: nfpm and native, deb and rpm."""
    if os.environ.get("SENTINEL_VIP_PACKAGES_BUILT") != "1":
        for tool in ("dpkg-buildpackage", "rpmbuild"):
            need_tool(tool)
        proc = run("make", "packages", "native-deb", "native-rpm", check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    deb = f"{PACKAGE}_{project_version}-1_all.deb"
    rpm = f"{PACKAGE}-{project_version}-1.noarch.rpm"
    paths = {
        "nfpm-deb": REPO / "dist" / deb,
        "native-deb": REPO / "dist" / "native" / deb,
        "nfpm-rpm": REPO / "dist" / rpm,
        "native-rpm": REPO / "dist" / "native" / rpm,
    }
    for name, path in paths.items():
        assert path.is_file(), f"{name}: {path} was not built"
    return paths


@pytest.fixture(scope="session")
def root_and_apt() -> None:
    if os.geteuid() != 0:
        pytest.skip("installing packages needs root")
    need_tool("apt-get")


@pytest.fixture(scope="session", autouse=True)
def _purge_at_end():
    """Leave the machine as we found it: purge the package if a test installed it."""
    yield
    if INSTALLED_BY_TESTS:
        purge()
