"""The config's cross-key rules, and the values they build: what a per-key schema cannot say.

``load._build`` validates each key against ``schema`` first, then calls these with the
validated values and one list that collects every problem: the VIP and the prefix, password
vs password_file, TLS settings, the Redis host vs the VIP, Sentinel addresses and their
aliases (one Sentinel named twice), the agreement vs the number of Sentinels, node addresses,
unicast peers, and where the track file and the state directory may live for the script
user. Each returns the built value (or None) and never raises for a bad value.
"""

from __future__ import annotations

import ipaddress

from sentinel_vip.config import schema
from sentinel_vip.config.files import Unusable as _Unusable
from sentinel_vip.config.files import read_secret as _read_secret
from sentinel_vip.config.files import state_dir_problem as _state_dir_problem
from sentinel_vip.config.files import track_file_problem as _track_file_problem
from sentinel_vip.config.leaves import INVALID, describe, is_host
from sentinel_vip.probes.endpoint import TLSSettings

SENTINEL_PORT = 26379


def _ip(text: str):
    """The address, an IPv4-mapped IPv6 spelling (::ffff:a.b.c.d) as the IPv4 address it is:
    '[::ffff:<VIP>]' or '::ffff:127.0.0.1' are refused wherever the plain forms are, and
    one Sentinel cannot be listed twice under two spellings."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


def _split_address(text: str, default_port):
    """'host', 'host:port', '[v6]' or '[v6]:port' (a bare IPv6 is a host) -> (host, port)."""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or ":" not in host:
            raise ValueError(text)
        if rest and not rest.startswith(":"):
            raise ValueError(text)
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if not host:
        raise ValueError(text)
    if port_text is None:
        return host, default_port
    if not (0 < len(port_text) <= 5 and all(c in "0123456789" for c in port_text)):
        raise ValueError(text)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return host, port


def vip(text, allow_loopback: bool, problems: list):
    if text is INVALID or not text:
        return None
    ip = _ip(text)
    where = f"vip.address: found {describe(text)}, expected"
    if ip is None:
        problems.append(f"{where} an IP address (no hostname, no prefix length)")
    elif ip.is_unspecified or ip.is_multicast:
        problems.append(f"{where} a unicast address that keepalived can add to an interface")
    elif ip.is_loopback and not allow_loopback:
        problems.append(f"{where} a non-loopback address (other hosts cannot reach loopback)")
    else:
        return ip
    return None


def unicast_ips(texts, key: str, problems: list) -> tuple:
    """keepalived's unicast_src_ip / unicast_peer take IP literals; "" entries are skipped."""
    if texts is INVALID or INVALID in texts:
        return ()
    found = []
    for index, text in enumerate(texts):
        ip = _ip(text) if text else None
        where = f"keepalived.{key}" + (f"[{index}]" if key == "unicast_peers" else "")
        if text and (ip is None or ip.is_unspecified or ip.is_multicast):
            problems.append(f"{where}: found {describe(text)}, expected a unicast IP address")
        elif ip is not None:
            found.append(str(ip))
    return tuple(found)


def vip_prefix(prefix, vip, problems: list) -> None:
    if prefix is INVALID or not prefix or vip is None:
        return
    if prefix > vip.max_prefixlen:
        problems.append(
            f"vip.prefix: found {prefix} (integer), expected at most {vip.max_prefixlen}"
            f" for the IPv{vip.version} address {vip}"
        )


def track_file(path, script_user, problems: list) -> None:
    if path is INVALID or not path or script_user is INVALID:
        return
    reason = _track_file_problem(path, script_user)
    if reason:
        problems.append(f"check.track_file: {path}: {reason}")


def state_dir(path, script_user, problems: list) -> None:
    if path is INVALID or not path or script_user is INVALID:
        return
    reason = _state_dir_problem(path, script_user)
    if reason:
        problems.append(f"paths.state_dir: {path}: {reason}")


def password(section: dict, name: str, problems: list):
    password, password_file = section["password"], section["password_file"]
    if password is INVALID or password_file is INVALID:
        return "", None
    if password and password_file:
        problems.append(
            f"{name}.password_file: found both password and password_file, expected only"
            f" one of them (keep password_file, remove {name}.password)"
        )
        return "", None
    if not password_file:
        return password, None
    try:
        return _read_secret(password_file), password_file
    except _Unusable as exc:
        problems.append(f"{name}.password_file: {password_file}: {exc.reason}")
        return "", None


def tls(section: dict, name: str, problems: list):
    if INVALID in section.values():
        return None
    cert, key = section["cert_file"], section["key_file"]
    if bool(cert) != bool(key):
        missing, present = ("key_file", "cert_file") if cert else ("cert_file", "key_file")
        problems.append(
            f"{name}.{missing}: found '' (string), expected a path because {present} is set"
            " (a client certificate needs both)"
        )
    return TLSSettings(**section)


def _host_problem(host: str, vip) -> str:
    """Why ``host`` cannot name a Redis or Sentinel, or "" when it can."""
    looks_numeric = all(c in "0123456789." for c in host)
    if ":" in host or looks_numeric:
        ip = _ip(host)
        if ip is None:
            return "a hostname or a valid IP address"
        if ip.is_unspecified or ip.is_multicast:
            return "a unicast address (0.0.0.0 and :: are listening wildcards)"
        if vip is not None and ip == vip:
            return "not the VIP: it points at whichever node holds it, not at one server"
    elif _inet_aton(host):
        return (
            f"an IP address written as a.b.c.d: the resolver reads it as {_inet_aton(host)}"
            " (a hex or short spelling is not a hostname)"
        )
    elif "%" in host or not is_host(host):  # '%' only belongs in an IPv6 zone
        return "a hostname or IP address"
    return ""


def _inet_aton(host: str) -> str:
    """The IPv4 address getaddrinfo makes of a non-standard spelling ('0x0a000064',
    '0xa.0.0.100'), or "": such a 'hostname' would slip past the VIP rule."""
    import socket  # only on a full load

    try:
        return str(ipaddress.IPv4Address(socket.inet_aton(host)))
    except (OSError, ValueError):
        return ""


def redis_host(section: dict, vip, problems: list):
    host, unix_socket = section["host"], section["unix_socket"]
    if host is INVALID or unix_socket is INVALID:
        return host
    if not host:
        if not unix_socket:
            problems.append("redis.host: found '' (string), expected a host (or set unix_socket)")
        return host
    reason = _host_problem(host, vip)
    if reason:
        problems.append(f"redis.host: found {describe(host)}, expected {reason}")
    ip = _ip(host)
    return host if ip is None else str(ip)


def sentinel_addresses(addresses, vip, problems: list):
    if addresses is INVALID:
        return INVALID
    parsed, seen, ok = [], {}, True
    for index, text in enumerate(addresses):
        where = f"sentinel.addresses[{index}]: found {describe(text)}, expected"
        try:
            host, port = _split_address(text, SENTINEL_PORT)
        except ValueError:
            problems.append(f"{where} {schema.SENTINEL_ADDRESS.expected}, port 1..65535")
            ok = False
            continue
        reason = _host_problem(host, vip)
        if reason:
            problems.append(f"{where} {reason}")
            ok = False
            continue
        ip = _ip(host)
        host = str(ip) if ip else host.lower().rstrip(".")
        if (host, port) in seen:
            problems.append(
                f"{where} each Sentinel once (same as [{seen[host, port]}]):"
                " a duplicate would count one Sentinel's vote twice"
            )
            ok = False
            continue
        seen[host, port] = index
        parsed.append((host, port))
    if _aliases(addresses, seen, problems):
        ok = False
    return tuple(parsed) if ok else INVALID


# Names in sentinel.addresses are resolved at load (all together within this budget) to find
# aliases of one Sentinel; a name that does not resolve in time is left to the run-time
# check, which counts every Sentinel once by its own id (SENTINEL MYID) anyway.
RESOLVE_BUDGET = 0.25


def _aliases(texts, entries: dict, problems: list) -> bool:
    """Report entries that reach the same address as an earlier one (127.0.0.1, localhost
    and [::ffff:127.0.0.1] on one port are one Sentinel); True when there are any.
    ``entries``: (host, port) -> index in ``texts``, IPs already canonical."""
    from sentinel_vip.deadline import Deadline
    from sentinel_vip.probes.failures import ProbeError
    from sentinel_vip.probes.transport import resolve

    budget = Deadline(RESOLVE_BUDGET)
    reached: dict = {}  # (ip, port) -> index of the first entry reaching it
    found = False
    for (host, port), index in sorted(entries.items(), key=lambda item: item[1]):
        if _ip(host) is not None:
            ips = {host}
        else:
            try:
                infos = resolve(host, port, budget, host)
            except (OSError, ProbeError):
                infos = ()
            ips = {str(_ip(info[4][0].split("%", 1)[0])) for info in infos}
        same = sorted({reached[ip, port] for ip in ips if (ip, port) in reached})
        if same:
            problems.append(
                f"sentinel.addresses[{index}]: found {describe(texts[index])}, expected each"
                f" Sentinel once: it reaches the same address as [{same[0]}]"
                f" {describe(texts[same[0]])}, so one Sentinel would count twice"
            )
            found = True
        for ip in ips:
            reached.setdefault((ip, port), index)
    return found


def agreement(agreement, sentinels, problems: list):
    if agreement is INVALID or sentinels is INVALID:
        return INVALID
    count = len(sentinels)
    majority = count // 2 + 1
    if agreement == "majority":
        return majority
    where = f"sentinel.agreement: found {agreement}, expected"
    if agreement < majority:
        problems.append(
            f"{where} at least {majority}, the majority of the {count} sentinel.addresses:"
            " with fewer, both sides of a network split could name a master (unsafe)"
        )
    elif agreement > count:
        problems.append(
            f"{where} at most {count}, the number of sentinel.addresses: more can never agree"
        )
    return agreement


def node_addresses(addresses, allow_loopback: bool, vip, problems: list):
    from sentinel_vip.decision.address import canonical_host, is_loopback, normalise

    if addresses is INVALID:
        return ()
    parsed = []
    for index, text in enumerate(addresses):
        where = f"node.addresses[{index}]: found {describe(text)}, expected"
        try:
            host, port = _split_address(text, None)
        except ValueError:
            problems.append(f"{where} {schema.NODE_ADDRESS.expected}, port 1..65535")
            continue
        ip = _ip(host)
        if ip is None:
            # Sentinels announcing hostnames (announce-hostnames yes) name this node by name.
            name = canonical_host(host)
            if name is None or normalise(name) is not None:  # not a name; an IP with a zone
                problems.append(f"{where} an IP address or a hostname, as Sentinel reports it")
            elif is_loopback(name) and not allow_loopback:
                problems.append(
                    f"{where} this node's own name: {name} means every node"
                    " (allow_loopback = true is for single-host tests)"
                )
            elif (name, port) in parsed:
                problems.append(f"{where} each address once")
            else:
                parsed.append((name, port))
        elif ip.is_unspecified or ip.is_multicast:
            problems.append(f"{where} this node's unicast address")
        elif ip.is_loopback and not allow_loopback:
            problems.append(
                f"{where} a non-loopback address: loopback exists on every node, so every"
                " node would see itself named (allow_loopback = true is for single-host tests)"
            )
        elif vip is not None and ip == vip:
            problems.append(
                f"{where} this node's own address, not the VIP that moves between nodes"
            )
        elif (str(ip), port) in parsed:
            problems.append(f"{where} each address once")
        else:
            parsed.append((str(ip), port))
    return tuple(parsed)
