"""Fuzzing the config loader through ``cli.main``: random and malformed TOML, bytes, wrong
types, huge values and odd paths all end in one clear line and a documented exit code."""

from __future__ import annotations

import datetime
import json
import math
import os
import stat

import pytest
from harden import count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inproc import Sandbox

from sentinel_vip.errors import ExitCode
from support.config import to_toml, write_private


def fuzz(examples: int):
    return settings(_FUZZ, max_examples=examples)


_FUZZ = settings(
    database=None, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)  # fmt: skip
# Loading stops here: `notify` with no arguments is a usage error raised after the config
# is loaded and validated, so a fuzzed config never reaches the network (a random hostname
# would otherwise be resolved).
LOAD_ONLY = ("notify",)
CONFIG_OR_USAGE = {ExitCode.CONFIG, ExitCode.USAGE}


@pytest.fixture(scope="module")
def box():
    with Sandbox() as sandbox:
        yield sandbox


def load(box, name: str, data: bytes, command=LOAD_ONLY):
    path = os.path.join(box.dir, name)
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)
    return box.run(["--config", path, *command])


# -- text and bytes ---------------------------------------------------------------------------

FRAGMENTS = [
    "master_name", " = ", '"', "'", "[", "]", "[[", "]]", "\n", "redis", "sentinel", ".",
    "addresses", "port", "password", "tls", "{", "}", ",", "=", "#", "1e999", "nan", "-inf",
    "0x7fffffffffffffffff", "9" * 30, "true", "1979-05-27T07:32:00Z", "'''", '"""', "\\",
    "\\u0000", "\\uD800", "\r", "\t", "\x00", "\x7f", "\u2028", "\ufeff", "é", "[redis]\n",
    "[sentinel]\n", 'addresses = ["127.0.0.1:1"]\n', 'master_name = "m"\n', "[log.tls]",
]  # fmt: skip
toml_ish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map(
    "".join
)


@fuzz(2000)
@given(text=st.one_of(st.text(max_size=400), toml_ish))
def test_random_text(box, text):
    count("config: random text")
    data = text.encode("utf-8", "surrogatepass")
    code, out, err = load(box, "text.toml", data)
    box.check_invariants(code, out, err, CONFIG_OR_USAGE)


VALID = (
    b'master_name = "m"\n[sentinel]\naddresses = ["127.0.0.1:1"]\n'
    b'[node]\naddresses = ["127.0.0.1:1"]\nallow_loopback = true\n'
)


# Overlong, surrogate, out-of-range and truncated UTF-8, NUL, BOM, structure bytes.
BAD_BYTES = [b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\n[",
             b'"', b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82"]  # fmt: skip


@st.composite
def mutated_bytes(draw):
    data = bytearray(draw(st.sampled_from([VALID, b""])))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        chunk = draw(st.sampled_from(BAD_BYTES))
        if action == "insert":
            data[at:at] = chunk
        elif action == "replace" and at < len(data):
            data[at : at + 1] = chunk
        elif at < len(data):
            del data[at]
    return bytes(data)


@fuzz(2000)
@given(data=st.one_of(st.binary(max_size=300), mutated_bytes()))
def test_random_bytes_and_invalid_utf8(box, data):
    count("config: bytes / invalid UTF-8")
    code, out, err = load(box, "bytes.toml", data)
    box.check_invariants(code, out, err, CONFIG_OR_USAGE)


# -- structured: every key, every wrong type ---------------------------------------------------

KEYS = [
    "master_name", "redis.host", "redis.port", "redis.unix_socket", "redis.username",
    "redis.password", "redis.password_file", "redis.tls.enabled", "redis.tls.ca_file",
    "redis.tls.cert_file", "redis.tls.key_file", "redis.tls.server_name", "redis.tls.verify",
    "sentinel.addresses", "sentinel.username", "sentinel.password", "sentinel.password_file",
    "sentinel.agreement", "sentinel.no_majority_grace", "sentinel.tls.enabled",
    "node.addresses", "node.announce_port", "node.allow_loopback", "vip.address",
    "vip.interface", "check.deadline", "check.track_file", "watch.reconcile_interval",
    "notify.deadline", "notify.demote", "notify.hooks_dir", "notify.hook_timeout",
    "paths.state_dir", "paths.history_file", "paths.history_max_lines", "log.syslog",
    "log.syslog_socket", "log.facility", "redis.tls.bogus", "bogus", "redis.prot",
    "sentinel.adresses", "paths", "redis", "log.facility.x",
]  # fmt: skip
PATH_KEYS = {k for k in KEYS if k.endswith(("_file", "_dir", "_socket", "unix_socket"))}

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**63 - 1, 2**63, 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["", " ", "majority", "127.0.0.1", "::1", "[::1]:26379", "0.0.0.0",
                     "127.0.0.1:0", "127.0.0.1:99999", "host name", "a" * 5000, "%eth0",
                     "fe80::1%eth0", "10.0.0.1:26379", "224.0.0.1", "daemon", "local7"]),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
    st.dates(),
    st.times().map(lambda t: t.replace(microsecond=0)),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "port"]), inner, max_size=3),
    ),
    max_leaves=8,
)


def literal(value) -> str:
    """A TOML literal for ``value`` (tomllib cannot write, and servers.to_toml knows no dates)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def flatten(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def contained(box, value):
    """A path value kept inside the sandbox: fuzzing must not write around the machine."""
    if not isinstance(value, str):
        return value
    safe = value.replace("..", "__").lstrip("/")
    return os.path.join(box.dir, "p", safe) if safe else ""


def dotted_toml(flat: dict) -> str:
    # Dotted keys at top level only: a key set twice or a scalar under a table is the
    # parser's problem to report, which is also worth fuzzing.
    return "".join(f"{key} = {literal(value)}\n" for key, value in flat.items())


@st.composite
def structured(draw, box, keys=KEYS):
    flat = flatten(box.table())
    for _ in range(draw(st.integers(1, 5))):
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 9)) == 0:
            flat.pop(key, None)
            continue
        value = draw(values)
        flat[key] = contained(box, value) if key in PATH_KEYS else value
    return dotted_toml(flat)


@fuzz(2500)
@given(data=st.data())
def test_wrong_types_and_values_on_every_key(box, data):
    count("config: wrong types/values")
    text = data.draw(structured(box))
    code, out, err = load(box, "typed.toml", text.encode("utf-8"))
    box.check_invariants(code, out, err, CONFIG_OR_USAGE)
    assert "password" not in err or "secret" not in err


# Keys that never make a probe resolve a name: with them a fuzzed config may run the check
# itself (probes to 127.0.0.1:1 are refused at once) and must still write only whole files.
LOCAL_KEYS = [k for k in KEYS if k not in ("redis.host", "sentinel.addresses", "redis")]


@fuzz(700)
@given(data=st.data())
def test_fuzzed_config_through_check(box, data):
    count("config: through check")
    text = data.draw(structured(box, LOCAL_KEYS))
    code, out, err = load(box, "check.toml", text.encode("utf-8"), ["check"])
    box.check_invariants(code, out, err)
    assert code != ExitCode.OK


# -- odd paths ------------------------------------------------------------------------------


def odd_paths(root: str) -> dict:
    """name -> (path, phrase the one-line error must contain)."""
    os.makedirs(root, exist_ok=True)
    directory = os.path.join(root, "a-directory")
    os.mkdir(directory)
    empty = write_private(os.path.join(root, "empty.toml"), "")
    blank = write_private(os.path.join(root, "blank.toml"), " \n\t\n# only a comment\n")
    loop_a, loop_b = os.path.join(root, "loop-a"), os.path.join(root, "loop-b")
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    dangling = os.path.join(root, "dangling")
    os.symlink(os.path.join(root, "nowhere"), dangling)
    fifo = os.path.join(root, "fifo")
    os.mkfifo(fifo)
    huge = os.path.join(root, "huge.toml")
    with open(huge, "wb") as fh:
        fh.write(b"# " + b"x" * (2 << 20) + b"\n")
    deep = write_private(os.path.join(root, "deep.toml"), "a = " + "[" * 50000 + "]" * 50000)
    bignum = write_private(os.path.join(root, "bignum.toml"), "master_name = " + "9" * 5000)
    notdir = os.path.join(empty, "child.toml")
    return {
        "directory": (directory, "directory"),
        "empty file": (empty, "empty"),
        "blank file": (blank, "master_name: missing"),
        "symlink loop": (loop_a, "symlink loop"),
        "dangling symlink": (dangling, "dangling symlink"),
        "missing": (os.path.join(root, "missing.toml"), "not found"),
        "fifo without writer": (fifo, "not a regular file"),
        "character device": ("/dev/zero", "not a regular file"),
        "unreadable (/proc/self/mem: EIO even for root)": ("/proc/self/mem", "error"),
        "bigger than 1 MiB": (huge, "larger than"),
        "nested 50000 deep": (deep, "invalid TOML"),
        "5000-digit number": (bignum, "invalid TOML"),
        "file used as a directory": (notdir, "not a directory"),
        "name too long": (os.path.join(root, "x" * 300), "too long"),
        "empty path": ("", "no config path"),
        "NUL in path": ("a\x00b", "NUL"),
    }


def test_odd_config_paths(box):
    cases = odd_paths(os.path.join(box.dir, "odd"))
    for name, (path, phrase) in cases.items():
        code, out, err = box.run(["--config", path, "check"])
        box.check_invariants(code, out, err, {ExitCode.CONFIG})
        assert phrase.lower() in err.lower(), (name, err)
        assert err.count("\n") == 1, (name, err)


PASSWORD_FILE_CASES = ["directory", "fifo", "character device", "empty", "two lines", "huge",
                       "invalid utf-8", "symlink loop"]  # fmt: skip


@pytest.mark.parametrize("target", PASSWORD_FILE_CASES)
def test_odd_password_files(box, target):
    root = os.path.join(box.dir, "pw", target.replace(" ", "-"))
    os.makedirs(root)
    path = os.path.join(root, "password")
    secret_line = "hunter2-" + target.replace(" ", "")
    if target == "directory":
        os.mkdir(path)
    elif target == "fifo":
        os.mkfifo(path)
    elif target == "character device":
        path = "/dev/zero"
    elif target == "symlink loop":
        os.symlink(path, path)
    else:
        content = {
            "empty": b"",
            "two lines": f"{secret_line}\n{secret_line}\n".encode(),
            "huge": secret_line.encode() * 20000,
            "invalid utf-8": secret_line.encode() + b"\xff\n",
        }[target]
        with open(path, "wb") as fh:
            fh.write(content)
    table = box.table(redis={"password_file": path})
    config = write_private(os.path.join(root, "c.toml"), to_toml(table) + "\n")
    code, out, err = box.run(["--config", config, "check"])
    box.check_invariants(code, out, err, {ExitCode.CONFIG})
    assert "redis.password_file" in err
    assert secret_line not in err and "hunter2" not in out


def test_config_mode_is_irrelevant_for_root_but_not_for_the_script_user(box):
    """Root reads a 0000 file (so 'unreadable' is tested as keepalived_script, in
    test_acl.py); here only that a 0000 config owned by root still loads for root."""
    path = write_private(os.path.join(box.dir, "zero.toml"), to_toml(box.table()) + "\n")
    os.chmod(path, 0)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0
    code, out, err = box.run(["--config", path, "notify"])
    box.check_invariants(code, out, err, {ExitCode.USAGE} if os.geteuid() == 0 else None)
