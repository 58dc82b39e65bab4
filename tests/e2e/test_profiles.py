"""The profiles render configs keepalived accepts and a TOML sentinel-vip's loader accepts.

No namespaces needed, but keepalived's config test and the script user need root.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from e2e.cluster import Cluster
from e2e.profiles import ClassicProfile, SentinelVipProfile, SnippetMismatch

pytestmark = pytest.mark.e2e


def _render(profile, root, tmp_path):
    cluster = Cluster(profile, prefix="svt", base_dir=str(tmp_path))
    node = cluster.nodes["n1"]
    node.dir = str(tmp_path / "n1")
    os.makedirs(node.dir)
    for name in ("redis.pass", "sentinel.pass"):
        with open(os.path.join(node.dir, name), "w") as fh:
            fh.write("secret\n")
        os.chmod(os.path.join(node.dir, name), 0o640)
    ctx = cluster.context(node)
    files = {}
    for rendered in profile.render(ctx):
        path = os.path.join(node.dir, rendered.name)
        with open(path, "w") as fh:
            fh.write(rendered.content)
        os.chmod(path, rendered.mode)
        files[rendered.name] = path
    return ctx, files


def _config_test(conf):
    proc = subprocess.run(
        ["keepalived", "--config-test", "-f", conf], capture_output=True, text=True, timeout=30
    )
    # keepalived 2.2.7 ends a config test with SIGTERM to itself (143) even when the file is
    # fine, and reports unknown keywords only as messages: judge by the messages.
    messages = (proc.stdout + proc.stderr).replace("Terminated", "").strip()
    assert proc.returncode in (0, 143, -15) and not messages, messages


def test_classic_profile_is_the_howto(root, tmp_path):
    profile = ClassicProfile()
    profile.prepare()
    _ctx, files = _render(profile, root, tmp_path)
    conf = open(files["keepalived.conf"]).read()
    for line in ("interval 30", "weight 50", "fall 2", "rise 2", "state BACKUP", "priority 100"):
        assert line in conf
    script = open(files["redis_is_master"]).read()
    assert "grep -q 'role:master'" in script and "REDISCLI_AUTH" in script
    assert "secret" not in conf + script  # the password stays in its file
    _config_test(files["keepalived.conf"])


def test_sentinel_vip_profile_adapts_the_shipped_snippet(root, tmp_path):
    profile = SentinelVipProfile()
    if not os.path.isfile(profile.snippet_path()):
        pytest.skip(f"no keepalived snippet at {profile.snippet_path()}")
    profile.prepare()
    ctx, files = _render(profile, root, tmp_path)
    conf = open(files["keepalived.conf"]).read()
    assert f'"/usr/sbin/sentinel-vip --config {ctx.node_dir}/sentinel-vip.toml check"' in conf
    assert f"{ctx.vip}/24 dev eth0" in conf and "priority 100" in conf
    _config_test(files["keepalived.conf"])


def test_sentinel_vip_toml_loads(root, tmp_path):
    config = pytest.importorskip("sentinel_vip.config")
    profile = SentinelVipProfile()
    ctx, files = (
        _render(profile, root, tmp_path)
        if os.path.isfile(profile.snippet_path())
        else (
            None,
            None,
        )
    )
    if files is None:
        pytest.skip("no keepalived snippet")
    loaded = config.load(files["sentinel-vip.toml"])
    assert loaded.master_name == "mymaster"
    assert [s.label() for s in loaded.sentinels] == list(ctx.sentinel_addresses)
    assert loaded.redis.password == "secret" and loaded.vip_address == ctx.vip


def test_snippet_mismatch_is_loud(tmp_path):
    snippet = tmp_path / "snippet.conf"
    snippet.write_text("vrrp_instance x {\n}\n")
    profile = SentinelVipProfile(snippet=str(snippet))
    ctx_cluster = Cluster(profile, prefix="svt", base_dir=str(tmp_path))
    with pytest.raises(SnippetMismatch):
        profile.keepalived_conf(ctx_cluster.context(ctx_cluster.nodes["n1"]))
