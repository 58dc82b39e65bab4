"""A tiny, hardened RESP2 client: the product's only Redis and Sentinel client.

The keepalived check runs every second and must finish inside its deadline whatever the
server does (refuse, hang, drip bytes, send garbage or a huge reply), so every socket
operation gets ``deadline.timeout()`` and every reply is bounded in size and depth. The same
``connect`` serves notify's demotion (``Connection.transaction``), the watcher's pub/sub,
status and doctor (see probes.endpoint). ``ssl`` is imported only when TLS is configured.
Plain connections use ``_socket``, the C module under ``socket``: importing ``socket`` (and
the ``enum``, ``selectors`` it loads) cost the check ~1.5 ms a run.

Failures are ``ProbeError`` subclasses with a ``kind`` ("unreachable", "auth", "tls",
"protocol") and a one-line message that names the endpoint's label and never a secret.
"""

from __future__ import annotations

import _socket
import _thread
import sys

from sentinel_vip.errors import ExitCode, SentinelVipError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: importing typing costs the check ~3 ms a run
    from typing import Any

# Bounds on what a server may send us. The replies we read (ROLE, SENTINEL ...) are small;
# anything near these limits is a misbehaving or hostile peer.
MAX_LINE = 64 * 1024
MAX_BULK = 1024 * 1024
MAX_ARRAY = 10_000
MAX_DEPTH = 8
MAX_REPLY = 4 * 1024 * 1024

_RECV_CHUNK = 65536
_MESSAGE_MAX = 200

# Error-reply prefixes/phrases that mean "your credentials or ACL are wrong".
_AUTH_MARKERS = (
    "WRONGPASS",
    "NOAUTH",
    "NOPERM",
    "INVALID PASSWORD",
    "INVALID USERNAME-PASSWORD",
    "AUTHENTICATION REQUIRED",
    "CALLED WITHOUT ANY PASSWORD CONFIGURED",
)


class ProbeError(SentinelVipError):
    """A probe could not get an answer. ``kind`` says why; ``str()`` is one line."""

    kind = "protocol"
    exit_code = ExitCode.REDIS_UNREACHABLE
    errno = None  # the OS error number behind an "unreachable" failure, when there was one

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class Unreachable(ProbeError):
    exit_code = ExitCode.REDIS_UNREACHABLE

    def __init__(self, message: str) -> None:
        super().__init__("unreachable", message)


class TimedOut(Unreachable):
    """No answer within the deadline: the peer may be alive behind a partition (a refused or
    reset connection, by contrast, proves a host answered)."""


class AuthFailed(ProbeError):
    exit_code = ExitCode.REDIS_AUTH

    def __init__(self, message: str) -> None:
        super().__init__("auth", message)


class TLSFailed(ProbeError):
    exit_code = ExitCode.TLS

    def __init__(self, message: str) -> None:
        super().__init__("tls", message)


class ProtocolError(ProbeError):
    exit_code = ExitCode.REDIS_UNREACHABLE

    def __init__(self, message: str) -> None:
        super().__init__("protocol", message)


class ReplyError(ProbeError):
    """The server answered a command with an error reply (``-ERR ...``).

    ``reply`` is the server's text; ``kind`` is "auth" for credential/ACL refusals, else
    "protocol" (the server is up but would not answer the way we need).
    """

    def __init__(self, reply: str, label: str = "") -> None:
        self.reply = reply
        kind = "auth" if is_auth_error(reply) else "protocol"
        prefix = f"{label}: " if label else ""
        super().__init__(kind, f"{prefix}server replied: {reply}")
        self.exit_code = ExitCode.REDIS_AUTH if kind == "auth" else ExitCode.REDIS_UNREACHABLE


def is_auth_error(reply: str) -> bool:
    upper = reply.upper()
    return any(marker in upper for marker in _AUTH_MARKERS) or upper.startswith("ACL")


def _one_line(text: str, secret: str = "") -> str:
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 3] + "..."
    return text


def _is_ip_literal(host: str) -> bool:
    """An IP literal, with or without an IPv6 zone ("fe80::1%eth0")."""
    return _literal_address(host.split("%", 1)[0], 0) is not None


def _ssl_error_type():
    """ssl.SSLError if ssl was ever imported (only then can it be raised), else None."""
    ssl = sys.modules.get("ssl")
    return ssl.SSLError if ssl is not None else None


def _describe_os_error(exc: BaseException, action: str) -> tuple[str, str]:
    """(kind, text) for an exception raised by a socket/ssl operation."""
    ssl_error = _ssl_error_type()
    if ssl_error is not None and isinstance(exc, ssl_error):
        verify = getattr(exc, "verify_message", None)
        if verify:
            return "tls", f"TLS certificate verification failed: {verify}"
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        return "tls", f"TLS error ({action}): {reason}"
    if isinstance(exc, _socket.timeout):
        return "unreachable", f"timed out ({action})"
    if isinstance(exc, _socket.gaierror):
        return "unreachable", f"cannot resolve host: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "unreachable", f"connection refused ({action})"
    if isinstance(exc, ConnectionResetError):
        return "unreachable", f"connection reset ({action})"
    if isinstance(exc, BrokenPipeError):
        return "unreachable", f"connection closed ({action})"
    if isinstance(exc, FileNotFoundError):
        return "unreachable", f"no such socket ({action})"
    if isinstance(exc, OSError):
        return "unreachable", f"{exc.strerror or exc.__class__.__name__} ({action})"
    return "protocol", f"{exc.__class__.__name__} ({action})"


def _raise_for(exc: BaseException, label: str, action: str, secret: str = "") -> None:
    kind, text = _describe_os_error(exc, action)
    message = _one_line(f"{label}: {text}", secret)
    if isinstance(exc, _socket.timeout):
        raise TimedOut(message) from None
    cls = {"unreachable": Unreachable, "tls": TLSFailed, "protocol": ProtocolError}[kind]
    error = cls(message)
    error.errno = getattr(exc, "errno", None)  # ECONNREFUSED vs EHOSTUNREACH, for the watcher
    raise error from None


def _literal_address(host: str, port: int) -> list | None:
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


def _host_bytes(host: str) -> bytes:
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
    literal = _literal_address(host, port)
    if literal is not None:
        return literal
    if _is_ip_literal(host):  # with an IPv6 zone ("fe80::1%eth0"): numeric, no resolver
        return _socket.getaddrinfo(
            _host_bytes(host), port, 0, _socket.SOCK_STREAM, 0, _socket.AI_NUMERICHOST
        )
    box: dict = {}
    done = _thread.allocate_lock()  # held until the resolver thread has an answer
    done.acquire()

    def work() -> None:
        try:
            box["ok"] = _socket.getaddrinfo(_host_bytes(host), port, 0, _socket.SOCK_STREAM)
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


def _socket_type(endpoint):
    """``_socket.socket``, unless TLS will wrap the socket: ssl wraps only ``socket.socket``
    (and imports ``socket`` anyway)."""
    if endpoint.tls.enabled:
        import socket

        return socket.socket
    return _socket.socket


def _open_socket(endpoint, deadline, label: str) -> _socket.socket:
    new_socket = _socket_type(endpoint)
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


def _tls_context(tls, label: str):
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
        raise TLSFailed(_one_line(f"{label}: cannot load TLS files: {detail}")) from None
    return context


def _wrap_tls(sock, endpoint, deadline, label: str):
    context = _tls_context(endpoint.tls, label)
    sock.settimeout(deadline.timeout())
    return context.wrap_socket(sock, server_hostname=endpoint.tls.server_name or None)


def _encode(args) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = str(arg).encode("ascii")
        else:
            raise TypeError(f"cannot send {type(arg).__name__} as a RESP argument")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Connection:
    """One connection; ``call`` sends a command and returns the parsed reply.

    Replies: simple/bulk strings -> str (utf-8, undecodable bytes replaced), integers -> int,
    arrays -> list, nil -> None; an error reply raises ``ReplyError``.
    """

    def __init__(self, sock: _socket.socket, endpoint, deadline, label: str) -> None:
        self._sock = sock
        self._deadline = deadline
        self._secret = endpoint.password
        self.label = label
        self._buf = bytearray()
        self._pos = 0
        self._consumed = 0
        self._reply_start = 0
        self._in_exec = False

    # context manager: closing is never forgotten
    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def call(self, *args) -> Any:
        self._send(_encode(args))
        return self.read()

    def send(self, *args, deadline=None) -> None:
        """Send a command without reading its reply (pub/sub: replies arrive as messages),
        within ``deadline`` (else the connection's)."""
        if deadline is not None:
            self._deadline = deadline
        self._send(_encode(args))

    def read(self, deadline=None) -> Any:
        """The next reply or pub/sub message, within ``deadline`` (else the connection's).

        A reply cut short by the deadline stays buffered and is parsed again by the next
        read, so a pub/sub reader can poll with short deadlines without losing a message.
        """
        if deadline is not None:
            self._deadline = deadline
        self._consumed = 0
        self._compact()
        self._reply_start = self._pos
        try:
            return self._parse(0)
        except TimedOut:
            self._pos = self._reply_start
            raise

    def pipeline(self, *commands) -> list:
        """Send every command at once and read their replies in order: one round trip.

        An error reply takes its command's place as a ``ReplyError`` (the other replies are
        still read); any other failure raises, as ``call`` does. All the replies together are
        bounded by MAX_REPLY.
        """
        self._send(b"".join(_encode(args) for args in commands))
        self._consumed = 0
        self._compact()
        replies: list = []
        for _ in commands:
            self._reply_start = self._pos
            try:
                replies.append(self._parse(0))
            except ReplyError as exc:
                replies.append(exc)
            except ProbeError:
                # A server that refused an earlier command and hung up: the refusal is the
                # reason (an ACL or auth problem), not the closed connection.
                refused = [r for r in replies if isinstance(r, ReplyError)]
                if refused:
                    raise refused[0] from None
                raise
        return replies

    def transaction(self, *commands) -> list:
        """MULTI, ``commands``, EXEC in one round trip; EXEC's replies in order, a command's
        error reply as a ``ReplyError`` in its place. A command refused while queued (an
        ACL's NOPERM, a wrong arity) aborts the whole transaction: nothing ran, and that
        refusal is raised."""
        self._in_exec = True  # only EXEC's array may hold error replies
        try:
            *queued, executed = self.pipeline(("MULTI",), *commands, ("EXEC",))
        finally:
            self._in_exec = False
        for reply in (*queued, executed):
            if isinstance(reply, ReplyError):
                raise reply  # MULTI refused, a command refused when queued, or EXECABORT
        if not isinstance(executed, list) or len(executed) != len(commands):
            raise ProtocolError(f"{self.label}: unexpected EXEC reply")
        return executed

    # -- I/O ------------------------------------------------------------------------------
    def _check_time(self, action: str) -> None:
        if self._deadline.expired():
            raise TimedOut(f"{self.label}: timed out ({action})")

    def _send(self, data: bytes) -> None:
        self._check_time("sending a command")
        try:
            self._sock.settimeout(self._deadline.timeout())
            self._sock.sendall(data)
        except OSError as exc:
            _raise_for(exc, self.label, "sending a command", self._secret)

    def _fill(self) -> None:
        self._check_time("waiting for a reply")
        try:
            self._sock.settimeout(self._deadline.timeout())
            chunk = self._sock.recv(_RECV_CHUNK)
        except OSError as exc:
            _raise_for(exc, self.label, "waiting for a reply", self._secret)
        if not chunk:
            if len(self._buf) == self._reply_start:
                raise Unreachable(f"{self.label}: connection closed before a reply")
            raise ProtocolError(f"{self.label}: connection closed mid-reply")
        self._consumed += len(chunk)
        if self._consumed > MAX_REPLY:
            raise ProtocolError(f"{self.label}: reply larger than {MAX_REPLY} bytes")
        self._buf += chunk

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def _readline(self) -> bytes:
        start = self._pos
        while True:
            end = self._buf.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > MAX_LINE:
                raise ProtocolError(f"{self.label}: reply line longer than {MAX_LINE} bytes")
            start = max(self._pos, len(self._buf) - 1)
            self._fill()

    def _readexact(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n + 2:
            self._fill()
        data = bytes(self._buf[self._pos : self._pos + n])
        if self._buf[self._pos + n : self._pos + n + 2] != b"\r\n":
            raise ProtocolError(f"{self.label}: bulk string not terminated by CRLF")
        self._pos += n + 2
        return data

    # -- parsing --------------------------------------------------------------------------
    def _int(self, raw: bytes, what: str) -> int:
        try:
            if not raw or len(raw) > 20:
                raise ValueError
            return int(raw)
        except ValueError:
            raise ProtocolError(f"{self.label}: malformed {what} in reply") from None

    def _parse(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"{self.label}: reply nested deeper than {MAX_DEPTH}")
        line = self._readline()
        if not line:
            raise ProtocolError(f"{self.label}: empty reply line")
        tag, rest = line[:1], line[1:]
        if tag == b"+":
            return rest.decode("utf-8", errors="replace")
        if tag == b"-":
            text = _one_line(rest.decode("utf-8", errors="replace"), self._secret)
            if depth == 1 and self._in_exec:  # EXEC's array: one command's error, in place
                return ReplyError(text, self.label)
            if depth:  # nowhere else does RESP2 nest an error: the stream is lost
                raise ProtocolError(f"{self.label}: error reply inside an array")
            raise ReplyError(text, self.label)
        if tag == b":":
            return self._int(rest, "integer")
        if tag == b"$":
            size = self._int(rest, "bulk length")
            if size == -1:
                return None
            if size < 0 or size > MAX_BULK:
                raise ProtocolError(f"{self.label}: bulk string of {size} bytes refused")
            return self._readexact(size).decode("utf-8", errors="replace")
        if tag == b"*":
            count = self._int(rest, "array length")
            if count == -1:
                return None
            if count < 0 or count > MAX_ARRAY:
                raise ProtocolError(f"{self.label}: array of {count} elements refused")
            return [self._parse(depth + 1) for _ in range(count)]
        raise ProtocolError(f"{self.label}: unexpected reply type byte {tag!r}")


def connect(endpoint, deadline) -> Connection:
    """Open (and TLS-wrap, and AUTH) a connection to ``endpoint`` within ``deadline``."""
    label = endpoint.label()
    secret = endpoint.password
    if deadline.expired():
        raise TimedOut(f"{label}: timed out (before connecting)")
    try:
        sock = _open_socket(endpoint, deadline, label)
    except OSError as exc:
        _raise_for(exc, label, "connecting", secret)
    try:
        if endpoint.tls.enabled:
            try:
                sock = _wrap_tls(sock, endpoint, deadline, label)
            except OSError as exc:  # ssl.SSLError is an OSError
                _raise_for(exc, label, "TLS handshake", secret)
        conn = Connection(sock, endpoint, deadline, label)
        if endpoint.password:
            _authenticate(conn, endpoint, label)
        return conn
    except BaseException:
        sock.close()
        raise


def _authenticate(conn: Connection, endpoint, label: str) -> None:
    args = ["AUTH"]
    if endpoint.username:
        args.append(endpoint.username)
    args.append(endpoint.password)
    try:
        conn.call(*args)
    except ReplyError as exc:
        # Any refusal of AUTH is a credentials problem, whatever the wording.
        raise AuthFailed(f"{label}: authentication refused: {exc.reply}") from None
