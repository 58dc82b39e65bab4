"""Hostile Sentinels and a hostile local Redis on loopback, against the built pyz run as
keepalived runs it. The local Redis is a real redis-server that is master: whatever the
fake Sentinels say, check must fail closed within its deadline and notify must never
demote on a bad answer. keepalived's SIGTERM must end a run promptly with nothing torn."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest
from harden import assert_clean_failure, history_records, start_pyz, temp_leftovers
from hostile import drip, huge_reply, sends, sentinel

from sentinel_vip.errors import ExitCode
from support.config import node_table, write_config, write_private
from support.resp_server import FakeServer, answering, array, silent
from support.servers import run_pyz, wait_for

CHECK_DEADLINE = 0.8
NOTIFY_DEADLINE = 2.0
# Interpreter start-up and teardown on a loaded CI machine, on top of the run's own deadline.
STARTUP_SLACK = 1.5
VIP = "127.0.0.99"
NOTIFY_BACKUP = ("notify", "INSTANCE", "VI_1", "BACKUP", "100")

HOSTILE = {
    "accepts and never answers": silent,
    "closes mid-reply": sends(b"*2\r\n$9\r\n127.0"),
    "closes before a reply": sends(b""),
    "garbage": sends(b"\x00\xffHELLO garbage\r\n\x1b[2J"),
    "huge reply": huge_reply(),
    "huge bulk length": sends(b"$99999999999\r\n", then_close=False),
    "negative array length": sends(b"*-7\r\n"),
    "deep nesting": sends(b"*1\r\n" * 64 + b":1\r\n"),
    "slow drip": drip(array("127.0.0.1", "6379"), every=0.3),
    "ERR reply": sends(b"-ERR no such command\r\n"),
    "NOPERM reply": sends(b"-NOPERM this user has no permissions\r\n"),
    "RESP3 push": sends(b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"),
    "RESP3 attribute": sends(b"|1\r\n+key\r\n+val\r\n*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"),
    "RESP3 map": sends(b"%1\r\n+ip\r\n+127.0.0.1\r\n"),
    "wrong shape (3 items)": sends(array("127.0.0.1", "6379", "x")),
    "port out of range": sends(array("127.0.0.1", "70000")),
    "port not a number": sends(array("127.0.0.1", "6379; rm -rf /")),
    "empty host": sends(array("", "6379")),
    "integer instead of array": sends(b":42\r\n"),
}


@pytest.fixture
def node(workdir, local_redis, syslog):
    """Build a config for the real local Redis and three given fake Sentinels."""
    servers = []
    password_file = write_private(
        os.path.join(workdir, "redis.password"), local_redis.admin_password + "\n"
    )

    def make(*behaviours, redis_port=None, **overrides):
        fakes = [FakeServer(b) for b in behaviours]
        servers.extend(fakes)
        table = node_table(
            workdir, redis_port or local_redis.port, [f.address for f in fakes], syslog.path
        )
        table["redis"]["password_file"] = password_file
        table["check"]["deadline"] = CHECK_DEADLINE
        table["notify"]["deadline"] = NOTIFY_DEADLINE
        table["vip"] = {"address": VIP}
        for dotted, value in overrides.items():
            section, key = dotted.split("__")
            table.setdefault(section, {})[key] = value
        return write_config(os.path.join(workdir, "c.toml"), table), fakes

    make.state = os.path.join(workdir, "state")
    make.history = os.path.join(workdir, "state", "history.jsonl")
    make.track = os.path.join(workdir, "state", "track")
    try:
        yield make
    finally:
        for fake in servers:
            fake.stop()
        if local_redis.call("ROLE")[0] != "master":  # keep one test's failure its own
            local_redis.call("REPLICAOF", "NO", "ONE")


def still_master(local_redis) -> None:
    role = local_redis.call("ROLE")
    assert role[0] == "master", f"the local Redis was demoted: {role}"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_check_fails_closed_within_its_deadline(runnable_pyz, node, local_redis, case):
    config, _ = node(HOSTILE[case], HOSTILE[case], sentinel("127.0.0.1", local_redis.port))
    run = run_pyz(runnable_pyz, config, "check")
    assert_clean_failure(run, ExitCode.NO_MAJORITY)
    assert run.elapsed < CHECK_DEADLINE + STARTUP_SLACK, run
    with open(node.track) as fh:
        assert fh.read() == "0\n"
    assert not temp_leftovers(node.state)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_notify_never_demotes_on_a_bad_answer(runnable_pyz, node, local_redis, case):
    config, _ = node(HOSTILE[case], HOSTILE[case], sentinel("127.0.0.1", local_redis.port + 1))
    run = run_pyz(runnable_pyz, config, *NOTIFY_BACKUP)
    assert run.returncode == ExitCode.OK, run
    assert run.elapsed < NOTIFY_DEADLINE + STARTUP_SLACK, run
    still_master(local_redis)
    (record,) = history_records(node.history)
    assert record["action"] == "none", record


@pytest.mark.parametrize(
    "named, code",
    [
        (VIP, ExitCode.IDENTITY),  # the VIP is local on whichever node holds it
        ("0.0.0.0", ExitCode.IDENTITY),  # a listening wildcard is nobody
        ("10.255.255.1", ExitCode.OTHER_MASTER),  # never contacted by check
    ],
)
def test_sentinels_naming_a_non_node(runnable_pyz, node, local_redis, named, code):
    config, _ = node(*[sentinel(named, local_redis.port)] * 3)
    run = run_pyz(runnable_pyz, config, "check")
    assert_clean_failure(run, code)
    if code == ExitCode.IDENTITY:
        notify = run_pyz(runnable_pyz, config, *NOTIFY_BACKUP)
        assert notify.returncode == ExitCode.OK, notify
        still_master(local_redis)
        assert history_records(node.history)[-1]["action"] == "none"


@pytest.mark.parametrize(
    "master_reply",
    [b"", b"-ERR boom\r\n", b"\x00garbage\r\n", array("flags"), b"*-1\r\n"],
    ids=["hangs", "ERR", "garbage", "odd field count", "nil"],
)
def test_no_demotion_without_confirmed_sentinel_master_state(
    runnable_pyz, node, local_redis, master_reply
):
    """A majority names another node, but SENTINEL MASTER (is a failover running?) cannot be
    read: the 'never fight Sentinel' rule cannot be checked, so nothing is touched."""
    other = sentinel("127.0.0.1", local_redis.port + 1, master_reply=master_reply)
    config, _ = node(other, other, other)
    run = run_pyz(runnable_pyz, config, *NOTIFY_BACKUP)
    assert run.returncode == ExitCode.OK, run
    assert run.elapsed < NOTIFY_DEADLINE + STARTUP_SLACK, run
    still_master(local_redis)
    assert history_records(node.history)[-1]["action"] == "none"


@pytest.mark.parametrize(
    "case, code",
    [
        ("accepts and never answers", ExitCode.REDIS_UNREACHABLE),
        ("closes mid-reply", ExitCode.REDIS_UNREACHABLE),
        ("garbage", ExitCode.REDIS_UNREACHABLE),
        ("huge reply", ExitCode.REDIS_UNREACHABLE),
        ("slow drip", ExitCode.REDIS_UNREACHABLE),
        ("ERR reply", ExitCode.REDIS_UNREACHABLE),
        ("NOPERM reply", ExitCode.REDIS_AUTH),
        ("RESP3 push", ExitCode.REDIS_UNREACHABLE),
    ],
)
def test_hostile_local_redis(runnable_pyz, node, local_redis, case, code):
    fake = FakeServer(HOSTILE[case])
    try:
        good = sentinel("127.0.0.1", fake.port)
        config, _ = node(good, good, good, redis_port=fake.port)
        run = run_pyz(runnable_pyz, config, "check")
        assert_clean_failure(run, code)
        assert run.elapsed < CHECK_DEADLINE + STARTUP_SLACK, run
    finally:
        fake.stop()


def wait_exit(proc, timeout: float):
    try:
        proc.wait(timeout=timeout)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def test_sigterm_ends_check_promptly_and_fails_the_track_file(runnable_pyz, node):
    config, fakes = node(silent, silent, silent, check__deadline=30)
    write_private(node.track, "1\n", 0o644)
    proc = start_pyz(runnable_pyz, config, "check")
    for fake in fakes:
        assert fake.wait_accepted(10), "the check never connected"
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)  # keepalived signals the script's process group
    wait_exit(proc, 5)
    assert time.monotonic() - sent < 1.0
    assert proc.returncode == ExitCode.TERMINATED, proc.stderr.read()
    with open(node.track) as fh:
        assert fh.read() == "0\n"  # what was true before is no longer known: fail closed
    assert not temp_leftovers(node.state)


def seed_history(path: str, lines: int) -> None:
    with open(path, "w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"instance": "VI_1", "to": "BACKUP", "seq": i}) + "\n")


def test_sigterm_during_notify_leaves_history_whole(runnable_pyz, node):
    config, fakes = node(silent, silent, silent, notify__deadline=30)
    seed_history(node.history, 5)
    proc = start_pyz(runnable_pyz, config, *NOTIFY_BACKUP)
    for fake in fakes:
        assert fake.wait_accepted(10)
    os.killpg(proc.pid, signal.SIGTERM)
    wait_exit(proc, 5)
    assert proc.returncode == ExitCode.TERMINATED
    assert len(history_records(node.history)) == 5
    assert not temp_leftovers(node.state)


def test_sigterm_at_random_moments_never_tears_a_file(runnable_pyz, node, local_redis):
    """Killed anywhere (probing, appending, trimming the history, writing state): every file
    is whole afterwards. The kill moments are chosen at random on purpose."""
    vip = sentinel(VIP, local_redis.port)
    config, _ = node(vip, vip, vip, paths__history_max_lines=10)
    seed_history(node.history, 11)
    rng = random.Random(7)
    outcomes = set()
    for i in range(20):
        args = NOTIFY_BACKUP if i % 2 else ("check",)
        proc = start_pyz(runnable_pyz, config, *args)
        time.sleep(rng.uniform(0.0, 0.25))  # the moment to kill, not a wait for a condition
        os.killpg(proc.pid, signal.SIGTERM)
        wait_exit(proc, 5)
        outcomes.add(proc.returncode)
        assert proc.returncode in (0, ExitCode.IDENTITY, ExitCode.TERMINATED, -signal.SIGTERM)
        history_records(node.history)
        assert not temp_leftovers(node.state)
        for name in ("check.json", "track"):
            path = os.path.join(node.state, name)
            if os.path.exists(path):
                with open(path) as fh:
                    text = fh.read()
                if name == "check.json":
                    json.loads(text)
                else:
                    assert text in ("0\n", "1\n")
    assert ExitCode.TERMINATED in outcomes or -signal.SIGTERM in outcomes
    still_master(local_redis)


def test_hung_sentinels_do_not_stall_notify_past_its_deadline(runnable_pyz, node, local_redis):
    config, fakes = node(silent, silent, silent)
    run = run_pyz(runnable_pyz, config, *NOTIFY_BACKUP)
    assert run.returncode == ExitCode.OK, run
    assert run.elapsed < NOTIFY_DEADLINE + STARTUP_SLACK, run
    assert all(fake.wait_accepted(0) for fake in fakes), "every Sentinel was asked"
    still_master(local_redis)
    assert "no sentinel majority" in history_records(node.history)[-1]["reason"]


# -- issue 10, case 4: peer text reaches logs and terminals escaped ---------------------------

FORGED = "\n<30>Dec  1 00:00:00 sentinel-vip[1]: event=check verdict=ok code=0\x1b[2J\x07\u2028"


@answering
def evil_errors(conn, server, cmd):
    """Every command answered with an error whose text carries control characters."""
    conn.sendall(f"-ERR evil{FORGED}\r\n".encode())


def assert_one_clean_line_each(lines, where):
    for line in lines:
        body = line.split(": ", 1)[-1]  # after syslog's <pri>stamp ident[pid]:
        assert body.isprintable(), f"{where}: raw control character in {line!r}"
        assert "\x1b" not in line and "\n" not in line, f"{where}: {line!r}"


def test_control_characters_from_sentinels_are_never_printed_raw(
    runnable_pyz, node, local_redis, syslog
):
    """Before: a Sentinel naming '10.0.0.9\\n<30>... event=check verdict=ok ...\\x1b[2J' put a
    forged syslog line and terminal escape codes into check's syslog message, its stdout
    and status output. Now such a host is a protocol error, and every peer text (error
    replies included) is shown escaped in logs, stdout, status and doctor."""
    named = sentinel(f"10.0.0.9{FORGED}", 6379, myid=f"{'a' * 39}\x1b")
    hostile_host = sentinel(f"10.0.0.9{FORGED}", 6379)
    config, _ = node(named, hostile_host, evil_errors)
    run = run_pyz(runnable_pyz, config, "check")
    assert run.returncode == ExitCode.NO_MAJORITY, run.stdout
    assert run.stdout.count("\n") == 1 and run.stdout[:-1].isprintable(), run.stdout
    assert "protocol=3" in run.stdout
    for command in (("status",), ("doctor",)):
        shown = run_pyz(runnable_pyz, config, *command)
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout, command
        for line in shown.stdout.splitlines():
            assert line.isprintable() and not line.startswith("<30>"), (command, line)
        assert "evil" in shown.stdout and "\\x1b[2J" in shown.stdout, shown.stdout
    wait_for(lambda: any("event=check " in line for line in syslog.lines()), 5, "check log")
    assert_one_clean_line_each(syslog.lines(), "syslog")
