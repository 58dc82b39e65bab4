"""Red team of the watcher's fences (issue 11): a hostile peer, a careless admin, a crash.

Real redis-server and redis-sentinel on loopback (tests/integration/servers.py); hostile
Sentinels are tests/e2e/fake_sentinel.py (the e2e suite's liar) run on a free loopback port;
the built pyz runs ``watch`` as systemd runs it. Master = redis 0, the watcher is node 0's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes.resp import ProbeError, ReplyError, connect
from support.servers import free_ports, wait_for

FAKE = os.path.join(os.path.dirname(__file__), os.pardir, "e2e", "fake_sentinel.py")


class Liar:
    """tests/e2e/fake_sentinel.py on 127.0.0.1: claims a failover of redis 0 in progress
    (before promotion), names it master, publishes +try-failover about it every second."""

    def __init__(self, cluster, myid: str, **spec) -> None:
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        path = os.path.join(cluster.tmpdir, f"liar-{self.port}.json")
        spec = {
            "binds": ["127.0.0.1"],
            "port": self.port,
            "master_name": cluster.master_name,
            "master_ip": "127.0.0.1",
            "master_port": cluster.redis_ports[0],
            "master_runid": run_id(cluster, 0),
            "myid": myid,
            "peers": [],
            "try_every": 1.0,
            "flood_after": 1e9,
            "flood_for": 0,
            "flood_every": 1.0,
            **spec,
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout.readline().startswith("fake sentinel ready")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def run_id(cluster, i: int) -> str:
    return cluster.redis_call(i, "INFO", "server").split("run_id:", 1)[1].split()[0]


def start_watch(pyz, config):
    return subprocess.Popen(
        [str(pyz), "--config", config, "watch"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_watch(proc) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err, err
    return err


def log(cluster) -> str:
    return "\n".join(cluster.syslog_lines())


def events_from(cluster, address: str, channel: str) -> int:
    return sum(
        f"sentinel={address}" in line and f"channel={channel}" in line
        for line in cluster.syslog_lines()
    )


def config_get(cluster, i: int, name: str) -> str:
    return cluster.redis_call(i, "CONFIG", "GET", name)[1]


def write(cluster, key: str, deadline: float = 1.0) -> str:
    """ "OK", or the error a client gets (NOREPLICAS, READONLY, a timeout)."""
    try:
        with connect(cluster.redis_endpoint(0), Deadline(deadline)) as conn:
            return str(conn.call("SET", key, "1"))
    except ReplyError as exc:
        return exc.reply.split()[0] if exc.reply else "error"
    except ProbeError as exc:
        return f"failed: {exc}"


def test_a_liar_borrowing_a_live_sentinels_id_gets_no_brake(runnable_pyz, cluster):
    """The liar gives the id of Sentinel 0, which is alive and answers us too (honestly: no
    failover). The other Sentinels hear Sentinel 0's hellos, so the borrowed id passed for
    a member of the quorum: before, every claim braked the healthy master (CLIENT PAUSE
    WRITE, once per 30 s per borrowed id). Two answers under one id that disagree about the
    claim make no member."""
    honest = cluster.sentinel_call(0, "SENTINEL", "MYID")
    liar = Liar(cluster, honest)
    try:
        addresses = [f"127.0.0.1:{p}" for p in cluster.sentinel_ports[:2]] + [liar.address]
        config = cluster.write_config(
            0, **{"sentinel.addresses": addresses, "watch.reconcile_interval": 3600}
        )
        watch = start_watch(runnable_pyz, config)
        try:
            # Each claim is reviewed as it arrives: three of them logged is three reviews on.
            wait_for(lambda: events_from(cluster, liar.address, "+try-failover") >= 3, 15,
                     "the liar's claims heard")  # fmt: skip
        finally:
            stop_watch(watch)
    finally:
        liar.stop()
    braked = [line for line in cluster.syslog_lines() if "kind=brake" in line]
    assert braked == [], braked


def returning_old_master(cluster) -> int:
    """A failover, then the old master (redis 0) back as a master (REPLICAOF NO ONE: what a
    node cut off through the switch looks like at the heal) while the Sentinels name the
    new one and list redis 0 among its replicas. Returns the new master's index."""
    new = cluster.redis_index(cluster.failover())
    cluster.master_run_id_known()
    wait_for(lambda: "master_link_status:up" in cluster.redis_call(0, "INFO", "replication"),
             20, "redis 0 converted to a replica")  # fmt: skip
    # Only once every Sentinel has read redis 0 as a replica (which also means each has ended
    # the failover: redis 0 joins its replicas at its switch). One that last read it as the
    # master, before the conversion, converts it again as soon as it finds it master, not
    # 8 s later: then the held master is gone before the test sees it (writes: []).
    cluster.sentinels_read_as_replica(0)
    cluster.redis_call(0, "REPLICAOF", "NO", "ONE")
    return new


def test_the_watchers_demotion_keeps_an_admins_later_min_replicas_change(cluster):
    """The tripwire was armed (the admin's min-replicas-to-write 0 kept in fence.json, ours
    2 set); the admin then set 1 by hand. The watcher's demotion at the heal used to restore
    the recorded 0 inside its transaction, and its CONFIG REWRITE saved 0 to redis.conf: the
    admin's value lost. Only our own value is ever put back (as disarm does)."""
    from sentinel_vip.actions import fence
    from sentinel_vip.actions.isolation import Isolation
    from sentinel_vip.actions.local import Local
    from sentinel_vip.config.load import load
    from sentinel_vip.log import Logger
    from sentinel_vip.store import tripwire

    config = load(cluster.write_config(0))
    new = returning_old_master(cluster)
    srv = fence.server(config.redis, Deadline(1.0))
    assert srv.role == "master" and (srv.to_write, srv.max_lag) == (0, 10)
    assert fence.arm(config, srv, (2, 10), Deadline(1.0)).startswith("armed")
    cluster.redis_call(0, "CONFIG", "SET", "min-replicas-to-write", "1")  # the admin

    local = Local(config, Logger(syslog=True, socket_path=cluster.syslog_socket))
    local.wire = tripwire.saved(config)
    isolation = Isolation(local, evaluate=None)

    def demoted() -> bool:  # as the watcher does: again until the guards hold
        isolation.demote(time.monotonic())
        return any("event=demote action=demoted" in line for line in cluster.syslog_lines())

    try:
        wait_for(demoted, 8, "the watcher's demotion")
    except TimeoutError as exc:
        raise AssertionError([line for line in cluster.syslog_lines() if "demote" in line]) from exc
    assert f"master_port:{cluster.redis_ports[new]}" in cluster.redis_call(0, "INFO", "replication")
    assert config_get(cluster, 0, "min-replicas-to-write") == "1"
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        saved = fh.read()
    assert "min-replicas-to-write 0" not in saved and "min-replicas-to-write 1" in saved, saved
    assert tripwire.saved(config) == {}


@pytest.mark.parametrize("place", ["old", "new"])  # state_dir/fence.json, beside the history
@pytest.mark.parametrize(
    "owner, record",
    [
        # Left by another local user while the state directory was open to them (the config
        # now refuses such a directory, not a file planted in it before): a record whose
        # "our values" match the server's defaults.
        (65534, {"to_write": 3, "max_lag": 10, "set_to_write": 0, "set_max_lag": 10}),
        # Ours by owner, but nothing we ever write: we never arm 0, never lower a value.
        (None, {"to_write": 3, "max_lag": 10, "set_to_write": 0, "set_max_lag": 10}),
    ],
)
def test_a_planted_tripwire_record_changes_nothing_in_redis(
    runnable_pyz, cluster, owner, record, place
):
    """fence.json is what the next watcher puts back with CONFIG SET, and CONFIG REWRITE
    when the run_id differs. Before, any record that parsed was applied at start: a local
    user who could write the state directory set min-replicas-to-write 3 on a master with
    two replicas (every write refused) and had it saved to redis.conf."""
    from sentinel_vip.config.load import load
    from sentinel_vip.store import tripwire

    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    loaded = load(config)
    path = tripwire.legacy_path(loaded) if place == "old" else tripwire.path(loaded)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"tripwire": {**record, "run_id": "0" * 40}}, fh)
    if owner is not None:
        if os.geteuid() != 0:
            pytest.skip("needs root to plant a file owned by another user")
        os.chown(path, owner, owner)
    track = os.path.join(os.path.dirname(config), "track")
    watch = start_watch(runnable_pyz, config)
    try:
        wait_for(lambda: os.path.exists(track) and open(track).read() == "1\n", 10,
                 "the watcher's first verdict (after its start-up restore)")  # fmt: skip
    finally:
        stop_watch(watch)
    assert config_get(cluster, 0, "min-replicas-to-write") == "0"
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        assert "min-replicas" not in fh.read()
    assert write(cluster, "k") == "OK"


def test_a_liar_borrowing_a_cut_off_sentinels_id_cannot_keep_the_master_unfenced(
    runnable_pyz, cluster
):
    """The liar (on the master's side of the cut) gives Sentinel 0's id. The master is cut
    off from Sentinels 0 and 1 and from both replicas (SIGSTOP: connections up, nothing
    answers). Links were counted by the id a peer gives, best state first: the liar's live
    link stood in for silent Sentinel 0, two Sentinels instead of three were counted, one
    silent one was no majority, and the isolated master went on acknowledging writes that
    the other side never sees. Links that give one id but disagree are counted apart."""
    honest = cluster.sentinel_call(0, "SENTINEL", "MYID")
    liar = Liar(cluster, honest, try_every=3600.0)
    stopped = [("sentinel", 0), ("sentinel", 1), ("redis", 1), ("redis", 2)]
    try:
        addresses = [f"127.0.0.1:{p}" for p in cluster.sentinel_ports[:2]] + [liar.address]
        config = cluster.write_config(
            0, **{"sentinel.addresses": addresses, "watch.reconcile_interval": 3600}
        )
        watch = start_watch(runnable_pyz, config)
        try:
            wait_for(lambda: log(cluster).count("state=alive") >= 3, 10, "subscribed")
            for kind, i in stopped:
                getattr(cluster, "sigstop_sentinel" if kind == "sentinel" else "sigstop")(i)
            wait_for(lambda: log(cluster).count("state=silent") >= 2, 5, "links silent")
            try:
                wait_for(lambda: "kind=isolation action=hold_writes" in log(cluster), 5, "fence")
            except TimeoutError as exc:
                raise AssertionError(log(cluster).splitlines()[-8:]) from exc
            assert write(cluster, "during").startswith("failed")  # held, not acknowledged
        finally:
            for kind, i in stopped:
                getattr(cluster, "sigcont_sentinel" if kind == "sentinel" else "sigcont")(i)
            stop_watch(watch)
    finally:
        liar.stop()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_flooding_sentinel_is_dropped_not_parsed_forever(runnable_pyz, cluster):
    """A minority peer publishing +sdown about our master as fast as it can (1000 messages
    per send, ~60,000 a second here). Lines and evaluations were rate-limited, but every
    message was parsed: the watcher burnt ~85% of a core for as long as the flood lasted,
    and the isolation fence came 0.1-0.2 s later. A link past FLOOD_LIMIT messages a second
    is dropped as refusing and retried 5 s later."""
    liar = Liar(cluster, "e" * 40, try_every=3600.0, flood_after=0.0, flood_for=1e9,
                flood_every=0.0, flood_batch=1000)  # fmt: skip
    try:
        addresses = [f"127.0.0.1:{p}" for p in cluster.sentinel_ports[:2]] + [liar.address]
        config = cluster.write_config(
            0, **{"sentinel.addresses": addresses, "watch.reconcile_interval": 3600}
        )
        watch = start_watch(runnable_pyz, config)
        try:
            wait_for(lambda: events_from(cluster, liar.address, "+sdown") >= 1, 10, "the flood")
            start, began = cpu_seconds(watch.pid), time.monotonic()
            wait_for(lambda: time.monotonic() > began + 4.0, 5, "four seconds of flood")
            used = cpu_seconds(watch.pid) - start
        finally:
            stop_watch(watch)
    finally:
        liar.stop()
    assert used < 1.0, f"the watcher used {used:.1f} s of CPU in 4 s of flood"


def test_a_second_watcher_on_the_same_state_refuses_to_start(runnable_pyz, cluster):
    """An admin runs `sentinel-vip watch` by hand while the service runs. Both fenced and
    logged, and the second one's start-up restore undid the first one's armed tripwire
    (its fence.json read as "left by a previous watcher") in the middle of a failover.
    One watcher per state directory: the second says why and exits."""
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    first = start_watch(runnable_pyz, config)
    try:
        wait_for(lambda: "event=watch_start" in log(cluster), 10, "the first watcher")
        second = start_watch(runnable_pyz, config)
        try:
            _, err = second.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            stop_watch(second)
            raise AssertionError("a second watcher ran alongside the first") from None
        assert second.returncode == 2 and "another watcher" in err, err
        assert first.poll() is None
    finally:
        stop_watch(first)
    assert log(cluster).count("event=watch_start") == 1


def test_a_replaced_master_held_at_the_heal_is_left_for_sentinel_to_convert(cluster):
    """The watcher's state at the heal of an isolated master: fenced (writes paused), a
    Sentinel majority naming the new master, notify.demote = false (the admin leaves the
    conversion to Sentinel). The pause was renewed until "demoted or named again", and
    CLIENT PAUSE WRITE holds Sentinel's hello PUBLISH and the PINGs queued behind it: in
    namespaces Sentinel never converted the old master (e2e/test_watch_redteam.py; here,
    with down-after 1 s, Sentinel's link resets got it through). Now writes are refused by
    min-replicas-to-write instead (NOREPLICAS at once, not a hung client, nothing
    acknowledged), the pause is lifted, Sentinel converts it, and the admin's value comes
    back once it is a replica."""
    from sentinel_vip.actions.failover import Failover
    from sentinel_vip.actions.isolation import Isolation
    from sentinel_vip.actions.local import Local
    from sentinel_vip.config.load import load
    from sentinel_vip.decision import isolation as rules
    from sentinel_vip.decision.decide import Verdict
    from sentinel_vip.errors import ExitCode
    from sentinel_vip.log import Logger
    from sentinel_vip.store import tripwire

    config = load(cluster.write_config(0, **{"notify.demote": False}))
    returning_old_master(cluster)
    local = Local(config, Logger(syslog=True, socket_path=cluster.syslog_socket))
    replaced = Verdict(False, ExitCode.OTHER_MASTER, "sentinels name another master")
    isolation = Isolation(local, evaluate=lambda: replaced)
    failover = Failover(local, isolation)
    isolation.fenced_since = time.monotonic()  # raised during the cut
    assert local.pause().startswith("paused")
    heard = rules.Reach(3, alive=3)
    writes: list = []

    def watcher_ticks() -> bool:  # what the watcher's loop does, every TICK
        now = time.monotonic()
        isolation.tick(now, heard)
        failover.review_due(now)
        if "role:master" in cluster.redis_call(0, "INFO", "replication"):
            writes.append(write(cluster, f"k{len(writes)}", 0.05)[:20])  # held: timed out
            return False
        return not isolation.fenced and not local.wire

    try:
        # Sentinel converts it 8 s after an INFO (every 10 s) first finds it master: ~10-20 s.
        wait_for(watcher_ticks, 40, "Sentinel's conversion of the old master, fence lifted")
    except TimeoutError as exc:
        raise AssertionError(f"writes: {sorted(set(writes))}") from exc
    assert "OK" not in writes and "NOREPLICAS" in writes, sorted(set(writes))
    assert config_get(cluster, 0, "min-replicas-to-write") == "0"
    assert tripwire.saved(config) == {}
    assert any("+convert-to-slave" in line or "kind=isolation action=lift" in line
               for line in cluster.syslog_lines())  # fmt: skip


def test_a_replica_on_the_masters_side_of_the_cut_does_not_hide_the_isolation(
    runnable_pyz, cluster
):
    """The cut leaves the master with one replica (same rack, or a backup replica on its own
    host) and puts the other replica with the Sentinel majority, which can promote it. The
    replica that still acknowledges proved nothing: writes it helped acknowledge are lost at
    the heal. Before, one acknowledging replica was enough ("not isolated"); now every
    replica the master lists must acknowledge (as Patroni's failsafe mode asks for every
    member), else it is fenced."""
    config = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    watch = start_watch(runnable_pyz, config)
    stopped = [("sentinel", 1), ("sentinel", 2), ("redis", 2)]
    try:
        wait_for(lambda: log(cluster).count("state=alive") >= 3, 10, "subscribed")
        for kind, i in stopped:
            getattr(cluster, "sigstop_sentinel" if kind == "sentinel" else "sigstop")(i)
        try:
            wait_for(lambda: "kind=isolation action=hold_writes" in log(cluster), 5, "fence")
        except TimeoutError as exc:
            raise AssertionError([x for x in log(cluster).splitlines() if "fence" in x]) from exc
        assert write(cluster, "during", 0.5).startswith("failed")
    finally:
        for kind, i in stopped:
            getattr(cluster, "sigcont_sentinel" if kind == "sentinel" else "sigcont")(i)
        stop_watch(watch)


def test_a_watcher_stopping_while_redis_is_down_keeps_the_record(runnable_pyz, cluster):
    """The tripwire armed (admin's 0 kept, ours 2 set) and saved to redis.conf by a CONFIG
    REWRITE (Sentinel's conversion of the old master does one); then Redis is down when
    the watcher stops (a host shutdown stops both). The stop took "unreachable" for
    "changed by the admin meanwhile" and dropped the record: Redis came back with our 2
    from its config file and nothing ever put the admin's 0 back. Now the record stays
    until Redis answers, and the next watcher restores it."""
    from sentinel_vip.actions import fence
    from sentinel_vip.actions.failover import Failover
    from sentinel_vip.actions.local import Local
    from sentinel_vip.config.load import load
    from sentinel_vip.log import Logger
    from sentinel_vip.store import tripwire

    path = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    config = load(path)
    srv = fence.server(config.redis, Deadline(1.0))
    assert fence.arm(config, srv, (2, 10), Deadline(1.0)).startswith("armed")
    cluster.redis_call(0, "CONFIG", "REWRITE")
    cluster.stop_redis(0)

    local = Local(config, Logger(syslog=True, socket_path=cluster.syslog_socket))
    local.wire = tripwire.saved(config)
    Failover(local, None).stop()  # what the watcher's SIGTERM does
    assert tripwire.saved(config) != {}, "the record of the admin's value was dropped"

    cluster.start_redis(0)
    assert config_get(cluster, 0, "min-replicas-to-write") == "2"  # from redis.conf
    watch = start_watch(runnable_pyz, path)
    try:
        wait_for(lambda: config_get(cluster, 0, "min-replicas-to-write") == "0", 10,
                 "the next watcher restores the admin's value")  # fmt: skip
    finally:
        stop_watch(watch)
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        assert "min-replicas-to-write 2" not in fh.read()


@pytest.mark.parametrize("rewritten", [True, False], ids=["rewritten", "not-rewritten"])
def test_a_config_rewrite_while_armed_is_undone_when_the_tripwire_is_lifted(cluster, rewritten):
    """Armed (ours 2, the admin's 0 kept), then a CONFIG REWRITE on the same master (an
    admin's, a config tool's) saved ours to redis.conf; the claim ends and the tripwire is
    lifted normally. The lift put 0 back in Redis but rewrote redis.conf only when the role
    or run_id had changed: the next Redis restart brought back our 2, for good, with no
    record left to undo it. It now compares Redis's count of CONFIG REWRITEs with the one
    taken when arming. With no rewrite meanwhile the admin's file is left as it is."""
    from sentinel_vip.actions import fence
    from sentinel_vip.config.load import load
    from sentinel_vip.store import tripwire

    config = load(cluster.write_config(0, **{"watch.reconcile_interval": 3600}))
    conf = os.path.join(cluster.node_dir(0), "redis.conf")
    srv = fence.server(config.redis, Deadline(1.0))
    assert fence.arm(config, srv, (2, 10), Deadline(1.0)).startswith("armed")
    assert (
        tripwire.saved(config)["rewrites"] >= 0
    )  # Redis 7 counts its CONFIG REWRITEs  # Redis 7 counts its CONFIG REWRITEs
    if rewritten:
        cluster.redis_call(0, "CONFIG", "REWRITE")
    with open(conf, encoding="utf-8") as fh:
        before = fh.read()
    assert ("min-replicas-to-write 2" in before) == rewritten

    srv = fence.server(config.redis, Deadline(1.0))
    result = fence.disarm(config, tripwire.saved(config), srv, Deadline(1.0))
    assert result.startswith("restored min-replicas-to-write=0"), result
    assert ("config_rewrite=ok" in result) == rewritten, result
    with open(conf, encoding="utf-8") as fh:
        after = fh.read()
    assert "min-replicas-to-write 2" not in after
    if not rewritten:
        assert after == before  # nobody rewrote it: neither do we
    cluster.stop_redis(0)
    cluster.start_redis(0)
    assert config_get(cluster, 0, "min-replicas-to-write") == "0"


def test_a_reboot_with_the_tripwire_armed_gives_the_admins_values_back(runnable_pyz, cluster):
    """A claim the watcher cannot trust arms the tripwire (ours 2, the admin's 0 kept); a
    CONFIG REWRITE then saves ours in redis.conf (Sentinel's reconfiguration of a replica
    runs one, and so may an admin); then the host loses power: no watcher stop, /run (the
    state directory, a tmpfs) comes back empty, and Redis starts from its redis.conf with our
    2. The record lived in the state directory: gone with it, and nothing knew the admin's
    value any more: every write refused (NOREPLICAS) whenever two replicas lag, for good.
    The record now lives beside the history (/var/lib), and the next watcher puts the
    admin's values back, in Redis and in redis.conf."""
    import shutil

    from sentinel_vip.config.load import load
    from sentinel_vip.store import tripwire

    liar = Liar(cluster, "e" * 40)  # a minority claim: only the tripwire, as for any claim
    try:
        addresses = [f"127.0.0.1:{p}" for p in cluster.sentinel_ports[:2]] + [liar.address]
        path = cluster.write_config(
            0, **{"sentinel.addresses": addresses, "watch.reconcile_interval": 3600}
        )
        watch = start_watch(runnable_pyz, path)
        try:
            wait_for(lambda: "kind=tripwire action=arm" in log(cluster), 15, "the tripwire")
            assert (config_get(cluster, 0, "min-replicas-to-write"),
                    config_get(cluster, 0, "min-replicas-max-lag")) == ("2", "10")  # fmt: skip
            cluster.redis_call(0, "CONFIG", "REWRITE")
        finally:
            watch.kill()  # the power loss: the watcher restores nothing
            watch.communicate(timeout=10)
    finally:
        liar.stop()
    config = load(path)
    cluster.stop_redis(0, signal.SIGKILL)
    shutil.rmtree(config.state_dir)  # /run after the reboot: systemd-tmpfiles makes it anew
    os.makedirs(config.state_dir, mode=0o700)
    cluster.start_redis(0)
    assert config_get(cluster, 0, "min-replicas-to-write") == "2"  # ours, from redis.conf

    path = cluster.write_config(0, **{"watch.reconcile_interval": 3600})  # the liar is gone
    watch = start_watch(runnable_pyz, path)
    try:
        wait_for(lambda: config_get(cluster, 0, "min-replicas-to-write") == "0", 10,
                 "the watcher at boot restores the admin's value")  # fmt: skip
        wait_for(lambda: tripwire.saved(config) == {}, 5, "the record cleared")
    finally:
        stop_watch(watch)
    assert config_get(cluster, 0, "min-replicas-max-lag") == "10"
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        assert "min-replicas-to-write 2" not in fh.read()
    cluster.stop_redis(0)  # and once more from redis.conf: the admin's value for good
    cluster.start_redis(0)
    assert config_get(cluster, 0, "min-replicas-to-write") == "0"


def test_an_upgrade_with_the_tripwire_armed_restores_the_record_from_the_old_place(
    runnable_pyz, cluster
):
    """The older watcher kept the admin's values in state_dir/fence.json, and a CONFIG
    REWRITE saved ours in redis.conf; the package is upgraded (the watcher restarted, Redis
    too, later). The new watcher finds the record at the old place, restores the admin's
    values (CONFIG REWRITE: another run_id) and drops the old copy."""
    from sentinel_vip.actions import fence
    from sentinel_vip.config.load import load
    from sentinel_vip.store import tripwire

    path = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    config = load(path)
    srv = fence.server(config.redis, Deadline(1.0))
    assert fence.arm(config, srv, (2, 10), Deadline(1.0)).startswith("armed")
    os.rename(tripwire.path(config), tripwire.legacy_path(config))  # where it lived before
    cluster.redis_call(0, "CONFIG", "REWRITE")
    cluster.stop_redis(0)
    cluster.start_redis(0)
    assert config_get(cluster, 0, "min-replicas-to-write") == "2"
    watch = start_watch(runnable_pyz, path)
    try:
        wait_for(lambda: config_get(cluster, 0, "min-replicas-to-write") == "0", 10,
                 "the new watcher restores the admin's value")  # fmt: skip
        wait_for(lambda: not os.path.exists(tripwire.legacy_path(config)), 5, "the old copy gone")
    finally:
        stop_watch(watch)
    assert tripwire.saved(config) == {}
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        assert "min-replicas-to-write 2" not in fh.read()


def test_a_record_found_while_redis_is_down_is_restored_once_it_answers(runnable_pyz, cluster):
    """A whole-site reboot: the watcher starts before Redis (its unit is not ordered after
    redis-server) and before the Sentinels. Its start could not restore the record (Redis
    refused), which then fell to the armed tripwire's release rules: no claim, a majority
    naming this node, every replica back. With the Sentinels still down (or a replica that
    never comes back) our 2 stayed in force, and in redis.conf. A record left behind is
    restored as soon as Redis answers, as it is at a start where Redis is up."""
    from sentinel_vip.actions import fence
    from sentinel_vip.config.load import load
    from sentinel_vip.store import tripwire

    path = cluster.write_config(0, **{"watch.reconcile_interval": 3600})
    config = load(path)
    srv = fence.server(config.redis, Deadline(1.0))
    assert fence.arm(config, srv, (2, 10), Deadline(1.0)).startswith("armed")
    cluster.redis_call(0, "CONFIG", "REWRITE")
    for j in cluster.live_sentinels():
        cluster.stop_sentinel(j, signal.SIGKILL)
    cluster.stop_redis(0, signal.SIGKILL)
    watch = start_watch(runnable_pyz, path)
    try:
        wait_for(lambda: "event=watch_start" in log(cluster), 10, "the watcher started")
        cluster.start_redis(0)
        try:
            wait_for(lambda: config_get(cluster, 0, "min-replicas-to-write") == "0", 10,
                     "the admin's value back once Redis answers")  # fmt: skip
        except TimeoutError as exc:
            raise AssertionError([x for x in log(cluster).splitlines() if "fence" in x]) from exc
    finally:
        stop_watch(watch)
    assert tripwire.saved(config) == {}
    with open(os.path.join(cluster.node_dir(0), "redis.conf"), encoding="utf-8") as fh:
        assert "min-replicas-to-write 2" not in fh.read()
