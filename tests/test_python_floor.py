"""Python 3.9 is the floor (Debian 11, EL9): vermin proves that for our code and for
everything the pyz vendors, so it does not rest on whoever ran the tests on 3.9."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FLOOR = "3.9"


def make_variable(name: str) -> list[str]:
    """A Makefile variable (the Makefile is the one place that defines the exclusions)."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-s", f"print-{name}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def vermin() -> str:
    beside = Path(sys.executable).parent / "vermin"
    found = str(beside) if beside.is_file() else shutil.which("vermin")
    if not found:
        pytest.fail("vermin not found: run `make venv` (it is in the test requirements)")
    return found


def run_vermin(vermin: str, paths, excludes=()) -> subprocess.CompletedProcess:
    argv = [vermin, f"-t={FLOOR}-", "--no-tips", "--violations"]
    for name in excludes:
        argv += ["--exclude", name]
    return subprocess.run(
        argv + [str(p) for p in paths], capture_output=True, text=True, timeout=300, check=False
    )


def test_vermin_reports_code_above_the_floor(vermin, tmp_path):
    # The checks below pass only because vermin finds nothing: show it does find things.
    (tmp_path / "newer.py").write_text("match 1:\n    case 1:\n        pass\n")
    result = run_vermin(vermin, [tmp_path])
    assert result.returncode != 0
    assert "pattern matching" in result.stdout


def test_src_runs_on_the_floor(vermin):
    result = run_vermin(vermin, [REPO_ROOT / "src"], make_variable("VERMIN_SRC_EXCLUDES"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_vendored_code_runs_on_the_floor(vermin, pyz, tmp_path):
    with zipfile.ZipFile(pyz) as archive:
        archive.extractall(tmp_path)
    vendored = [p for p in tmp_path.iterdir() if p.name not in ("sentinel_vip", "_vendor_licenses")]
    assert {p.name for p in vendored} >= {"tomli", "__main__.py"}
    result = run_vermin(vermin, vendored, make_variable("VERMIN_VENDOR_EXCLUDES"))
    assert result.returncode == 0, result.stdout + result.stderr
