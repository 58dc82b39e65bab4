"""doctor: the file parsers and each check, with plain data; the report and exit code."""

from __future__ import annotations

import os

from sentinel_vip.admin import doctor, doctor_checks, doctor_files
from sentinel_vip.config.load import from_mapping
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.errors import ExitCode

KEEPALIVED_MAIN = """\
global_defs {
    enable_script_security
    script_user keepalived_script   # comment
}
! another comment style
include conf.d/*.conf
vrrp_instance other { interface eth0
    virtual_router_id 51
    priority 50
}
"""
OURS = """\
vrrp_script sentinel_vip_check {
    script "/usr/sbin/sentinel-vip check"
    weight -50
}
vrrp_instance sentinel_vip {
    interface eth0
    virtual_router_id 51
    priority 100
    nopreempt
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        sentinel_vip_check
    }
}
"""


def tree(files: dict):
    return doctor_files.parse_keepalived(
        "/k/keepalived.conf",
        read=files.get,
        expand=lambda pattern: sorted(p for p in files if p.startswith(pattern.split("*")[0])),
    )


def make_config(**sections):
    table = {
        "master_name": "mymaster",
        "sentinel": {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]},
        "vip": {"address": "10.0.0.100", "interface": "eth0"},
        "keepalived": {"config_file": "/k/keepalived.conf", "snippet": "/k/conf.d/svip.conf"},
    }
    for name, values in sections.items():
        table.setdefault(name, {}).update(values)
    return from_mapping(table)


def statuses(found, item=None):
    return [(f.status, f.item) for f in found if item is None or f.item == item]


# -- parsing keepalived's config ----------------------------------------------------------


def test_parse_follows_includes_and_nests_blocks():
    blocks, read = tree({"/k/keepalived.conf": KEEPALIVED_MAIN, "/k/conf.d/svip.conf": OURS})
    assert read == ["/k/keepalived.conf", "/k/conf.d/svip.conf"]
    # the included file's blocks come where the include line is
    assert [(b.keyword, b.args[:1]) for b in blocks] == [
        ("global_defs", []),
        ("vrrp_script", ["sentinel_vip_check"]),
        ("vrrp_instance", ["sentinel_vip"]),
        ("vrrp_instance", ["other"]),
    ]
    assert doctor_files.global_option(blocks, "script_user").args == ["keepalived_script"]
    other = blocks[3]
    assert other.value("interface") == "eth0" and other.value("priority") == "50"
    ours = blocks[2]
    assert ours.first("track_script").children[0].keyword == "sentinel_vip_check"


def test_vrid_clash_and_nopreempt_with_weights():
    blocks, _ = tree({"/k/keepalived.conf": KEEPALIVED_MAIN, "/k/conf.d/svip.conf": OURS})
    assert doctor_files.vrid_clashes(blocks, "sentinel_vip") == ["other"]
    ours = doctor_files.instances(blocks)[0]
    assert doctor_files.weights_with_nopreempt(blocks, ours) == ["sentinel_vip_check weight -50"]
    without = OURS.replace("    nopreempt\n", "").replace("51", "52")
    blocks, _ = tree({"/k/keepalived.conf": KEEPALIVED_MAIN, "/k/conf.d/svip.conf": without})
    assert doctor_files.vrid_clashes(blocks, "sentinel_vip") == []
    assert doctor_files.weights_with_nopreempt(blocks, doctor_files.instances(blocks)[0]) == []


def test_include_loops_stop():
    files = {"/k/keepalived.conf": "include /k/keepalived.conf\nvrrp_instance a {\n}\n"}
    _, read = tree(files)
    assert len(read) == doctor_files.MAX_INCLUDE_DEPTH + 1


def test_sentinel_conf_monitor_in_an_included_file():
    main = "port 26379\ninclude /etc/redis/extra.conf\nsentinel monitor mymaster 127.0.0.1 6379 2\n"
    extra = "sentinel monitor other 10.0.0.5 6379 2\n"
    conf = doctor_files.parse_sentinel_conf("/etc/redis/sentinel.conf", main, read=lambda p: extra)
    assert conf.includes == ("/etc/redis/extra.conf",)
    assert conf.monitors == (("mymaster", "127.0.0.1", "6379", "2"),)
    assert conf.included_monitors == (("/etc/redis/extra.conf", "other"),)
    config = make_config()
    found = doctor_checks.sentinel_files(config, [conf], classify=lambda h, p: "loopback")
    assert statuses(found) == [
        ("fail", "sentinel.conf"),
        ("fail", "sentinel.conf"),
        ("warn", "sentinel snippet"),
    ]
    assert "Duplicate master name" in found[0].detail
    assert "Debian's stock line" in found[1].detail


def test_mentions_matches_whole_addresses_only():
    assert doctor_files.mentions("address 10.0.0.100/24\n", "10.0.0.100")
    assert doctor_files.mentions("Address=10.0.0.100/24", "10.0.0.100")
    assert doctor_files.mentions('addresses: ["10.0.0.100/24"]', "10.0.0.100")
    assert not doctor_files.mentions("address 10.0.0.10/24\n", "10.0.0.100")
    assert not doctor_files.mentions("address 10.0.0.1001\n", "10.0.0.100")
    assert not doctor_files.mentions("# address 10.0.0.100\n", "10.0.0.100")


# -- checks ------------------------------------------------------------------------------------


def answer(sentinel, master):
    if master is None:
        return SentinelAnswer(sentinel, False, None, f"{sentinel}: timed out", "unreachable")
    return SentinelAnswer(sentinel, True, master, None)


def state(quorum, others=2):
    return {"quorum": str(quorum), "num-other-sentinels": str(others), "flags": "master"}


def classify_self(host, port):
    return "self" if host == "10.0.0.1" else "loopback" if host.startswith("127.") else "other"


def test_sentinels_all_good():
    config = make_config()
    answers = [answer(f"10.0.0.{i}:26379", ("10.0.0.1", 6379)) for i in (1, 2, 3)]
    found = doctor_checks.sentinels(config, answers, [state(2)] * 3, [], classify_self, "master")
    assert {f.status for f in found} == {"ok"}
    assert statuses(found) == [
        ("ok", "sentinels"),
        ("ok", "sentinel count"),
        ("ok", "quorum"),
        ("ok", "agreement"),
        ("ok", "identity"),
    ]


def test_sentinels_problems_each_reported():
    config = make_config(sentinel={"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]})
    answers = [
        answer("10.0.0.1:26379", ("10.0.0.1", 6379)),
        answer("10.0.0.2:26379", ("10.0.0.2", 6379)),
        answer("10.0.0.3:26379", None),
        SentinelAnswer("10.0.0.4:26379", True, None, "unknown master name"),
    ]
    states = [state(5, 3), state(1, 1), OSError("x"), OSError("y")]
    found = doctor_checks.sentinels(
        config, answers, states, ["10.0.0.3:6379"], classify_self, "master"
    )
    assert statuses(found) == [
        ("fail", "sentinel"),  # 10.0.0.3 down
        ("fail", "sentinel"),  # 10.0.0.4 does not monitor mymaster
        ("warn", "sentinel count"),  # 4 is even
        ("fail", "quorum"),  # 5 > 4
        ("warn", "quorum"),  # 1 < 3
        ("warn", "sentinel peers"),  # knows 1 other, config has 4
        ("fail", "agreement"),
        ("ok", "identity"),
        ("fail", "replication"),
    ]


def test_loopback_and_unrecognised_master():
    config = make_config()
    answers = [answer(f"10.0.0.{i}:26379", ("127.0.0.1", 6379)) for i in (1, 2, 3)]
    found = doctor_checks.sentinels(config, answers, [state(2)] * 3, [], classify_self, "master")
    assert ("fail", "identity") in statuses(found)
    assert "Debian" in next(f.detail for f in found if f.item == "identity")
    answers = [answer(f"10.0.0.{i}:26379", ("10.0.0.9", 6379)) for i in (1, 2, 3)]
    found = doctor_checks.sentinels(config, answers, [state(2)] * 3, [], classify_self, "master")
    assert "not recognised as this node" in next(f.detail for f in found if f.item == "identity")
    # a replica naming another master is fine
    found = doctor_checks.sentinels(config, answers, [state(2)] * 3, [], classify_self, "slave")
    assert "identity" not in [f.item for f in found]


def test_redis_checks():
    base = {"address": "127.0.0.1:6379", "error_kind": None, "error": None}
    found = doctor_checks.redis({**base, "error_kind": "auth"}, "10.0.0.100")
    assert statuses(found) == [("fail", "redis")] and "password_file" in found[0].fix
    info = {"role": "slave", "master_host": "10.0.0.100", "master_port": 6379}
    found = doctor_checks.redis({**base, "info": info, "min_replicas": 0}, "10.0.0.100")
    assert statuses(found) == [("ok", "redis"), ("fail", "replication"), ("warn", "min-replicas")]
    found = doctor_checks.redis({**base, "info": {"role": "master"}, "min_replicas": 1}, "")
    assert statuses(found) == [("ok", "redis"), ("ok", "min-replicas")]


def keepalived_host(**changes):
    blocks, read = tree({"/k/keepalived.conf": KEEPALIVED_MAIN, "/k/conf.d/svip.conf": OURS})
    facts = {
        "installed": True,
        "blocks": blocks,
        "files": read,
        "test_output": "",
        "users": {"keepalived_script"},
        "interfaces": {"lo", "eth0"},
        "script_path_problems": [],
        "vip_local": False,
        "keepalived_state": None,
        "static_vip_files": [],
    }
    facts.update(changes)
    return facts


def test_keepalived_checks():
    config = make_config()
    found = doctor_checks.keepalived(config, keepalived_host())
    assert statuses(found) == [
        ("ok", "keepalived include"),
        ("ok", "keepalived -t"),
        ("ok", "script user"),
        ("ok", "interface"),
        ("ok", "vip"),
        ("fail", "nopreempt"),
        ("fail", "virtual_router_id"),
        ("ok", "static vip"),
    ]
    found = doctor_checks.keepalived(
        config,
        keepalived_host(
            test_output="WARNING - default user 'keepalived_script' for script execution"
            " does not exist",
            users=set(),
            interfaces={"lo"},
            script_path_problems=["/usr/sbin is not owned by root"],
            vip_local=True,
            static_vip_files=["/etc/network/interfaces"],
        ),
    )
    assert [s for s in statuses(found) if s[0] != "ok"] == [
        ("fail", "keepalived -t"),
        ("fail", "script user"),
        ("fail", "script path"),
        ("fail", "interface"),
        ("fail", "nopreempt"),
        ("fail", "virtual_router_id"),
        ("fail", "static vip"),
        ("warn", "static vip"),
    ]
    # keepalived holding the VIP as MASTER is not a static address
    found = doctor_checks.keepalived(
        config, keepalived_host(vip_local=True, keepalived_state="MASTER")
    )
    assert ("ok", "static vip") in statuses(found)
    assert statuses(doctor_checks.keepalived(config, keepalived_host(installed=False))) == [
        ("fail", "keepalived")
    ]
    missing = keepalived_host(files=["/k/keepalived.conf"])
    assert ("fail", "keepalived include") in statuses(doctor_checks.keepalived(config, missing))


def test_secrets_finding_splits_the_fix():
    found = doctor_checks.secrets(
        [
            "/x: mode 0644 group root: readable or writable by others;"
            " fix: chmod 0640 /x && chown root:keepalived_script /x"
        ]
    )
    assert found[0].status == "fail" and found[0].fix.startswith("chmod 0640 /x")


def test_script_path_problems(tmp_path):
    script = tmp_path / "bin" / "tool"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    os.chmod(script.parent, 0o777)
    problems = doctor.script_path_problems(str(script))
    assert f"{script.parent} is writable by group or others" in problems
    assert doctor.script_path_problems("/usr/bin/true") == []


def test_static_vip_files(tmp_path):
    (tmp_path / "interfaces").write_text("iface eth0 inet static\n  address 10.0.0.100/24\n")
    (tmp_path / "other").write_text("address 10.0.0.1/24\n")
    found = doctor.static_vip_files([str(tmp_path / "*")], "10.0.0.100")
    assert found == [str(tmp_path / "interfaces")]


def test_report_and_exit_code():
    ok = doctor_checks.Finding("ok", "config", "parses")
    warn = doctor_checks.Finding("warn", "min-replicas", "0", "set it")
    fail = doctor_checks.Finding("fail", "redis", "down", "start it")
    text = doctor.report([ok, warn, fail])
    assert text.splitlines() == [
        "ok    config        parses",
        "WARN  min-replicas  0",
        "                    fix: set it",
        "FAIL  redis         down",
        "                    fix: start it",
        "1 ok, 1 warn, 1 fail",
    ]
    assert doctor.exit_code([ok, warn]) == ExitCode.OK
    assert doctor.exit_code([ok, warn, fail]) == ExitCode.PROBLEMS_FOUND == 13


def test_unreadable_files_are_not_taken_for_missing(tmp_path):
    """doctor as the script user cannot read Debian's /etc/redis (redis:redis 2770): that is
    said (WARN, run as root), not reported as "no Sentinel config" or "not found"."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "sentinel.conf").write_text("port 26379\n")
    locked.chmod(0o000)
    try:
        if os.access(locked / "sentinel.conf", os.R_OK):  # root reads anything
            assert not doctor_files.unreadable(str(locked / "sentinel.conf"))
        else:
            assert doctor_files.unreadable(str(locked / "sentinel.conf"))
    finally:
        locked.chmod(0o755)
    assert not doctor_files.unreadable(str(tmp_path / "absent.conf"))
    config = make_config()
    found = doctor_checks.sentinel_files(
        config, [], classify=lambda h, p: "other", unreadable=["/etc/redis/sentinel.conf"]
    )
    assert statuses(found) == [("warn", "sentinel.conf")]
    assert "permission denied" in found[0].detail and "root" in found[0].fix
    host = {"installed": True, "unreadable": True, "blocks": [], "files": []}
    found = doctor_checks.keepalived(config, host)
    assert statuses(found) == [("warn", "keepalived")]
    assert "/k/keepalived.conf: permission denied" in found[0].detail
    found = doctor_checks.keepalived(config, {**host, "unreadable": False})
    assert statuses(found) == [("fail", "keepalived")] and "not found" in found[0].detail


def test_an_invalid_config_is_reported_as_fail_lines(tmp_path, capsys):
    """doctor keeps its report format for a broken config: one FAIL per problem, exit 13."""
    from sentinel_vip.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('master_name = ""\n[sentinel]\nadresses = ["x"]\n')
    code = main(["--config", str(bad), "doctor"])
    out = capsys.readouterr().out
    assert code == 13
    fails = [line for line in out.splitlines() if line.startswith("FAIL  config")]
    assert len(fails) >= 2, out
    assert any("did you mean 'addresses'" in line for line in fails), out
    assert out.splitlines()[-1].endswith(f"{len(fails)} fail")


def test_parse_report_reads_back_what_report_prints():
    found = [
        doctor_checks.Finding(doctor_checks.OK, "config", "parses"),
        doctor_checks.Finding(doctor_checks.WARN, "min-replicas", "is 0", "set it to 1"),
        doctor_checks.Finding(doctor_checks.FAIL, "keepalived -t", "unknown keyword", "fix it"),
        doctor_checks.Finding(doctor_checks.OK, "sentinel count", "3 (odd)"),
    ]
    assert doctor.parse_report(doctor.report(found)) == {
        "config": ["ok"],
        "min-replicas": ["WARN"],
        "keepalived -t": ["FAIL"],
        "sentinel count": ["ok"],
    }
