"""plainjson: held to the json module it stands in for on the check's path."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_vip.errors import ExitCode
from sentinel_vip.store import disk, plainjson

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
plain = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(plain)
def test_encode_is_json_dumps_sort_keys(data):
    assert plainjson.encode(data) == json.dumps(data, sort_keys=True)


@given(plain)
def test_decode_reads_what_json_writes(data):
    assert plainjson.decode(json.dumps(data)) == data
    assert plainjson.decode(json.dumps(data, indent=2, ensure_ascii=False)) == data


def test_check_state_round_trips_byte_for_byte(tmp_path):
    current = {
        "ok": False,
        "code": ExitCode.NO_MAJORITY,
        "reason": 'too few sentinels answered need=2/3 "[::1]:26379"=1 silent=2 \\ é \U0001f600',
        "since": 1764060000.123456,
        "checked": 1764060001.5,
        "last_agreed": None,
        "warnings": ["/etc/x: mode 0644 group adm: readable by others\n"],
    }
    path = str(tmp_path / "check.json")
    disk.write_json(path, current)
    with open(path, "rb") as fh:
        assert fh.read() == json.dumps(current, sort_keys=True).encode() + b"\n"
    assert disk.read_json(path) == json.loads(json.dumps(current))


@pytest.mark.parametrize(
    "text", ["", "{", '{"a" 1}', '{"a": 1,}', "[1 2]", '"\\x"', '"\\u12"', "nul", '{"a": 1} x', "-"]
)
def test_decode_refuses_what_is_not_json(text):
    with pytest.raises(ValueError):
        plainjson.decode(text)
    with pytest.raises(ValueError):
        json.loads(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "x"}, object(), b"x"])
def test_encode_refuses_what_is_not_plain_json(value):
    with pytest.raises((TypeError, ValueError)):
        plainjson.encode(value)


def test_unreadable_state_is_empty(tmp_path):
    path = tmp_path / "check.json"
    path.write_bytes(b'{"code": 1, "reason": "trunc')
    assert disk.read_json(str(path)) == {}
    path.write_bytes(b"\xff\xfe")
    assert disk.read_json(str(path)) == {}
