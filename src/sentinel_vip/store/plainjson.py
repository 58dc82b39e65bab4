"""JSON for our state files, without importing ``json``.

The check reads and writes ``check.json`` every second; ``import json`` compiles json's
regular expressions (and imports ``re``) on every run, ~4 ms on a small VM, more than the
rest of the state handling together. The state is plain data, so a small codec does:

``encode`` gives exactly ``json.dumps(data, sort_keys=True)`` (ASCII output, ``", "`` and
``": "`` separators) for dicts with str keys, lists, tuples, str, int, finite float, bool
and None; anything else raises ``TypeError``/``ValueError``. ``decode`` reads standard JSON
(it is lenient about a few malformed numbers, never about structure) and raises
``ValueError`` on anything it cannot read. Tests hold both to the ``json`` module.
"""

from __future__ import annotations

_MAX_DEPTH = 32
_WHITESPACE = " \t\n\r"
_NUMBER = frozenset("0123456789+-.eE")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}
_ESCAPED["\f"] = "\\f"
_UNESCAPED = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_UNESCAPED["t"] = "\t"
_LITERALS = (("true", True), ("false", False), ("null", None))


# -- encoding ---------------------------------------------------------------------------------


def encode(data) -> str:
    return _encode(data, 0)


def _encode(value, depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return int.__repr__(value)  # an IntEnum is written as its number, as json does
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("JSON has no NaN or infinity")
        return float.__repr__(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_encode(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("JSON object keys must be str")
        items = sorted(value.items())
        return "{" + ", ".join(f"{_string(k)}: {_encode(v, depth + 1)}" for k, v in items) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, without a per-character loop
    return '"' + "".join(_char(c) for c in text) + '"'


def _char(c: str) -> str:
    if c in _ESCAPED:
        return _ESCAPED[c]
    if " " <= c <= "~":
        return c
    code = ord(c)
    if code > 0xFFFF:  # a surrogate pair, as json's ensure_ascii writes it
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


# -- decoding ---------------------------------------------------------------------------------


def decode(text: str):
    value, end = _value(text, _skip(text, 0), 0)
    if _skip(text, end) != len(text):
        raise ValueError(f"unexpected data at {end}")
    return value


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _value(text: str, i: int, depth: int):
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    c = text[i : i + 1]
    if c == '"':
        return _read_string(text, i + 1)
    if c == "{":
        return _read_object(text, i + 1, depth)
    if c == "[":
        return _read_array(text, i + 1, depth)
    for word, value in _LITERALS:
        if text.startswith(word, i):
            return value, i + len(word)
    end = i
    while end < len(text) and text[end] in _NUMBER:
        end += 1
    token = text[i:end]
    if not token:
        raise ValueError(f"unexpected {c!r} at {i}")
    if any(x in token for x in ".eE"):
        return float(token), end
    return int(token), end


def _read_object(text: str, i: int, depth: int):
    result: dict = {}
    i = _skip(text, i)
    if text[i : i + 1] == "}":
        return result, i + 1
    while True:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = _read_string(text, i + 1)
        i = _skip(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at {i}")
        result[key], i = _value(text, _skip(text, i + 1), depth + 1)
        i = _skip(text, i)
        c = text[i : i + 1]
        if c == "}":
            return result, i + 1
        if c != ",":
            raise ValueError(f"expected ',' or '}}' at {i}")
        i = _skip(text, i + 1)


def _read_array(text: str, i: int, depth: int):
    result: list = []
    i = _skip(text, i)
    if text[i : i + 1] == "]":
        return result, i + 1
    while True:
        item, i = _value(text, i, depth + 1)
        result.append(item)
        i = _skip(text, i)
        c = text[i : i + 1]
        if c == "]":
            return result, i + 1
        if c != ",":
            raise ValueError(f"expected ',' or ']' at {i}")
        i = _skip(text, i + 1)


def _read_string(text: str, i: int):
    chunks = []
    while True:
        quote = text.find('"', i)
        if quote < 0:
            raise ValueError("unterminated string")
        backslash = text.find("\\", i, quote)
        if backslash < 0:
            chunks.append(text[i:quote])
            return "".join(chunks), quote + 1
        chunks.append(text[i:backslash])
        kind = text[backslash + 1 : backslash + 2]
        if kind == "u":
            code, i = _hex4(text, backslash + 2)
            if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i):
                low, after = _hex4(text, i + 2)
                if 0xDC00 <= low < 0xE000:
                    code, i = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), after
            chunks.append(chr(code))
        elif kind in _UNESCAPED:
            chunks.append(_UNESCAPED[kind])
            i = backslash + 2
        else:
            raise ValueError(f"invalid escape at {backslash}")


def _hex4(text: str, i: int):
    digits = text[i : i + 4]
    if len(digits) != 4 or not all(c in _HEX for c in digits):
        raise ValueError(f"invalid \\u escape at {i}")
    return int(digits, 16), i + 4
