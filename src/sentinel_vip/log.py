"""One keyed event per line, to syslog (and stderr for commands an admin runs by hand).

We write syslog datagrams ourselves instead of using the ``syslog`` module so that the socket
path is configurable: tests listen on their own socket and can read every line we log.
``_socket`` (the C module under ``socket``) is enough for that, and spares the check
importing ``socket`` with its ``selectors`` (see ``probes.transport``).
"""

import _socket
import os
import sys
import time

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
LEVELS = {"err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
IDENT = "sentinel-vip"


_NAMED_CONTROLS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with every unprintable character (newline, ESC, bidi overrides) written as
    \\n, \\xNN or \\uNNNN: text from a peer or from a file another user can write must not
    start a forged log line or drive the terminal of an admin running status or doctor."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _NAMED_CONTROLS:
        return _NAMED_CONTROLS[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def fmt_value(value) -> str:
    """A value as ``key=value`` shows it: quoted when it holds a space, quote, '=' or
    backslash (or nothing), with non-printable characters escaped."""
    text = str(value)
    if text == "" or not text.isprintable() or any(c in text for c in ' "=\\'):
        return '"' + escape_controls(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return text


def fmt_event(event: str, **fields) -> str:
    """``event=check verdict=fail reason="..."`` — None values are left out."""
    parts = [f"event={event}"]
    parts.extend(f"{k}={fmt_value(v)}" for k, v in fields.items() if v is not None)
    return " ".join(parts)


class Logger:
    def __init__(
        self,
        *,
        syslog: bool = True,
        socket_path: str = "/dev/log",
        facility: str = "daemon",
        stderr: bool = False,
    ) -> None:
        self._syslog = syslog
        self._socket_path = socket_path
        self._facility = FACILITIES.get(facility, FACILITIES["daemon"])
        self._stderr = stderr
        self._sock = None

    @classmethod
    def from_config(cls, config, *, stderr: bool = False) -> "Logger":
        return cls(
            syslog=config.log_syslog,
            socket_path=config.syslog_socket,
            facility=config.log_facility,
            stderr=stderr,
        )

    def log(self, level: str, event: str, **fields) -> str:
        line = fmt_event(event, **fields)
        self.write(level, line)
        return line

    def write(self, level: str, line: str) -> None:
        line = escape_controls(line)  # one line, whatever it quotes
        if self._stderr:
            try:
                sys.stderr.write(f"sentinel-vip: {line}\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        if self._syslog:
            self._send(level, line)

    def _send(self, level: str, line: str) -> None:
        pri = self._facility * 8 + LEVELS.get(level, 6)
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        data = f"<{pri}>{stamp} {IDENT}[{os.getpid()}]: {line}".encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
                self._sock.settimeout(0.2)
                self._sock.connect(self._socket_path)
            self._sock.send(data)
        except OSError:
            # No syslog daemon (containers, early boot): the verdict must not depend on it.
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


def default_logger() -> Logger:
    """For errors before a config exists: the default syslog socket."""
    return Logger(syslog=True)
