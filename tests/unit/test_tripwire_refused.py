"""A Redis ACL without CONFIG SET refuses the tripwire: nothing is left recorded (the next
watcher would "restore" values it never changed), it is said once, and not asked again."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from sentinel_vip.actions import failover, fence
from sentinel_vip.probes.resp import ReplyError
from sentinel_vip.store import tripwire
from support.logs import RecordingLogger

NOPERM = "NOPERM this user has no permissions to run the 'config' command"


class RefusingConn:
    def call(self, *args):
        raise ReplyError(NOPERM, "unix:/run/redis.sock")


def server():
    return SimpleNamespace(
        reachable=True, role="master", to_write=0, max_lag=10, good_replicas=2, run_id="ab"
    )


def config(tmp_path):
    history = str(tmp_path / "history.jsonl")
    return SimpleNamespace(state_dir=str(tmp_path), history_file=history, redis=object())


def test_a_refused_config_set_leaves_no_record(tmp_path, monkeypatch):
    @contextmanager
    def connect(endpoint, deadline):
        yield RefusingConn()

    monkeypatch.setattr(fence, "connect", connect)
    cfg = config(tmp_path)
    result = fence.arm(cfg, server(), (2, 10), None)
    assert result.startswith(fence.REFUSED), result
    assert tripwire.saved(cfg) == {}


class Local:
    def __init__(self, cfg):
        self.config, self.logger = cfg, RecordingLogger()
        self.wire, self.tripwire_refused, self.said = {}, False, set()

    def server(self):
        return server()

    def say_once(self, key, level, event, **fields):
        if key not in self.said:
            self.said.add(key)
            self.logger.log(level, event, **fields)


def test_a_refused_tripwire_is_said_once_and_not_asked_again(tmp_path, monkeypatch):
    calls = []

    def arm(*args):
        calls.append(args)
        return f"{fence.REFUSED}: server replied: {NOPERM}"

    monkeypatch.setattr(fence, "arm", arm)
    local = Local(config(tmp_path))
    guard = failover.Failover(local, isolation=None)
    found = SimpleNamespace(describe=lambda: "claimants=1")
    for _ in range(5):
        guard._arm(found, "127.0.0.1:26379")
    assert len(calls) == 1
    assert [(e, f["action"]) for e, f in local.logger.lines] == [("fence", "skipped")]
    assert local.wire == {}
