"""config: defaults, every way a config can be wrong, secrets never echoed, file permissions."""

import copy
import os
import pathlib
import re
import subprocess
import sys

import pytest

from sentinel_vip.config import load as config
from sentinel_vip.config import schema as config_schema
from sentinel_vip.config.load import from_mapping, insecure_files, load, resolve_path
from sentinel_vip.errors import ConfigError, ExitCode
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "sentinel-vip" / "sentinel-vip.toml"
SECRET = "pw-UNIQUE-7f3a9c"  # must never show up in an error

MINIMAL_TOML = 'master_name = "mymaster"\n[sentinel]\naddresses = ["10.0.0.1", "10.0.0.2:26380"]\n'


def minimal(**sections):
    data = {"master_name": "mymaster", "sentinel": {"addresses": ["10.0.0.1", "10.0.0.2"]}}
    for name, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(name, {}).update(values)
        else:
            data[name] = values
    return data


NAME = {"master_name": "m"}


def problems_of(data):
    with pytest.raises(ConfigError) as info:
        from_mapping(data)
    return info.value.problems


def only_problem(data):
    found = problems_of(data)
    assert len(found) == 1, found
    return found[0]


def load_problems(path):
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert info.value.path == str(path)
    return info.value.problems


def write(tmp_path, text, name="sentinel-vip.toml", mode=0o640):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


# -- defaults and the example file ---------------------------------------------------------


def test_defaults_fill_every_attribute():
    cfg = from_mapping(minimal())
    assert cfg.path == "<memory>"
    assert cfg.master_name == "mymaster"
    assert cfg.redis == Endpoint("127.0.0.1", 6379)
    assert cfg.redis.tls == TLSSettings(False, "", "", "", "", True)
    assert cfg.sentinels == (Endpoint("10.0.0.1", 26379), Endpoint("10.0.0.2", 26379))
    assert cfg.agreement == 2
    assert cfg.no_majority_grace == 0.0
    assert cfg.node_addresses == ()
    assert cfg.announce_port == 6379
    assert cfg.allow_loopback is False
    assert (cfg.vip_address, cfg.vip_interface) == ("", "")
    assert (cfg.check_deadline, cfg.track_file) == (0.8, "/run/sentinel-vip/track")
    assert (cfg.notify_deadline, cfg.demote) == (5.0, True)
    assert (cfg.hooks_dir, cfg.hook_timeout) == ("/etc/sentinel-vip/notify.d", 10.0)
    assert cfg.state_dir == "/run/sentinel-vip"
    assert cfg.history_file == "/var/lib/sentinel-vip/history.jsonl"
    assert cfg.history_max_lines == 1000
    assert (cfg.log_syslog, cfg.syslog_socket, cfg.log_facility) == (True, "/dev/log", "daemon")
    assert cfg.secret_files == ()  # nothing read from disk


def test_config_is_frozen():
    cfg = from_mapping(minimal())
    with pytest.raises(AttributeError):
        cfg.agreement = 1


def test_durations_accept_int_and_float():
    cfg = from_mapping(minimal(check={"deadline": 1}, notify={"deadline": 2.5}))
    assert cfg.check_deadline == 1.0 and isinstance(cfg.check_deadline, float)
    assert cfg.notify_deadline == 2.5


def test_example_file_loads():
    cfg = load(str(EXAMPLE))
    assert cfg.master_name == "mymaster"
    assert [s.label() for s in cfg.sentinels] == [
        "192.0.2.11:26379",
        "192.0.2.12:26379",
        "192.0.2.13:26379",
    ]
    assert cfg.vip_address == "192.0.2.100" and cfg.vip_prefix == 24
    assert cfg.secret_files == (str(EXAMPLE),)


def test_example_file_documents_every_key_with_its_default():
    # Uncommenting every "# key = value" line must give exactly the schema's defaults,
    # apart from the keys the example sets on purpose.
    text = EXAMPLE.read_text()
    uncommented = re.sub(r"(?m)^# ([a-z_]+ = )", r"\1", text)
    data = config._toml_module().loads(uncommented)
    expected = config_schema.defaults()
    set_on_purpose = {
        ("master_name",): "mymaster",
        ("sentinel", "addresses"): ["192.0.2.11:26379", "192.0.2.12:26379", "192.0.2.13:26379"],
        ("vip", "address"): "192.0.2.100",
        ("vip", "interface"): "eth0",
        ("vip", "prefix"): 24,
    }
    for keys, value in set_on_purpose.items():
        table = expected
        for key in keys[:-1]:
            table = table[key]
        table[keys[-1]] = value
    expected["node"]["addresses"] = []  # TOML has arrays, the schema default is a tuple
    assert data == expected
    from_mapping(data)  # and the fully spelled-out file is valid too


# -- resolve_path ------------------------------------------------------------------------------


def test_resolve_path_precedence():
    env = {"SENTINEL_VIP_CONFIG": "/env.toml"}
    assert resolve_path("/cli.toml", env) == "/cli.toml"
    assert resolve_path(None, env) == "/env.toml"
    assert resolve_path(None, {}) == config.DEFAULT_PATH == "/etc/sentinel-vip/sentinel-vip.toml"
    assert resolve_path(None, {"SENTINEL_VIP_CONFIG": ""}) == config.DEFAULT_PATH


def test_empty_cli_path_is_reported_not_replaced():
    assert resolve_path("", {"SENTINEL_VIP_CONFIG": "/env.toml"}) == ""
    (problem,) = load_problems("")
    assert "--config" in problem


# -- files that cannot be used ---------------------------------------------------------------


def test_load_a_valid_file(tmp_path):
    path = write(tmp_path, MINIMAL_TOML)
    cfg = load(str(path))
    assert cfg.path == str(path)
    assert [s.label() for s in cfg.sentinels] == ["10.0.0.1:26379", "10.0.0.2:26380"]
    assert cfg.secret_files == (str(path),)


def test_missing_file(tmp_path):
    assert load_problems(tmp_path / "nope.toml") == ("not found",)


def test_directory(tmp_path):
    assert load_problems(tmp_path) == ("is a directory, expected a file",)


def test_symlink_loop(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (problem,) = load_problems(tmp_path / "a")
    assert "symlink loop" in problem


def test_dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    assert load_problems(tmp_path / "link") == ("dangling symlink",)


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert load_problems(tmp_path / "fifo") == ("is a FIFO (named pipe), not a regular file",)


def test_not_utf8(tmp_path):
    path = write(tmp_path, b'master_name = "a"\n# caf\xe9\n')
    (problem,) = load_problems(path)
    assert "not valid UTF-8 (line 2)" in problem


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_file(tmp_path, text):
    (problem,) = load_problems(write(tmp_path, text))
    assert problem.startswith("file is empty")


def test_byte_order_mark_is_accepted(tmp_path):
    assert load(str(write(tmp_path, "\ufeff" + MINIMAL_TOML))).master_name == "mymaster"


def test_file_too_large(tmp_path):
    path = write(tmp_path, 'master_name = "' + "x" * (10 << 20) + '"\n')
    (problem,) = load_problems(path)
    assert "larger than" in problem


def test_unreadable_file(tmp_path):
    path = write(tmp_path, MINIMAL_TOML, mode=0o000)
    if os.geteuid() != 0:
        (problem,) = load_problems(path)
    else:  # root reads anything: try as nobody in a child process
        problem = _load_as_nobody(path)
    assert "permission denied" in problem
    assert "chmod 0640" in problem


def _load_as_nobody(path):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, report the message, never return into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                load(str(path))
                message = "loaded"
            except ConfigError as exc:
                message = "\n".join(exc.problems)
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_bad_toml_syntax_reports_line_and_column(tmp_path):
    path = write(tmp_path, 'master_name = "m"\n[redis]\nport = = 1\n')
    (problem,) = load_problems(path)
    assert problem.startswith("invalid TOML: ")
    assert "line 3, column" in problem


def test_toml_error_inside_a_password_does_not_echo_it(tmp_path):
    # the decoder quotes an illegal character; here it sits inside the password
    path = write(tmp_path, 'master_name = "m"\n[redis]\npassword = "ab\x01cd"\n')
    (problem,) = load_problems(path)
    assert "line 3" in problem
    assert "\\x01" not in problem and "\x01" not in problem


def test_huge_integer_in_toml(tmp_path):
    (problem,) = load_problems(write(tmp_path, "x = " + "9" * 5000 + "\n"))
    assert problem == "invalid TOML: a number is too large"


def test_deeply_nested_inline_tables(tmp_path):
    (problem,) = load_problems(write(tmp_path, "x = " + "{a = " * 1000 + "1" + "}" * 1000))
    assert problem.startswith("invalid TOML")


def test_deeply_nested_table_headers_are_one_unknown_key(tmp_path):
    text = MINIMAL_TOML + "[" + ".".join(["deep"] * 1000) + "]\nx = 1\n"
    (problem,) = load_problems(write(tmp_path, text))
    assert problem.startswith("deep: unknown key")


def test_every_problem_from_a_file_is_reported(tmp_path):
    text = '[redis]\nport = true\n[sentinel]\nadresses = ["10.0.0.1"]\n'
    problems = load_problems(write(tmp_path, text))
    assert sorted(p.split(":")[0] for p in problems) == [
        "master_name",
        "redis.port",
        "sentinel.addresses",
        "sentinel.adresses",
    ]


def test_error_message_and_exit_code(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value) == f"{path}: not found"
    assert info.value.exit_code == ExitCode.CONFIG


# -- schema: types, ranges, required, unknown keys -------------------------------------------


def test_all_problems_at_once():
    data = {
        "master_name": "",
        "redis": {"port": True, "tls": {"enabled": "yes"}},
        "sentinel": {"addresses": ["10.0.0.1"], "agreement": 0},
        "check": {"deadline": 0},
        "paths": {"history_max_lines": 5},
        "log": {"facility": "local9"},
        "bogus": 1,
    }
    problems = problems_of(data)
    assert [p.split(":")[0] for p in problems] == [
        "bogus",
        "master_name",
        "redis.port",
        "redis.tls.enabled",
        "sentinel.agreement",
        "check.deadline",
        "paths.history_max_lines",
        "log.facility",
    ]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("redis", "port", True, "redis.port: found true (boolean), expected an integer 1..65535"),
        ("redis", "port", "6379", "redis.port: found '6379' (string), expected an integer"),
        ("redis", "port", 0, "redis.port: found 0 (integer), expected an integer 1..65535"),
        ("redis", "port", 65536, "redis.port: found 65536 (integer)"),
        ("redis", "port", 6379.0, "redis.port: found 6379.0 (float)"),
        ("redis", "tls", 1, "redis.tls: found 1 (integer), expected a table [redis.tls]"),
        ("redis", "unix_socket", "run/redis.sock", "expected an absolute path"),
        ("redis", "host", "a b", "redis.host: found 'a b' (string), expected a hostname"),
        ("check", "deadline", 0, "check.deadline: found 0 (integer), expected a number of sec"),
        ("check", "deadline", -1.5, "check.deadline: found -1.5 (float)"),
        ("check", "deadline", 61, "expected a number of seconds > 0 and <= 60"),
        ("check", "deadline", 1e308, "check.deadline: found 1e+308 (float)"),
        ("check", "deadline", float("inf"), "check.deadline: found inf (float)"),
        ("check", "deadline", float("nan"), "check.deadline: found nan (float)"),
        ("check", "deadline", True, "check.deadline: found true (boolean)"),
        ("sentinel", "no_majority_grace", -1, "expected a number of seconds >= 0"),
        ("notify", "hook_timeout", 0, "notify.hook_timeout: found 0 (integer)"),
        ("notify", "demote", "true", "notify.demote: found 'true' (string), expected true or"),
        ("notify", "demote", 1, "notify.demote: found 1 (integer), expected true or false"),
        ("paths", "history_max_lines", 9, "expected an integer 10..1000000"),
        ("paths", "history_max_lines", 10**400, "found a huge integer"),
        ("paths", "state_dir", "", "paths.state_dir: found '' (string), expected an absolute path"),
        ("log", "facility", "local8", "expected one of: kern, user"),
        ("vip", "interface", "a-very-long-interface-name", "expected an interface name"),
        ("node", "announce_port", -1, "node.announce_port: found -1 (integer)"),
        ("node", "addresses", "10.0.0.5", "node.addresses: found '10.0.0.5' (string), expected an"),
        ("sentinel", "tls", {"verify": "no"}, "sentinel.tls.verify: found 'no' (string)"),
    ],
)  # fmt: skip
def test_wrong_values(section, key, value, expected):
    problem = only_problem(minimal(**{section: {key: value}}))
    assert problem.startswith(expected) or expected in problem, problem


def test_zero_grace_and_bounds_accepted():
    cfg = from_mapping(
        minimal(
            sentinel={"no_majority_grace": 0},
            check={"deadline": 60},
            paths={"history_max_lines": 10},
            redis={"port": 65535},
        )
    )
    assert (cfg.no_majority_grace, cfg.check_deadline, cfg.history_max_lines) == (0.0, 60.0, 10)


def test_toml_date_is_a_wrong_type(tmp_path):
    path = write(tmp_path, MINIMAL_TOML + "[check]\ndeadline = 1979-05-27\n")
    (problem,) = load_problems(path)
    assert problem.startswith("check.deadline: found a date, expected a number of seconds")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"sentinel": {"addresses": ["10.0.0.1"]}}, "master_name: missing, expected the name"),
        (minimal(master_name=""), "master_name: found '' (string), expected the name"),
        (minimal(master_name="my master"), "master_name: found 'my master' (string)"),
        (NAME, "sentinel.addresses: missing, expected an array of 1..32 strings"),
        ({**NAME, "sentinel": {"addresses": []}}, "sentinel.addresses: found an array of 0 items"),
        ({**NAME, "sentinel": {"addresses": [""]}}, "sentinel.addresses[0]: found '' (string)"),
        ({**NAME, "sentinel": {"addresses": [5]}}, "sentinel.addresses[0]: found 5 (integer)"),
        ({**NAME, "sentinel": "10.0.0.1"}, "sentinel: found '10.0.0.1' (string), expected a table"),
    ],
)  # fmt: skip
def test_required_keys(data, expected):
    assert only_problem(data).startswith(expected)


def test_unknown_key_did_you_mean():
    data = minimal(sentinel={"adresses": ["10.0.0.3"]})
    assert only_problem(data) == "sentinel.adresses: unknown key (did you mean 'addresses'?)"


def test_unknown_key_in_the_wrong_table_says_where_it_belongs():
    problem = only_problem(minimal(port=6379))
    assert problem == "port: unknown key (it belongs in 'redis.port')"


def test_unknown_key_without_a_close_match_lists_the_known_keys():
    problem = only_problem(minimal(vip={"zzz": 1}))
    assert problem == "vip.zzz: unknown key (known keys here: address, interface, prefix)"


def test_unknown_key_value_is_not_shown():
    problem = only_problem(minimal(redis={"passwort": SECRET}))
    assert problem == "redis.passwort: unknown key (did you mean 'password'?)"


def test_weird_and_huge_keys_are_shown_quoted_and_cut():
    problems = problems_of(minimal(**{"a b": 1, "k" * 10_000: 2}))
    assert problems[0].startswith("'a b': unknown key")
    assert len(problems[1]) < 200 and "..." in problems[1]


def test_huge_string_value():
    problem = only_problem(minimal(vip={"interface": "x" * (10 << 20)}))
    assert problem.startswith("vip.interface: found a string of 10485760 characters")


def test_nested_mapping_1000_deep():
    deep = 1
    for _ in range(1000):
        deep = {"a": deep}
    problems = problems_of(minimal(redis={"tls": {"enabled": deep}}, x=deep))
    assert problems == (
        "x: unknown key (known keys here: master_name, redis, sentinel, node, vip, keepalived,"
        " metrics, check, watch, notify, paths, log)",
        "redis.tls.enabled: found a table, expected true or false",
    )


def test_not_a_mapping_at_all():
    assert only_problem(["master_name"]).startswith("found an array of 1 items at the top level")


def test_problem_list_is_capped():
    problems = problems_of(minimal(**{f"junk{i}": i for i in range(200)}))
    assert len(problems) == config.MAX_PROBLEMS + 1
    assert problems[-1] == "... and 150 more problems"


def test_difflib_is_imported_only_for_typos():
    code = (
        "import sys; from sentinel_vip.config import load as config;"
        f"config.load({str(EXAMPLE)!r});"
        "assert 'difflib' not in sys.modules, 'difflib imported'"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [
        {"redis": {"password": 12345}},
        {"redis": {"password": [SECRET]}},
        {"redis": {"password": SECRET * 1000}},
        {"redis": {"password": SECRET + "\x00"}},
        {"sentinel": {"password": {"x": SECRET}}},
    ],
)
def test_password_value_is_hidden(section):
    data = minimal(**section)
    data.setdefault("redis", {})["port"] = "bad"  # another problem next to it
    problems = problems_of(data)
    assert any("password: found <hidden>, expected" in p for p in problems), problems
    assert all(SECRET not in p and "12345" not in p for p in problems)


def test_password_never_in_any_error():
    data = minimal(
        redis={"password": SECRET, "password_file": "/nonexistent/pw", "port": 0},
        sentinel={"password": SECRET, "agreement": 1, "addresses": ["10.0.0.1"] * 2},
        vip={"address": SECRET},
        node={"addresses": [SECRET]},
    )
    with pytest.raises(ConfigError) as info:
        from_mapping(data)
    assert len(info.value.problems) >= 3
    # vip/node echo what they found: that is not a password key, so the secret is only
    # acceptable there. Drop those lines and check nothing else leaked.
    others = [p for p in info.value.problems if not p.startswith(("vip.", "node."))]
    assert others and all(SECRET not in p for p in others)
    assert "redis.password_file: found both password and password_file" in str(info.value)


def test_password_in_a_toml_file_never_in_errors(tmp_path):
    text = (
        MINIMAL_TOML
        + f'[redis]\npassword = "{SECRET}"\nport = true\nbogus = "{SECRET}"\n'
        + f'[sentinel.tls]\nverify = "{SECRET}"\n'
    )
    problems = load_problems(write(tmp_path, text))
    assert len(problems) == 3
    assert "sentinel.tls.verify: found 'pw-" in problems[2]  # not a password key: shown
    assert all(SECRET not in p for p in problems[:2])


def test_password_not_in_repr():
    cfg = from_mapping(minimal(redis={"password": SECRET}, sentinel={"password": SECRET}))
    assert cfg.redis.password == SECRET
    assert all(s.password == SECRET for s in cfg.sentinels)
    assert SECRET not in repr(cfg)


@pytest.mark.parametrize("content", [SECRET + "\n", SECRET, SECRET + "\r\n"])
def test_password_file_is_read(tmp_path, content):
    pw = write(tmp_path, content, name="redis.pw", mode=0o600)
    cfg = from_mapping(minimal(redis={"password_file": str(pw)}))
    assert cfg.redis.password == SECRET
    assert cfg.secret_files == (str(pw),)


def test_password_files_are_secret_files(tmp_path):
    redis_pw = write(tmp_path, "a\n", name="redis.pw")
    sentinel_pw = write(tmp_path, "b\n", name="sentinel.pw")
    path = write(
        tmp_path,
        MINIMAL_TOML.replace("[sentinel]", f'[sentinel]\npassword_file = "{sentinel_pw}"')
        + f'[redis]\npassword_file = "{redis_pw}"\n',
    )
    cfg = load(str(path))
    assert (cfg.redis.password, cfg.sentinels[0].password, cfg.sentinels[1].password) == (
        "a",
        "b",
        "b",
    )
    assert cfg.secret_files == (str(path), str(redis_pw), str(sentinel_pw))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "is empty, expected the password on one line"),
        ("\n", "is empty, expected the password on one line"),
        (SECRET + "\n\n", "has more than one line"),
        (SECRET + "\nsecond", "has more than one line"),
        (SECRET.encode() + b"\xff", "not valid UTF-8"),
    ],
)
def test_bad_password_file_never_echoes_content(tmp_path, content, reason):
    pw = write(tmp_path, content, name="pw")
    problem = only_problem(minimal(sentinel={"password_file": str(pw)}))
    assert problem.startswith(f"sentinel.password_file: {pw}: {reason}")
    assert SECRET not in problem


def test_missing_password_file_names_the_path(tmp_path):
    problem = only_problem(minimal(redis={"password_file": str(tmp_path / "gone")}))
    assert problem == f"redis.password_file: {tmp_path / 'gone'}: not found"


def test_password_file_that_is_a_directory(tmp_path):
    problem = only_problem(minimal(redis={"password_file": str(tmp_path)}))
    assert problem == f"redis.password_file: {tmp_path}: is a directory, expected a file"


def test_password_file_must_be_absolute():
    problem = only_problem(minimal(redis={"password_file": "redis.pw"}))
    assert problem.startswith(
        "redis.password_file: found 'redis.pw' (string), expected an absolute"
    )


def test_password_and_password_file_are_exclusive(tmp_path):
    pw = write(tmp_path, "x", name="pw")
    problem = only_problem(minimal(redis={"password": SECRET, "password_file": str(pw)}))
    assert problem.startswith("redis.password_file: found both password and password_file")
    assert SECRET not in problem


# -- insecure_files ------------------------------------------------------------------------


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group needs root")


def _secret_config(tmp_path, mode, gid=None):
    pw = write(tmp_path, "x\n", name="redis.pw", mode=0o600)
    path = write(tmp_path, MINIMAL_TOML + f'[redis]\npassword_file = "{pw}"\n', mode=0o600)
    loaded = load(str(path))  # before the change: as root, a config others can write is refused
    os.chmod(path, mode)
    if gid is not None:
        os.chown(path, 0, gid)
    return loaded, path


@needs_root
def test_secure_files_give_no_message(tmp_path):
    cfg, _ = _secret_config(tmp_path, 0o640, gid=0)
    assert insecure_files(cfg) == []
    cfg, _ = _secret_config(tmp_path, 0o600, gid=54321)  # group cannot read: fine
    assert insecure_files(cfg) == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (0o644, "readable or writable by others"),
        (0o642, "readable or writable by others"),
        (0o660, "writable by its group"),
    ],
)
def test_insecure_modes(tmp_path, mode, reason):
    cfg, path = _secret_config(tmp_path, mode)
    (message,) = insecure_files(cfg)
    assert message.startswith(f"{path}: mode {mode:04o} ")
    assert reason in message
    assert f"chmod 0640 {path}" in message
    assert f"chown root:keepalived_script {path}" in message


@needs_root
def test_group_readable_by_another_group(tmp_path):
    cfg, path = _secret_config(tmp_path, 0o640, gid=54321)
    (message,) = insecure_files(cfg)
    assert message.startswith(f"{path}: mode 0640 group 54321: readable by group 54321;")


def test_insecure_password_file_is_reported(tmp_path):
    cfg, _ = _secret_config(tmp_path, 0o600)
    pw = cfg.secret_files[1]
    os.chmod(pw, 0o604)
    (message,) = insecure_files(cfg)
    assert message.startswith(f"{pw}: mode 0604 ")


def test_secret_file_gone_since_load(tmp_path):
    cfg, path = _secret_config(tmp_path, 0o600)
    path.unlink()
    assert insecure_files(cfg) == [f"{path}: cannot check permissions: not found"]


# -- agreement -----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "majority"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority(count, majority):
    addresses = [f"10.0.0.{i}" for i in range(1, count + 1)]
    cfg = from_mapping(minimal(sentinel={"addresses": addresses}))
    assert cfg.agreement == majority


@pytest.mark.parametrize("agreement", [2, 3])
def test_agreement_within_bounds(agreement):
    sentinel = {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "agreement": agreement}
    assert from_mapping(minimal(sentinel=sentinel)).agreement == agreement


def test_agreement_below_majority_is_unsafe():
    sentinel = {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "agreement": 1}
    problem = only_problem(minimal(sentinel=sentinel))
    assert problem.startswith(
        "sentinel.agreement: found 1, expected at least 2, the majority of the 3"
    )
    assert "unsafe" in problem


def test_agreement_above_count_can_never_agree():
    sentinel = {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "agreement": 4}
    problem = only_problem(minimal(sentinel=sentinel))
    assert problem.startswith("sentinel.agreement: found 4, expected at most 3")


@pytest.mark.parametrize("agreement", [True, "most", 0, 2.0])
def test_agreement_wrong_type(agreement):
    problem = only_problem(minimal(sentinel={"agreement": agreement}))
    assert problem.startswith("sentinel.agreement: found ")
    assert problem.endswith('expected "majority" or a number of Sentinels')


def test_agreement_not_judged_against_broken_addresses():
    problems = problems_of(minimal(sentinel={"addresses": ["10.0.0.1:0"], "agreement": 2}))
    assert [p.split(":")[0] for p in problems] == ["sentinel.addresses[0]"]


# -- addresses -----------------------------------------------------------------------------


def test_sentinel_address_forms():
    addresses = [
        "10.0.0.1",
        "10.0.0.2:26380",
        "[fd00::1]:26381",
        "[FD00::2]",
        "fd00::3",
        "S1.example",
    ]
    cfg = from_mapping(minimal(sentinel={"addresses": addresses}))
    assert [(s.host, s.port) for s in cfg.sentinels] == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26380),
        ("fd00::1", 26381),
        ("fd00::2", 26379),
        ("fd00::3", 26379),
        ("s1.example", 26379),
    ]
    assert cfg.sentinels[2].label() == "[fd00::1]:26381"
    assert cfg.agreement == 4


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:", ":26379", "10.0.0.1:2x", "[fd00::1",
     "[fd00::1]26379", "[10.0.0.1]:26379", "10.0.0.256", "fd00::zz", "0.0.0.0", "[::]:26379",
     "224.0.0.1", "-bad.host", "a/b:1", "a%b", "10.0.0.1:٣"],
)  # fmt: skip
def test_bad_sentinel_addresses(address):
    problem = only_problem(minimal(sentinel={"addresses": ["10.0.0.9", address]}))
    assert problem.startswith(f"sentinel.addresses[1]: found {address!r} (string), expected")


def test_duplicate_sentinels_would_double_count():
    addresses = ["10.0.0.1", "10.0.0.2", "10.0.0.1:26379"]
    problem = only_problem(minimal(sentinel={"addresses": addresses}))
    assert problem.startswith("sentinel.addresses[2]: found '10.0.0.1:26379' (string)")
    assert "same as [0]" in problem and "twice" in problem


def test_aliases_of_one_sentinel_are_a_config_error():
    """Issue 10, case 2: one Sentinel under three names counted as 2 of 3."""
    addresses = ["127.0.0.1:26380", "localhost:26380", "[::ffff:127.0.0.1]:26380"]
    found = problems_of(minimal(sentinel={"addresses": addresses}))
    assert len(found) == 2, found
    assert found[0].startswith("sentinel.addresses[2]: found '[::ffff:127.0.0.1]:26380'")
    assert found[1].startswith("sentinel.addresses[1]: found 'localhost:26380' (string),")
    assert "reaches the same address as [0] '127.0.0.1:26380'" in found[1]
    assert "count twice" in found[1]


def test_names_that_do_not_resolve_are_left_to_the_run_time_check():
    addresses = ["10.0.0.1", "sentinel-b.invalid", "sentinel-c.invalid"]
    assert len(from_mapping(minimal(sentinel={"addresses": addresses})).sentinels) == 3


def test_sentinel_at_the_vip_is_rejected():
    data = minimal(
        sentinel={"addresses": ["10.0.0.1", "10.0.0.100"]}, vip={"address": "10.0.0.100"}
    )
    assert only_problem(data).startswith(
        "sentinel.addresses[1]: found '10.0.0.100' (string), expected not the VIP"
    )


def test_sentinel_on_loopback_is_fine():
    cfg = from_mapping(minimal(sentinel={"addresses": ["127.0.0.1:26379", "[::1]:26380"]}))
    assert [s.label() for s in cfg.sentinels] == ["127.0.0.1:26379", "[::1]:26380"]


def test_too_many_sentinels():
    addresses = [f"10.0.1.{i}" for i in range(33)]
    problem = only_problem(minimal(sentinel={"addresses": addresses}))
    assert (
        problem
        == "sentinel.addresses: found an array of 33 items, expected an array of 1..32 strings"
    )


def test_node_address_forms():
    addresses = ["10.0.0.5", "10.0.0.6:6380", "[FD00::5]:6381", "fd00::6", "[fd00::7]"]
    cfg = from_mapping(minimal(node={"addresses": addresses}))
    assert cfg.node_addresses == (
        ("10.0.0.5", None),
        ("10.0.0.6", 6380),
        ("fd00::5", 6381),
        ("fd00::6", None),
        ("fd00::7", None),
    )


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3:6379", "::1", "[::1]:6379"])
def test_loopback_node_address_rejected_unless_allowed(address):
    problem = only_problem(minimal(node={"addresses": [address]}))
    assert problem.startswith(
        f"node.addresses[0]: found {address!r} (string), expected a non-loopback"
    )
    assert "allow_loopback" in problem
    cfg = from_mapping(minimal(node={"addresses": [address], "allow_loopback": True}))
    assert cfg.allow_loopback is True and len(cfg.node_addresses) == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("node 1", "an IP address or a hostname, as Sentinel reports it"),
        ("node1.example\x1b[2J", "an IP address or a hostname, as Sentinel reports it"),
        ("localhost:6379", "this node's own name: localhost means every node"),
        ("0.0.0.0", "this node's unicast address"),
        ("10.0.0.100:6379", "this node's own address, not the VIP"),
        ("[::ffff:10.0.0.100]", "this node's own address, not the VIP"),
        (
            "10.0.0.5:99999",
            '"ip", "ip:port", "[IPv6]:port", "hostname" or "hostname:port", port 1..65535',
        ),
    ],
)
def test_bad_node_addresses(address, expected):
    problem = only_problem(minimal(node={"addresses": [address]}, vip={"address": "10.0.0.100"}))
    assert problem.startswith(f"node.addresses[0]: found {address!r} (string), expected {expected}")


def test_hostname_node_addresses_for_hostname_announcing_sentinels():
    cfg = from_mapping(minimal(node={"addresses": ["Redis-A.example:6380", "redis-a"]}))
    assert cfg.node_addresses == (("redis-a.example", 6380), ("redis-a", None))


def test_duplicate_node_address():
    problem = only_problem(minimal(node={"addresses": ["10.0.0.5", "10.0.0.5"]}))
    assert problem.startswith(
        "node.addresses[1]: found '10.0.0.5' (string), expected each address once"
    )


def test_announce_port():
    assert from_mapping(minimal(redis={"port": 6380})).announce_port == 6380
    assert from_mapping(minimal(node={"announce_port": 7000})).announce_port == 7000


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.100/24", "an IP address without prefix length"),
        ("vip.example", "an IP address (no hostname, no prefix length)"),
        ("127.0.0.1", "a non-loopback address"),
        ("0.0.0.0", "a unicast address"),
        ("ff02::1", "a unicast address"),
    ],
)
def test_bad_vip(address, expected):
    problem = only_problem(minimal(vip={"address": address}))
    assert problem.startswith(f"vip.address: found {address!r} (string), expected {expected}")


def test_vip_is_normalised():
    assert from_mapping(minimal(vip={"address": "FD00:0::100"})).vip_address == "fd00::100"


def test_redis_host_cannot_be_the_vip_or_empty():
    problem = only_problem(minimal(vip={"address": "10.0.0.100"}, redis={"host": "10.0.0.100"}))
    assert problem.startswith("redis.host: found '10.0.0.100' (string), expected not the VIP")
    problem = only_problem(minimal(redis={"host": ""}))
    assert problem == "redis.host: found '' (string), expected a host (or set unix_socket)"


def test_redis_unix_socket():
    cfg = from_mapping(minimal(redis={"unix_socket": "/run/redis/redis.sock", "host": ""}))
    assert cfg.redis.label() == "unix:/run/redis/redis.sock"


def test_redis_ipv6_host():
    assert from_mapping(minimal(redis={"host": "::1"})).redis.label() == "[::1]:6379"


# -- TLS -------------------------------------------------------------------------------------


def test_tls_settings():
    tls = {"enabled": True, "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem",
           "server_name": "redis.example", "verify": True}  # fmt: skip
    cfg = from_mapping(minimal(redis={"tls": tls}, sentinel={"tls": {"enabled": True}}))
    assert cfg.redis.tls == TLSSettings(True, "/ca.pem", "/c.pem", "/k.pem", "redis.example", True)
    assert all(s.tls == TLSSettings(enabled=True) for s in cfg.sentinels)


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({"cert_file": "/c.pem"}, "redis.tls.key_file: found '' (string), expected a path"),
        ({"key_file": "/k.pem"}, "redis.tls.cert_file: found '' (string), expected a path"),
    ],
)
def test_client_cert_needs_both(tls, expected):
    assert only_problem(minimal(redis={"tls": tls})).startswith(expected)


# -- robustness: only ConfigError, whatever the input --------------------------------------


def test_random_values_end_in_config_or_config_error():
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.sampled_from(["10.0.0.1", "[::1]:1", "::", "majority", "/x", ""]),
    )
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
    paths = config_schema._leaf_paths(config_schema.SCHEMA, "")

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.dictionaries(st.sampled_from(paths), values, max_size=6))
    def run(changes):
        data = copy.deepcopy(minimal())
        for dotted, value in changes.items():
            table = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                table = table.setdefault(key, {})
            table[leaf] = value
        try:
            from_mapping(data)
        except ConfigError as exc:
            assert exc.problems

    run()
