"""The node_exporter textfile: values from stored state, Prometheus text format, atomic file."""

from __future__ import annotations

import json
import os
import threading

from sentinel_vip.probes import identity
from sentinel_vip.store import metrics
from support import config as support_config


def make_config(tmp_path, textfile="metrics.prom", vip=""):
    state_dir = tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    return support_config.make_config(
        vip=None,
        paths={"state_dir": str(state_dir)},
        metrics={"textfile": str(tmp_path / textfile) if textfile else ""},
        **{"vip.address": vip},
    )


def parse(text: str) -> dict:
    """name{labels} -> value, checking every sample has HELP and TYPE lines before it."""
    samples, described = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            described.add((line[2:6], line.split()[2]))
            continue
        key, value = line.rsplit(" ", 1)
        name = key.split("{", 1)[0]
        assert ("HELP", name) in described and ("TYPE", name) in described, line
        samples[key] = float(value)
    return samples


def test_collect_from_a_failing_check_and_two_transitions():
    check = {"ok": False, "code": 7, "reason": "x", "since": 1700000000.5}
    transitions = {"count": 2, "last_ts": 1700000100.25, "last_state": "BACKUP"}
    values = metrics.collect(check, transitions, vip_held=False)
    assert values == {
        "sentinel_vip_transitions_total": 2,
        "sentinel_vip_vip_held": False,
        "sentinel_vip_check_ok": False,
        "sentinel_vip_check_code": 7,
        "sentinel_vip_check_since_timestamp_seconds": 1700000000.5,
        "sentinel_vip_last_transition_timestamp_seconds": 1700000100.25,
        "sentinel_vip_keepalived_master": False,
    }


def test_collect_with_nothing_known_yet_has_only_the_counter():
    assert metrics.collect({}, {}, vip_held=None) == {"sentinel_vip_transitions_total": 0}


def test_render_is_prometheus_text_with_labels():
    text = metrics.render(
        {"sentinel_vip_check_ok": True, "sentinel_vip_check_code": 0,
         "sentinel_vip_transitions_total": 3,
         "sentinel_vip_check_since_timestamp_seconds": 1700000000.5},
        {"instance_name": 'sentinel_"vip'},
    )  # fmt: skip
    samples = parse(text)
    assert samples == {
        'sentinel_vip_check_ok{instance_name="sentinel_\\"vip"}': 1.0,
        'sentinel_vip_check_code{instance_name="sentinel_\\"vip"}': 0.0,
        'sentinel_vip_check_since_timestamp_seconds{instance_name="sentinel_\\"vip"}': 1700000000.5,
        'sentinel_vip_transitions_total{instance_name="sentinel_\\"vip"}': 3.0,
    }
    assert "# TYPE sentinel_vip_transitions_total counter" in text
    assert "# TYPE sentinel_vip_check_ok gauge" in text
    assert text.endswith("\n")


def test_write_rebuilds_the_file_from_state(tmp_path):
    config = make_config(tmp_path)
    with open(os.path.join(config.state_dir, "check.json"), "w") as fh:
        json.dump({"ok": True, "code": 0, "reason": "master agreed", "since": 1700000000}, fh)
    assert metrics.write(config) is True
    samples = parse((tmp_path / "metrics.prom").read_text())
    label = '{instance_name="sentinel_vip"}'
    assert samples[f"sentinel_vip_check_ok{label}"] == 1
    assert samples[f"sentinel_vip_check_since_timestamp_seconds{label}"] == 1700000000
    assert samples[f"sentinel_vip_transitions_total{label}"] == 0
    assert f"sentinel_vip_vip_held{label}" not in samples  # no VIP configured
    assert oct((tmp_path / "metrics.prom").stat().st_mode & 0o777) == "0o644"
    # atomic_write leaves no temp file that node_exporter could pick up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.prom", "state"]


def test_write_is_off_without_a_textfile(tmp_path):
    config = make_config(tmp_path, textfile="")
    assert metrics.write(config) is False
    metrics.on_transition(config, "MASTER")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == []


def test_vip_held_reads_this_hosts_addresses(tmp_path):
    # 127.0.0.1 is on every host's lo; 192.0.2.77 (TEST-NET-1) is on none of ours.
    assert identity.vip_held("127.0.0.1") is True
    assert identity.vip_held("192.0.2.77") is False
    assert identity.vip_held("") is None


def test_transitions_count_and_last_state(tmp_path):
    config = make_config(tmp_path)
    metrics.on_transition(config, "MASTER")
    metrics.on_transition(config, "BACKUP")
    samples = parse((tmp_path / "metrics.prom").read_text())
    label = '{instance_name="sentinel_vip"}'
    assert samples[f"sentinel_vip_transitions_total{label}"] == 2
    assert samples[f"sentinel_vip_keepalived_master{label}"] == 0
    assert samples[f"sentinel_vip_last_transition_timestamp_seconds{label}"] > 1.6e9


def test_concurrent_transitions_lose_no_increment(tmp_path):
    config = make_config(tmp_path)
    threads = [
        threading.Thread(target=metrics.count_transition, args=(config, "BACKUP"))
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(os.path.join(config.state_dir, "transitions.json")) as fh:
        assert json.load(fh)["count"] == 20


def test_an_unwritable_textfile_is_logged_not_raised(tmp_path):
    config = make_config(tmp_path, textfile="missing-dir/metrics.prom")

    class Recorder:
        def __init__(self):
            self.events = []

        def log(self, level, event, **fields):
            self.events.append((level, event, fields))

    logger = Recorder()
    metrics.on_check_change(config, logger)
    assert logger.events and logger.events[0][1] == "metrics_unwritable"
