"""Several masters per node (issue 16): three masters on three nodes, one VIP each (gamma's is
IPv6), one keepalived with three vrrp_instances and one watcher per node.

- kill -9 one master: only its VIP moves (figure: seconds after its ``+switch-master``), the
  two others never move and their writers lose no acknowledged write;
- then stop and start a whole node: no VIP moves at all (nothing flaps).
"""

from __future__ import annotations

import pytest

from e2e.multi_cluster import MultiCluster, Recorder


@pytest.fixture
def multi(clean_host, installed_pyz, request):
    cluster = MultiCluster(installed_pyz)
    try:
        cluster.start()
        cluster.wait_for(cluster.placed, 60, "each VIP on its first master's node")
        cluster.wait_for(lambda: all(_watching(cluster, n) for n in cluster.nodes), 30,
                         "every watcher subscribed for its three instances")  # fmt: skip
        yield cluster
    finally:
        failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
        cluster.keep_dir = cluster.keep_dir or failed
        cluster.stop()


def _watching(cluster, node: str) -> bool:
    lines = [line for _t, line in cluster.syslog[node]]
    alive = {
        (line.split("instance=")[1].split()[0], line.split("sentinel=")[1].split()[0])
        for line in lines
        if "event=sentinel_link" in line and "state=alive" in line and "instance=" in line
    }
    return len(alive) >= 9 and any("sentinel_connections=3" in line for line in lines)


def _lost(cluster, recorder, shard) -> list:
    """Acknowledged writes of the shard's writer that its master does not have."""
    master = cluster.shard_master("n1", shard)
    keys = set(cluster.shard_call(master, shard, "KEYS", f"e2e:{shard.name}:*") or [])
    acked = [r["seq"] for r in recorder.writes(shard) if r.get("ok")]
    return [seq for seq in acked if f"e2e:{shard.name}:{seq}" not in keys]


def test_one_master_fails_only_its_vip_moves_then_a_node_restart_moves_nothing(
    multi, report_timeline
):
    c = multi
    alpha, beta, gamma = c.shards
    with Recorder(c) as rec:
        rec.wait(lambda: all(rec.acks(s) >= 20 for s in c.shards), 30, "writes through all VIPs")
        killed = c.kill_shard("n2", beta)
        switched = rec.wait(lambda: rec.switch_master(beta, killed), 30, "beta +switch-master")
        new = c.wait_for(lambda: c.shard_master("n1", beta) if c.shard_master("n1", beta)
                         != "n2" else None, 30, "Sentinel names beta's new master")  # fmt: skip
        rec.wait(lambda: rec.holders_at_end(beta.vip) == {new}, 30, "beta's VIP on its new master")
        rec.wait(lambda: rec.acks(beta, switched) >= 20, 30, "writes through beta's VIP again")
        came = next(t for t, n, held in rec.vip_changes(beta.vip, killed) if held and n == new)
        # a whole node restart: the old master's node, every daemon of it
        c.stop_node("n2")
        c.start_node("n2")
        c.wait_for(lambda: c.shard_call("n2", beta, "ROLE") and c.shard_call("n2", beta, "ROLE")[0]
                   == "slave", 30, "n2's beta a replica again")  # fmt: skip
        rec.wait(lambda: all(rec.acks(s, c.events[-1][0]) >= 50 for s in c.shards), 30,
                 "writes through every VIP after the restart")  # fmt: skip
        restarted = c.events[-2][0]
        settle = c.mark("settled")
        rec.wait(lambda: rec.acks(alpha, settle) >= 200, 30, "a few seconds more of writes")
    # only beta's VIP moved, once; alpha's and gamma's never did
    for shard in (alpha, gamma):
        changes = rec.vip_changes(shard.vip)
        assert [(n, held) for _t, n, held in changes if held] == [(shard.owner, True)], changes
        assert not [1 for _t, n, held in changes if not held and n == shard.owner], changes
        assert _lost(c, rec, shard) == [], f"{shard.name}: acknowledged writes lost"
        failed = [r for r in rec.writes(shard) if not r.get("ok")]
        assert failed == [], f"{shard.name}: writes refused during another shard's failover"
    moves = [(n, held) for t, n, held in rec.vip_changes(beta.vip, killed)]
    assert moves in ([("n2", False), (new, True)], [(new, True), ("n2", False)]), moves
    assert rec.vip_changes(beta.vip, restarted) == [] or all(
        n == "n2" and not held for _t, n, held in rec.vip_changes(beta.vip, restarted)
    )
    assert _lost(c, rec, alpha) == [] and _lost(c, rec, gamma) == []
    figures = {
        "switch_event_s": round(switched - killed, 3),
        "vip_on_new_s": round(came - killed, 3),
        "vip_after_switch_s": round(came - switched, 3),
        "new_master": new,
        "ipv6_vip": gamma.vip,
        "writes_alpha": rec.acks(alpha),
        "writes_gamma": rec.acks(gamma),
    }
    report_timeline("several masters: kill beta's master", figures)
    _admin_covers_every_instance(c, beta_on=new)
    print(f"multi: beta VIP {figures['vip_after_switch_s']} s after +switch-master")


def _admin_covers_every_instance(c, beta_on: str) -> None:
    """status, doctor and the metrics textfiles on n1 cover the three instances."""
    import json
    import subprocess

    from e2e import netns

    node = c.nodes["n1"]
    config = f"{node.dir}/sentinel-vip.toml"

    def run(*args):
        argv = netns.exec_argv(node.ns, [c.binary, "--config", config, *args])
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    status = json.loads(run("status", "--json").stdout)
    assert sorted(status["instances"]) == ["beta", "default", "gamma"]
    held = {n: d["vip"]["held"] for n, d in status["instances"].items()}
    assert held == {"default": True, "beta": beta_on == "n1", "gamma": False}, held
    doctor = run("doctor").stdout
    assert "3 instances share no VIP, virtual_router_id, track file or state" in doctor, doctor
    for line in doctor.splitlines():
        assert not (line.startswith("FAIL") and ("/sentinels" in line or "instances" in line))
    for shard in c.shards:
        with open(f"{node.dir}/svip-metrics/{shard.name}.prom", encoding="utf-8") as fh:
            text = fh.read()
        assert f'sentinel_vip_check_ok{{instance_name="{shard.vrrp_name}"}}' in text, text
