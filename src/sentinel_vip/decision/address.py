"""Host addresses as peers spell them: validated, and brought to one canonical spelling.

Sentinel names a master by an IP literal, or by a hostname when it announces hostnames
(``announce-hostnames yes``, Redis 6.2+). Whatever a peer sends is untrusted: a host is an IP
literal or a valid hostname, anything else (spaces, control characters, ...) is refused, so
no peer text reaches a log line, a terminal or a REPLICAOF unchecked.

One spelling per address, so votes and identities compare as strings: ``inet_ntop``'s
spelling of ``inet_pton``'s bytes for IPs (IPv4-mapped IPv6 becomes the IPv4 address, the zone
is dropped), lower case without a trailing dot for hostnames. No ``ipaddress`` and no ``re``:
both cost the check a millisecond a run.
"""

from __future__ import annotations

import _socket

_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96
_HOSTNAME_EXTRA = "-_"  # '_' is not RFC 1123, but container and service names use it
MAX_HOSTNAME = 253


def packed(text: str) -> bytes | None:
    """The 4 or 16 bytes of an IP literal (strict: no leading zeros), else None."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            return _socket.inet_pton(family, text)
        except (OSError, ValueError):  # ValueError: NUL or a surrogate in the text
            pass
    return None


def canonical_ip(raw: bytes) -> str:
    """One spelling per address; IPv4-mapped IPv6 becomes the IPv4 address."""
    if len(raw) == 16 and raw[:12] == _V4_MAPPED:
        raw = raw[12:]
    family = _socket.AF_INET if len(raw) == 4 else _socket.AF_INET6
    return _socket.inet_ntop(family, raw)


def normalise(text: str) -> str | None:
    """An IP address in canonical form, without brackets or zone; None for anything else."""
    raw = packed(text.strip("[]").split("%", 1)[0])
    return canonical_ip(raw) if raw is not None else None


def is_hostname(text: str) -> bool:
    """A DNS name: ASCII labels of 1-63 letters, digits, '-' or '_' (not at either end of a
    label), at most 253 characters, one optional trailing dot, and a last label that is not
    all digits (that would be a malformed IP literal, not a name)."""
    if text.endswith("."):
        text = text[:-1]
    if not text or len(text) > MAX_HOSTNAME or not text.isascii():
        return False
    labels = text.split(".")
    for part in labels:
        if not 0 < len(part) <= 63 or part[0] in _HOSTNAME_EXTRA or part[-1] in _HOSTNAME_EXTRA:
            return False
        if not part.replace("-", "").replace("_", "").isalnum():
            return False
    return not labels[-1].isdigit()


def canonical_host(text) -> str | None:
    """The canonical spelling of an IP literal or hostname; None when ``text`` is neither
    (the caller treats that as a protocol error)."""
    if not isinstance(text, str) or not text or len(text) > MAX_HOSTNAME + 1:
        return None
    bracketed = text[0] == "[" and text[-1] == "]"
    bare = text[1:-1] if bracketed else text
    if ":" in bare or bare[-1:].isdigit():
        address, _, zone = bare.partition("%")
        if zone and not zone.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return None
        raw = packed(address)
        if raw is not None:
            return canonical_ip(raw)
    if not bracketed and is_hostname(text) and not _inet_aton(text):
        return text.lower().rstrip(".")
    return None


def _inet_aton(text: str) -> bool:
    """A spelling the resolver reads as an IPv4 address ('0x0a000064', '10.1', '012.0.0.1'):
    not a hostname, and not the canonical IP either; refused."""
    try:
        _socket.inet_aton(text)
    except (OSError, ValueError):
        return False
    return True


def port_number(value) -> int | None:
    """A TCP port 1..65535 from an int or its decimal text; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and 0 < len(value) <= 5 and value.isdigit() and value.isascii():
        port = int(value)
    else:
        return None
    return port if 0 < port < 65536 else None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, or a name that means this host wherever it is resolved."""
    return (
        host.startswith("127.")
        or host == "::1"
        or host == "localhost"
        or host.endswith(".localhost")  # RFC 6761
    )


def is_unspecified(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def label(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
