"""Issue 10: recognise this node and count Sentinels by identity, so no misconfiguration or
lying peer makes us demote the real master or pass on a minority. The built zipapp, run as
keepalived runs it, against real redis-server and redis-sentinel on loopback.

Case 4 (a hostile Sentinel's control characters) is in tests/hardening (a fake server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading

import pytest

from sentinel_vip.errors import ExitCode
from support.cluster import Cluster
from support.servers import run_pyz, wait_for

NOTIFY_FAULT = ("notify", "INSTANCE", "sentinel_vip", "FAULT", "100")
HOSTNAMES = ("sentinel resolve-hostnames yes", "sentinel announce-hostnames yes")


def history(config: str) -> list:
    path = config.replace("sentinel-vip.toml", "history.jsonl")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def track(config: str) -> str:
    with open(config.replace("sentinel-vip.toml", "track"), encoding="utf-8") as fh:
        return fh.read()


def doctor(pyz, config: str) -> dict:
    from sentinel_vip.admin.doctor import parse_report

    done = run_pyz(pyz, config, "doctor")
    return parse_report(done.stdout), done.stdout


def still_master_with(cluster, i: int, key: str) -> None:
    role = cluster.redis_call(i, "ROLE")
    assert role[0] == "master", f"redis {i} was demoted: {role}"
    assert cluster.redis_call(i, "GET", key) == "kept", "the dataset is gone"


@pytest.fixture
def hostname_cluster():
    running = Cluster(monitor_host="localhost", sentinel_lines=HOSTNAMES).start()
    try:
        yield running
    finally:
        running.stop()


# -- case 1: hostname-announcing Sentinels ------------------------------------------------------


def test_hostname_announcing_sentinels_recognise_the_master(runnable_pyz, hostname_cluster):
    """Sentinels name 'localhost:P': node.addresses may say so, and check passes on the
    master only. Before: node.addresses rejected hostnames (exit 3 on every node)."""
    c = hostname_cluster
    assert c.sentinel_call(0, "SENTINEL", "get-master-addr-by-name", c.master_name)[0] == (
        "localhost"
    )
    codes = []
    for i in range(3):
        config = c.write_config(i, **{"node.addresses": [f"localhost:{c.redis_ports[i]}"]})
        done = run_pyz(runnable_pyz, config, "check")
        assert done.stderr == ""
        codes.append(done.returncode)
    assert codes == [ExitCode.OK, ExitCode.NOT_MASTER, ExitCode.NOT_MASTER]
    assert track(c.write_config(0)) == "1\n"


def test_notify_never_demotes_the_master_sentinels_name_by_hostname(runnable_pyz, hostname_cluster):
    """The master's config still says 127.0.0.1:P (the only thing the old code accepted):
    the address does not match 'localhost:P', but the run_id does. Before: check exit 7 and
    notify FAULT ran REPLICAOF localhost P on the master itself."""
    c = hostname_cluster
    c.redis_call(0, "SET", "k", "kept")
    config = c.write_config(0)  # node.addresses = ["127.0.0.1:P0"]
    done = run_pyz(runnable_pyz, config, *NOTIFY_FAULT)
    assert done.returncode == 0, done.stderr
    still_master_with(c, 0, "k")
    (record,) = history(config)
    assert record["action"] == "none"
    assert "never demote the master the sentinels name" in record["reason"]
    check = run_pyz(runnable_pyz, config, "check")
    assert check.returncode == ExitCode.IDENTITY, check.stdout
    assert "add it to node.addresses" in check.stdout
    assert f"localhost:{c.redis_ports[0]}" in check.stdout


def test_a_typo_in_node_addresses_never_demotes_the_master(runnable_pyz, cluster):
    """Before: check exit 7 and notify FAULT made the master a replica of itself."""
    cluster.redis_call(0, "SET", "k", "kept")
    typo = f"127.0.0.1:{cluster.redis_ports[1]}"
    config = cluster.write_config(0, **{"node.addresses": [typo]})
    done = run_pyz(runnable_pyz, config, *NOTIFY_FAULT)
    assert done.returncode == 0, done.stderr
    still_master_with(cluster, 0, "k")
    assert history(config)[-1]["action"] == "none"
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.IDENTITY


# -- case 2: one Sentinel under several names ---------------------------------------------------


def test_aliases_of_one_sentinel_are_a_config_error(runnable_pyz, shared):
    """Before: accepted, and one Sentinel counted as 3 of 3 (check exit 0)."""
    port = shared.sentinel_ports[0]
    aliases = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::ffff:127.0.0.1]:{port}"]
    config = shared.write_config(0, **{"sentinel.addresses": aliases})
    done = run_pyz(runnable_pyz, config, "check")
    assert done.returncode == ExitCode.CONFIG, done.stdout
    assert "each Sentinel once" in done.stderr and "count twice" in done.stderr


@pytest.fixture
def stray(cluster):
    """A stray Sentinel monitoring a standalone Redis under the same master name, reachable
    under two addresses (127.0.0.1 and 127.0.0.2: no alias a config load can see)."""
    running = Cluster(
        replicas=0,
        sentinels=1,
        quorum=1,
        sentinel_bind="127.0.0.1 127.0.0.2",
        passwords=(cluster.redis_password, cluster.sentinel_password),
    ).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_stray_sentinel_under_two_names_never_makes_a_majority(runnable_pyz, cluster, stray):
    """Before: the standalone server passed check while the real master was the master (two
    VIP holders), and notify FAULT on the real master ran REPLICAOF to the stray server,
    wiping the real master's dataset."""
    s = stray.sentinel_ports[0]
    mixed = [f"127.0.0.1:{cluster.sentinel_ports[0]}", f"127.0.0.1:{s}", f"127.0.0.2:{s}"]
    stray_node = stray.write_config(0, **{"sentinel.addresses": mixed})
    real_node = cluster.write_config(0, **{"sentinel.addresses": mixed})
    cluster.redis_call(0, "SET", "k", "kept")

    done = run_pyz(runnable_pyz, stray_node, "check")
    assert done.returncode == ExitCode.NO_AGREEMENT, done.stdout
    assert "duplicate=1" in done.stdout
    assert run_pyz(runnable_pyz, real_node, "check").returncode == ExitCode.NO_AGREEMENT

    done = run_pyz(runnable_pyz, real_node, *NOTIFY_FAULT)
    assert done.returncode == 0, done.stderr
    still_master_with(cluster, 0, "k")
    assert history(real_node)[-1]["action"] == "none"

    found, text = doctor(runnable_pyz, real_node)
    assert found.get("duplicate sentinel") == ["FAIL"], text
    assert f"127.0.0.2:{s} reaches the same Sentinel as 127.0.0.1:{s}" in text
    stray_id = stray.sentinel_call(0, "SENTINEL", "MYID")
    assert f"127.0.0.1:{s}={stray_id[:8]} 127.0.0.2:{s}={stray_id[:8]}" in text


# -- case 3: wrong node.addresses / announce_port -----------------------------------------------


@pytest.mark.parametrize(
    "identity",
    [
        lambda c: {"node.addresses": [f"127.0.0.1:{c.redis_ports[0]}"]},
        lambda c: {"node.addresses": ["127.0.0.1"], "node.announce_port": c.redis_ports[0]},
    ],
    ids=["node.addresses", "announce_port"],
)
def test_a_standalone_master_with_the_masters_identity_fails(runnable_pyz, cluster, identity):
    """node.addresses (or announce_port) copied from the master onto a standalone server.
    Before: check exit 0 there too (two VIP holders), doctor 'ok identity ... is this node'."""
    cluster.redis_call(2, "REPLICAOF", "NO", "ONE")
    config = cluster.write_config(2, **identity(cluster))
    done = run_pyz(runnable_pyz, config, "check")
    assert done.returncode == ExitCode.OTHER_MASTER, done.stdout
    assert "another server" in done.stdout
    found, text = doctor(runnable_pyz, config)
    assert found.get("identity") == ["FAIL"], text
    assert found.get("seen as") == ["FAIL"], text


def test_a_wrong_announce_port_on_the_master_fails_check_and_doctor(runnable_pyz, cluster):
    config = cluster.write_config(
        0, **{"node.addresses": ["127.0.0.1"], "node.announce_port": cluster.redis_ports[0] + 1}
    )
    done = run_pyz(runnable_pyz, config, "check")
    assert done.returncode == ExitCode.IDENTITY, done.stdout
    found, text = doctor(runnable_pyz, config)
    assert found.get("seen as") == ["FAIL"], text
    assert f'node.addresses = ["127.0.0.1:{cluster.redis_ports[0]}"]' in text
    good, text = doctor(runnable_pyz, cluster.write_config(0))
    assert good.get("seen as") == ["ok"] and good.get("identity") == ["ok"], text


# -- case 5: check.json is untrusted ------------------------------------------------------------


@pytest.mark.parametrize("last_agreed", ["1e300", '"x"', "-1e400"])
def test_a_hostile_state_file_gives_no_grace_and_no_crash_loop(runnable_pyz, cluster, last_agreed):
    """Before: 1e300 gave eternal grace (exit 0 with no Sentinel answering); a string or
    -1e400 gave exit 70 on every run, forever (the file was never rewritten)."""
    config = cluster.write_config(0, **{"sentinel.no_majority_grace": 30})
    state = os.path.join(os.path.dirname(config), "state", "check.json")
    cluster.stop_sentinel(1)
    cluster.stop_sentinel(2)
    with open(state, "w", encoding="utf-8") as fh:
        fh.write(f'{{"ok": true, "code": 0, "since": 1, "last_agreed": {last_agreed}}}')
    for _ in range(2):
        done = run_pyz(runnable_pyz, config, "check")
        assert done.returncode == ExitCode.NO_MAJORITY, done.stdout + done.stderr
    with open(state, encoding="utf-8") as fh:
        stored = json.load(fh)
    assert stored["code"] == ExitCode.NO_MAJORITY and "last_agreed" not in stored


# -- case 6: the polled check never overwrites the watcher's newer verdict -----------------------


class Hanging:
    """Accepts connections and answers nothing until released: a Sentinel black hole the
    test controls, and a signal that a check has started asking."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = threading.Semaphore(0)
        self.conns: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.release()

    def release(self) -> None:
        for conn in self.conns:
            conn.close()
        self.listener.close()


def test_a_check_started_before_the_watchers_evaluation_never_overwrites_it(runnable_pyz, cluster):
    """Deterministic: the polled check A takes its stamp, then hangs on two black-holed
    Sentinels; meanwhile the watcher's evaluation B (check.evaluate, as watch calls it)
    starts later and records '1'. When A is released it has only a stale NO_MAJORITY.
    Before: A wrote '0' over B's '1' (the new master lost the VIP for 0.4 s)."""
    from sentinel_vip.actions import check
    from sentinel_vip.config import load
    from sentinel_vip.log import Logger

    holes = [Hanging(), Hanging()]
    try:
        real = f"127.0.0.1:{cluster.sentinel_ports[0]}"
        slow = cluster.write_config(
            0,
            path=os.path.join(cluster.tmpdir, "node-0", "slow.toml"),
            **{"sentinel.addresses": [real, *(h.address for h in holes)], "check.deadline": 20},
        )
        a = subprocess.Popen(
            [str(runnable_pyz), "--config", slow, "check"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        try:
            for hole in holes:  # A has started: its stamp is older than anything after this
                assert hole.accepted.acquire(timeout=20), "the check never asked"
            config = load.load(cluster.write_config(0))
            verdict = check.evaluate(
                config, Logger(syslog=False), deadline=0.3, record_inconclusive=False
            )
            assert verdict.ok, verdict
            assert track(cluster.write_config(0)) == "1\n"
        finally:
            for hole in holes:
                hole.release()
            out, err = a.communicate(timeout=30)
        assert a.returncode == ExitCode.NO_MAJORITY, out + err
    finally:
        for hole in holes:
            hole.release()
    assert track(cluster.write_config(0)) == "1\n"
    wait_for(
        lambda: any("event=check_superseded" in line for line in cluster.syslog_lines()),
        5,
        "the stale verdict to be logged as superseded",
    )


# -- the master restarted in place ----------------------------------------------------------


def test_a_master_restarted_in_place_keeps_passing_before_sentinel_rereads_it(
    runnable_pyz, cluster, tmp_path
):
    """Sentinel keeps the old process' run_id until its next INFO of the master (every 10 s):
    the check recognises its own restart by the run_id it had at its last agreement, and a
    node that was never agreed (no state) stays strict."""
    config = cluster.write_config(0)
    assert run_pyz(runnable_pyz, config, "check").returncode == ExitCode.OK
    old = cluster.master_run_id_known()
    fresh_state = tmp_path / "fresh-state"
    fresh_state.mkdir(mode=0o700)
    never_agreed = cluster.write_config(
        0, path=str(tmp_path / "never-agreed.toml"), **{"paths.state_dir": str(fresh_state)}
    )
    for _attempt in range(3):
        cluster.stop_redis(0)
        cluster.start_redis(0)
        wait_for(lambda: cluster.redis_call(0, "ROLE")[0] == "master", 10, "redis 0 back")
        restarted = run_pyz(runnable_pyz, config, "check")
        strict = run_pyz(runnable_pyz, never_agreed, "check")
        if all(cluster.master_info(j).get("runid") == old for j in cluster.live_sentinels()):
            break  # both checks ran while every Sentinel still reported the old run_id
    else:
        pytest.fail("the Sentinels read the restarted master's INFO within 3 restarts")
    assert restarted.returncode == ExitCode.OK, restarted.stdout
    assert "restarted" in restarted.stdout
    assert strict.returncode == ExitCode.OTHER_MASTER, strict.stdout
