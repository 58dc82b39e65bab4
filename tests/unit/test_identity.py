"""identity: which addresses named by Sentinel are this node."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_vip.probes import identity
from sentinel_vip.probes.identity import Identity

LOCAL = [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.5", "fd00::5")]


def detect(**kwargs) -> Identity:
    kwargs.setdefault("announce_port", 6379)
    return Identity(addresses=LOCAL, **kwargs)


def ip_addr_json() -> set:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 not installed")
    out = subprocess.run(
        ["ip", "-j", "addr"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    found = set()
    for link in json.loads(out):
        for info in link.get("addr_info", []):
            if "local" in info:
                found.add(ipaddress.ip_address(info["local"]))
    return found


# -- detection from the kernel ---------------------------------------------------------------


def test_netlink_finds_loopback_and_every_address_ip_shows():
    found = identity.netlink_addresses()
    assert "127.0.0.1" in found
    assert {ipaddress.ip_address(a) for a in found} == ip_addr_json()


def test_proc_fallback_agrees_with_ip():
    assert {ipaddress.ip_address(a) for a in identity.proc_addresses()} == ip_addr_json()


def test_proc_fallback_parses_fib_trie_and_if_inet6(tmp_path):
    fib = tmp_path / "fib_trie"
    fib.write_text(
        "Main:\n"
        "  +-- 0.0.0.0/0 3 0 5\n"
        "     |-- 0.0.0.0\n"
        "        /0 universe UNICAST\n"
        "     +-- 127.0.0.0/8 2 0 2\n"
        "        |-- 127.0.0.0\n"
        "           /8 host LOCAL\n"
        "        |-- 127.0.0.1\n"
        "           /32 host LOCAL\n"
        "     |-- 192.0.2.0\n"
        "        /24 link UNICAST\n"
        "     |-- 192.0.2.7\n"
        "        /32 host LOCAL\n"
        "     |-- 192.0.2.255\n"
        "        /32 link BROADCAST\n"
    )
    inet6 = tmp_path / "if_inet6"
    inet6.write_text(
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fd000000000000000000000000000002 04 40 00 80     eth0\n"
    )
    found = identity.proc_addresses(str(fib), str(inet6))
    assert {str(a) for a in found} == {"127.0.0.1", "192.0.2.7", "::1", "fd00::2"}


def test_local_addresses_falls_back_to_proc_without_netlink(monkeypatch):
    def no_netlink(*_a, **_k):
        raise OSError("netlink unavailable")

    sentinel = frozenset({ipaddress.ip_address("203.0.113.9")})
    monkeypatch.setattr(identity, "netlink_addresses", no_netlink)
    monkeypatch.setattr(identity, "proc_addresses", lambda: sentinel)
    identity.local_addresses.cache_clear()
    try:
        assert identity.local_addresses() == sentinel
    finally:
        identity.local_addresses.cache_clear()


def test_malformed_netlink_reply_is_an_oserror():
    bogus = identity._NLMSG_HDR.pack(4, identity._RTM_NEWADDR, 0, 1, 0)
    with pytest.raises(OSError):
        identity._parse_addr_messages(bogus)


def test_netlink_error_message_is_an_oserror():
    header = identity._NLMSG_HDR.pack(20, identity._NLMSG_ERROR, 0, 1, 0)
    with pytest.raises(OSError):
        identity._parse_addr_messages(header + (-1).to_bytes(4, "little", signed=True))


def test_detection_uses_the_kernel_when_no_addresses_are_injected():
    me = Identity(announce_port=6379)
    others = [a for a in identity.local_addresses() if not ipaddress.ip_address(a).is_loopback]
    if not others:
        pytest.skip("no non-loopback address on this host")
    assert me.classify(str(others[0]), 6379) == "self"
    assert me.classify(str(others[0]), 6380) == "other"


# -- classification: detection mode ----------------------------------------------------------


def test_local_address_with_announce_port_is_self():
    assert detect().classify("10.0.0.5", 6379) == "self"
    assert detect().classify("fd00::5", 6379) == "self"


def test_local_address_other_port_is_other():
    assert detect().classify("10.0.0.5", 6380) == "other"


def test_announce_port_is_what_counts():
    assert detect(announce_port=7000).classify("10.0.0.5", 7000) == "self"
    assert detect(announce_port=7000).classify("10.0.0.5", 6379) == "other"


def test_foreign_address_is_other():
    assert detect().classify("10.0.0.6", 6379) == "other"


def test_ip_spellings_are_normalised():
    assert detect().classify("fd00:0:0:0:0:0:0:5", 6379) == "self"
    assert detect().classify("::ffff:10.0.0.5", 6379) == "self"
    assert detect().classify("[fd00::5]", 6379) == "self"


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "::"])
def test_loopback_and_unspecified_are_never_self(ip):
    assert detect().classify(ip, 6379) == "loopback"


def test_allow_loopback_accepts_loopback_on_the_announce_port():
    me = detect(allow_loopback=True)
    assert me.classify("127.0.0.1", 6379) == "self"
    assert me.classify("::1", 6379) == "self"
    assert me.classify("127.0.0.1", 6380) == "other"
    assert me.classify("0.0.0.0", 6379) == "loopback"


def test_vip_is_never_self_even_though_it_is_local():
    local_with_vip = [*LOCAL, ipaddress.ip_address("10.0.0.100")]
    me = Identity(announce_port=6379, vip="10.0.0.100", addresses=local_with_vip)
    assert me.classify("10.0.0.100", 6379) == "vip"
    assert me.classify("10.0.0.5", 6379) == "self"


def test_hostname_is_other_in_detection_mode():
    assert detect().classify("redis-a.example", 6379) == "other"


# -- classification: explicit list -----------------------------------------------------------


def test_explicit_entry_without_port_means_announce_port():
    me = detect(explicit=[("10.9.9.9", None)])
    assert me.classify("10.9.9.9", 6379) == "self"
    assert me.classify("10.9.9.9", 6380) == "other"


def test_explicit_entry_with_port():
    me = detect(explicit=[("10.9.9.9", 7000)])
    assert me.classify("10.9.9.9", 7000) == "self"
    assert me.classify("10.9.9.9", 6379) == "other"


def test_explicit_list_replaces_detection():
    me = detect(explicit=[("10.9.9.9", None)])
    assert me.classify("10.0.0.5", 6379) == "other"


def test_explicit_ipv6_entry_is_normalised():
    me = detect(explicit=[("FD00:0::9", 6379)])
    assert me.classify("fd00::9", 6379) == "self"


def test_explicit_hostname_matches_the_name_in_any_case():
    me = detect(explicit=[("Redis-A.example", 6379)])
    assert me.classify("redis-a.example", 6379) == "self"
    assert me.classify("REDIS-A.example.", 6379) == "self"  # DNS names ignore case
    assert me.classify("redis-a.example", 6380) == "other"
    assert me.classify("redis-b.example", 6379) == "other"


def test_hostnames_meaning_every_host_are_loopback():
    assert detect().classify("localhost", 6379) == "loopback"
    assert detect(explicit=[("localhost", 6379)]).classify("localhost", 6379) == "loopback"
    allowed = detect(explicit=[("localhost", 6379)], allow_loopback=True)
    assert allowed.classify("localhost", 6379) == "self"


def test_detection_recognises_this_hosts_own_name():
    me = detect(hostname="redis-a")
    assert me.classify("redis-a", 6379) == "self"
    assert me.classify("Redis-A.example.com", 6379) == "self"
    assert me.classify("redis-a", 6380) == "other"
    assert me.classify("redis-b", 6379) == "other"


def test_peer_text_that_is_no_address_is_never_self():
    me = detect(explicit=[("10.0.0.5", 6379)])
    assert me.classify("10.0.0.5\n<30>forged", 6379) == "other"
    assert me.classify("10.0.0.5 ", 6379) == "other"


def test_explicit_loopback_needs_allow_loopback():
    assert detect(explicit=[("127.0.0.1", 6379)]).classify("127.0.0.1", 6379) == "loopback"
    me = detect(explicit=[("127.0.0.1", 6379)], allow_loopback=True)
    assert me.classify("127.0.0.1", 6379) == "self"
    assert me.classify("127.0.0.1", 6380) == "other"


def test_explicit_vip_is_still_vip():
    me = detect(explicit=[("10.0.0.100", None)], vip="10.0.0.100")
    assert me.classify("10.0.0.100", 6379) == "vip"


# -- normalise: ipaddress is the oracle (identity does without it on the hot path) -----------


def expected(text: str):
    try:
        addr = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@given(st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16)))
def test_normalise_agrees_with_ipaddress_on_every_address(packed):
    addr = ipaddress.ip_address(packed)
    spellings = {str(addr), addr.exploded, addr.exploded.upper(), f"[{addr}]"}
    if addr.version == 6:
        spellings.add(f"{addr}%eth0")
    want = expected(str(addr))
    for text in spellings:
        got = identity.normalise(text)
        assert got is not None and ipaddress.ip_address(got) == want, text
        assert got == identity.normalise(str(want))  # one spelling per address
        me = Identity(announce_port=6379, addresses=[])
        loopback = want.is_loopback or want.is_unspecified
        assert (me.classify(text, 6379) == "loopback") == loopback, text


@given(st.text(max_size=40))
def test_normalise_accepts_what_ipaddress_accepts(text):
    got = identity.normalise(text)
    want = expected(text)
    assert (got is None) == (want is None), text
    if want is not None:
        assert ipaddress.ip_address(got) == want


@pytest.mark.parametrize(
    "text", ["01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4 ", "::g", "1:2:3:4:5:6:7:8:9", "a\x00b"]
)
def test_malformed_literals_are_hostnames(text):
    assert identity.normalise(text) is None


def test_on_this_host_is_an_own_address_loopback_and_vip_aside():
    from sentinel_vip.deadline import Deadline

    node = Identity(vip="10.0.0.100", addresses=["10.0.0.1", "127.0.0.1", "10.0.0.100"])
    lenient = Identity(allow_loopback=True, addresses=["10.0.0.1", "127.0.0.1"])
    assert identity.on_this_host(node, "10.0.0.1", 6380, Deadline(1))
    assert identity.on_this_host(node, "::ffff:10.0.0.1", 6380, Deadline(1))
    assert not identity.on_this_host(node, "10.0.0.2", 6379, Deadline(1))
    assert not identity.on_this_host(node, "10.0.0.100", 6379, Deadline(1))
    assert not identity.on_this_host(lenient, "127.0.0.1", 6379, Deadline(1))
    assert not identity.on_this_host(lenient, "localhost", 6379, Deadline(1))
