"""The kinds of value a config key can hold, and how a found value is described.

Pure: no I/O. Each key of ``schema.SCHEMA`` is a ``Leaf`` (``Text``, ``Integer``,
``Seconds``, ``Flag``, ``Choice``, ``TextList``, ``Agreement``) that knows its default, what it
accepts and how to say so (``expected``); ``describe`` says what the admin wrote, short and
never a secret; ``INVALID`` marks a value that failed its check, so cross-key rules skip it.
"""

from __future__ import annotations

import math

MAX_TEXT = 4096  # PATH_MAX; also bounds passwords and names, so a 10 MB string is an error
MAX_SHOWN = 60  # longer values are described by their length, not echoed
HIDDEN = "<hidden>"


class Invalid:
    """Marks a value that failed its check, so cross-key rules skip it instead of piling on."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = Invalid()


def _always(_value) -> bool:
    return True


class Leaf:
    """One key. ``expected`` is shown to the admin after 'expected'."""

    def __init__(self, default, expected: str, *, required: bool = False, secret: bool = False):
        self.default = default
        self.expected = expected
        self.required = required
        self.secret = secret

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def convert(self, value):
        return value


class Text(Leaf):
    def __init__(
        self,
        default,
        expected: str,
        *,
        allow=_always,
        empty_ok: bool = True,
        required: bool = False,
        secret: bool = False,
    ):
        super().__init__(default, expected, required=required, secret=secret)
        self.allow = allow
        self.empty_ok = empty_ok

    def accepts(self, value) -> bool:
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            return False
        if value == "":
            return self.empty_ok
        return self.allow(value)


class Integer(Leaf):
    def __init__(self, default: int, low: int, high: int, expected: str = ""):
        super().__init__(default, expected or f"an integer {low}..{high}")
        self.low = low
        self.high = high

    def accepts(self, value) -> bool:
        # bool is an int subclass in Python; TOML `true` for a port is a mistake.
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )


class Seconds(Leaf):
    """A duration in seconds, int or float; ``zero_ok`` allows 0 (meaning 'off')."""

    def __init__(self, default: float, high: float, *, zero_ok: bool = False):
        low = ">= 0" if zero_ok else "> 0"
        super().__init__(float(default), f"a number of seconds {low} and <= {high:g}")
        self.high = high
        self.zero_ok = zero_ok

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = value >= 0 if self.zero_ok else value > 0
        return low_ok and value <= self.high

    def convert(self, value) -> float:
        return float(value)


class Flag(Leaf):
    def __init__(self, default: bool):
        super().__init__(default, "true or false")

    def accepts(self, value) -> bool:
        return isinstance(value, bool)


class Choice(Leaf):
    def __init__(self, default: str, choices):
        super().__init__(default, "one of: " + ", ".join(choices))
        self.choices = frozenset(choices)

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.choices


class TextList(Leaf):
    """An array of strings; each item is checked by ``item`` and reported with its index."""

    def __init__(self, default, item: Text, max_items: int, *, min_items: int = 0, **kw):
        count = f"{min_items}..{max_items}" if min_items else f"at most {max_items}"
        super().__init__(default, f"an array of {count} strings", **kw)
        self.item = item
        self.min_items = min_items
        self.max_items = max_items

    def accepts(self, value) -> bool:
        return isinstance(value, list) and self.min_items <= len(value) <= self.max_items

    def convert(self, value) -> tuple:
        return tuple(value)


class Agreement(Leaf):
    """Either "majority" or an integer; its bounds depend on sentinel.addresses (see config)."""

    def __init__(self):
        super().__init__("majority", '"majority" or a number of Sentinels')

    def accepts(self, value) -> bool:
        if value == "majority":
            return True
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000


# -- predicates for Text ---------------------------------------------------------------------

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:%")


def is_absolute_path(value: str) -> bool:
    return value.startswith("/") and value.isprintable()


def is_name(value: str) -> bool:
    """A token safe in logs and commands: printable, no spaces."""
    return len(value) <= 255 and value.isprintable() and not any(c.isspace() for c in value)


def is_host(value: str) -> bool:
    """Hostname or IP literal chars; whether a ':' string is IPv6 is checked in config."""
    return len(value) <= 253 and set(value) <= _HOST_CHARS and value[0] not in "-."


def is_interface(value: str) -> bool:
    return len(value) <= 15 and is_name(value) and "/" not in value


# -- describing what was found ---------------------------------------------------------------


def describe(value, secret: bool = False) -> str:
    """What the admin wrote, short and safe to print: never a secret, never megabytes."""
    if secret:
        return HIDDEN
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (boolean)"
    if isinstance(value, int):
        if -(10**15) < value < 10**15:
            return f"{value} (integer)"
        return "a huge integer"
    if isinstance(value, float):
        return f"{value!r} (float)"
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            return f"a string of {len(value)} characters"
        return f"{value!r} (string)"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # TOML dates and times, or odd objects from from_mapping


def key_text(key) -> str:
    """A key as it can be shown: plain TOML keys as they are, anything else quoted and cut."""
    if isinstance(key, str) and key and len(key) <= MAX_SHOWN:
        if all(c.isalnum() or c in "_-" for c in key):
            return key
    text = repr(key)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def join(prefix: str, key) -> str:
    return f"{prefix}.{key_text(key)}" if prefix else key_text(key)
