"""check.evaluate's recording rules, with facts injected (no servers): inconclusive results,
the state file as untrusted input, and the ordered writer of the track file."""

import fcntl
import json
import os
import time

import pytest
from sentinel_answers import MASTER, OTHER, RUN_IDS, said

from sentinel_vip.actions import check
from sentinel_vip.decision.facts import CheckFacts
from sentinel_vip.errors import ExitCode
from sentinel_vip.log import Logger
from sentinel_vip.store import track
from support import config as support_config

ME = ("127.0.0.1", 6379)
RUN_IDS[ME] = RUN_IDS[("10.0.0.1", 6379)]  # this node, as the loopback config names it


def make_config(tmp_path, grace=0):
    return support_config.make_config(
        vip=None,
        sentinel={
            "addresses": ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"],
            "no_majority_grace": grace,
        },
        node={"addresses": ["127.0.0.1:6379"], "allow_loopback": True},
        check={"track_file": str(tmp_path / "track")},
        paths={"state_dir": str(tmp_path), "history_file": str(tmp_path / "h")},
        log={"syslog": False},
    )


@pytest.fixture
def cfg(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def graced(tmp_path):
    return make_config(tmp_path, grace=10)


class Lines(Logger):
    def __init__(self):
        super().__init__(syslog=False)
        self.lines = []

    def write(self, level, line):
        self.lines.append(line)


def facts(*masters):
    return CheckFacts(MASTER, said(*masters))


def run(monkeypatch, cfg, found, logger=None, **kwargs):
    monkeypatch.setattr(check, "gather", lambda *a: found)
    return check.evaluate(cfg, logger or Logger(syslog=False), **kwargs)


def test_an_inconclusive_haste_result_is_not_recorded(monkeypatch, cfg, tmp_path):
    assert run(monkeypatch, cfg, facts(ME, ME, ME)).ok
    assert (tmp_path / "track").read_text() == "1\n"
    verdict = run(monkeypatch, cfg, facts(ME, None, None), record_inconclusive=False)
    assert verdict.code == ExitCode.NO_MAJORITY
    assert (tmp_path / "track").read_text() == "1\n"  # left for the polled check
    assert json.loads((tmp_path / "check.json").read_text())["ok"] is True


def test_a_definite_answer_is_recorded_even_in_haste(monkeypatch, cfg, tmp_path):
    assert run(monkeypatch, cfg, facts(ME, ME, ME)).ok
    verdict = run(monkeypatch, cfg, facts(OTHER, OTHER, None), record_inconclusive=False)
    assert verdict.code == ExitCode.OTHER_MASTER
    assert (tmp_path / "track").read_text() == "0\n"


def test_the_poll_records_inconclusive_results(monkeypatch, cfg, tmp_path):
    assert run(monkeypatch, cfg, facts(ME, ME, ME)).ok
    assert run(monkeypatch, cfg, facts(ME, None, None)).code == ExitCode.NO_MAJORITY
    assert (tmp_path / "track").read_text() == "0\n"


# -- check.json is untrusted input (issue 10, case 5) ---------------------------------------


def state(tmp_path, text):
    (tmp_path / "check.json").write_text(text)


@pytest.mark.parametrize(
    "stored",
    [
        '{"ok": true, "code": 0, "last_agreed": 1e300}',
        '{"ok": true, "code": 0, "last_agreed": "x"}',
        '{"ok": true, "code": 0, "last_agreed": -1e400}',
        '{"ok": true, "code": 0, "last_agreed": null, "since": "x", "warnings": 7}',
        '{"ok": "yes", "code": "0", "reason": ["x"], "checked": 1e999}',
        "[1, 2, 3]",
        '{"ok": tru',
        "\x00\xff garbage",
        '{"agreed_boot": "BOOT", "agreed_mono": 1e300}',
    ],
)
def test_a_hostile_or_corrupt_state_file_is_neither_trusted_nor_fatal(
    monkeypatch, graced, tmp_path, stored
):
    """No eternal grace, no crash loop: the verdict is the live one and the file is
    replaced by a valid one."""
    state(tmp_path, stored.replace("BOOT", track.boot_id()))
    verdict = run(monkeypatch, graced, facts(ME, None, None))
    assert verdict.code == ExitCode.NO_MAJORITY
    written = json.loads((tmp_path / "check.json").read_text())
    assert written["code"] == ExitCode.NO_MAJORITY and written["ok"] is False
    assert "last_agreed" not in written and "agreed_mono" not in written


def test_a_wall_clock_step_back_does_not_extend_the_grace(monkeypatch, graced, tmp_path):
    """Agreed 100 s ago (monotonic), then the wall clock stepped back 1000 s: the stored
    wall-clock time is 'in the future'. The grace is 10 s, so it is over."""
    now = time.time()
    state(
        tmp_path,
        json.dumps(
            {
                "ok": True,
                "code": 0,
                "last_agreed": now + 1000,
                "agreed_boot": track.boot_id(),
                "agreed_mono": time.monotonic() - 100,
            }
        ),
    )
    verdict = run(monkeypatch, graced, facts(ME, None, None), now=now)
    assert verdict.code == ExitCode.NO_MAJORITY


def test_the_grace_runs_on_the_monotonic_clock(monkeypatch, graced, tmp_path):
    """A wall-clock step forward does not end it; another boot's agreement is none."""
    assert run(monkeypatch, graced, facts(ME, ME, ME)).ok
    stored = json.loads((tmp_path / "check.json").read_text())
    assert stored["agreed_boot"] == track.boot_id()
    assert run(monkeypatch, graced, facts(ME, None, None), now=time.time() + 3600).in_grace
    stored["agreed_boot"] = "another-boot"
    state(tmp_path, json.dumps(stored))
    assert run(monkeypatch, graced, facts(ME, None, None)).code == ExitCode.NO_MAJORITY


# -- one ordered writer (issue 10, case 6) ---------------------------------------------------


def test_a_verdict_from_older_facts_never_overwrites_a_newer_one(monkeypatch, cfg, tmp_path):
    """The polled check started before the switch (stamp A), the watcher after it (stamp B):
    the watcher records '1' first; the check's late '0' is older news and is dropped."""
    older, newer = track.started(), track.started()
    logger = Lines()
    assert run(monkeypatch, cfg, facts(ME, ME, ME), started=newer).ok
    late = run(monkeypatch, cfg, facts(ME, None, None), logger=logger, started=older)
    assert late.code == ExitCode.NO_MAJORITY  # the exit code still says what it saw
    assert (tmp_path / "track").read_text() == "1\n"
    assert json.loads((tmp_path / "check.json").read_text())["ok"] is True
    assert any("event=check_superseded" in line for line in logger.lines)
    # The reverse order is the normal case: the newer verdict replaces the older.
    assert run(monkeypatch, cfg, facts(OTHER, OTHER, OTHER), started=track.started()).code == 7
    assert (tmp_path / "track").read_text() == "0\n"


def test_fail_closed_after_a_kill_respects_a_newer_verdict(monkeypatch, cfg, tmp_path):
    older = track.started()
    assert run(monkeypatch, cfg, facts(ME, ME, ME), started=track.started()).ok
    check.fail_closed(cfg, older)
    assert (tmp_path / "track").read_text() == "1\n"
    check.fail_closed(cfg, track.started())
    assert (tmp_path / "track").read_text() == "0\n"


def test_while_the_lock_is_held_the_writer_waits_then_writes_only_a_fail(
    monkeypatch, cfg, tmp_path
):
    assert run(monkeypatch, cfg, facts(OTHER, OTHER, OTHER)).code == 7
    fd = os.open(tmp_path / track.LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        logger = Lines()
        assert run(monkeypatch, cfg, facts(ME, ME, ME), logger=logger).ok
        assert (tmp_path / "track").read_text() == "0\n"  # no order, no "1"
        assert any("event=state_unwritable" in line for line in logger.lines)
    finally:
        os.close(fd)
    assert run(monkeypatch, cfg, facts(ME, ME, ME)).ok
    assert (tmp_path / "track").read_text() == "1\n"


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_the_lock_file_is_never_followed_or_waited_on(monkeypatch, cfg, tmp_path, kind):
    """Another local user controlling the state directory plants the lock file (a symlink
    in a directory only root or we can change would be ours: store.disk follows those)."""
    tmp_path.chmod(0o777)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = tmp_path / track.LOCK_NAME
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    logger = Lines()
    assert run(monkeypatch, cfg, facts(ME, ME, ME), logger=logger).ok
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "track").exists()  # no order: no "1"
    assert any("event=state_unwritable" in line for line in logger.lines)
