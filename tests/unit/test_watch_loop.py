"""The watcher's loop mechanics without servers: thread supervision, log and evaluation limits."""

from __future__ import annotations

import queue
import threading

from sentinel_vip.actions import watch
from sentinel_vip.config.load import from_mapping
from support.logs import RecordingLogger


def watcher(tmp_path):
    config = from_mapping(
        {
            "master_name": "mymaster",
            "sentinel": {"addresses": ["192.0.2.1:26379", "192.0.2.2:26379", "192.0.2.3:26379"]},
            "node": {"addresses": ["192.0.2.10"]},
            "paths": {"state_dir": str(tmp_path), "history_file": str(tmp_path / "h.jsonl")},
            "log": {"syslog": False},
        }
    )
    return watch.Watcher(config, RecordingLogger(), queue.SimpleQueue())


def test_a_dead_listener_is_restarted_later_each_time_with_one_line(tmp_path):
    w = watcher(tmp_path)
    started = []

    def restart(endpoint):
        started.append(endpoint.label())
        w.threads[endpoint.label()] = threading.Thread()  # "dies" at once again

    w._start = restart
    w.threads = {label: threading.Thread() for label in w.links}  # never started: "dead"
    w._supervise(100.0)
    died = [f for e, f in w.logger.lines if e == "listener_died"]
    assert len(died) == 3 and {f["restart_in_s"] for f in died} == {1.0}
    w._supervise(100.5)
    assert started == []  # not before its backoff
    w._supervise(101.1)
    assert sorted(started) == sorted(w.links)
    started.clear()
    w._supervise(101.2)  # died again at once: twice the wait, one more line each
    assert {f["restart_in_s"] for e, f in w.logger.lines[3:] if e == "listener_died"} == {2.0}
    assert len(w.logger.lines) == 6


def test_a_flood_of_events_is_logged_and_evaluated_within_bounds(tmp_path):
    w = watcher(tmp_path)
    label = next(iter(w.links))
    data = "master mymaster 192.0.2.20 6379"
    evaluations = 0
    for i in range(10_000):  # one +sdown every millisecond for 10 s
        wanted, _ = w._handle([("event", label, "+sdown", data)], i / 1000)
        evaluations += wanted
    lines = [f for e, f in w.logger.lines if e == "sentinel_event"]
    assert len(lines) <= watch.LOG_BURST + 10 * watch.LOG_RATE + 1
    assert sum(f.get("suppressed") or 0 for f in lines) + len(lines) <= 10_000
    assert evaluations <= watch.EVAL_BURST + 10 * watch.EVAL_RATE + 1


def test_peer_text_cannot_forge_a_log_line():
    assert (
        watch.peer_text("a\nevent=check verdict=ok\x1b[2J") == "a\\nevent=check verdict=ok\\x1b[2J"
    )
    assert len(watch.peer_text("x" * 1000)) == 200
