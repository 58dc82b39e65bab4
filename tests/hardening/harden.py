"""Shared helpers for the hardening tests: run the pyz as keepalived does, start a real
redis-server / redis-sentinel with extra config (ACL users, TLS), and the invariants every
hostile run must keep (one-line error, documented exit code, nothing half-written)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from typing import Optional

from sentinel_vip.errors import ExitCode
from support.servers import KEEPALIVED_ENV

CODES = {int(code) for code in ExitCode}
SCRIPT_USER = "keepalived_script"
# Generated-case counts per fuzz test, printed in the summary (the issue asks for >= 10,000).
FUZZ_COUNTS: dict = {}


def count(name: str) -> None:
    FUZZ_COUNTS[name] = FUZZ_COUNTS.get(name, 0) + 1


def start_pyz(pyz, config: str, *args) -> subprocess.Popen:
    """Started in its own process group, as keepalived starts scripts (it signals the group)."""
    return subprocess.Popen(
        [str(pyz), "--config", config, *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(KEEPALIVED_ENV), start_new_session=True,
    )  # fmt: skip


def assert_clean_failure(run, expected: Optional[int] = None) -> None:
    """A documented code, never INTERNAL, no traceback, stderr at most one line."""
    assert run.returncode in CODES, run
    assert run.returncode != ExitCode.INTERNAL, run
    if expected is not None:
        assert run.returncode == expected, run
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run
    assert run.stderr.count("\n") <= 1, run


def temp_leftovers(*dirs: str) -> list:
    """Files an interrupted atomic write would leave (state.atomic_write uses .*.tmp)."""
    found = []
    for d in dirs:
        found += glob.glob(os.path.join(d, ".*.tmp")) + glob.glob(os.path.join(d, "*.tmp"))
    return found


def history_records(path: str) -> list:
    """Every line must be one complete JSON object (a torn line fails the test)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as fh:
        data = fh.read()
    assert not data or data.endswith(b"\n"), f"history ends mid-line: {data[-200:]!r}"
    return [json.loads(line) for line in data.splitlines()]
