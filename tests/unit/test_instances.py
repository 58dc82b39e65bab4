"""Several instances per node: the set (config.instances), render per instance, the watcher's
routing of Sentinel events (actions.dispatch) and doctor's set findings, without servers."""

from __future__ import annotations

import io
import os
import queue
import re
from types import SimpleNamespace

import pytest

from sentinel_vip.actions import dispatch
from sentinel_vip.admin import doctor_checks as checks
from sentinel_vip.admin import render, several
from sentinel_vip.config import instances
from sentinel_vip.config.load import from_mapping
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.errors import ConfigError

STATE_DIR = r'state_dir = "([^"]*)/queue"'
SENTINELS = ["127.0.0.1:26379", "127.0.0.2:26379", "127.0.0.3:26379"]


def toml(tmp_path, name: str, master: str, vip: str, vrid: int, sentinels=SENTINELS) -> str:
    state = tmp_path / "run" / name
    state.mkdir(parents=True, exist_ok=True)
    quoted = ", ".join(f'"{s}"' for s in sentinels)
    return (
        f'master_name = "{master}"\n'
        f"[sentinel]\naddresses = [{quoted}]\nconfig_files = []\n"
        f'[vip]\naddress = "{vip}"\ninterface = "eth0"\n'
        f'[keepalived]\ninstance = "svip_{name}"\nvirtual_router_id = {vrid}\n'
        f'snippet = "{tmp_path}/keepalived/{name}.conf"\n'
        f'[check]\ntrack_file = "{state}/track"\n'
        f'[paths]\nstate_dir = "{state}"\nhistory_file = "{state}/history.jsonl"\n'
        "[log]\nsyslog = false\n"
    )


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture
def node(tmp_path):
    """A node with today's file (the default instance) and two named instances."""
    main = write(
        tmp_path / "etc" / "sentinel-vip.toml", toml(tmp_path, "main", "m0", "10.9.0.100", 51)
    )
    write(
        tmp_path / "etc" / "instances" / "queue.toml",
        toml(tmp_path, "queue", "m1", "10.9.0.101", 52),
    )
    write(tmp_path / "etc" / "instances" / "v6.toml", toml(tmp_path, "v6", "m2", "fd00::100", 51))
    return main


# -- the set ------------------------------------------------------------------------------------


def test_a_lone_config_is_the_default_instance_as_today(tmp_path):
    main = write(tmp_path / "sentinel-vip.toml", toml(tmp_path, "main", "m0", "10.9.0.100", 51))
    assert instances.discover(main) == (((instances.DEFAULT_NAME, main),), ())
    loaded, problems = instances.load_all(main)
    assert [name for name, _ in loaded] == ["default"] and problems == ()


def test_the_set_is_the_main_file_and_every_instances_toml_in_order(node, tmp_path):
    (tmp_path / "etc" / "instances" / "queue.toml.dpkg-old").write_text("junk")
    (tmp_path / "etc" / "instances" / ".queue.toml.swp").write_text("junk")
    loaded, problems = instances.load_all(node)
    assert problems == ()
    assert [(n, c.master_name) for n, c in loaded] == [
        ("default", "m0"), ("queue", "m1"), ("v6", "m2"),
    ]  # fmt: skip


def test_a_named_instance_path_is_that_instance_alone(node, tmp_path):
    path = str(tmp_path / "etc" / "instances" / "queue.toml")
    assert instances.discover(path) == ((("queue", path),), ())


def test_a_bad_name_is_reported_and_left_out(node, tmp_path):
    write(tmp_path / "etc" / "instances" / "default.toml", "x")
    write(tmp_path / "etc" / "instances" / "a b.toml", "x")
    members, problems = instances.discover(node)
    assert [n for n, _ in members] == ["default", "queue", "v6"]
    assert len(problems) == 2 and all("instance name" in p or "'default'" in p for p in problems)


def test_an_invalid_instance_is_reported_and_the_others_still_load(node, tmp_path):
    write(tmp_path / "etc" / "instances" / "broken.toml", 'master_name = "x"\n')
    loaded, problems = instances.load_all(node)
    assert [n for n, _ in loaded] == ["default", "queue", "v6"]
    assert len(problems) == 1 and "broken.toml" in problems[0]


@pytest.mark.parametrize(
    "what, change",
    [
        ("vip.address", lambda t: t.replace("10.9.0.101", "10.9.0.100")),
        ("keepalived.virtual_router_id", lambda t: t.replace("= 52", "= 51")),
        ("master_name", lambda t: t.replace('"m1"', '"m0"')),
        ("check.track_file", lambda t: t.replace("run/queue/track", "run/main/track")),
        ("paths.state_dir", lambda t: re.sub(STATE_DIR, r'state_dir = "\1/main"', t)),
    ],
)  # fmt: skip
def test_what_two_instances_must_not_share_leaves_the_later_one_out(node, tmp_path, what, change):
    path = tmp_path / "etc" / "instances" / "queue.toml"
    path.write_text(change(path.read_text()))
    loaded, problems = instances.load_all(node)
    assert [n for n, _ in loaded] == ["default", "v6"]
    assert any(what in p and "instance default" in p for p in problems), problems


def test_one_vrid_for_an_ipv4_and_an_ipv6_instance_is_no_clash(node):
    loaded, problems = instances.load_all(node)
    assert loaded[0][1].keepalived_vrid == loaded[2][1].keepalived_vrid == 51
    assert problems == ()


def test_the_odd_sentinel_set_is_named_with_what_differs(node, tmp_path):
    odd = [*SENTINELS[:2], "127.0.0.4:26379"]
    write(
        tmp_path / "etc" / "instances" / "queue.toml",
        toml(tmp_path, "queue", "m1", "10.9.0.101", 52, odd),
    )
    loaded, _ = instances.load_all(node)
    [(name, _, missing, extra)] = instances.odd_sentinel_sets(loaded)
    assert (name, missing, extra) == ("queue", ["127.0.0.3:26379"], ["127.0.0.4:26379"])


def test_notify_maps_keepalived_instance_names_back(node):
    loaded, _ = instances.load_all(node)
    assert instances.by_vrrp_name(loaded, "svip_v6")[0] == "v6"
    assert instances.by_vrrp_name(loaded, "nope") is None


# -- render -------------------------------------------------------------------------------------


def test_each_instance_gets_its_own_keepalived_names_and_one_sentinel_snippet(node, tmp_path):
    (tmp_path / "keepalived").mkdir()
    out = io.StringIO()
    assert several.render(node, out=out) == 0
    texts = {p.name: p.read_text() for p in (tmp_path / "keepalived").iterdir()}
    assert sorted(texts) == ["main.conf", "queue.conf", "v6.conf"]
    for name, text in texts.items():
        short = name[:-5]
        assert f"vrrp_instance svip_{short} {{" in text
        assert f"track_file svip_{short}_track {{" in text
        assert f"vrrp_script svip_{short}_check {{" in text
        assert text.count(f"svip_{short}_check") == 2 and text.count(f"svip_{short}_track") == 2
        assert f'file "{tmp_path}/run/{short}/track"' in text
    assert "fd00::100" in texts["v6.conf"]
    named = f"{tmp_path}/etc/instances/queue.toml"
    assert f'script "{render.PROGRAM} --config {named} check"' in texts["queue.conf"]
    assert f'notify "{render.PROGRAM} --config {named} notify"' in texts["queue.conf"]


def test_the_default_instance_renders_as_before(tmp_path):
    config = from_mapping(
        {
            "master_name": "mymaster",
            "sentinel": {"addresses": SENTINELS, "config_files": []},
            "vip": {"address": "192.0.2.100", "interface": "eth0", "prefix": 24},
        }
    )
    text = render.keepalived_text(render.keepalived_values(config))
    assert "track_file sentinel_vip_track {" in text and "vrrp_script sentinel_vip_check {" in text


def test_render_writes_nothing_while_an_instance_clashes(node, tmp_path):
    path = tmp_path / "etc" / "instances" / "queue.toml"
    path.write_text(path.read_text().replace("10.9.0.101", "10.9.0.100"))
    with pytest.raises(ConfigError, match=r"vip\.address"):
        several.render(node, out=io.StringIO())
    assert not (tmp_path / "keepalived").exists()


# -- doctor's set findings ----------------------------------------------------------------------


def answers(monitoring: dict):
    def ask(endpoints, master_name, deadline):
        return [SentinelAnswer(e.label(), True, monitoring.get(e.label()), None) for e in endpoints]

    return ask


def test_doctor_fails_an_instance_that_leaves_out_a_sentinel_monitoring_its_master(node, tmp_path):
    write(tmp_path / "etc" / "instances" / "queue.toml",
          toml(tmp_path, "queue", "m1", "10.9.0.101", 52, SENTINELS[:2]))  # fmt: skip
    loaded, _ = instances.load_all(node)
    found = several.set_findings(loaded, ask=answers({"127.0.0.3:26379": ("10.9.0.1", 6379)}))
    [odd] = [f for f in found if f.item == "queue/sentinels"]
    assert odd.status == checks.FAIL and "127.0.0.3:26379 monitor m1" in odd.detail
    found = several.set_findings(loaded, ask=answers({}))
    [odd] = [f for f in found if f.item == "queue/sentinels"]
    assert odd.status == checks.OK and "do not monitor m1" in odd.detail


def test_doctor_fails_a_shared_vip_or_vrid(node, tmp_path):
    (tmp_path / "etc" / "instances" / "queue.toml").write_text(
        toml(tmp_path, "queue", "m1", "10.9.0.100", 51)
    )
    from sentinel_vip.config.load import load

    loaded = [(n, load(p)) for n, p in instances.discover(node)[0]]
    found = several.set_findings(loaded, ask=answers({}))
    failed = [f.detail for f in found if f.status == checks.FAIL]
    assert any("vip.address 10.9.0.100" in d for d in failed)
    assert any("keepalived.virtual_router_id 51" in d for d in failed)


# -- the watcher's routing ----------------------------------------------------------------------


class Logger:
    def __init__(self):
        self.lines = []

    def log(self, level, event, **fields):
        self.lines.append((event, fields))


def test_one_connection_per_sentinel_and_events_go_to_their_master_only(node, tmp_path):
    odd = [*SENTINELS, "127.0.0.4:26379"]
    write(
        tmp_path / "etc" / "instances" / "queue.toml",
        toml(tmp_path, "queue", "m1", "10.9.0.101", 52, odd),
    )
    loaded, _ = instances.load_all(node)
    hub = dispatch.Hub(loaded, Logger())
    assert len(hub.links) == 4  # not 3 instances x 3-4 Sentinels
    by_name = {w.name: w for w in hub.watchers}
    for w in hub.watchers:  # the instance's links are the hub's objects
        assert all(
            link is hub.links[hub.key(s)] for s, link in zip(w.config.sentinels, w.links.values())
        )
    key = hub.key(loaded[0][1].sentinels[0])
    post = hub.post_from(key)
    post(("event", "127.0.0.1:26379", "+switch-master", "m1 10.9.0.1 6379 10.9.0.2 6379"))
    post(("event", "127.0.0.1:26379", "+sdown", "master m2 fd00::1 6379"))
    post(
        (
            "event",
            "127.0.0.1:26379",
            "+sdown",
            "slave 10.9.0.3:6379 10.9.0.3 6379 @ m0 10.9.0.1 6379",
        )
    )
    post(("link", "127.0.0.1:26379", "silent", ""))

    def drained(name):
        return watch_items(by_name[name].inbox)

    assert [i[2] for i in drained("queue")] == ["+switch-master", "silent"]
    assert [i[2] for i in drained("v6")] == ["+sdown", "silent"]
    assert drained("default")[0][3].endswith("@ m0 10.9.0.1 6379")
    only_queue = hub.post_from(hub.key(hub.watchers[1].config.sentinels[3]))
    only_queue(("link", "127.0.0.4:26379", "down", "refused"))
    assert len(drained("queue")) == 1 and drained("default") == [] and drained("v6") == []
    assert hub.relevant("master m2 fd00::1 6379") and not hub.relevant("master other 1.2.3.4 1")


def watch_items(inbox: queue.SimpleQueue) -> list:
    items = []
    while not inbox.empty():
        items.append(inbox.get_nowait())
    return items


def test_a_link_beats_as_fast_as_its_fastest_instance_needs(node):
    from sentinel_vip.decision.decide import Verdict
    from sentinel_vip.errors import ExitCode
    from sentinel_vip.probes import pubsub

    loaded, _ = instances.load_all(node)
    hub = dispatch.Hub(loaded, Logger())
    replica = Verdict(False, ExitCode.NOT_MASTER, "replica")
    master = Verdict(True, ExitCode.OK, "master")
    for w in hub.watchers:
        w._pace(replica)
    assert {link.ping_every for link in hub.links.values()} == {pubsub.PING_EVERY_REPLICA}
    hub.watchers[1]._pace(master)
    assert {link.ping_every for link in hub.links.values()} == {pubsub.PING_EVERY}


def test_instance_log_lines_name_their_instance(node):
    loaded, _ = instances.load_all(node)
    logger = dispatch.InstanceLogger("queue", loaded[1][1])
    assert logger.log("info", "check", verdict="ok") == "event=check instance=queue verdict=ok"


def test_notify_of_a_named_vrrp_instance_gets_that_instances_config(node):
    from sentinel_vip import cli
    from sentinel_vip.actions.notify import parse_args
    from sentinel_vip.config.load import load

    default = load(node)
    for vrrp, master in (("svip_v6", "m2"), ("svip_main", "m0"), ("unknown", "m0")):
        config = cli._notify_config(default, parse_args(["INSTANCE", vrrp, "MASTER", "100"]))
        assert config.master_name == master


def test_only_a_lone_default_file_takes_the_single_instance_path(node, tmp_path):
    from sentinel_vip import cli

    lone = write(tmp_path / "lone" / "sentinel-vip.toml", toml(tmp_path, "x", "m0", "10.9.0.1", 1))
    assert cli._several("status", lone, None) is None
    only_named = tmp_path / "named" / "sentinel-vip.toml"  # absent: one instance in instances/
    write(tmp_path / "named" / "instances" / "q.toml", toml(tmp_path, "q", "m1", "10.9.0.2", 2))
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert cli._several("render", str(only_named), SimpleNamespace(dry_run=True)) == 0
    assert "== instance q (" in out.getvalue()


def test_election_events_naming_no_master_reach_every_instance_on_the_link(node, tmp_path):
    """+new-epoch and +vote-for-leader name no master: each instance's election rule needs
    them (it ties them to its master by the leader's +try-failover), so the hub lets them
    through and hands them to every instance counting that Sentinel."""
    loaded, _ = instances.load_all(node)
    hub = dispatch.Hub(loaded, Logger())
    vote = "a" * 40 + " 7"
    assert hub.relevant(vote) and hub.relevant("7")
    key = hub.key(loaded[0][1].sentinels[0])
    hub.post_from(key)(("event", "127.0.0.1:26379", "+vote-for-leader", vote, "b" * 40))
    hub.post_from(key)(("event", "127.0.0.1:26379", "+new-epoch", "7", "b" * 40))
    sharing = [w for w in hub.watchers if key in {hub.key(s) for s in w.config.sentinels}]
    assert len(sharing) >= 2
    for watcher in sharing:
        assert [i[2] for i in watch_items(watcher.inbox)] == ["+vote-for-leader", "+new-epoch"]
