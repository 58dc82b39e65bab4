"""Is an (ip, port) named by Sentinel this node?

Either the admin lists this node's addresses (``node.addresses``), or we detect them: the
address must be one of the host's own and the port the announced one. Local addresses are
read from the kernel (an AF_NETLINK RTM_GETADDR dump, else /proc), never by trying
``bind()``: hosts running keepalived often set ``net.ipv4.ip_nonlocal_bind=1``, where bind
succeeds for any address. No process is spawned; this runs every second.

Loopback and the VIP never identify a node: Debian's stock sentinel.conf monitors
127.0.0.1, which every node would take for itself, and the VIP is local on whichever node
holds it.

Addresses are handled as canonical strings (``inet_ntop``'s spelling of ``inet_pton``'s
bytes), not ``ipaddress`` objects: importing ipaddress cost the check ~1 ms a run.
"""

from __future__ import annotations

import _socket
import functools
import struct

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


_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96


def _packed(text: str) -> bytes | None:
    """The 4 or 16 bytes of an IP literal (strict: no leading zeros), else None."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            return _socket.inet_pton(family, text)
        except (OSError, ValueError):  # ValueError: NUL or a surrogate in the text
            pass
    return None


def _canonical(packed: bytes) -> Address:
    """One spelling per address; IPv4-mapped IPv6 becomes the IPv4 address."""
    if len(packed) == 16 and packed[:12] == _V4_MAPPED:
        packed = packed[12:]
    family = _socket.AF_INET if len(packed) == 4 else _socket.AF_INET6
    return _socket.inet_ntop(family, packed)


def normalise(text: str) -> Address | None:
    """An IP address in canonical form, without zone, IPv4-mapped IPv6 turned into IPv4;
    None for a hostname."""
    packed = _packed(text.strip("[]").split("%", 1)[0])
    return _canonical(packed) if packed is not None else None


def _is_loopback(addr: Address) -> bool:
    return addr.startswith("127.") or addr == "::1"  # 127.0.0.0/8, ::1/128


def _is_unspecified(addr: Address) -> bool:
    return addr in ("0.0.0.0", "::")


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
                found.append(_canonical(raw))
            elif family == _socket.AF_INET6 and raw is not None and len(raw) == 16:
                found.append(_canonical(raw))
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
                    found.add(_canonical(bytes.fromhex(fields[0])))
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
    addr = normalise(host)
    return (addr if addr is not None else host), port


class Identity:
    """Classifies an address named by Sentinel: "self", "other", "loopback" or "vip"."""

    def __init__(
        self,
        explicit: Sequence[tuple[str, int | None]] = (),
        announce_port: int = 6379,
        vip: str = "",
        allow_loopback: bool = False,
        addresses: Iterable[Address] | None = None,
    ) -> None:
        self._explicit = tuple(_parse_entry(entry) for entry in explicit)
        self._announce_port = announce_port
        self._vip = normalise(vip) if vip else None
        self._allow_loopback = allow_loopback
        # ``addresses`` replaces detection (tests); None = ask the kernel when first needed.
        # (Any spelling, ipaddress objects included, is brought to the canonical one.)
        self._addresses = None
        if addresses is not None:
            self._addresses = frozenset(normalise(str(a)) for a in addresses) - {None}

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

    def classify(self, ip: str, port: int) -> str:
        addr = normalise(ip)
        if addr is None:
            # A hostname: only an explicit entry spelled the same way can claim it.
            return SELF if self._explicit_match(ip, port) else OTHER
        if self._vip is not None and addr == self._vip:
            return VIP
        loopback = _is_loopback(addr)
        if (loopback or _is_unspecified(addr)) and not (self._allow_loopback and loopback):
            return LOOPBACK
        if self._explicit:
            return SELF if self._explicit_match(addr, port) else OTHER
        if port != self._announce_port:
            return OTHER
        if addr in self._local() or (loopback and self._allow_loopback):
            return SELF
        return OTHER


def identity_of(config) -> Identity:
    """This node's identity as the config describes it."""
    return Identity(
        explicit=config.node_addresses,
        announce_port=config.announce_port,
        vip=config.vip_address,
        allow_loopback=config.allow_loopback,
    )


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
    "identity_of",
    "local_addresses",
    "netlink_addresses",
    "normalise",
    "proc_addresses",
    "vip_held",
]
