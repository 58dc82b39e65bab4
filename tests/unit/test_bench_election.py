"""bench/election.py's log and record helpers and the writer's reconnect jitter
(tests/e2e/agent.py), on hand-made inputs: no cluster, no root."""

from __future__ import annotations

import datetime
import importlib.util
import random
import sys
from pathlib import Path

from e2e import agent

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _election():
    sys.path.insert(0, str(BENCH))  # election.py imports its sibling `common`
    try:
        spec = importlib.util.spec_from_file_location("bench_election", BENCH / "election.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


election = _election()

WALL_MINUS_MONO = 1_000_000.0  # wall = mono + this


def iso(mono: float) -> str:
    wall = datetime.datetime.fromtimestamp(mono + WALL_MINUS_MONO, tz=datetime.timezone.utc)
    return wall.isoformat(timespec="microseconds")


def check_line(mono: float, server: str, ok: bool) -> str:
    what = "succeeded" if ok else "failed"
    status = "1/1 UP" if ok else "0/1 DOWN"
    return (
        f"{iso(mono)} Health check for server redis_master/{server} {what}, reason: x, "
        f"check duration: 0ms, status: {status}."
    )


def test_haproxy_up_is_the_first_passing_check_of_that_server_after_the_kill(tmp_path):
    log = tmp_path / "haproxy.log"
    log.write_text(
        "\n".join(
            [
                check_line(10.0, "n2", True),  # before the kill: not this failover
                "[WARNING]  (1) : Server redis_master/n2 is DOWN",  # stderr copy, no stamp
                check_line(12.0, "n2", False),
                check_line(13.5, "n3", True),  # another server
                check_line(14.25, "n2", True),
                check_line(15.0, "n2", True),
            ]
        )
        + "\n"
    )
    up = election.haproxy_up(str(log), "n2", 11.0, WALL_MINUS_MONO)
    assert abs(up - 14.25) < 1e-5
    assert election.haproxy_up(str(log), "n1", 11.0, WALL_MINUS_MONO) is None
    assert election.haproxy_up(str(tmp_path / "missing"), "n2", 11.0, WALL_MINUS_MONO) is None


def test_pending_connect_is_how_long_the_attempt_in_flight_had_run():
    records = [
        {"t": 1.0, "t1": 1.5, "n": "client", "seq": 1, "ok": False},
        {"t": 1.51, "t1": 2.01, "n": "client", "seq": 2, "ok": False},
        {"t": 1.6, "t1": 1.6, "n": "haproxy", "seq": 9, "ok": False},  # another writer
    ]
    assert election.pending_connect(records, "client", 1.8) == 0.29
    assert election.pending_connect(records, "client", 1.505) == 0.0  # in the pause
    assert election.pending_connect(records, "client", None) is None


def test_the_writer_waits_a_random_extra_only_after_the_first_failure():
    rng = random.Random(1)
    draws = [agent.first_failure_wait(True, 0.51, rng) for _ in range(200)]
    assert all(0 <= d < 0.51 for d in draws) and len(set(draws)) == 200
    assert agent.first_failure_wait(False, 0.51, rng) == 0.0  # a failure after a failure
    assert agent.first_failure_wait(True, 0.0, rng) == 0.0  # off: the e2e default
