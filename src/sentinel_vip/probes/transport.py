"""Opening a connection within a deadline: name resolution, the socket, TLS.

Plain connections use ``_socket``, the C module under ``socket``: ``socket`` itself (with the
``selectors`` it loads) costs the check ~2 ms CPU and ~4 ms wall a run on top of ``enum``
(`make bench-check --compare`, docs/bench.md), so this saving is kept; TLS imports ``ssl``,
which imports ``socket`` anyway, and wraps only ``socket.socket``.

``resolve`` bounds getaddrinfo (it has no timeout of its own) and never touches the resolver
for an IP literal; ``open_socket`` connects over TCP or a unix socket; ``wrap_tls`` builds
the TLS context from an endpoint's settings (``ssl`` is imported only then) and wraps the
socket. What fails is raised as the OS raised it; ``resp.connect`` turns it into a
``ProbeError`` with ``failures.raise_for``.
"""

from __future__ import annotations

import _socket
import _thread

from sentinel_vip.probes.failures import TLSFailed, one_line


def is_ip_literal(host: str) -> bool:
    """An IP literal, with or without an IPv6 zone ("fe80::1%eth0")."""
    return literal_address(host.split("%", 1)[0], 0) is not None


def literal_address(host: str, port: int) -> list | None:
    """The getaddrinfo-shaped answer for an IP literal without a zone, else None.

    The usual case (config addresses are IPs) connects without getaddrinfo at all.
    """
    try:
        _socket.inet_pton(_socket.AF_INET, host)
        return [(_socket.AF_INET, _socket.SOCK_STREAM, 0, "", (host, port))]
    except OSError:
        pass
    try:
        _socket.inet_pton(_socket.AF_INET6, host)
        return [(_socket.AF_INET6, _socket.SOCK_STREAM, 0, "", (host, port, 0, 0))]
    except OSError:
        return None


def host_bytes(host: str) -> bytes:
    """getaddrinfo encodes a str host with the idna codec (~2 ms to import on every check);
    an ASCII name needs no IDNA processing, so hand it over as bytes."""
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna")


def resolve(host: str, port: int, deadline, label: str) -> list:
    """getaddrinfo bounded by the deadline.

    getaddrinfo has no timeout of its own, so a name is resolved in a daemon thread we stop
    waiting for; IP literals never touch the resolver.
    """
    literal = literal_address(host, port)
    if literal is not None:
        return literal
    if is_ip_literal(host):  # with an IPv6 zone ("fe80::1%eth0"): numeric, no resolver
        return _socket.getaddrinfo(
            host_bytes(host), port, 0, _socket.SOCK_STREAM, 0, _socket.AI_NUMERICHOST
        )
    box: dict = {}
    done = _thread.allocate_lock()  # held until the resolver thread has an answer
    done.acquire()

    def work() -> None:
        try:
            box["ok"] = _socket.getaddrinfo(host_bytes(host), port, 0, _socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the caller's thread
            box["err"] = exc
        finally:
            done.release()

    # A bare thread (see sentinel.py): it never delays the exit if the resolver hangs.
    _thread.start_new_thread(work, ())
    done.acquire(timeout=max(deadline.remaining(), 0.001))
    if "ok" in box:
        return box["ok"]
    if "err" in box:
        raise box["err"]
    raise _socket.timeout("resolving host")


def socket_type(endpoint):
    """``_socket.socket``, unless TLS will wrap the socket: ssl wraps only ``socket.socket``
    (and imports ``socket`` anyway)."""
    if endpoint.tls.enabled:
        import socket

        return socket.socket
    return _socket.socket


def open_socket(endpoint, deadline, label: str) -> _socket.socket:
    new_socket = socket_type(endpoint)
    if endpoint.unix_socket:
        sock = new_socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.timeout())
            sock.connect(endpoint.unix_socket)
        except BaseException:
            sock.close()
            raise
        return sock
    last: BaseException | None = None
    for family, socktype, proto, _name, addr in resolve(
        endpoint.host, endpoint.port, deadline, label
    ):
        if deadline.expired():
            break
        sock = new_socket(family, socktype, proto)
        try:
            sock.settimeout(deadline.timeout())
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock
    raise last if last is not None else _socket.timeout("connecting")


def tls_context(tls, label: str):
    import ssl  # only when TLS is configured: importing ssl costs the hot path

    try:
        if tls.verify:
            context = ssl.create_default_context(cafile=tls.ca_file or None)
            context.check_hostname = bool(tls.server_name)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
    except (OSError, ValueError) as exc:  # unreadable/invalid CA, cert or key file
        detail = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise TLSFailed(one_line(f"{label}: cannot load TLS files: {detail}")) from None
    return context


def wrap_tls(sock, endpoint, deadline, label: str):
    context = tls_context(endpoint.tls, label)
    sock.settimeout(deadline.timeout())
    return context.wrap_socket(sock, server_hostname=endpoint.tls.server_name or None)
