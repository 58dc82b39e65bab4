"""Is an address named by Sentinel this node's, as the config describes this node?

This is the *address* half of identity; the other half is the server's run_id, compared in
``decision.agreement.whose``. Either the admin lists this node's addresses as Sentinel
spells them (``node.addresses``: IPs or hostnames), or we detect them: the address must be
one of the host's own (or the host's own name) and the port the announced one. Local
addresses are read from the kernel (an AF_NETLINK RTM_GETADDR dump, else /proc), never by
trying ``bind()``: hosts running keepalived often set ``net.ipv4.ip_nonlocal_bind=1``, where
bind succeeds for any address. No process is spawned; this runs every second.

Loopback (and ``localhost``) and the VIP never identify a node: Debian's stock sentinel.conf
monitors 127.0.0.1, which every node would take for itself, and the VIP is local on
whichever node holds it.

Addresses are handled as canonical strings (``decision.address``), not ``ipaddress``
objects: importing ipaddress cost the check ~1 ms a run.
"""

from __future__ import annotations

import _socket
import functools
import struct

from sentinel_vip.decision.address import (
    canonical_host,
    canonical_ip,
    is_loopback,
    is_unspecified,
    normalise,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: importing typing costs the check ~3 ms a run
    from collections.abc import Iterable, Sequence

    Address = str  # canonical, as normalise() returns it

SELF = "self"
OTHER = "other"
LOOPBACK = "loopback"
VIP = "vip"

# linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h
_NETLINK_ROUTE = 0
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_NLMSG_HDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _parse_addr_messages(data: bytes) -> tuple[bool, list]:
    """(done, addresses) from one netlink receive buffer."""
    found = []
    offset = 0
    while offset + _NLMSG_HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG_HDR.unpack_from(data, offset)
        if length < _NLMSG_HDR.size or offset + length > len(data):
            raise OSError("malformed netlink message")
        if kind == _NLMSG_DONE:
            return True, found
        if kind == _NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, offset + _NLMSG_HDR.size)
            raise OSError(-errno, "netlink RTM_GETADDR failed")
        if kind == _RTM_NEWADDR:
            family = data[offset + _NLMSG_HDR.size]
            attrs: dict = {}
            pos = offset + _NLMSG_HDR.size + _IFADDRMSG.size
            end = offset + length
            while pos + _RTATTR.size <= end:
                alen, atype = _RTATTR.unpack_from(data, pos)
                if alen < _RTATTR.size:
                    break
                attrs[atype] = data[pos + _RTATTR.size : pos + alen]
                pos += _align(alen)
            # IFA_LOCAL is the own address; on point-to-point links IFA_ADDRESS is the peer.
            raw = attrs.get(_IFA_LOCAL, attrs.get(_IFA_ADDRESS))
            if family == _socket.AF_INET and raw is not None and len(raw) == 4:
                found.append(canonical_ip(raw))
            elif family == _socket.AF_INET6 and raw is not None and len(raw) == 16:
                found.append(canonical_ip(raw))
        offset += _align(length)
    return False, found


def netlink_addresses(timeout: float = 1.0) -> frozenset[Address]:
    """Every address configured on this host (both families), from an RTM_GETADDR dump."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, _NETLINK_ROUTE)
    try:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        header = _NLMSG_HDR.pack(
            _NLMSG_HDR.size + _IFADDRMSG.size,
            _RTM_GETADDR,
            _NLM_F_REQUEST | _NLM_F_DUMP,
            1,
            0,
        )
        sock.send(header + _IFADDRMSG.pack(_socket.AF_UNSPEC, 0, 0, 0, 0))
        found: list = []
        while True:
            done, part = _parse_addr_messages(sock.recv(65536))
            found.extend(part)
            if done:
                return frozenset(found)
    finally:
        sock.close()


def proc_addresses(
    fib_trie: str = "/proc/net/fib_trie", if_inet6: str = "/proc/net/if_inet6"
) -> frozenset[Address]:
    """Fallback without netlink: IPv4 'host LOCAL' routes from fib_trie, IPv6 from if_inet6."""
    found = set()
    try:
        with open(fib_trie, encoding="ascii") as fh:
            last = None
            for line in fh:
                text = line.strip()
                if text.startswith("|--") or text.startswith("+--"):
                    last = text[3:].split()[0].split("/")[0]
                elif "/32 host LOCAL" in text and last:
                    addr = normalise(last)
                    if addr is not None:
                        found.add(addr)
    except OSError:
        pass
    try:
        with open(if_inet6, encoding="ascii") as fh:
            for line in fh:
                fields = line.split()
                if fields and len(fields[0]) == 32:
                    found.add(canonical_ip(bytes.fromhex(fields[0])))
    except (OSError, ValueError):
        pass
    return frozenset(found)


@functools.lru_cache(maxsize=1)
def local_addresses() -> frozenset[Address]:
    """This host's addresses, once per process."""
    try:
        return netlink_addresses()
    except OSError:
        return proc_addresses()


def _parse_entry(entry) -> tuple[Address | str, int | None]:
    host, port = entry
    return canonical_host(host) or host, port


@functools.lru_cache(maxsize=1)
def _own_name() -> str:
    """This host's name, lower case, first label only ("" when unknown)."""
    try:
        return _socket.gethostname().lower().split(".", 1)[0]
    except OSError:
        return ""


class Identity:
    """Classifies an address named by Sentinel: "self", "other", "loopback" or "vip"."""

    def __init__(
        self,
        explicit: Sequence[tuple[str, int | None]] = (),
        announce_port: int = 6379,
        vip: str = "",
        allow_loopback: bool = False,
        addresses: Iterable[Address] | None = None,
        hostname: str | None = None,
    ) -> None:
        self._explicit = tuple(_parse_entry(entry) for entry in explicit)
        self._announce_port = announce_port
        self._vip = normalise(vip) if vip else None
        self.allow_loopback = allow_loopback
        # ``addresses`` / ``hostname`` replace detection (tests); None = ask the kernel.
        # (Any spelling, ipaddress objects included, is brought to the canonical one.)
        self._addresses = None
        if addresses is not None:
            self._addresses = frozenset(normalise(str(a)) for a in addresses) - {None}
        self._hostname = hostname

    def _local(self) -> frozenset[Address]:
        if self._addresses is None:
            self._addresses = local_addresses()
        return self._addresses

    def _explicit_match(self, host: Address | str, port: int) -> bool:
        for want_host, want_port in self._explicit:
            if want_host == host and port == (
                want_port if want_port is not None else self._announce_port
            ):
                return True
        return False

    def _own_hostname(self, host: str) -> bool:
        own = _own_name() if self._hostname is None else self._hostname
        return bool(own) and host.split(".", 1)[0] == own

    def classify(self, ip: str, port: int) -> str:
        host = canonical_host(ip)
        if host is None:
            return OTHER  # not an address at all: certainly not this node
        addr = normalise(host)
        if addr is None:  # a hostname
            if is_loopback(host) and not self.allow_loopback:
                return LOOPBACK
            if self._explicit:
                return SELF if self._explicit_match(host, port) else OTHER
            if port == self._announce_port and self._own_hostname(host):
                return SELF
            return OTHER
        if self._vip is not None and addr == self._vip:
            return VIP
        loopback = is_loopback(addr)
        if (loopback or is_unspecified(addr)) and not (self.allow_loopback and loopback):
            return LOOPBACK
        if self._explicit:
            return SELF if self._explicit_match(addr, port) else OTHER
        if port != self._announce_port:
            return OTHER
        if addr in self._local() or (loopback and self.allow_loopback):
            return SELF
        return OTHER

    def usable_here(self, address: str) -> bool:
        """May a connection from this host to ``address`` (a resolved IP) stand for one from
        a Sentinel? Not to loopback (unless allowed), a wildcard, or the VIP."""
        if address == self._vip or is_unspecified(address):
            return False
        return self.allow_loopback or not is_loopback(address)


def identity_of(config) -> Identity:
    """This node's identity as the config describes it."""
    return Identity(
        explicit=config.node_addresses,
        announce_port=config.announce_port,
        vip=config.vip_address,
        allow_loopback=config.allow_loopback,
    )


def confirm_named(config, identity: Identity, redis, counted, deadline, previous_run_id=None):
    """The probe ``decision.agreement.whose`` needs while the Sentinels have not read the
    agreed master's run_id, or still report ``previous_run_id`` (this node's before a
    restart): made only then, only when the local Redis is a master with a run_id and the
    config says the agreed address is this node's; else None."""
    if redis.role != "master" or not redis.run_id or not counted.agreed:
        return None
    stale = counted.runid is not None and counted.runid == previous_run_id != redis.run_id
    if (counted.runid is not None and not stale) or identity.classify(*counted.master) != SELF:
        return None
    return probe_named(config, identity, *counted.master, deadline)


def probe_named(config, identity: Identity, host: str, port: int, deadline):
    """``RedisFacts`` of the server answering at ``host:port`` as reached from this host, or
    None when that proves nothing (it resolves to loopback, the VIP, nothing).

    Used only while the Sentinels have not read the named master's run_id yet (after a
    switch, until Sentinel's next INFO: up to 10 s). The address is one the config says is
    this node's (the caller checked), so from here it reaches a local listener; the server
    answering there with the local Redis' run_id is this node's Redis, which is what a
    Sentinel connecting to that address reaches too.
    """
    from sentinel_vip.probes.endpoint import Endpoint
    from sentinel_vip.probes.failures import ProbeError
    from sentinel_vip.probes.local_redis import probe_redis
    from sentinel_vip.probes.transport import resolve

    try:
        resolved = resolve(host, port, deadline, host)
    except (OSError, ProbeError):
        return None
    addresses = [normalise(str(info[4][0])) for info in resolved]
    if not addresses or not all(a is not None and identity.usable_here(a) for a in addresses):
        return None
    redis = config.redis
    target = Endpoint(addresses[0], port, "", redis.username, redis.password, redis.tls)
    return probe_redis(target, deadline)


def on_this_host(identity: Identity, host: str, port: int, deadline) -> bool:
    """Does ``host`` (an IP or a name) reach one of this host's own addresses? Loopback and
    the VIP aside: every server of a single-host setup is on loopback, and the VIP is local
    on whichever node holds it. False when the name does not resolve in time."""
    from sentinel_vip.probes.failures import ProbeError
    from sentinel_vip.probes.transport import resolve

    try:
        resolved = resolve(host, port, deadline, host)
    except (OSError, ProbeError):
        return False
    addresses = {normalise(str(info[4][0])) for info in resolved} - {None}
    mine = {a for a in addresses if identity.usable_here(a) and not is_loopback(a)}
    return bool(mine & identity._local())


def vip_held(vip_address: str) -> bool | None:
    """Is the VIP on one of this host's interfaces? None when no VIP is configured."""
    if not vip_address:
        return None
    local_addresses.cache_clear()  # the VIP moves: never trust an earlier answer
    return normalise(vip_address) in local_addresses()


__all__ = [
    "LOOPBACK",
    "OTHER",
    "SELF",
    "VIP",
    "Identity",
    "confirm_named",
    "identity_of",
    "local_addresses",
    "netlink_addresses",
    "normalise",
    "on_this_host",
    "probe_named",
    "proc_addresses",
    "vip_held",
]
