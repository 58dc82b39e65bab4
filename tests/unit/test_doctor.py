"""doctor: the file parsers and each check, with plain data; the report and exit code."""

from __future__ import annotations

import os

from sentinel_vip.admin import (
    doctor,
    doctor_checks,
    doctor_files,
    doctor_keepalived,
    doctor_sentinels,
    findings,
)
from sentinel_vip.config.load import from_mapping
from sentinel_vip.decision.facts import SentinelAnswer
from sentinel_vip.errors import ExitCode
from support.config import merge, table

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
    keepalived = {"config_file": "/k/keepalived.conf", "snippet": "/k/conf.d/svip.conf"}
    return from_mapping(merge(table(keepalived=keepalived), sections))


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
    found = doctor_sentinels.sentinel_files(config, [conf], classify=lambda h, p: "loopback")
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


RUN_ID = "a" * 40
ME = ("10.0.0.1", 6379)


def answer(i, master, quorum=2, others=2, runid=RUN_ID, sentinel_id=None):
    label = f"10.0.0.{i}:26379"
    if master is None:
        return SentinelAnswer(label, False, None, f"{label}: timed out", "unreachable")
    sid = sentinel_id or str(i) * 40
    if master == "nil":
        return SentinelAnswer(label, True, None, "unknown master name", None, sid)
    fields = {"ip": master[0], "port": str(master[1]), "flags": "master", "runid": runid,
              "quorum": str(quorum), "num-other-sentinels": str(others)}  # fmt: skip
    return SentinelAnswer(label, True, master, None, None, sid, runid, master, fields)


def classify_self(host, port):
    return "self" if host == "10.0.0.1" else "loopback" if host.startswith("127.") else "other"


def sentinel_findings(
    config, answers, via_vip=(), role="master", seen_as=("10.0.0.1:6379", "self")
):
    from sentinel_vip.decision.agreement import agree, whose
    from sentinel_vip.decision.facts import RedisFacts

    counted = agree(answers, config.agreement, len(config.sentinels))
    local = RedisFacts(True, role, None, None, run_id=RUN_ID)
    facts = {"role": role, "run_id": RUN_ID}
    if counted.agreed:
        facts["whose"] = whose(counted, local, classify_self)
    if seen_as is not None:
        facts["seen_as"] = seen_as
    return doctor_sentinels.sentinels(config, answers, counted, list(via_vip), facts)


def test_sentinels_all_good():
    config = make_config()
    found = sentinel_findings(config, [answer(i, ME) for i in (1, 2, 3)])
    assert {f.status for f in found} == {"ok"}
    assert statuses(found) == [
        ("ok", "sentinel ids"),
        ("ok", "sentinels"),
        ("ok", "sentinel count"),
        ("ok", "quorum"),
        ("ok", "agreement"),
        ("ok", "identity"),
        ("ok", "seen as"),
    ]
    assert found[0].detail == (
        "10.0.0.1:26379=11111111 10.0.0.2:26379=22222222 10.0.0.3:26379=33333333"
    )


def test_sentinels_problems_each_reported():
    config = make_config(sentinel={"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]})
    answers = [
        answer(1, ME, quorum=5, others=3),
        answer(2, ("10.0.0.2", 6379), quorum=1, others=1, runid="b" * 40),
        answer(3, None),
        answer(4, "nil"),
    ]
    found = sentinel_findings(config, answers, via_vip=["10.0.0.3:6379"])
    assert statuses(found) == [
        ("fail", "sentinel"),  # 10.0.0.3 down
        ("fail", "sentinel"),  # 10.0.0.4 does not monitor mymaster
        ("ok", "sentinel ids"),
        ("warn", "sentinel count"),  # 4 is even
        ("fail", "quorum"),  # 5 > 4
        ("warn", "quorum"),  # 1 < 3
        ("warn", "sentinel peers"),  # knows 1 other, config has 4
        ("fail", "agreement"),
        ("ok", "seen as"),
        ("fail", "replication"),
    ]


def test_one_sentinel_under_several_names_fails():
    """Issue 10, case 2: doctor said "all 3 answer", "3 (odd)"."""
    config = make_config()
    same = "9" * 40
    answers = [answer(1, ME), answer(2, ME, sentinel_id=same), answer(3, ME, sentinel_id=same)]
    found = sentinel_findings(config, answers)
    assert ("fail", "duplicate sentinel") in statuses(found)
    assert ("ok", "sentinels") not in statuses(found)
    assert "2 Sentinels" in next(f.detail for f in found if f.item == "sentinel count")
    dup = next(f.detail for f in found if f.item == "duplicate sentinel")
    assert dup.startswith("10.0.0.3:26379 reaches the same Sentinel as 10.0.0.2:26379")


def test_loopback_and_unrecognised_master():
    config = make_config()
    loop = ("127.0.0.1", 6379)
    found = sentinel_findings(config, [answer(i, loop) for i in (1, 2, 3)])
    assert ("fail", "identity") in statuses(found)
    assert "loopback" in next(f.detail for f in found if f.item == "identity")
    other = ("10.0.0.9", 6379)
    answers = [answer(i, other, runid="b" * 40) for i in (1, 2, 3)]
    found = sentinel_findings(config, answers)
    assert "local Redis is master but" in next(f.detail for f in found if f.item == "identity")
    # a replica naming another master is fine
    found = sentinel_findings(config, answers, role="slave")
    assert "identity" not in [f.item for f in found]


def test_wrong_node_addresses_or_announce_port_fail():
    """Issue 10, case 3: doctor said "ok identity ... is this node" for a standalone server
    whose node.addresses was copied from the master."""
    config = make_config()
    answers = [answer(i, ME, runid="b" * 40) for i in (1, 2, 3)]  # ME's address, not ME
    found = sentinel_findings(config, answers, seen_as=None)
    assert ("fail", "identity") in statuses(found)
    assert ("warn", "seen as") in statuses(found)
    found = sentinel_findings(config, [answer(i, ME) for i in (1, 2, 3)],
                              seen_as=("10.0.0.1:6380", "other"))  # fmt: skip
    seen = next(f for f in found if f.item == "seen as")
    assert seen.status == "fail" and 'node.addresses = ["10.0.0.1:6380"]' in seen.fix


def test_report_escapes_peer_text():
    text = doctor.report([findings.Finding("fail", "sentinel", "x\n<30>forged\x1b[2J")])
    assert "\x1b" not in text and "\\x1b[2J" in text and "\\n<30>" in text
    assert len(text.splitlines()) == 2


def test_redis_checks():
    base = {"address": "127.0.0.1:6379", "error_kind": None, "error": None}
    found = doctor_checks.redis({**base, "error_kind": "auth"}, "10.0.0.100")
    assert statuses(found) == [("fail", "redis")] and "password_file" in found[0].fix
    info = {"role": "slave", "master_host": "10.0.0.100", "master_port": 6379}
    found = doctor_checks.redis({**base, "info": info, "min_replicas": 0}, "10.0.0.100")
    assert statuses(found) == [("ok", "redis"), ("fail", "replication"), ("warn", "min-replicas")]
    found = doctor_checks.redis({**base, "info": {"role": "master"}, "min_replicas": 1}, "")
    assert statuses(found) == [("ok", "redis"), ("ok", "min-replicas")]
    tls = {**base, "error_kind": "tls", "error": "certificate verify failed: Hostname mismatch"}
    found = doctor_checks.redis(tls, "")
    assert statuses(found) == [("fail", "redis")] and "server_name" in found[0].fix


def test_fence_checks():
    base = {"address": "127.0.0.1:6379", "error_kind": None, "error": None}
    found = doctor_checks.fence({**base, "version": "6.0.16"}, {})
    assert statuses(found) == [("warn", "fence")] and "CLIENT PAUSE WRITE" in found[0].detail
    assert statuses(doctor_checks.fence({**base, "version": "7.0.15"}, {})) == [("ok", "fence")]
    assert statuses(doctor_checks.fence({**base, "version": "8.1.1"}, {})) == [("ok", "fence")]
    assert doctor_checks.fence({**base, "error_kind": "unreachable"}, {}) == []
    left = {"to_write": 0, "max_lag": 10, "set_to_write": 2, "set_max_lag": 10}
    found = doctor_checks.fence({**base, "version": "7.0.15"}, left, "/var/lib/x.fence.json")
    assert statuses(found) == [("ok", "fence"), ("warn", "fence")]
    assert "min-replicas-to-write 0 min-replicas-max-lag 10" in found[1].fix
    assert "/var/lib/x.fence.json" in found[1].detail


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
    found = doctor_keepalived.keepalived(config, keepalived_host())
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
    found = doctor_keepalived.keepalived(
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
    found = doctor_keepalived.keepalived(
        config, keepalived_host(vip_local=True, keepalived_state="MASTER")
    )
    assert ("ok", "static vip") in statuses(found)
    assert statuses(doctor_keepalived.keepalived(config, keepalived_host(installed=False))) == [
        ("fail", "keepalived")
    ]
    missing = keepalived_host(files=["/k/keepalived.conf"])
    assert ("fail", "keepalived include") in statuses(doctor_keepalived.keepalived(config, missing))


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
    ok = findings.Finding("ok", "config", "parses")
    warn = findings.Finding("warn", "min-replicas", "0", "set it")
    fail = findings.Finding("fail", "redis", "down", "start it")
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
    found = doctor_sentinels.sentinel_files(
        config, [], classify=lambda h, p: "other", unreadable=["/etc/redis/sentinel.conf"]
    )
    assert statuses(found) == [("warn", "sentinel.conf")]
    assert "permission denied" in found[0].detail and "root" in found[0].fix
    host = {"installed": True, "unreadable": True, "blocks": [], "files": []}
    found = doctor_keepalived.keepalived(config, host)
    assert statuses(found) == [("warn", "keepalived")]
    assert "/k/keepalived.conf: permission denied" in found[0].detail
    found = doctor_keepalived.keepalived(config, {**host, "unreadable": False})
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
        findings.Finding(findings.OK, "config", "parses"),
        findings.Finding(findings.WARN, "min-replicas", "is 0", "set it to 1"),
        findings.Finding(findings.FAIL, "keepalived -t", "unknown keyword", "fix it"),
        findings.Finding(findings.OK, "sentinel count", "3 (odd)"),
    ]
    assert doctor.parse_report(doctor.report(found)) == {
        "config": ["ok"],
        "min-replicas": ["WARN"],
        "keepalived -t": ["FAIL"],
        "sentinel count": ["ok"],
    }
