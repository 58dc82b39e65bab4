"""store.track: the ordered writer's turn, directly (check.evaluate's use is in
test_check_evaluate)."""

import fcntl
import os

import pytest

from sentinel_vip.store import checkstate, track


def test_stamps_order_evaluations_by_start_and_another_boot_is_older(tmp_path):
    first, second = track.started(), track.started()
    assert first[0] == second[0] == track.boot_id() and first[1] < second[1]
    with track.Turn(str(tmp_path), second) as turn:
        assert turn.fresh and turn.error is None
        turn.recorded()
    with track.Turn(str(tmp_path), first) as turn:
        assert not turn.fresh  # started earlier than one that recorded
    with track.Turn(str(tmp_path), second) as turn:
        assert turn.fresh  # the same evaluation may record again
    (tmp_path / track.LOCK_NAME).write_text("another-boot 99999999999999999999\n")
    with track.Turn(str(tmp_path), first) as turn:
        assert turn.fresh


def test_a_held_lock_is_waited_for_boundedly(tmp_path):
    fd = os.open(tmp_path / track.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with track.Turn(str(tmp_path), track.started(), wait=0.01) as turn:
            assert not turn.fresh and isinstance(turn.error, BlockingIOError)
    finally:
        os.close(fd)


def test_a_missing_state_dir_is_an_error_not_a_crash(tmp_path):
    with track.Turn(str(tmp_path / "missing"), track.started()) as turn:
        assert not turn.fresh and turn.error is not None


AGREED = {"agreed_boot": "B", "agreed_mono": 5.0}


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        ({"ok": True, "code": 0, "reason": "r", "since": 5.0}, {"ok", "code", "reason", "since"}),
        ({"ok": 1, "code": True, "reason": 7, "since": 1e300}, set()),
        ({"code": 256, "checked": float("nan"), "last_agreed": -1.0}, set()),
        ({"warnings": ["a", 3]}, set()),
        ({"agreed_boot": "B", "agreed_mono": 5.0}, {"agreed_boot", "agreed_mono"}),
        ({"agreed_boot": "other", "agreed_mono": 5.0}, set()),
        ({"agreed_boot": "B", "agreed_mono": 50.0}, set()),  # later than now: discarded
        (AGREED | {"agreed_run_id": "a" * 40}, {*AGREED, "agreed_run_id"}),
        ({"agreed_run_id": "a" * 40}, set()),  # only with an agreement of this boot
        ({"agreed_boot": "other", "agreed_mono": 5.0, "agreed_run_id": "a" * 40}, set()),
        (AGREED | {"agreed_run_id": "A" * 40}, set(AGREED)),  # run_ids are lower-case hex
        (AGREED | {"agreed_run_id": "a" * 39}, set(AGREED)),
        (AGREED | {"agreed_run_id": ["a" * 40]}, set(AGREED)),
    ],
)
def test_the_state_file_keeps_only_valid_fields(data, kept):
    assert set(checkstate.validated(data, now=100.0, mono=10.0, boot="B")) == kept
