"""check.evaluate honours the watcher's election record, bounded (store.election): the VIP
stays on the promoted master while the Sentinels still announce the old one, and only then."""

import json
import time

import pytest
from sentinel_answers import MASTER, OTHER, RUN_IDS, THIRD, said

from sentinel_vip.actions import check
from sentinel_vip.config import load as config
from sentinel_vip.decision.election import HOLD, Promotion
from sentinel_vip.decision.facts import CheckFacts, RedisFacts
from sentinel_vip.errors import ExitCode
from sentinel_vip.log import Logger
from sentinel_vip.store import election as stored
from sentinel_vip.store import track

ME = ("127.0.0.1", 6379)
RUN_IDS[ME] = RUN_IDS[("10.0.0.1", 6379)]
PROMOTION = Promotion(5, "a" * 40, ME, OTHER, 2)


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


def evaluate(monkeypatch, cfg, *masters, redis=MASTER):
    monkeypatch.setattr(check, "gather", lambda *a: CheckFacts(redis, said(*masters)))
    return check.evaluate(cfg, Logger(syslog=False))


def record(cfg, age=0.5, run_id=MASTER.run_id, boot=None):
    boot = track.boot_id() if boot is None else boot
    stored.write(cfg.state_dir, PROMOTION, run_id, boot, time.monotonic() - age)


def test_without_a_record_the_old_master_named_fails_this_node(monkeypatch, cfg, tmp_path):
    verdict = evaluate(monkeypatch, cfg, OTHER, OTHER, OTHER)
    assert verdict.code == ExitCode.OTHER_MASTER
    assert (tmp_path / "track").read_text() == "0\n"


def test_a_fresh_record_keeps_the_promoted_master_up(monkeypatch, cfg, tmp_path):
    record(cfg)
    verdict = evaluate(monkeypatch, cfg, OTHER, OTHER, OTHER)
    assert verdict.ok and verdict.reason.startswith("elected: epoch 5")
    assert (tmp_path / "track").read_text() == "1\n"
    assert json.loads((tmp_path / "check.json").read_text())["ok"] is True
    # mid-switch: some Sentinels name this node already
    assert evaluate(monkeypatch, cfg, OTHER, (ME, None), OTHER).ok
    # once they agree on this node, the check's own rule says so
    verdict = evaluate(monkeypatch, cfg, ME, ME, OTHER)
    assert verdict.ok and verdict.agreed and "master agreed" in verdict.reason


@pytest.mark.parametrize(
    "why, kwargs, masters, redis",
    [
        ("expired", {"age": HOLD + 0.5}, (OTHER, OTHER, OTHER), MASTER),
        ("another boot", {"boot": "0" * 8 + "-0000-0000-0000-" + "0" * 12}, (OTHER,) * 3, MASTER),
        ("redis restarted", {"run_id": "9" * 40}, (OTHER, OTHER, OTHER), MASTER),
        ("a third server named", {}, (THIRD, THIRD, OTHER), MASTER),
        ("too few answer", {}, (OTHER, None, None), MASTER),
        ("not master", {}, (OTHER, OTHER, OTHER), RedisFacts(True, "slave", None, None)),
    ],
)
def test_the_hold_is_bounded(monkeypatch, cfg, tmp_path, why, kwargs, masters, redis):
    record(cfg, **kwargs)
    verdict = evaluate(monkeypatch, cfg, *masters, redis=redis)
    assert not verdict.ok, why
    assert (tmp_path / "track").read_text() == "0\n"


@pytest.mark.parametrize(
    "garbage",
    ["[]", "{}", '{"mono": "1"}', "not json", '{"mono": 1e400}'],
)
def test_a_corrupt_record_proves_nothing(monkeypatch, cfg, tmp_path, garbage):
    (tmp_path / stored.NAME).write_text(garbage)
    assert evaluate(monkeypatch, cfg, OTHER, OTHER, OTHER).code == ExitCode.OTHER_MASTER


def test_a_record_field_out_of_range_voids_it(monkeypatch, cfg, tmp_path):
    record(cfg)
    data = json.loads((tmp_path / stored.NAME).read_text())
    for key, bad in [("target", ["127.0.0.1", 0]), ("epoch", -1), ("leader", "x"),
                     ("mono", time.monotonic() + 100)]:  # fmt: skip
        (tmp_path / stored.NAME).write_text(json.dumps({**data, key: bad}))
        assert evaluate(monkeypatch, cfg, OTHER, OTHER, OTHER).code == ExitCode.OTHER_MASTER, key


def test_notify_names_the_promoted_master_while_the_hold_applies(cfg):
    """A hook run on MASTER in the second before the announcement gets this node's address
    as SENTINEL_VIP_MASTER, not the old master's the Sentinels still name."""
    from sentinel_vip.actions import notify
    from sentinel_vip.decision.agreement import agree

    counted = agree(said(OTHER, OTHER, OTHER), 2, 3)
    assert notify._elected(cfg, MASTER, counted) is None  # no record
    record(cfg)
    assert notify._elected(cfg, MASTER, counted) == "127.0.0.1:6379"
    assert notify._elected(cfg, MASTER, agree(said(THIRD, THIRD, THIRD), 2, 3)) is None
    record(cfg, age=HOLD + 1)
    assert notify._elected(cfg, MASTER, counted) is None


@pytest.mark.parametrize("fresh", [True, False])
def test_notify_never_demotes_a_server_it_follows_as_just_promoted(cfg, monkeypatch, fresh):
    """keepalived passes through BACKUP on the way up: while the Sentinels still name the old
    master, a demotion planned then would undo the promotion the watcher followed."""
    from sentinel_vip.actions import notify
    from sentinel_vip.deadline import Deadline
    from sentinel_vip.decision.agreement import agree
    from sentinel_vip.decision.demotion import Demotion

    counted = agree(said(OTHER, OTHER, OTHER), 2, 3)
    plan = Demotion(OTHER[0], OTHER[1], RUN_IDS[OTHER], "sentinels name another master")
    monkeypatch.setattr(notify.demote, "plan", lambda *a, **k: (plan, MASTER, counted))
    demoted = []
    monkeypatch.setattr(
        notify.demote,
        "demote_to",
        lambda *a: demoted.append(a) or type("R", (), {"ok": True, "detail": ""})(),
    )
    record(cfg, age=0.5 if fresh else HOLD + 1)
    transition = notify.Transition("INSTANCE", "sentinel_vip", "BACKUP", 100)
    outcome = notify._observe_and_act(cfg, transition, Deadline(2))
    assert (demoted == []) is fresh, outcome
    assert (outcome["action"] == "none") is fresh
