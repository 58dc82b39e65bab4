"""status, doctor and render of the installed .deb, as the script user, against a real
redis-server + redis-sentinel started on loopback (tests/support/cluster.py's Cluster).

The node config lives in the test's temp dir; keepalived's files are the package's
(/etc/keepalived/conf.d/sentinel-vip.conf) and, for one doctor run, a keepalived.conf that
includes them as an admin would write it. Whatever doctor does not pass here is asserted
item by item with the reason this test machine gives it.
"""

from __future__ import annotations

import grp
import json
import os
import re
from pathlib import Path

import pytest
from pkgtools import apt_install, purge, run

from sentinel_vip.admin.doctor import parse_report
from support.cluster import Cluster
from support.servers import binaries_available

BIN = "/usr/sbin/sentinel-vip"
SNIPPET = Path("/etc/keepalived/conf.d/sentinel-vip.conf")
USER = "keepalived_script"
VIP = "192.0.2.100"  # the installed snippet's example VIP (TEST-NET-1): on no interface here
DEBIAN_SENTINEL_CONF = Path("/etc/redis/sentinel.conf")  # redis-sentinel's, redis:redis 2770 dir

pytestmark = pytest.mark.usefixtures("root_and_apt")


@pytest.fixture(scope="module")
def installed(built):
    purge()
    proc = apt_install(built["nfpm-deb"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield
    purge()


@pytest.fixture(scope="module")
def loopback(installed):
    """Redis master + 2 replicas + 3 Sentinels on 127.0.0.1, their secrets readable by the
    script user as docs/security.md prescribes (root:keepalived_script 0640)."""
    if not binaries_available():
        pytest.skip("redis-server / redis-sentinel not installed")
    cluster = Cluster().start()
    try:
        gid = grp.getgrnam(USER).gr_gid
        for directory in (cluster.tmpdir, cluster.secrets_dir):
            os.chmod(directory, 0o711)
        for secret in (cluster.redis_password_file, cluster.sentinel_password_file):
            os.chown(secret, 0, gid)
            os.chmod(secret, 0o640)
        yield cluster
    finally:
        cluster.stop()


def interface() -> str:
    names = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    if not names:
        pytest.skip("no non-loopback interface for the VRRP instance")
    return "eth0" if "eth0" in names else names[0]


def node_config(cluster, node: int, **overrides) -> str:
    """A TOML for redis ``node`` with the package's defaults for state, history, keepalived
    and Sentinel's config files; 0640 root:keepalived_script like the installed one."""
    path = cluster.write_config(
        node,
        **{
            "check.track_file": None,  # defaults: /run/sentinel-vip, /var/lib/sentinel-vip
            "notify.hooks_dir": None,
            "paths.state_dir": None,
            "paths.history_file": None,
            "vip.address": VIP,
            "vip.interface": interface(),
            "vip.prefix": 24,
            **overrides,
        },
    )
    os.chmod(os.path.dirname(path), 0o711)
    os.chown(path, 0, grp.getgrnam(USER).gr_gid)
    os.chmod(path, 0o640)
    return path


def as_script_user(config: str, *args: str):
    return run("runuser", "-u", USER, "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
               BIN, "--config", config, *args, check=False)  # fmt: skip


def test_status_json_of_the_master_and_a_replica(loopback):
    master = f"127.0.0.1:{loopback.redis_ports[0]}"
    docs = []
    for node in (0, 1):
        done = as_script_user(node_config(loopback, node), "status", "--json")
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        docs.append(json.loads(done.stdout))
    on_master, on_replica = docs
    assert on_master["schema"] == on_replica["schema"] == 1
    assert on_master["redis"]["role"] == "master" and on_master["redis"]["address"] == master
    assert len(on_master["redis"]["replicas"]) == 2
    assert on_master["sentinels"]["master"] == master
    assert on_master["sentinels"]["master_is_this_node"] is True
    assert [a["agrees"] for a in on_master["sentinels"]["answers"]] == [True] * 3
    assert on_master["vip"] == {"address": VIP, "interface": interface(), "held": False}
    # Nothing ran keepalived here: no notify record, no check verdict in the fresh state dir.
    assert on_master["keepalived"]["state"] is None and on_master["check"] is None
    assert on_replica["redis"]["role"] == "slave" and on_replica["redis"]["master"] == master
    assert on_replica["sentinels"]["master_is_this_node"] is False


# redis-sentinel's own config is in /etc/redis (redis:redis 2770): the script user may not
# read it, and doctor says so ("permission denied: not checked"); without it, "no Sentinel
# config on this node". Either is this one WARN.
SENTINEL_CONF_ITEM = {"sentinel.conf": ["WARN"]}
# The loopback cluster's Redis is reached over TCP with a password: doctor warns that a
# local user could squat the port (docs/security.md) and names the unix socket fix.
TRANSPORT_ITEM = {"redis transport": ["WARN"]}


def test_doctor_with_the_package_defaults_for_keepalived(loopback):
    """No /etc/keepalived/keepalived.conf on this machine (Debian's keepalived ships only a
    sample): the one FAIL is exactly that, with the include it needs as the fix."""
    if Path("/etc/keepalived/keepalived.conf").exists():
        pytest.skip("this machine has a keepalived.conf: the expected findings differ")
    done = as_script_user(node_config(loopback, 0), "doctor")
    print(done.stdout)
    assert done.stderr == ""
    assert done.returncode == 13, done.stdout  # PROBLEMS_FOUND
    found = parse_report(done.stdout)
    for item in ("config", "secrets", "redis", "sentinels", "sentinel count", "quorum",
                 "agreement", "identity"):  # fmt: skip
        assert found.get(item) == ["ok"], (item, done.stdout)
    not_ok = {item: s for item, s in found.items() if s != ["ok"]}
    assert not_ok == {
        "keepalived": ["FAIL"],
        "min-replicas": ["WARN"],  # the loopback Redis runs with the default 0
        **SENTINEL_CONF_ITEM,
        **TRANSPORT_ITEM,
    }, done.stdout
    assert re.search(r"^FAIL +keepalived +/etc/keepalived/keepalived.conf not found$",
                     done.stdout, re.M)  # fmt: skip
    if DEBIAN_SENTINEL_CONF.exists():
        assert f"{DEBIAN_SENTINEL_CONF}: permission denied: not checked" in done.stdout


def test_doctor_with_a_keepalived_conf_including_the_installed_snippet(loopback):
    keepalived_dir = Path(loopback.tmpdir) / "keepalived"
    keepalived_dir.mkdir(mode=0o755, exist_ok=True)
    conf = keepalived_dir / "keepalived.conf"
    conf.write_text(
        f"global_defs {{\n    enable_script_security\n    script_user {USER}\n}}\n"
        f"include {SNIPPET.parent}/*.conf\n"
    )
    conf.chmod(0o644)
    config = node_config(loopback, 0, **{"keepalived.config_file": str(conf)})
    done = as_script_user(config, "doctor")
    print(done.stdout)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    found = parse_report(done.stdout)
    for item in ("config", "secrets", "redis", "sentinels", "sentinel count", "quorum",
                 "agreement", "identity", "keepalived include", "keepalived -t",
                 "script user", "virtual_router_id", "static vip"):  # fmt: skip
        assert found.get(item) == ["ok"], (item, done.stdout)
    # the installed snippet's instance uses eth0; vip.interface names this host's interface
    assert found.get("interface", [None])[0] == ("ok" if interface() == "eth0" else "FAIL")
    not_ok = {item: s for item, s in found.items() if s != ["ok"] and item != "interface"}
    assert not_ok == {"min-replicas": ["WARN"], **SENTINEL_CONF_ITEM, **TRANSPORT_ITEM}, done.stdout
    assert f"includes {SNIPPET}" in done.stdout
    assert done.stdout.splitlines()[-1].endswith(" warn, 0 fail")


def test_render_dry_run_against_the_installed_snippet(loopback):
    """The installed snippet is the package's pristine copy: render may replace it, and the
    dry run shows what it would change (the TOML's values, --config) without writing."""
    before = SNIPPET.read_text()
    config = node_config(loopback, 0, **{"keepalived.priority": 90})
    done = as_script_user(config, "render", "--dry-run")
    print(done.stdout)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"--- {SNIPPET}\n+++ {SNIPPET}\n" in done.stdout
    assert "+# Generated by `sentinel-vip render`" in done.stdout
    assert f'+    script "{BIN} --config {config} check"' in done.stdout
    assert "-    priority 100\n+    priority 90\n" in done.stdout
    assert f"+        {VIP}/24" in done.stdout
    # As the script user /etc/redis cannot even be listed: no Sentinel config is found.
    assert "sentinel: no Sentinel config found" in done.stdout
    assert SNIPPET.read_text() == before
