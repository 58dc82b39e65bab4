"""probe_redis / ask_sentinels against real redis-server and redis-sentinel."""

from __future__ import annotations

import os
import socket
import stat
import time

import pytest

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes.local_redis import probe_redis
from sentinel_vip.probes.sentinel import NOT_WAITED, UNKNOWN_MASTER, ask_sentinels
from support.servers import wait_for

pytestmark = pytest.mark.integration

SLACK = 0.5  # safety margin for "returned within the deadline", not a benchmark


def majority_named(answers, count=2):
    named = [a.master for a in answers if a.answered and a.master is not None]
    return any(named.count(m) >= count for m in named)


# -- probe_redis -----------------------------------------------------------------------------


def test_probe_master(shared):
    facts = probe_redis(shared.redis_endpoint(0), Deadline(2))
    assert (facts.reachable, facts.role, facts.error_kind, facts.error) == (
        True,
        "master",
        None,
        None,
    )


def test_probe_replica_reports_its_master_and_link(shared):
    facts = probe_redis(shared.redis_endpoint(1), Deadline(2))
    assert facts.role == "slave"
    assert (facts.master_host, facts.master_port) == ("127.0.0.1", shared.redis_ports[0])
    assert facts.link_status == "connected"


def test_probe_wrong_password_is_auth(shared):
    facts = probe_redis(shared.redis_endpoint(0, password="not-the-password"), Deadline(2))
    assert facts.error_kind == "auth" and facts.reachable and facts.role is None
    assert "not-the-password" not in facts.error
    assert f"127.0.0.1:{shared.redis_ports[0]}" in facts.error


def test_probe_without_password_is_auth(shared):
    facts = probe_redis(shared.redis_endpoint(0, password=""), Deadline(2))
    assert facts.error_kind == "auth"


def test_probe_acl_user_needs_only_role_and_info(shared):
    from sentinel_vip.probes.endpoint import Endpoint

    port = shared.redis_ports[0]
    acl = ("ACL", "SETUSER")
    shared.redis_call(0, *acl, "svip-probe", "on", ">probe-pw", "-@all", "+role", "+info")
    shared.redis_call(0, *acl, "svip-role", "on", ">role-pw", "-@all", "+role")
    shared.redis_call(0, *acl, "svip-denied", "on", ">denied-pw", "-@all", "+ping")
    try:
        ok = probe_redis(
            Endpoint("127.0.0.1", port, username="svip-probe", password="probe-pw"), Deadline(2)
        )
        assert ok.role == "master" and ok.run_id
        no_info = probe_redis(
            Endpoint("127.0.0.1", port, username="svip-role", password="role-pw"), Deadline(2)
        )
        assert no_info.error_kind == "auth" and "grant +info" in no_info.error
        denied = probe_redis(
            Endpoint("127.0.0.1", port, username="svip-denied", password="denied-pw"),
            Deadline(2),
        )
        assert denied.error_kind == "auth" and "NOPERM" in denied.error
        assert "denied-pw" not in denied.error
    finally:
        shared.redis_call(0, "ACL", "DELUSER", "svip-probe", "svip-role", "svip-denied")


def test_probe_sigstopped_redis_returns_within_deadline(shared):
    shared.sigstop(2)
    try:
        start = time.monotonic()
        facts = probe_redis(shared.redis_endpoint(2), Deadline(0.5))
        elapsed = time.monotonic() - start
    finally:
        shared.sigcont(2)
    assert facts.error_kind == "unreachable" and not facts.reachable
    assert "timed out" in facts.error
    assert elapsed < 0.5 + SLACK


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_probe_stopped_redis_is_unreachable(cluster, sig):
    import signal

    cluster.stop_redis(2, getattr(signal, sig))
    facts = probe_redis(cluster.redis_endpoint(2), Deadline(1))
    assert facts.error_kind == "unreachable" and "refused" in facts.error


# -- ask_sentinels ---------------------------------------------------------------------------


def test_all_sentinels_name_the_master_in_configured_order(shared):
    answers = ask_sentinels(shared.sentinel_endpoints(), "mymaster", Deadline(2))
    assert [a.address for a in answers] == [f"127.0.0.1:{p}" for p in shared.sentinel_ports]
    assert all(a.answered and a.error is None for a in answers)
    assert {a.master for a in answers} == {("127.0.0.1", shared.redis_ports[0])}


def test_unknown_master_name_is_an_answer_without_master(shared):
    answers = ask_sentinels(shared.sentinel_endpoints(), "nosuchmaster", Deadline(2))
    assert all(a.answered and a.master is None for a in answers)
    assert {a.error for a in answers} == {UNKNOWN_MASTER}


def test_wrong_sentinel_password_is_auth(shared):
    answers = ask_sentinels(shared.sentinel_endpoints(password="wrong"), "mymaster", Deadline(2))
    assert all(not a.answered and a.error_kind == "auth" for a in answers)
    assert all("wrong" not in a.error.replace("WRONGPASS", "") for a in answers)


def test_one_sentinel_killed(cluster):
    cluster.stop_sentinel(1)
    answers = ask_sentinels(cluster.sentinel_endpoints(), "mymaster", Deadline(1))
    assert [a.answered for a in answers] == [True, False, True]
    assert answers[1].error_kind == "unreachable" and "refused" in answers[1].error
    assert answers[0].master == answers[2].master == ("127.0.0.1", cluster.redis_ports[0])


def test_sigstopped_sentinel_costs_no_more_than_the_deadline(shared):
    shared.sigstop_sentinel(0)
    try:
        start = time.monotonic()
        answers = ask_sentinels(shared.sentinel_endpoints(), "mymaster", Deadline(0.7))
        elapsed = time.monotonic() - start
    finally:
        shared.sigcont_sentinel(0)
    assert elapsed < 0.7 + SLACK
    assert not answers[0].answered
    assert answers[0].error_kind == "unreachable" and "timed out" in answers[0].error
    assert [a.answered for a in answers[1:]] == [True, True]


def test_early_exit_once_a_majority_agrees(shared):
    shared.sigstop_sentinel(2)
    seen = []

    def enough(so_far):
        seen.append(len(so_far))
        return majority_named(so_far)

    try:
        answers = ask_sentinels(shared.sentinel_endpoints(), "mymaster", Deadline(10), enough)
    finally:
        shared.sigcont_sentinel(2)
    assert answers[2].answered is False and answers[2].error == NOT_WAITED
    assert answers[2].error_kind is None
    assert answers[0].master == answers[1].master == ("127.0.0.1", shared.redis_ports[0])
    assert seen == [1, 2]


def test_answers_follow_a_failover(cluster):
    old = cluster.redis_ports[0]
    new = cluster.failover()
    answers = ask_sentinels(cluster.sentinel_endpoints(), "mymaster", Deadline(2))
    assert {a.master for a in answers} == {("127.0.0.1", new)}
    assert cluster.current_master_port() == new
    demoted = probe_redis(cluster.redis_endpoint(cluster.redis_index(old)), Deadline(2))
    assert (demoted.role, demoted.master_port) == ("slave", new)
    promoted = probe_redis(cluster.redis_endpoint(cluster.redis_index(new)), Deadline(2))
    assert promoted.role == "master"


# -- SENTINEL MASTER and the ids, from the same round trip -------------------------------------


def test_one_round_trip_gives_ids_run_id_and_master_state(shared):
    answers = ask_sentinels(shared.sentinel_endpoints(), "mymaster", Deadline(2))
    run_id = probe_redis(shared.redis_endpoint(0), Deadline(2)).run_id
    assert run_id is not None and len(run_id) == 40
    assert len({a.sentinel_id for a in answers}) == 3
    for j, answer in enumerate(answers):
        assert answer.sentinel_id == shared.sentinel_call(j, "SENTINEL", "MYID")
        assert answer.runid == run_id
        assert answer.about == ("127.0.0.1", shared.redis_ports[0])
        assert answer.flags() == {"master"}
        assert answer.fields["num-other-sentinels"] == "2"
        assert answer.fields["quorum"] == "2"


def test_unknown_name_and_unreachable(cluster):
    cluster.stop_sentinel(0)
    answers = ask_sentinels(cluster.sentinel_endpoints(), "nosuchmaster", Deadline(1))
    assert answers[0].error_kind == "unreachable" and answers[0].flags() == frozenset()
    assert all(a.error == UNKNOWN_MASTER and a.sentinel_id for a in answers[1:])


def test_master_state_shows_a_master_going_down(cluster):
    cluster.sigstop(0)

    def down_flags():
        flags = set()
        for answer in ask_sentinels(cluster.sentinel_endpoints(), "mymaster", Deadline(1)):
            flags |= answer.flags()
        return flags & {"s_down", "o_down", "failover_in_progress"}

    try:
        seen = wait_for(down_flags, 20, "a Sentinel to flag the stopped master")
    finally:
        cluster.sigcont(0)
    assert "s_down" in seen


# -- the fixture itself ----------------------------------------------------------------------


def test_no_secret_on_any_command_line(shared):
    for argv in shared.argv:
        assert len(argv) == 2 and argv[0] in ("redis-server", "redis-sentinel")
        assert argv[1].endswith(".conf") and os.path.isfile(argv[1])
    pids = shared.pids()["redis"] + shared.pids()["sentinel"]
    assert all(pids)
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().decode()
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read().decode()
        for secret in (shared.redis_password, shared.sentinel_password):
            assert secret not in cmdline and secret not in environ


def test_password_files_are_private(shared):
    for path in (shared.redis_password_file, shared.sentinel_password_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_write_config_loads_with_overrides(shared, tmp_path):
    from sentinel_vip.config.load import load

    path = shared.write_config(
        1, str(tmp_path / "svip.toml"), **{"check.deadline": 0.5, "sentinel.agreement": 3}
    )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config = load(path)
    assert config.redis.port == shared.redis_ports[1]
    assert config.redis.password == shared.redis_password
    assert [s.port for s in config.sentinels] == shared.sentinel_ports
    assert all(s.password == shared.sentinel_password for s in config.sentinels)
    assert config.node_addresses == (("127.0.0.1", shared.redis_ports[1]),)
    assert config.check_deadline == 0.5 and config.agreement == 3
    assert config.syslog_socket == shared.syslog_socket
    assert config.state_dir.startswith(shared.tmpdir)
    assert config.history_file.startswith(shared.tmpdir)


def test_syslog_capture(shared):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"<30>sentinel-vip[1]: event=test n=1", shared.syslog_socket)
    lines = wait_for(shared.syslog_lines, 5, "the syslog listener")
    assert lines == ["<30>sentinel-vip[1]: event=test n=1"]
