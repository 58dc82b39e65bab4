"""store.tripwire: the record of the admin's min-replicas values is untrusted on read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sentinel_vip.store import tripwire

WIRE = {"to_write": 0, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10, "run_id": "ab"}


class Config:
    """state_dir (tmpfs /run in production) and the history beside which the record lives."""

    def __init__(self, state_dir, lib_dir=None, history="history.jsonl"):
        self.state_dir = str(state_dir)
        self.history_file = os.path.join(str(lib_dir or state_dir), history)


def record_path(config) -> Path:
    return Path(tripwire.path(config))


def test_round_trip_and_forget(tmp_path):
    config = Config(tmp_path)
    assert tripwire.saved(config) == {}
    tripwire.save(config, WIRE)
    assert tripwire.saved(config) == WIRE
    tripwire.forget(config)
    assert tripwire.saved(config) == {}


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "[]",
        '{"tripwire": 1}',
        '{"tripwire": {"to_write": "0", "max_lag": 10, "set_to_write": 2, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": -1, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": true, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": 0, "max_lag": 1e300, "set_to_write": 2, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": 0, "max_lag": 10, "set_to_write": 2}}',
        # Nothing arming ever writes: restoring it would raise or lower the admin's value.
        '{"tripwire": {"to_write": 3, "max_lag": 10, "set_to_write": 0, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": 3, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10}}',
        '{"tripwire": {"to_write": 0, "max_lag": 0, "set_to_write": 2, "set_max_lag": 0}}',
    ],
)
def test_anything_else_is_ignored(tmp_path, text):
    config = Config(tmp_path)
    record_path(config).write_text(text)
    assert tripwire.saved(config) == {}


def test_a_planted_link_or_fifo_is_never_followed(tmp_path):
    """The state directory may be another user's: fence.json goes through store.disk, which
    follows no symlink in a directory others can write (group-writable here)."""
    victim = tmp_path / "victim"
    victim.write_text(json.dumps({"tripwire": WIRE}))
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o770)
    config = Config(state)
    record = record_path(config)
    record.symlink_to(victim)
    assert tripwire.saved(config) == {}  # not read through the link
    tripwire.save(config, WIRE)  # replaces the link, never writes through it
    assert json.loads(victim.read_text()) == {"tripwire": WIRE}
    assert not record.is_symlink()
    assert tripwire.saved(config) == WIRE
    os.unlink(record)
    os.mkfifo(record)
    assert tripwire.saved(config) == {}  # a FIFO cannot stall the watcher


def test_a_record_others_could_have_written_is_ignored(tmp_path):
    """fence.json becomes CONFIG SET (and CONFIG REWRITE) on Redis: a copy writable by
    others (or, under root, owned by another user: hardening/test_watch_redteam) is not ours."""
    config = Config(tmp_path)
    tripwire.save(config, WIRE)
    record_path(config).chmod(0o662)
    assert tripwire.saved(config) == {}


def test_the_record_lives_beside_the_history_not_in_the_state_dir(tmp_path):
    """state_dir is /run, a tmpfs: a record there is gone after a reboot, while the values
    it would restore may sit in redis.conf (a CONFIG REWRITE while armed)."""
    run, lib = tmp_path / "run", tmp_path / "lib"
    run.mkdir(), lib.mkdir()
    config = Config(run, lib)
    tripwire.save(config, WIRE)
    assert record_path(config) == lib / "history.fence.json"
    assert list(run.iterdir()) == []
    for name in os.listdir(run):  # the reboot
        os.unlink(run / name)
    assert tripwire.saved(config) == WIRE


def test_instances_sharing_the_directory_keep_one_record_each(tmp_path):
    default = Config(tmp_path / "run", tmp_path)
    queue = Config(tmp_path / "run-queue", tmp_path, history="queue.jsonl")
    tripwire.save(default, WIRE)
    assert tripwire.saved(queue) == {}
    tripwire.save(queue, {**WIRE, "to_write": 1})
    assert tripwire.saved(default) == WIRE
    assert record_path(queue) == tmp_path / "queue.fence.json"


def test_a_record_at_the_old_place_is_found_once(tmp_path):
    """An upgrade while the tripwire is armed: the older watcher's record in state_dir is the
    only copy of the admin's values. It is read, and gone once the new place has a record."""
    run, lib = tmp_path / "run", tmp_path / "lib"
    run.mkdir(), lib.mkdir()
    config = Config(run, lib)
    legacy = run / tripwire.LEGACY_NAME
    legacy.write_text(json.dumps({"tripwire": WIRE}))
    assert tripwire.saved(config) == WIRE
    tripwire.forget(config)  # restored: cleared here, and the old copy removed
    assert not legacy.exists()
    assert tripwire.saved(config) == {}


def test_the_old_place_is_not_read_once_the_new_one_has_a_file(tmp_path):
    """A cleared record here is the truth; a stale copy left at the old place (its removal
    failed) must not be restored over values the admin may have set since."""
    run, lib = tmp_path / "run", tmp_path / "lib"
    run.mkdir(), lib.mkdir()
    config = Config(run, lib)
    tripwire.save(config, {})
    (run / tripwire.LEGACY_NAME).write_text(json.dumps({"tripwire": WIRE}))
    assert tripwire.saved(config) == {}


def test_the_old_place_follows_the_same_rules(tmp_path):
    run, lib = tmp_path / "run", tmp_path / "lib"
    run.mkdir(), lib.mkdir()
    legacy = run / tripwire.LEGACY_NAME
    legacy.write_text(json.dumps({"tripwire": WIRE}))
    legacy.chmod(0o666)
    assert tripwire.saved(Config(run, lib)) == {}


def test_the_record_is_on_disk_before_save_returns(tmp_path, monkeypatch):
    """It must outlive a power loss right after the CONFIG SET: the file and its directory
    entry are fsynced (as Redis does with redis.conf on CONFIG REWRITE)."""
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    config = Config(tmp_path / "run", tmp_path)
    tripwire.save(config, WIRE)
    assert str(tmp_path) in synced  # the directory: the rename is durable
    assert any(os.path.dirname(p) == str(tmp_path) and p != str(tmp_path) for p in synced)


@pytest.mark.parametrize("rewrites", [tripwire.UNKNOWN, 0, 7])
def test_the_rewrite_count_at_arming_is_kept(tmp_path, rewrites):
    config = Config(tmp_path)
    tripwire.save(config, {**WIRE, "rewrites": rewrites})
    assert tripwire.saved(config)["rewrites"] == rewrites


@pytest.mark.parametrize("rewrites", [-2, "3", 1.5, True, None, 2**63])
def test_a_rewrite_count_we_never_write_makes_it_not_our_record(tmp_path, rewrites):
    config = Config(tmp_path)
    tripwire.save(config, {**WIRE, "rewrites": rewrites})
    assert tripwire.saved(config) == {}
