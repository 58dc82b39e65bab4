"""How a probe fails: the ``ProbeError`` types, and OS/TLS errors turned into them.

A failure has a ``kind`` ("unreachable", "auth", "tls", "protocol") and a one-line message
that names the endpoint's label and never a secret (``one_line``); ``raise_for`` turns what
a socket or ssl call raised into the matching type, so every caller (the RESP client, its
transport, the Sentinel queries) reports the same failure the same way.
"""

from __future__ import annotations

import _socket
import sys

from sentinel_vip.errors import ExitCode, SentinelVipError

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


def one_line(text: str, secret: str = "") -> str:
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 3] + "..."
    return text


def ssl_error_type():
    """ssl.SSLError if ssl was ever imported (only then can it be raised), else None."""
    ssl = sys.modules.get("ssl")
    return ssl.SSLError if ssl is not None else None


def describe_os_error(exc: BaseException, action: str) -> tuple[str, str]:
    """(kind, text) for an exception raised by a socket/ssl operation."""
    ssl_error = ssl_error_type()
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


def raise_for(exc: BaseException, label: str, action: str, secret: str = "") -> None:
    kind, text = describe_os_error(exc, action)
    message = one_line(f"{label}: {text}", secret)
    if isinstance(exc, _socket.timeout):
        raise TimedOut(message) from None
    cls = {"unreachable": Unreachable, "tls": TLSFailed, "protocol": ProtocolError}[kind]
    error = cls(message)
    error.errno = getattr(exc, "errno", None)  # ECONNREFUSED vs EHOSTUNREACH, for the watcher
    raise error from None
