"""render: the shipped snippets with the TOML's values, never clobbering, accepted by keepalived.

The snippets come from etc/ (admin/snippets.py; tests/unit/test_generated.py checks the pyz's
copy and the derived Valkey one)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from sentinel_vip.admin import render
from sentinel_vip.config.load import from_mapping
from sentinel_vip.errors import ConfigError, ExitCode
from support.config import merge, table

REPO = Path(__file__).resolve().parents[2]
KEEPALIVED_SNIPPET = REPO / "etc" / "keepalived" / "conf.d" / "sentinel-vip.conf"
REDIS_SENTINEL_SNIPPET = REPO / "etc" / "redis" / "sentinel-vip-sentinel.conf"


def make_config(tmp_path, **sections):
    base = table(
        master_name="cache",
        sentinel={
            "addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
            "config_files": [str(tmp_path / "redis" / "sentinel.conf")],
        },
        vip={"interface": "ens3", "prefix": 24},
        keepalived={"snippet": str(tmp_path / "sentinel-vip.conf"), "priority": 90,
                    "virtual_router_id": 7},
        check={"track_file": "/run/sentinel-vip/track"},
    )  # fmt: skip
    return from_mapping(merge(base, sections))


# -- the templates are the shipped files ---------------------------------------------------


def test_example_values_reproduce_the_shipped_sentinel_snippet():
    assert render.sentinel_text("redis", "mymaster", 2) == REDIS_SENTINEL_SNIPPET.read_text()


def test_example_values_reproduce_the_shipped_keepalived_snippet():
    assert render.keepalived_text(render.EXAMPLE) == KEEPALIVED_SNIPPET.read_text()


# -- values ---------------------------------------------------------------------------------


def code_lines(text: str) -> list:
    return [c for c in (line.split("#", 1)[0].strip() for line in text.splitlines()) if c]


def test_values_from_the_toml_replace_the_examples(tmp_path):
    config = make_config(tmp_path)
    text = render.keepalived_text(render.keepalived_values(config))
    code = code_lines(text)
    assert "vrrp_instance sentinel_vip {" in code
    assert "interface ens3" in code and "interface eth0" not in code
    assert "virtual_router_id 7" in code
    assert "priority 90" in code
    assert "10.0.0.100/24" in code and "192.0.2.100/24" not in code
    assert "unicast_peer {" not in code  # multicast unless peers are configured
    # the tuned lines are untouched: the whole rest of the file is the shipped one
    shipped = code_lines(KEEPALIVED_SNIPPET.read_text())
    changed = {"interface eth0", "virtual_router_id 51", "priority 100", "192.0.2.100/24"}
    assert [c for c in shipped if c not in changed] == [
        c for c in code if c not in {"interface ens3", "virtual_router_id 7", "priority 90",
                                     "10.0.0.100/24"}
    ]  # fmt: skip
    # comments keep their column when a value gets shorter
    line = next(x for x in text.splitlines() if x.strip().startswith("interface"))
    shipped_line = next(
        x for x in KEEPALIVED_SNIPPET.read_text().splitlines() if x.strip().startswith("interface")
    )
    assert line.index("#") == shipped_line.index("#")


def test_unicast_peers_and_a_custom_config_path(tmp_path):
    config = make_config(
        tmp_path,
        keepalived={"unicast_src_ip": "10.0.0.1", "unicast_peers": ["10.0.0.2", "10.0.0.3"],
                    "instance": "cache_vip"},
        vip={"prefix": 0},
    )  # fmt: skip
    values = render.keepalived_values(config)
    values["program"] = render.program_of(SimpleNamespace(path="/etc/sentinel-vip/cache.toml"))
    code = code_lines(render.keepalived_text(values))
    start = code.index("unicast_src_ip 10.0.0.1")
    assert code[start : start + 5] == [
        "unicast_src_ip 10.0.0.1", "unicast_peer {", "10.0.0.2", "10.0.0.3", "}",
    ]  # fmt: skip
    assert code[start + 5] == "virtual_ipaddress {"
    assert "vrrp_instance cache_vip {" in code
    assert "10.0.0.100" in code  # prefix 0: a host address
    assert 'script "/usr/sbin/sentinel-vip --config /etc/sentinel-vip/cache.toml check"' in code
    assert 'notify "/usr/sbin/sentinel-vip --config /etc/sentinel-vip/cache.toml notify"' in code


def test_the_default_config_path_is_not_repeated():
    assert render.program_of(SimpleNamespace(path=render.DEFAULT_PATH)) == render.PROGRAM


def test_missing_vip_interface_and_track_file_are_reported_together(tmp_path):
    config = make_config(tmp_path, vip={"address": "", "interface": ""}, check={"track_file": ""})
    with pytest.raises(ConfigError) as err:
        render.keepalived_values(config)
    assert [p.split(":")[0] for p in err.value.problems] == [
        "vip.address", "vip.interface", "check.track_file",
    ]  # fmt: skip


def test_sentinel_snippet_names_this_cluster_and_its_majority(tmp_path):
    text = render.sentinel_text("valkey", "cache", 3)
    assert "valkey-cli -p 26379 SENTINEL MONITOR cache 192.0.2.11 6379 3" in text
    assert "redis" not in text.replace("Redis/Valkey", "")
    assert code_lines(text) == ["sentinel deny-scripts-reconfig yes"]


def test_sentinel_target(tmp_path):
    config = make_config(tmp_path)
    assert render.sentinel_target(config, exists=lambda p: False) == (None, None)
    found = render.sentinel_target(config, exists=lambda p: True)
    assert found == (str(tmp_path / "redis" / "sentinel-vip-sentinel.conf"), "redis")
    config = make_config(tmp_path, sentinel={"snippet": "/etc/valkey/x.conf"})
    assert render.sentinel_target(config) == ("/etc/valkey/x.conf", "valkey")


# -- writing --------------------------------------------------------------------------------


def run(config, dry_run=False):
    out = io.StringIO()
    code = render.run(config, dry_run=dry_run, out=out)
    return code, out.getvalue()


def test_dry_run_shows_a_diff_and_writes_nothing(tmp_path):
    config = make_config(tmp_path)
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "sentinel.conf").write_text("port 26379\n")
    target = tmp_path / "sentinel-vip.conf"
    target.write_text(KEEPALIVED_SNIPPET.read_text())  # as the package installed it
    code, out = run(config, dry_run=True)
    assert code == 0
    assert f"--- {target}\n+++ {target}\n" in out
    assert "-    interface eth0" in out and "+    interface ens3" in out
    assert "+" + render.MARKER in out
    assert f"--- /dev/null\n+++ {tmp_path / 'redis' / 'sentinel-vip-sentinel.conf'}" in out
    assert target.read_text() == KEEPALIVED_SNIPPET.read_text()
    assert not (tmp_path / "redis" / "sentinel-vip-sentinel.conf").exists()


def test_writes_replace_the_pristine_copy_then_are_up_to_date(tmp_path):
    config = make_config(tmp_path)
    target = tmp_path / "sentinel-vip.conf"
    target.write_text(KEEPALIVED_SNIPPET.read_text())
    code, out = run(config)
    assert code == 0
    assert f"{target}: written" in out
    assert "no Sentinel config found" in out
    assert target.read_text().startswith(render.MARKER)
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    code, out = run(config)
    assert f"{target}: up to date" in out
    # a changed TOML value re-renders our own file
    code, out = run(make_config(tmp_path, keepalived={"priority": 80}))
    assert f"{target}: written" in out and "priority 80" in target.read_text()


def test_never_clobbers_a_file_it_did_not_write(tmp_path):
    config = make_config(tmp_path)
    target = tmp_path / "sentinel-vip.conf"
    edited = KEEPALIVED_SNIPPET.read_text().replace("interface eth0", "interface ens3")
    target.write_text(edited)
    with pytest.raises(render.NotGenerated) as err:
        run(config)
    assert err.value.exit_code == ExitCode.NOT_GENERATED
    assert str(target) in str(err.value)
    assert target.read_text() == edited
    with pytest.raises(render.NotGenerated):
        run(config, dry_run=True)


# -- keepalived accepts what render writes ------------------------------------------------


def existing_interface() -> str:
    """keepalived -t warns about an interface this host lacks: use one it has."""
    names = sorted(p.name for p in Path("/sys/class/net").iterdir())
    return next((n for n in names if n != "lo"), "lo")


def keepalived_t(tmp_path, snippet_text: str) -> str:
    """keepalived 2.2.7's `-t` exit status is unreliable (SIGTERM on a good config): judge
    by its output, which is empty for a valid config."""
    if not shutil.which("keepalived"):
        pytest.skip("keepalived not installed")
    # The program path must exist, be root-owned and executable for enable_script_security.
    snippet = tmp_path / "rendered.conf"
    snippet.write_text(snippet_text.replace(render.PROGRAM, shutil.which("true")))
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n    enable_script_security\n    script_user nobody nogroup\n}\n"
        f"include {snippet}\n"
    )
    proc = subprocess.run(
        ["keepalived", "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30
    )
    return (proc.stdout + proc.stderr).strip()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"keepalived": {"unicast_src_ip": "10.0.0.1", "unicast_peers": ["10.0.0.2"]}},
        {"vip": {"address": "2001:db8::10", "prefix": 64}},
        {"vip": {"prefix": 0}, "keepalived": {"priority": 254, "virtual_router_id": 255}},
    ],
)
def test_keepalived_accepts_what_render_writes(tmp_path, extra):
    config = make_config(
        tmp_path, **{**extra, "vip": {**extra.get("vip", {}), "interface": existing_interface()}}
    )
    text = render.outputs(config, exists=lambda p: False)[0].text
    assert keepalived_t(tmp_path, text) == ""


def test_keepalived_t_does_report_a_broken_render(tmp_path):
    """The judge above can fail: a bad value in the same place is reported."""
    config = make_config(tmp_path, vip={"interface": existing_interface()})
    text = render.outputs(config, exists=lambda p: False)[0].text
    assert "VRID '300' not valid" in keepalived_t(
        tmp_path, text.replace("virtual_router_id 7", "virtual_router_id 300")
    )
