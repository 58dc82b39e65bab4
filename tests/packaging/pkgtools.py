"""Helpers for the packaging tests: run commands, read package file lists, drive apt."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "sentinel-vip"
# Packages the tests installed: the session purges sentinel-vip if there are any.
INSTALLED_BY_TESTS: list[Path] = []


def load_layout_module() -> types.ModuleType:
    """packaging/layout.py, the one reader of packaging/layout (not an importable package)."""
    spec = importlib.util.spec_from_file_location("sv_layout", REPO / "packaging" / "layout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sv_layout"] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


def shipped_by(entries: list, fmt: str) -> list:
    """The layout entries a deb or an rpm ships (a seventh layout field limits some)."""
    return [e for e in entries if fmt in e.formats]


def run(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("cwd", REPO)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def need_tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} not installed (scripts/bootstrap installs it)")


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


def rpm_files(path: Path) -> dict[str, tuple[str, str, bool]]:
    """path -> (mode string, owner:group, is %config(noreplace)) from the rpm header."""
    fmt = (
        "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags}x %{FILENAMES}\n]"
    )
    out = run("rpm", "-qp", "--qf", fmt, str(path)).stdout
    files = {}
    for line in out.splitlines():
        perms, owner, flags, name = line.split(" ", 3)
        files[name] = ("l" if perms[0] == "l" else perms, owner, "c" in flags and "n" in flags)
    return files


def apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def dpkg_status(package: str = PACKAGE) -> str:
    proc = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
    return proc.stdout if proc.returncode == 0 else "not-installed"


def apt_install(deb: Path, *options: str) -> subprocess.CompletedProcess:
    # A path (with a slash) makes apt install the file instead of a package of that name.
    INSTALLED_BY_TESTS.append(deb)
    return run(
        "apt-get", "install", "-y", "-q", "--no-install-recommends", *options,
        str(deb.resolve()), env=apt_env(), check=False,
    )  # fmt: skip


def purge() -> None:
    if dpkg_status() != "not-installed":
        run("apt-get", "purge", "-y", "-q", PACKAGE, env=apt_env())


def keepalived_test(conf: Path) -> str:
    """Run `keepalived -t`; return what it printed (nothing means the config is valid)."""
    proc = subprocess.run(
        ["keepalived", "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode in (0, -15, 143, 4, 5, 6), proc
    return (proc.stdout + proc.stderr).strip()


def newer_build(tmp_path: Path, version: str, packager: str = "deb") -> Path:
    """A build of build/stage (make deb/rpm made it, and build/nfpm.yaml, the recipe with its
    file list from the layout) with a higher version and changed conffiles."""
    nfpm = shutil.which("nfpm") or os.path.expanduser("~/.local/bin/nfpm")
    work = tmp_path / f"newer-{packager}"
    shutil.copytree(REPO / "build" / "stage", work / "build" / "stage", symlinks=True)
    shutil.copytree(REPO / "build" / "scripts", work / "build" / "scripts")
    for rel in ("etc/sentinel-vip/sentinel-vip.toml", "etc/keepalived/conf.d/sentinel-vip.conf"):
        with open(work / "build" / "stage" / rel, "a") as fh:
            fh.write("# changed upstream in the newer build\n")
    env = {**os.environ, "SV_VERSION": version}
    run(nfpm, "package", "--config", str(REPO / "build" / "nfpm.yaml"),
        "--packager", packager, "--target", str(work), cwd=work, env=env)  # fmt: skip
    return next(work.glob("sentinel-vip_*_all.deb" if packager == "deb" else "sentinel-vip-*.rpm"))
