"""check.evaluate's recording rules, with facts injected (no servers)."""

import json

import pytest

from sentinel_vip.actions import check
from sentinel_vip.config import load as config
from sentinel_vip.decision.facts import CheckFacts, RedisFacts, SentinelAnswer
from sentinel_vip.errors import ExitCode
from sentinel_vip.log import Logger

ME = ("127.0.0.1", 6379)
OTHER = ("127.0.0.2", 6379)


@pytest.fixture
def cfg(tmp_path):
    return config.from_mapping(
        {
            "master_name": "mymaster",
            "sentinel": {"addresses": ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]},
            "node": {"addresses": ["127.0.0.1:6379"], "allow_loopback": True},
            "check": {"track_file": str(tmp_path / "track")},
            "paths": {"state_dir": str(tmp_path), "history_file": str(tmp_path / "h")},
            "log": {"syslog": False},
        }
    )


def facts(*masters):
    answers = tuple(
        SentinelAnswer(f"s{i}", m is not None, m, None if m else "timed out", None)
        for i, m in enumerate(masters)
    )
    return CheckFacts(RedisFacts(True, "master", None, None), answers)


def run(monkeypatch, cfg, found, **kwargs):
    monkeypatch.setattr(check, "gather", lambda *a: found)
    return check.evaluate(cfg, Logger(syslog=False), **kwargs)


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
