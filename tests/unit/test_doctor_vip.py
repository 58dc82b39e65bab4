"""doctor: the VIP, its prefix and interface agree between the TOML and keepalived's instance;
a probe's error names its address once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_vip.admin import doctor_files, doctor_keepalived, doctor_sentinels, status
from sentinel_vip.config.load import from_mapping, load
from sentinel_vip.decision.facts import SentinelAnswer

REPO = Path(__file__).resolve().parents[2]


def config(**vip):
    return from_mapping(
        {
            "master_name": "mymaster",
            "sentinel": {"addresses": ["192.0.2.11", "192.0.2.12", "192.0.2.13"]},
            "vip": {"address": "192.0.2.100", "interface": "eth0", "prefix": 24, **vip},
        }
    )


def instance(addresses: str, interface: str = "eth0"):
    text = (
        f"vrrp_instance sentinel_vip {{\n    interface {interface}\n"
        f"    virtual_ipaddress {{\n{addresses}\n    }}\n}}\n"
    )
    blocks, _ = doctor_files.parse_keepalived("/k.conf", read={"/k.conf": text}.get)
    return blocks[0]


def verdicts(found):
    return [(f.status, f.item) for f in found]


def test_agreement_is_ok():
    found = doctor_keepalived.vip_agreement(config(), instance("192.0.2.100/24"))
    assert verdicts(found) == [("ok", "vip")]
    assert found[0].detail == "192.0.2.100/24 on eth0: keepalived and the TOML agree"


def test_another_address_fails_and_names_both():
    found = doctor_keepalived.vip_agreement(config(), instance("192.0.2.10/24"))
    assert verdicts(found) == [("fail", "vip")]
    assert (
        "moves 192.0.2.10/24" in found[0].detail and "vip.address is 192.0.2.100" in found[0].detail
    )
    assert "sentinel-vip render" in found[0].fix


def test_no_virtual_ipaddress_fails():
    blocks, _ = doctor_files.parse_keepalived(
        "/k.conf", read={"/k.conf": "vrrp_instance sentinel_vip {\n interface eth0\n}\n"}.get
    )
    found = doctor_keepalived.vip_agreement(config(), blocks[0])
    assert verdicts(found) == [("fail", "vip")] and "moves no address" in found[0].detail


@pytest.mark.parametrize(
    ("line", "prefix", "seen", "wanted"),
    [
        ("192.0.2.100/24", 0, 24, 32),  # the TOML's 0 is a host address
        ("192.0.2.100", 24, 32, 24),  # keepalived's default is a host address too
        ("192.0.2.100/25", 24, 25, 24),
    ],
)
def test_another_prefix_warns(line, prefix, seen, wanted):
    found = doctor_keepalived.vip_agreement(config(prefix=prefix), instance(line))
    assert verdicts(found) == [("warn", "vip")]
    assert f"prefix /{seen}; vip.prefix says /{wanted}" in found[0].detail


def test_host_addresses_agree():
    found = doctor_keepalived.vip_agreement(config(prefix=0), instance("192.0.2.100"))
    assert verdicts(found) == [("ok", "vip")] and "192.0.2.100/32" in found[0].detail


def test_another_interface_warns_including_a_dev_on_the_address_line():
    found = doctor_keepalived.vip_agreement(config(), instance("192.0.2.100/24", interface="ens3"))
    assert verdicts(found) == [("warn", "vip")] and "on ens3; vip.interface is eth0" in (
        found[0].detail
    )
    # `dev` on the address line beats the instance's interface
    found = doctor_keepalived.vip_agreement(config(), instance("192.0.2.100/24 dev eth1"))
    assert verdicts(found) == [("warn", "vip")] and "on eth1" in found[0].detail
    found = doctor_keepalived.vip_agreement(
        config(), instance("192.0.2.100/24 dev eth0 label eth0:vip", interface="ens3")
    )
    assert verdicts(found) == [("ok", "vip")]
    # no vip.interface in the TOML: nothing to compare
    assert verdicts(
        doctor_keepalived.vip_agreement(config(interface=""), instance("192.0.2.100/24"))
    )[0] == ("ok", "vip")


def test_prefix_and_interface_both_reported():
    found = doctor_keepalived.vip_agreement(config(), instance("192.0.2.100/16", interface="ens3"))
    assert verdicts(found) == [("warn", "vip"), ("warn", "vip")]


def test_ipv6_is_compared_as_addresses_not_text():
    cfg = config(address="2001:db8:0::100", prefix=64)
    found = doctor_keepalived.vip_agreement(cfg, instance("2001:db8::100/64"))
    assert verdicts(found) == [("ok", "vip")] and "2001:db8::100/64" in found[0].detail
    found = doctor_keepalived.vip_agreement(config(address="2001:db8::100", prefix=0), instance(
        "2001:db8::100/64"
    ))  # fmt: skip
    assert "prefix /64; vip.prefix says /128" in found[0].detail


def test_no_vip_configured_leaves_it_to_the_static_vip_check():
    assert doctor_keepalived.vip_agreement(config(address=""), instance("192.0.2.100/24")) == []


def test_the_shipped_toml_and_keepalived_snippet_use_the_same_vip():
    shipped = load(str(REPO / "etc" / "sentinel-vip" / "sentinel-vip.toml"))
    blocks, _ = doctor_files.parse_keepalived(
        str(REPO / "etc" / "keepalived" / "conf.d" / "sentinel-vip.conf")
    )
    ours = next(b for b in doctor_files.instances(blocks) if b.args[:1] == ["sentinel_vip"])
    assert verdicts(doctor_keepalived.vip_agreement(shipped, ours)) == [("ok", "vip")]


# -- an address named once ----------------------------------------------------------------


def test_a_sentinel_error_names_its_address_once():
    cfg = config()
    answers = [
        SentinelAnswer("192.0.2.11:26379", False, None, "192.0.2.11:26379: Network is unreachable"),
        SentinelAnswer("192.0.2.12:26379", False, None, "WRONGPASS invalid password", "auth"),
        SentinelAnswer("192.0.2.13:26379", True, ("192.0.2.11", 6379), None),
    ]
    from sentinel_vip.decision.agreement import agree

    counted = agree(answers, cfg.agreement, len(cfg.sentinels))
    found = doctor_sentinels.sentinels(cfg, answers, counted, [], {"role": "slave"})
    details = [f.detail for f in found if f.item == "sentinel"]
    assert details == [
        "192.0.2.11:26379: Network is unreachable",
        "192.0.2.12:26379: WRONGPASS invalid password",
    ]


def test_status_names_an_unanswering_sentinel_once():
    row = {"address": "192.0.2.11:26379", "master": None, "error": "192.0.2.11:26379: timed out"}
    assert status._sentinel_line(row) == "192.0.2.11:26379  no answer: timed out"
