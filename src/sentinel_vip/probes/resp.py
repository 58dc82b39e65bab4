"""A tiny, hardened RESP2 client: the product's only Redis and Sentinel client.

The keepalived check runs every second and must finish inside its deadline whatever the
server does (refuse, hang, drip bytes, send garbage or a huge reply), so every socket
operation gets ``deadline.timeout()`` and every reply is bounded in size and depth. The same
``connect`` serves notify's demotion (``Connection.transaction``), the watcher's pub/sub,
status and doctor (see probes.endpoint). ``ssl`` is imported only when TLS is configured.
Plain connections use ``_socket`` (see ``transport``).

Failures are ``ProbeError`` subclasses (``failures``) with a ``kind`` ("unreachable",
"auth", "tls", "protocol") and a one-line message that names the endpoint's label and never a
secret; opening the connection (resolving, the socket, TLS) is ``transport``'s job.
"""

from __future__ import annotations

import _socket

from sentinel_vip.probes.failures import (
    AuthFailed,
    ProbeError,
    ProtocolError,
    ReplyError,
    TimedOut,
    Unreachable,
    one_line,
    raise_for,
)
from sentinel_vip.probes.transport import open_socket, wrap_tls

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
            raise_for(exc, self.label, "sending a command", self._secret)

    def _fill(self) -> None:
        self._check_time("waiting for a reply")
        try:
            self._sock.settimeout(self._deadline.timeout())
            chunk = self._sock.recv(_RECV_CHUNK)
        except OSError as exc:
            raise_for(exc, self.label, "waiting for a reply", self._secret)
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
            text = one_line(rest.decode("utf-8", errors="replace"), self._secret)
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
        sock = open_socket(endpoint, deadline, label)
    except OSError as exc:
        raise_for(exc, label, "connecting", secret)
    try:
        if endpoint.tls.enabled:
            try:
                sock = wrap_tls(sock, endpoint, deadline, label)
            except OSError as exc:  # ssl.SSLError is an OSError
                raise_for(exc, label, "TLS handshake", secret)
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
