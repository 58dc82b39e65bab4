"""Secrets audit: run every command that exists (check, notify with a demotion, watch,
status, doctor) with distinctive passwords for Redis and Sentinel, also with wrong ones,
then search everything the program wrote and every process command line seen meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

from harden import start_pyz

from sentinel_vip.errors import ExitCode
from support.config import write_private
from support.servers import KEEPALIVED_ENV, run_pyz, wait_for


class CmdlineSampler:
    """Reads /proc/*/cmdline over and over until stopped; keeps every distinct one."""

    def __init__(self) -> None:
        self.seen: set = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        self.seen.add(fh.read())
                except OSError:
                    continue
            self.samples += 1
            self._stop.wait(0.002)

    def __enter__(self) -> CmdlineSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def commands(pyz) -> set:
    done = subprocess.run([str(pyz), "--help"], capture_output=True, text=True, check=False)
    return {word for word in ("watch", "status", "doctor") if f"    {word} " in done.stdout}


def test_no_password_anywhere(runnable_pyz, cluster, tmp_path):
    wrong_redis = "WRONG-redis-" + os.urandom(6).hex()
    wrong_sentinel = "WRONG-sentinel-" + os.urandom(6).hex()
    secrets = [cluster.redis_password, cluster.sentinel_password, wrong_redis, wrong_sentinel]
    outputs: list = []
    hook_dump = os.path.join(cluster.tmpdir, "hook-env")

    def run(config, *args, **kw):
        done = run_pyz(runnable_pyz, config, *args, **kw)
        outputs.append(f"{args}: rc={done.returncode}\n{done.stdout}{done.stderr}")
        return done

    with CmdlineSampler() as sampler:
        master = cluster.write_config(0)
        assert run(master, "check").returncode == ExitCode.OK
        # A hook that records everything it is given: a secret must not reach it either.
        hook = os.path.join(cluster.tmpdir, "node-2", "notify.d", "10-dump")
        stale = cluster.write_config(2)
        write_private(hook, f'#!/bin/sh\nenv >> {hook_dump}\necho "$@" >> {hook_dump}\n', 0o700)
        cluster.redis_call(2, "REPLICAOF", "NO", "ONE")
        assert run(stale, "check").returncode == ExitCode.OTHER_MASTER
        assert run(stale, "notify", "INSTANCE", "VI_1", "BACKUP", "100").returncode == 0
        wait_for(lambda: cluster.redis_call(2, "ROLE")[0] == "slave", 10, "the demotion")
        assert run(stale, "notify", "backup").returncode == 0

        # Inline passwords (not files), and wrong ones: error messages must not echo them.
        def path(name):
            return os.path.join(cluster.tmpdir, "node-1", f"{name}.toml")

        inline = cluster.write_config(1, path("inline"), **{
            "redis.password_file": None, "redis.password": cluster.redis_password,
            "sentinel.password_file": None, "sentinel.password": cluster.sentinel_password,
        })  # fmt: skip
        assert run(inline, "check").returncode == ExitCode.NOT_MASTER
        bad_redis = cluster.write_config(1, path("bad-redis"), **{"redis.password_file": None,
                                               "redis.password": wrong_redis})  # fmt: skip
        assert run(bad_redis, "check").returncode == ExitCode.REDIS_AUTH
        assert run(bad_redis, "notify", "INSTANCE", "VI_1", "FAULT", "0").returncode == 0
        wrong_sentinel_pw = {"sentinel.password_file": None, "sentinel.password": wrong_sentinel}
        bad_sentinel = cluster.write_config(0, path("bad-sentinel"), **wrong_sentinel_pw)
        assert run(bad_sentinel, "check").returncode == ExitCode.NO_MAJORITY
        both_set = cluster.write_config(1, path("both"), **{"redis.password": wrong_redis})
        assert run(both_set, "check").returncode == ExitCode.CONFIG

        available = commands(runnable_pyz)
        for command in sorted(available & {"status", "doctor"}):
            for config in (master, bad_redis, bad_sentinel):
                done = run(config, command, timeout=60)
                assert done.returncode != ExitCode.INTERNAL, done
        if "watch" in available:
            proc = start_pyz(runnable_pyz, master, "watch")
            wait_for(lambda: any("watch_start" in line for line in cluster.syslog_lines()), 15,
                     "watch to start")  # fmt: skip
            os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
            outputs.append(f"watch: rc={proc.returncode}\n{out}{err}")

    assert sampler.samples > 10
    written = []
    for node in sorted(os.listdir(cluster.tmpdir)):
        if not node.startswith("node-"):
            continue  # the servers' own dirs hold their configs, with passwords by design
        for dirpath, _, files in os.walk(os.path.join(cluster.tmpdir, node)):
            for name in files:
                path = os.path.join(dirpath, name)
                if name.endswith(".toml") or name == "10-dump":
                    continue  # our config (inline passwords on purpose) and the hook itself
                with open(path, "rb") as fh:
                    written.append((path, fh.read()))
    with open(hook_dump, "rb") as fh:
        written.append((hook_dump, fh.read()))
    assert any(p.endswith("history.jsonl") for p, _ in written)
    assert any(p.endswith("check.json") for p, _ in written)
    logs = "\n".join(cluster.syslog_lines())
    assert "event=notify" in logs and "event=check" in logs

    for secret in secrets:
        assert secret not in logs, f"secret in syslog: {secret[:6]}..."
        for output in outputs:
            assert secret not in output, f"secret in output: {output[:300]}"
        for path, data in written:
            assert secret.encode() not in data, f"secret in {path}"
        for cmdline in sampler.seen:
            assert secret.encode() not in cmdline, f"secret on a command line: {cmdline[:60]!r}"
    assert KEEPALIVED_ENV  # the runs above used a bare environment, as keepalived does
