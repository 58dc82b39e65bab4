"""The built zipapp, run exactly as keepalived runs it, against real Redis and Sentinels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from sentinel_vip.errors import ExitCode
from support.servers import run_pyz, wait_for


def check_lines(cluster):
    return [line for line in cluster.syslog_lines() if "event=check " in line]


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def test_check_passes_on_the_master_only(runnable_pyz, shared):
    codes = []
    for i in range(3):
        done = run_pyz(runnable_pyz, shared.write_config(i), "check")
        assert done.stderr == ""
        codes.append(done.returncode)
    assert codes == [ExitCode.OK, ExitCode.NOT_MASTER, ExitCode.NOT_MASTER]
    assert read(shared.write_config(0).replace("sentinel-vip.toml", "track")) == "1\n"
    assert read(shared.write_config(1).replace("sentinel-vip.toml", "track")) == "0\n"


def test_check_logs_only_when_the_verdict_changes(runnable_pyz, cluster):
    config = cluster.write_config(0)
    for _ in range(3):
        assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    # The syslog listener receives datagrams asynchronously; wait for the first one.
    wait_for(lambda: check_lines(cluster), 5, "a check line in syslog")
    cluster.stop_sentinel(0)
    cluster.stop_sentinel(1)
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.NO_MAJORITY
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.NO_MAJORITY
    wait_for(lambda: len(check_lines(cluster)) >= 2, 5, "two check lines")
    lines = check_lines(cluster)
    assert len(lines) == 2, lines
    assert "verdict=ok" in lines[0] and "verdict=fail" in lines[1]
    assert "code=8" in lines[1] and "was=ok" in lines[1]


def test_a_second_standalone_master_is_not_named(runnable_pyz, cluster, tmp_path):
    """It says role:master, like a returning old master: the classic check would pass."""
    replica = 2
    cluster.redis_call(replica, "REPLICAOF", "NO", "ONE")
    assert cluster.redis_call(replica, "ROLE")[0] == "master"
    done = run_pyz(runnable_pyz, cluster.write_config(replica), "check")
    assert done.returncode == ExitCode.OTHER_MASTER
    assert f"127.0.0.1:{cluster.redis_ports[0]}" in done.stdout


def test_check_fails_closed_when_most_sentinels_are_down(runnable_pyz, cluster):
    cluster.stop_sentinel(1)
    cluster.stop_sentinel(2)
    done = run_pyz(runnable_pyz, cluster.write_config(0), "check")
    assert done.returncode == ExitCode.NO_MAJORITY


def test_grace_keeps_the_vip_briefly_then_fails_closed(runnable_pyz, cluster):
    config = cluster.write_config(0, **{"sentinel.no_majority_grace": 2})
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    cluster.stop_sentinel(1)
    cluster.stop_sentinel(2)
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    wait_for(
        lambda: run_pyz(runnable_pyz, config, "check").returncode == ExitCode.NO_MAJORITY,
        10,
        "the grace to expire",
    )
    assert any("grace" in line and "level" not in line for line in cluster.syslog_lines())


def test_check_returns_within_its_deadline_when_redis_hangs(runnable_pyz, cluster):
    config = cluster.write_config(0, **{"check.deadline": 0.5})
    cluster.sigstop(0)
    try:
        started = time.monotonic()
        done = run_pyz(runnable_pyz, config, "check")
        elapsed = time.monotonic() - started
    finally:
        cluster.sigcont(0)
    assert done.returncode == ExitCode.REDIS_UNREACHABLE
    # A safety bound (deadline + interpreter start), not a benchmark.
    assert elapsed < 2.0, elapsed


def test_sigterm_ends_the_check_promptly_and_fails_closed(runnable_pyz, cluster):
    config = cluster.write_config(0, **{"check.deadline": 20})
    track = config.replace("sentinel-vip.toml", "track")
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    assert read(track) == "1\n"
    cluster.sigstop(0)
    try:
        proc = subprocess.Popen(
            [str(runnable_pyz), "--config", config, "check"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: _connected_to(proc.pid, cluster.redis_ports[0]), 5, "check to connect")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=3)
    finally:
        cluster.sigcont(0)
    assert proc.returncode == ExitCode.TERMINATED
    assert "Traceback" not in err
    assert read(track) == "0\n"


def _connected_to(pid, port):
    """True once process ``pid`` has a TCP connection to ``port`` (from /proc, no sleeps)."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        }
    except OSError:
        return False
    with open("/proc/net/tcp", encoding="ascii") as fh:
        rows = fh.read().splitlines()[1:]
    for row in rows:
        cols = row.split()
        remote_port = int(cols[2].split(":")[1], 16)
        if remote_port == port and cols[9] in inodes:
            return True
    return False


def test_notify_demotes_a_stale_master_and_leaves_the_real_one_alone(runnable_pyz, cluster):
    old = 0
    new = cluster.redis_index(cluster.failover())
    # Sentinel converts a returning old master itself after ~8 s; so that this test sees
    # our demotion and not Sentinel's, Sentinel's user (default) may no longer REPLICAOF
    # on the old master while sentinel-vip connects as its own ACL user.
    # The old master comes back believing it is master (what a node that was cut off or
    # restarted from an old config says).
    cluster.redis_call(old, "REPLICAOF", "NO", "ONE")
    cluster.redis_call(
        old, "ACL", "SETUSER", "svip", "on", f">{cluster.redis_password}", "+@all", "~*", "&*"
    )
    cluster.redis_call(old, "ACL", "SETUSER", "default", "-replicaof", "-slaveof")
    assert cluster.redis_call(old, "ROLE")[0] == "master"
    # notify checks the target with the same user (role master, its run_id): the config's
    # Redis user exists on every node.
    cluster.redis_call(
        new, "ACL", "SETUSER", "svip", "on", f">{cluster.redis_password}", "+@all", "~*", "&*"
    )
    # notify demotes only to a master whose run_id the Sentinels have read (after a switch,
    # at their next INFO of it): before that, it refuses (test_identity_safety).
    cluster.master_run_id_known()

    config = cluster.write_config(old, **{"redis.username": "svip"})
    done = run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert done.returncode == 0, done.stderr
    role = cluster.redis_call(old, "ROLE")
    assert role[0] == "slave", [line for line in cluster.syslog_lines() if "notify" in line]
    assert int(role[2]) == cluster.redis_ports[new]
    history = cluster.write_config(old).replace("sentinel-vip.toml", "history.jsonl")
    record = json.loads(read(history).splitlines()[-1])
    assert record["action"] == "demoted", f"{record['action']}: {record['reason']}"
    assert record["to"] == "BACKUP" and record["instance"] == "VI_1"
    assert record["sentinel_master"] == f"127.0.0.1:{cluster.redis_ports[new]}"

    done = run_pyz(
        runnable_pyz, cluster.write_config(new), "notify", "INSTANCE", "VI_1", "FAULT", "0"
    )
    assert done.returncode == 0, done.stderr
    assert cluster.redis_call(new, "ROLE")[0] == "master"
    history = cluster.write_config(new).replace("sentinel-vip.toml", "history.jsonl")
    record = json.loads(read(history).splitlines()[-1])
    assert record["action"] == "none"
    assert "never demote the master the sentinels name" in record["reason"]


def test_notify_touches_nothing_without_a_sentinel_majority(runnable_pyz, cluster):
    cluster.redis_call(2, "REPLICAOF", "NO", "ONE")
    cluster.stop_sentinel(0)
    cluster.stop_sentinel(1)
    done = run_pyz(runnable_pyz, cluster.write_config(2), "notify", "backup", "VI_1")
    assert done.returncode == 0, done.stderr
    assert cluster.redis_call(2, "ROLE")[0] == "master"
    assert any("no sentinel majority" in line for line in cluster.syslog_lines())


def test_notify_runs_hooks_with_the_transition(runnable_pyz, shared, tmp_path):
    config = shared.write_config(1)
    hooks_dir = config.replace("sentinel-vip.toml", "notify.d")
    out = tmp_path / "hook.out"
    hook = os.path.join(hooks_dir, "10-record")
    with open(hook, "w", encoding="utf-8") as fh:
        fh.write(f'#!/bin/sh\necho "$SENTINEL_VIP_STATE $SENTINEL_VIP_PREVIOUS_STATE" >> {out}\n')
    os.chmod(hook, 0o755)
    try:
        run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_9", "BACKUP", "100")
        run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_9", "FAULT", "100")
    finally:
        os.unlink(hook)
    assert [line.strip() for line in out.read_text().splitlines()] == ["BACKUP", "FAULT BACKUP"]


def test_bad_notify_arguments_are_a_usage_error(runnable_pyz, shared):
    done = run_pyz(runnable_pyz, shared.write_config(0), "notify", "INSTANCE", "VI_1", "WEIRD")
    assert done.returncode == ExitCode.USAGE
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[redis\nport = 1\n", "line 1"),
        ("master_name = 'x'\n[sentinel]\nadresses = []\n", "did you mean"),
    ],
)
def test_bad_config_is_one_clear_line(runnable_pyz, tmp_path, content, needle):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    done = run_pyz(runnable_pyz, str(path), "check")
    assert done.returncode == ExitCode.CONFIG
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_secret_on_any_command_line_or_in_what_we_write(runnable_pyz, cluster):
    secrets = (cluster.redis_password, cluster.sentinel_password)
    configs = [cluster.write_config(i) for i in range(3)]
    procs = [
        subprocess.Popen([str(runnable_pyz), "--config", c, "check"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        for c in configs
    ]  # fmt: skip
    cmdlines = []
    while any(p.poll() is None for p in procs):
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        cmdlines.append(fh.read())
                except OSError:
                    pass
    outputs = [b"".join(p.communicate()) for p in procs]
    cluster.failover()
    for c in configs:
        run_pyz(runnable_pyz, c, "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    written = []
    for i in range(3):
        base = os.path.dirname(configs[i])
        for root, _, files in os.walk(base):
            for name in files:
                if name != "sentinel-vip.toml":
                    with open(os.path.join(root, name), "rb") as fh:
                        written.append(fh.read())
    logs = "\n".join(cluster.syslog_lines()).encode()
    assert logs and written and cmdlines
    for secret in secrets:
        needle = secret.encode()
        assert not any(needle in c for c in cmdlines)
        assert not any(needle in o for o in outputs)
        assert not any(needle in w for w in written)
        assert needle not in logs


def test_check_and_notify_keep_the_metrics_textfile(runnable_pyz, cluster, tmp_path):
    prom = tmp_path / "sentinel_vip.prom"
    config = cluster.write_config(0, **{"metrics.textfile": str(prom)})

    def metric(name):
        for line in prom.read_text().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    assert metric("sentinel_vip_check_ok") == 1
    run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_1", "MASTER", "100")
    run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert metric("sentinel_vip_transitions_total") == 2
    assert metric("sentinel_vip_keepalived_master") == 0
    cluster.stop_sentinel(1)
    cluster.stop_sentinel(2)
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.NO_MAJORITY
    assert metric("sentinel_vip_check_ok") == 0


def test_a_notify_contradicted_by_the_live_vip_is_recorded_as_superseded(runnable_pyz, shared):
    """keepalived runs notify unordered (#1884): a MASTER notify arriving after the VIP was
    already removed again must not become the recorded state."""
    config = shared.write_config(
        1, **{"vip.address": "192.0.2.55", "keepalived.instance": "VI_7"}
    )  # the VIP is not on this host
    history = config.replace("sentinel-vip.toml", "history.jsonl")
    run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_7", "BACKUP", "90")
    run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_7", "MASTER", "90")
    records = [json.loads(line) for line in read(history).splitlines()]
    mine = [r for r in records if r["instance"] == "VI_7"]
    assert [(r["to"], bool(r["superseded"])) for r in mine] == [("BACKUP", False), ("MASTER", True)]
    done = run_pyz(runnable_pyz, config, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["keepalived"]["state"] == "BACKUP"


def test_notify_deadline_is_not_spent_waiting_for_the_lock(runnable_pyz, shared):
    """Issue 11: with another notify holding the lock longer than notify.deadline, the
    record said redis_role=unreachable (the deadline was gone before any probe) and landed
    late. The lock wait has its own bound now, and the record carries the arrival time."""
    import fcntl

    config = shared.write_config(1, **{"notify.deadline": 1.0})
    state_dir = os.path.join(os.path.dirname(config), "state")
    fd = os.open(os.path.join(state_dir, "notify.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = time.time()
        done = run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_LOCK", "BACKUP", "100")
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    history = config.replace("sentinel-vip.toml", "history.jsonl")
    record = [json.loads(line) for line in read(history).splitlines()][-1]
    assert record["instance"] == "VI_LOCK"
    assert record["redis_role"] == "slave", record  # probed, not "unreachable"
    assert record["ts"] - start < 1.0, record  # when keepalived called, not after the wait


def test_notify_records_no_same_state_transition(runnable_pyz, shared):
    """Issue 11: history held BACKUP->BACKUP and MASTER->MASTER records."""
    config = shared.write_config(2)
    for _ in range(2):
        done = run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_SAME", "BACKUP", "100")
        assert done.returncode == 0, done.stderr
    history = config.replace("sentinel-vip.toml", "history.jsonl")
    records = [json.loads(line) for line in read(history).splitlines()]
    assert [r["to"] for r in records if r["instance"] == "VI_SAME"] == ["BACKUP"]
    wait_for(
        lambda: any("repeated=yes" in line for line in shared.syslog_lines()),
        5,
        "the repeated state logged",
    )
