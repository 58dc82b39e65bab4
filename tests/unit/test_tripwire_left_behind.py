"""A previous watcher's tripwire record found while Redis does not answer yet (a reboot: the
watcher may start first) is restored as soon as Redis answers, once, whatever the Sentinels
say; while Redis is down nothing is tried but the one cheap probe per review period."""

from __future__ import annotations

import os
from types import SimpleNamespace

from sentinel_vip.actions import failover, fence
from sentinel_vip.store import tripwire
from support.logs import RecordingLogger

WIRE = {"to_write": 0, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10, "run_id": "ab"}


class Local:
    """actions.local.Local as Failover uses it: the server's answers are the test's."""

    def __init__(self, cfg, answers):
        self.config, self.logger = cfg, RecordingLogger()
        self.wire, self.answers, self.probes = {}, answers, 0
        self._due: dict = {}

    def server(self):
        self.probes += 1
        return self.answers[min(self.probes, len(self.answers)) - 1]

    def may(self, what, now, every):
        if now < self._due.get(what, 0.0):
            return False
        self._due[what] = now + every
        return True


def config(tmp_path):
    history = os.path.join(str(tmp_path), "history.jsonl")
    return SimpleNamespace(state_dir=str(tmp_path), history_file=history, redis=object())


def down():
    return SimpleNamespace(reachable=False, error="connection refused")


def up():
    return SimpleNamespace(reachable=True, role="master", to_write=2, max_lag=10, run_id="cd")


def test_restored_once_redis_answers_not_before(tmp_path, monkeypatch):
    disarmed = []

    def disarm(cfg, wire, srv, deadline):
        disarmed.append((wire, srv.run_id))
        return "restored min-replicas-to-write=0 min-replicas-max-lag=10 config_rewrite=ok"

    monkeypatch.setattr(fence, "disarm", disarm)
    cfg = config(tmp_path)
    tripwire.save(cfg, WIRE)
    local = Local(cfg, [down(), down(), down(), up()])
    guard = failover.Failover(local, isolation=None)
    guard.review = lambda now, hint="": None  # the armed tripwire's own review: not here
    guard.start()
    assert disarmed == [] and local.wire == WIRE and guard.left_behind
    guard.review_due(0.0)
    guard.review_due(0.5)  # within the review period: not probed again
    assert local.probes == 2
    guard.review_due(1.0)
    assert disarmed == []
    guard.review_due(2.0)
    assert disarmed == [(WIRE, "cd")]
    assert not guard.left_behind and local.wire == {}
    assert [f["reason"] for _, f in local.logger.lines] == ["left by a previous watcher"]


def test_one_try_once_redis_answers_even_if_it_fails(tmp_path, monkeypatch):
    """CONFIG GET refused, say: one line, then the record is an armed tripwire as any
    (reviewed by the release rules), not a restore retried and logged every second."""
    calls = []

    def disarm(cfg, wire, srv, deadline):
        calls.append(wire)
        return "failed: cannot read min-replicas-to-write (CONFIG GET refused)"

    monkeypatch.setattr(fence, "disarm", disarm)
    cfg = config(tmp_path)
    tripwire.save(cfg, WIRE)
    local = Local(cfg, [up()])
    guard = failover.Failover(local, isolation=None)
    guard.review = lambda now, hint="": None
    guard.start()
    guard.review_due(5.0)
    guard.review_due(10.0)
    assert len(calls) == 1 and local.wire == WIRE and not guard.left_behind


def test_no_record_nothing_to_do(tmp_path):
    local = Local(config(tmp_path), [down()])
    guard = failover.Failover(local, isolation=None)
    guard.start()
    guard.review_due(1.0)
    assert not guard.left_behind and local.probes == 0
