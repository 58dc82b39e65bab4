"""store.tripwire: the record of the admin's min-replicas values is untrusted on read."""

from __future__ import annotations

import pytest

from sentinel_vip.store import tripwire

WIRE = {"to_write": 0, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10, "run_id": "ab"}


class Config:
    def __init__(self, state_dir):
        self.state_dir = str(state_dir)


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
    (tmp_path / tripwire.STATE_NAME).write_text(text)
    assert tripwire.saved(Config(tmp_path)) == {}


def test_a_planted_link_or_fifo_is_never_followed(tmp_path):
    """The state directory may be another user's: fence.json goes through store.disk, which
    follows no symlink in a directory others can write (group-writable here)."""
    import json
    import os

    victim = tmp_path / "victim"
    victim.write_text(json.dumps({"tripwire": WIRE}))
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o770)
    (state / tripwire.STATE_NAME).symlink_to(victim)
    config = Config(state)
    assert tripwire.saved(config) == {}  # not read through the link
    tripwire.save(config, WIRE)  # replaces the link, never writes through it
    assert json.loads(victim.read_text()) == {"tripwire": WIRE}
    assert not (state / tripwire.STATE_NAME).is_symlink()
    assert tripwire.saved(config) == WIRE
    os.unlink(state / tripwire.STATE_NAME)
    os.mkfifo(state / tripwire.STATE_NAME)
    assert tripwire.saved(config) == {}  # a FIFO cannot stall the watcher


def test_a_record_others_could_have_written_is_ignored(tmp_path):
    """fence.json becomes CONFIG SET (and CONFIG REWRITE) on Redis: a copy writable by
    others (or, under root, owned by another user: hardening/test_watch_redteam) is not ours."""
    config = Config(tmp_path)
    tripwire.save(config, WIRE)
    (tmp_path / tripwire.STATE_NAME).chmod(0o662)
    assert tripwire.saved(config) == {}
