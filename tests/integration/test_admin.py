"""status, doctor, render and metrics against real Redis and Sentinels, via the built pyz."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sentinel_vip.admin import render
from sentinel_vip.config.load import load
from sentinel_vip.errors import ExitCode
from sentinel_vip.store import metrics
from support.servers import run_pyz

VIP = "192.0.2.100"  # TEST-NET-1: on no interface here


def vrrp_interface() -> str:
    """keepalived refuses VRRP on lo: name an interface this host has (nothing is sent:
    only `keepalived -t` reads the config)."""
    names = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    if not names:
        pytest.skip("no non-loopback interface for keepalived -t")
    return names[0]


def admin_config(cluster, node: int, tmp_path: Path, **overrides) -> str:
    """A node config whose keepalived and Sentinel files live in tmp_path."""
    keepalived_dir = tmp_path / "keepalived"
    (keepalived_dir / "conf.d").mkdir(parents=True, exist_ok=True)
    return cluster.write_config(
        node,
        **{
            "vip.address": VIP,
            "vip.interface": vrrp_interface(),
            "vip.prefix": 32,
            "keepalived.config_file": str(keepalived_dir / "keepalived.conf"),
            "keepalived.snippet": str(keepalived_dir / "conf.d" / "sentinel-vip.conf"),
            "keepalived.priority": 100 - 10 * node,
            "keepalived.script_user": "nobody",
            "sentinel.config_files": [str(Path(cluster.sentinel_dir(0)) / "sentinel.conf")],
            "sentinel.snippet": str(tmp_path / "sentinel-vip-sentinel.conf"),
            **overrides,
        },
    )


def install_keepalived_conf(config_path: str) -> None:
    """Render, then point the scripts at a root-owned executable (the pyz lives in a
    non-root-owned build tree, which enable_script_security refuses) and write the main
    keepalived.conf that includes the rendered file, as an admin would."""
    config = load(config_path)
    snippet = Path(config.keepalived_snippet)
    text = snippet.read_text().replace(render.PROGRAM, shutil.which("true"))
    snippet.write_text(text)
    Path(config.keepalived_config_file).write_text(
        "global_defs {\n    enable_script_security\n    script_user nobody nogroup\n}\n"
        f"include {snippet.parent}/*.conf\n"
    )


# -- status -------------------------------------------------------------------------------


def test_status_json_on_the_master_and_a_replica(runnable_pyz, shared, tmp_path):
    docs = []
    for node in (0, 1):
        done = run_pyz(runnable_pyz, admin_config(shared, node, tmp_path), "status", "--json")
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        docs.append(json.loads(done.stdout))
    master, replica = docs
    master_address = f"127.0.0.1:{shared.redis_ports[0]}"
    assert master["schema"] == 1
    assert master["redis"]["role"] == "master"
    assert sorted(r["address"] for r in master["redis"]["replicas"]) == sorted(
        f"127.0.0.1:{p}" for p in shared.redis_ports[1:]
    )
    assert all(isinstance(r["lag_seconds"], int) for r in master["redis"]["replicas"])
    assert master["sentinels"]["master"] == master_address
    assert master["sentinels"]["master_is_this_node"] is True
    assert [a["agrees"] for a in master["sentinels"]["answers"]] == [True, True, True]
    assert {a["quorum"] for a in master["sentinels"]["answers"]} == {2}
    assert master["vip"] == {"address": VIP, "interface": vrrp_interface(), "held": False}
    assert replica["redis"]["role"] == "slave"
    assert replica["redis"]["master"] == master_address
    assert replica["redis"]["link"] == "up"
    assert replica["sentinels"]["master_is_this_node"] is False


def test_status_table_shows_the_check_verdict_and_transitions(runnable_pyz, shared, tmp_path):
    config = admin_config(shared, 0, tmp_path)
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    # BACKUP: the test VIP is not on this host, and a MASTER notify without the VIP would be
    # recorded as superseded (keepalived adds the VIP before it notifies MASTER).
    notify = run_pyz(runnable_pyz, config, "notify", "INSTANCE", "sentinel_vip", "BACKUP", "100")
    assert notify.returncode == 0, notify.stderr
    done = run_pyz(runnable_pyz, config, "status")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("node        ")
    assert any(line.startswith("check       ok OK (0): master agreed") for line in lines)
    assert any(line.startswith("keepalived  sentinel_vip  BACKUP  since ") for line in lines)
    assert any("-> BACKUP  action=none" in line for line in lines if line.startswith("transit"))
    assert sum(line.startswith("sentinel ") and " agrees" in line for line in lines) == 3


def test_status_with_a_sentinel_down_and_redis_auth_wrong(runnable_pyz, cluster, tmp_path):
    cluster.stop_sentinel(2)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    config = admin_config(cluster, 0, tmp_path, **{"redis.password_file": str(wrong)})
    doc = json.loads(run_pyz(runnable_pyz, config, "status", "--json").stdout)
    assert doc["redis"]["reachable"] is False
    assert "authentication" in doc["redis"]["error"]
    answers = doc["sentinels"]["answers"]
    assert [a["answered"] for a in answers] == [True, True, False]
    assert doc["sentinels"]["master"] == f"127.0.0.1:{cluster.redis_ports[0]}"  # 2 of 3 agree


# -- doctor ----------------------------------------------------------------------------------


def doctor_lines(done) -> dict:
    found: dict = {}
    for line in done.stdout.splitlines():
        match = re.match(r"(ok|WARN|FAIL) +(.+?)  ", line)
        if match:
            found.setdefault(match.group(2), []).append(match.group(1))
    return found


def test_doctor_on_a_healthy_node(runnable_pyz, shared, tmp_path):
    config = admin_config(shared, 0, tmp_path)
    assert run_pyz(runnable_pyz, config, "render").returncode == 0
    install_keepalived_conf(config)
    done = run_pyz(runnable_pyz, config, "doctor")
    assert done.stderr == ""
    found = doctor_lines(done)
    assert done.returncode == ExitCode.OK, done.stdout
    for item in ("config", "secrets", "redis", "sentinels", "sentinel count", "quorum",
                 "agreement", "identity", "keepalived include", "keepalived -t",
                 "script user", "interface", "vip", "virtual_router_id",
                 "static vip"):  # fmt: skip
        assert found.get(item) == ["ok"], (item, done.stdout)
    assert found["min-replicas"] == ["WARN"]  # the fixture's Redis has the default 0
    assert found["sentinel snippet"] == ["WARN"]  # the fixture's Sentinels do not include it
    assert done.stdout.splitlines()[-1].endswith(" warn, 0 fail")


def test_doctor_fails_on_sentinels_down_and_a_broken_keepalived_conf(
    runnable_pyz, cluster, tmp_path
):
    config = admin_config(cluster, 0, tmp_path)
    assert run_pyz(runnable_pyz, config, "render").returncode == 0
    install_keepalived_conf(config)
    snippet = Path(load(config).keepalived_snippet)
    snippet.write_text(snippet.read_text().replace("weight 0 reverse", "weight 0 backwards"))
    cluster.stop_sentinel(1)
    done = run_pyz(runnable_pyz, config, "doctor")
    assert done.returncode == ExitCode.PROBLEMS_FOUND, done.stdout
    found = doctor_lines(done)
    assert found["sentinel"] == ["FAIL"]
    assert found["keepalived -t"] == ["FAIL"]
    assert "unknown weight option backwards" in done.stdout
    assert "fix: " in done.stdout
    # the stopped Sentinel's address is named once on its line, not "addr: addr: error"
    down = f"127.0.0.1:{cluster.sentinel_ports[1]}"
    line = next(x for x in done.stdout.splitlines() if x.startswith("FAIL") and down in x)
    assert line.count(down) == 1, line


def test_doctor_finds_a_hand_edited_vip_that_differs_from_the_toml(runnable_pyz, shared, tmp_path):
    config = admin_config(shared, 0, tmp_path)
    assert run_pyz(runnable_pyz, config, "render").returncode == 0
    install_keepalived_conf(config)
    snippet = Path(load(config).keepalived_snippet)
    rendered = snippet.read_text()
    assert f"{VIP}/32" in rendered
    # another prefix only: a warning, doctor still passes
    snippet.write_text(rendered.replace(f"{VIP}/32", f"{VIP}/24"))
    done = run_pyz(runnable_pyz, config, "doctor")
    assert done.returncode == ExitCode.OK, done.stdout
    assert doctor_lines(done)["vip"] == ["WARN"]
    assert f"gives {VIP} prefix /24; vip.prefix says /32" in done.stdout
    # another address: keepalived would move an address the check does not guard
    snippet.write_text(rendered.replace(f"{VIP}/32", "192.0.2.101/32"))
    done = run_pyz(runnable_pyz, config, "doctor")
    assert done.returncode == ExitCode.PROBLEMS_FOUND, done.stdout
    assert doctor_lines(done)["vip"] == ["FAIL"]
    assert f"moves 192.0.2.101/32; vip.address is {VIP}" in done.stdout


def test_doctor_reports_a_world_readable_password_file(runnable_pyz, shared, tmp_path):
    secret = tmp_path / "redis.password"
    secret.write_text(shared.redis_password + "\n")
    secret.chmod(0o644)
    config = admin_config(shared, 0, tmp_path, **{"redis.password_file": str(secret)})
    done = run_pyz(runnable_pyz, config, "doctor")
    assert done.returncode == ExitCode.PROBLEMS_FOUND
    assert doctor_lines(done)["secrets"] == ["FAIL"]
    assert shared.redis_password not in done.stdout + done.stderr


def test_doctor_reports_a_tripwire_record_left_after_a_reboot(runnable_pyz, shared, tmp_path):
    """A watcher armed the tripwire and never restored it (killed, then the host rebooted:
    the state directory in /run is empty). The record of the admin's values outlives the
    reboot beside the history, and doctor says what was changed and where the record is."""
    import os

    from sentinel_vip.store import tripwire

    config = admin_config(shared, 0, tmp_path)
    loaded = load(config)
    wire = {"to_write": 1, "max_lag": 7, "set_to_write": 2, "set_max_lag": 10, "run_id": ""}
    tripwire.save(loaded, wire)
    try:
        shutil.rmtree(loaded.state_dir)  # the reboot
        os.makedirs(loaded.state_dir, mode=0o700)
        done = run_pyz(runnable_pyz, config, "doctor")
    finally:
        os.unlink(tripwire.path(loaded))  # the shared cluster's node directory
    assert doctor_lines(done)["fence"] == ["ok", "WARN"], done.stdout
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("WARN") and " fence " in x]
    assert "raised to 2" in line and "was 1, max-lag 7" in line, line
    assert tripwire.path(loaded) in line, line


# -- render ----------------------------------------------------------------------------------


def test_render_writes_dry_runs_and_refuses(runnable_pyz, shared, tmp_path):
    config = admin_config(
        shared, 1, tmp_path, **{"keepalived.unicast_peers": ["127.0.0.2", "127.0.0.3"]}
    )
    snippet = Path(load(config).keepalived_snippet)
    dry = run_pyz(runnable_pyz, config, "render", "--dry-run")
    assert dry.returncode == 0 and not snippet.exists()
    assert "+    priority 90" in dry.stdout
    done = run_pyz(runnable_pyz, config, "render")
    assert done.returncode == 0, done.stderr
    assert f"{snippet}: written" in done.stdout
    sentinel_snippet = tmp_path / "sentinel-vip-sentinel.conf"
    assert "sentinel deny-scripts-reconfig yes" in sentinel_snippet.read_text()
    assert f"{snippet}: up to date" in run_pyz(runnable_pyz, config, "render").stdout
    # keepalived accepts it
    install_keepalived_conf(config)
    test = subprocess.run(
        ["keepalived", "-t", "-f", str(load(config).keepalived_config_file)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (test.stdout + test.stderr).strip() == ""
    # an admin's own file is never replaced
    snippet.write_text("# my own\n")
    refused = run_pyz(runnable_pyz, config, "render")
    assert refused.returncode == ExitCode.NOT_GENERATED
    assert "not written by sentinel-vip render" in refused.stderr
    assert snippet.read_text() == "# my own\n"


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_from_a_real_check(runnable_pyz, shared, tmp_path):
    prom = tmp_path / "sentinel-vip.prom"
    config_path = admin_config(shared, 0, tmp_path, **{"metrics.textfile": str(prom)})
    assert run_pyz(runnable_pyz, config_path, "check").returncode == ExitCode.OK
    config = load(config_path)
    metrics.on_transition(config, "MASTER")
    text = prom.read_text()
    assert 'sentinel_vip_check_ok{instance_name="sentinel_vip"} 1' in text
    assert 'sentinel_vip_check_code{instance_name="sentinel_vip"} 0' in text
    assert 'sentinel_vip_vip_held{instance_name="sentinel_vip"} 0' in text
    assert 'sentinel_vip_transitions_total{instance_name="sentinel_vip"} 1' in text
    assert 'sentinel_vip_keepalived_master{instance_name="sentinel_vip"} 1' in text


@pytest.fixture(autouse=True)
def _need_keepalived():
    if not shutil.which("keepalived"):
        pytest.skip("keepalived not installed")
