"""Fixtures shared by every test: the repository, its version and the built zipapp.

Tests import ``sentinel_vip`` from src/ (nothing is installed). Tests under tests/integration,
tests/e2e, tests/packaging, tests/hardening and tests/realenv get that marker from their
directory, so ``make unit`` leaves them out; their own conftest files add the fixtures that
start servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")  # what the pyz shebang names; not pyenv's python3
_DIRECTORY_MARKERS = ("integration", "e2e", "packaging", "hardening", "realenv")

if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            parts = Path(item.path).resolve().relative_to(tests_dir).parts
        except ValueError:
            continue
        if len(parts) > 1 and parts[0] in _DIRECTORY_MARKERS:
            item.add_marker(parts[0])


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def project_version() -> str:
    """[project] version from pyproject.toml: the one source of the version."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


@pytest.fixture(scope="session")
def system_python() -> Path:
    """Debian's /usr/bin/python3, the interpreter keepalived will run the pyz with."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} not found (scripts/bootstrap installs python3)")
    return SYSTEM_PYTHON


@pytest.fixture(scope="session")
def pyz() -> Path:
    """dist/sentinel-vip.pyz: the one make built ($SENTINEL_VIP_PYZ, exported by the Makefile),
    else built once per session with `make pyz` using this interpreter."""
    given = os.environ.get("SENTINEL_VIP_PYZ")
    if given:
        if not os.path.isfile(given):
            pytest.fail(f"SENTINEL_VIP_PYZ={given} does not exist: run `make pyz`")
        return Path(given)
    try:
        built = subprocess.run(
            ["make", "--no-print-directory", "pyz", f"PYTHON={sys.executable}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
    except FileNotFoundError:
        pytest.fail("`make` not found: run scripts/bootstrap (or set SENTINEL_VIP_PYZ)")
    if built.returncode != 0:
        pytest.fail(f"`make pyz` failed (exit {built.returncode}):\n{built.stdout}{built.stderr}")
    return REPO_ROOT / "dist" / "sentinel-vip.pyz"


def _others_can_run(path: Path) -> bool:
    """Every directory above ``path`` is searchable and the file readable by any user."""
    if not os.stat(path).st_mode & 0o004:
        return False
    return all(os.stat(parent).st_mode & 0o001 for parent in path.resolve().parents)


@pytest.fixture(scope="session")
def runnable_pyz(pyz: Path):
    """The pyz, for tests that execute it: skipped while the CLI is not written yet.

    Tests run it as keepalived_script too; a clone in root's 0700 home is not readable by
    that user, so there the pyz is copied to a root-owned directory any user may read."""
    if not (REPO_ROOT / "src" / "sentinel_vip" / "cli.py").is_file():
        pytest.skip("src/sentinel_vip/cli.py does not exist yet: the pyz has no entry point")
    if os.geteuid() != 0 or _others_can_run(pyz):
        yield pyz
        return
    readable = Path(tempfile.mkdtemp(prefix="svip-pyz-"))
    try:
        readable.chmod(0o755)
        copy = readable / pyz.name
        shutil.copyfile(pyz, copy)
        copy.chmod(0o755)
        yield copy
    finally:
        shutil.rmtree(readable, ignore_errors=True)
