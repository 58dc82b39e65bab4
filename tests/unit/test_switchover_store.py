"""store.switchover (untrusted on read), and how status and doctor show a record left behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from sentinel_vip.admin import doctor, status
from sentinel_vip.store import switchover

RECORD = {
    "pid": 0, "started": 1796000000.0, "stage": "failover", "master": "10.0.0.11:6379",
    "target": "10.0.0.13:6379", "steered": [["10.0.0.12", 6379, 50, 101]],
}  # fmt: skip


class Config:
    def __init__(self, directory):
        self.history_file = os.path.join(str(directory), "history.jsonl")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_round_trip_beside_the_history_and_clear(tmp_path):
    config = Config(tmp_path)
    assert switchover.saved(config) == {}
    switchover.save(config, RECORD)
    assert switchover.path(config) == str(tmp_path / "switchover.json")
    assert switchover.saved(config) == RECORD
    assert (tmp_path / "switchover.json").stat().st_mode & 0o777 == 0o600
    switchover.clear(config)
    switchover.clear(config)  # twice: no error
    assert switchover.saved(config) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"steered": [["10.0.0.12", "6379", 50, 101]]},
        {"steered": [["10.0.0.12", 6379, -1, 101]]},
        {"steered": [["10.0.0.12", 6379, 50]]},
        {"steered": "x"},
        {"pid": "1"},
        {"master": None},
        {"started": "yesterday"},
    ],
)
def test_anything_else_is_ignored(tmp_path, change):
    config = Config(tmp_path)
    switchover.save(config, {**RECORD, **change})
    assert switchover.saved(config) == {}


def test_status_and_doctor_point_at_an_interrupted_run(tmp_path):
    config = Config(tmp_path)
    record = {**RECORD, "pid": dead_pid()}
    switchover.save(config, record)
    summary = status.switchover_summary(switchover.saved(config))
    assert summary["running"] is False and summary["steered"] == ["10.0.0.12:6379 50->101"]
    line = status._switchover_line(summary)
    assert "INTERRUPTED" in line and "switchover --restore" in line
    found = doctor.switchover_left(config)
    assert [f.status for f in found] == ["warn"]
    assert "101 (was 50)" in found[0].detail and "--restore" in found[0].fix


def test_a_running_switchover_is_shown_as_such_and_not_warned_about(tmp_path):
    config = Config(tmp_path)
    switchover.save(config, {**RECORD, "pid": os.getppid()})
    summary = status.switchover_summary(switchover.saved(config))
    assert summary["running"] is True
    assert "IN PROGRESS" in status._switchover_line(summary)
    assert doctor.switchover_left(config) == []
    assert status.switchover_summary({}) is None
