"""Fixtures for the packaging tests: built packages, their file lists, and an installed .deb.

`make package-test` builds every package first and sets SENTINEL_VIP_PACKAGES_BUILT=1; run
alone, these fixtures build them with the same make targets. Installing needs root and apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))

import layout  # noqa: E402  (packaging/layout.py: the one reader of packaging/layout)

PACKAGE = "sentinel-vip"


def run(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("cwd", REPO)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def need_tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} not installed (scripts/bootstrap installs it)")


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


def deb_files(path: Path) -> dict[str, tuple[str, str]]:
    """path -> (mode string, owner/group) from the .deb's data tarball."""
    out = run("dpkg-deb", "--contents", str(path)).stdout
    files = {}
    for line in out.splitlines():
        perms, owner, _size, _date, _time, name, *_ = line.split()
        name = name[1:].rstrip("/") or "/"  # "./etc/" -> "/etc"
        if name == "/":
            continue
        # A symlink's own mode means nothing (nfpm writes 0000, dpkg-deb 0777).
        files[name] = ("l" if perms[0] == "l" else perms, owner)
    return files


def rpm_files(path: Path) -> dict[str, tuple[str, str, str]]:
    """path -> (mode string, owner:group, config flag) from the rpm header."""
    fmt = "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags}x %{FILENAMES}\n]"
    out = run("rpm", "-qp", "--qf", fmt, str(path)).stdout
    files = {}
    for line in out.splitlines():
        perms, owner, flags, name = line.split(" ", 3)
        files[name] = ("l" if perms[0] == "l" else perms, owner, "c" in flags and "n" in flags)
    return files


@pytest.fixture(scope="session")
def root_and_apt() -> None:
    if os.geteuid() != 0:
        pytest.skip("installing packages needs root")
    need_tool("apt-get")


def dpkg_status(package: str = PACKAGE) -> str:
    proc = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
    return proc.stdout if proc.returncode == 0 else "not-installed"


def purge() -> None:
    if dpkg_status() != "not-installed":
        run("apt-get", "purge", "-y", "-q", PACKAGE, env=apt_env())


def apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def apt_install(deb: Path, *options: str) -> subprocess.CompletedProcess:
    # A path (with a slash) makes apt install the file instead of a package of that name.
    INSTALLED_BY_TESTS.append(deb)
    return run(
        "apt-get", "install", "-y", "-q", "--no-install-recommends", *options,
        str(deb.resolve()), env=apt_env(), check=False,
    )  # fmt: skip


INSTALLED_BY_TESTS: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _purge_at_end():
    """Leave the machine as we found it: purge the package if a test installed it."""
    yield
    if INSTALLED_BY_TESTS:
        purge()
