"""doctor_local: refused files, ownership of what we keep, and how the local Redis is reached
(the port-squatting warning), from plain data and from files planted in a temp directory."""

from __future__ import annotations

import os
import pwd

import pytest

from sentinel_vip.admin import doctor_local as local
from support.config import make_config


def statuses(found):
    return [(f.status, f.item) for f in found]


# -- the port-squatting warning -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "10.9.9.9"])
def test_tcp_to_this_host_with_a_password_warns_with_the_fix(host):
    config = make_config(redis={"host": host, "password": "pw"})
    (finding,) = local.transport(config, local.socket_facts(config), {"10.9.9.9"})
    assert (finding.status, finding.item) == ("warn", "redis transport")
    assert "receives the username and password" in finding.detail
    assert "unixsocket /run/redis/redis-server.sock" in finding.fix
    assert 'unix_socket = "/run/redis/redis-server.sock"' in finding.fix


@pytest.mark.parametrize(
    "redis",
    [
        {"host": "127.0.0.1"},  # no password: nothing to leak
        {"host": "10.0.0.7", "password": "pw"},  # another host: not squattable from here
        {"host": "127.0.0.1", "password": "pw", "tls": {"enabled": True}},  # verified TLS
    ],
)
def test_no_warning_where_nothing_leaks_to_a_local_user(redis):
    config = make_config(redis=redis)
    assert local.transport(config, local.socket_facts(config), frozenset()) == []


def test_a_socket_in_a_directory_others_can_write_warns(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    config = make_config(redis={"unix_socket": str(shared / "redis.sock"), "password": "pw"})
    (finding,) = local.transport(config, local.socket_facts(config), frozenset())
    assert finding.status == "warn" and "every user" in finding.detail


def test_a_socket_in_redis_own_directory_is_ok(tmp_path):
    own = tmp_path / "redis"
    own.mkdir(mode=0o755)
    config = make_config(redis={"unix_socket": str(own / "redis.sock"), "password": "pw"})
    assert statuses(local.transport(config, local.socket_facts(config), frozenset())) == [
        ("ok", "redis transport")
    ]


# -- refused files ---------------------------------------------------------------------------


def test_refused_files_fail_with_the_reason():
    (finding,) = local.refused_files([("/etc/redis/sentinel.conf", "is a FIFO (named pipe)")])
    assert finding.status == "fail"
    assert finding.detail == "/etc/redis/sentinel.conf: is a FIFO (named pipe): not read"


# -- ownership -------------------------------------------------------------------------------

needs_script_user = pytest.mark.skipif(
    os.geteuid() != 0 or not any(p.pw_name == "keepalived_script" for p in pwd.getpwall()),
    reason="needs root and the keepalived_script user",
)


@needs_script_user
def test_ownership_reports_root_owned_and_planted_files_with_safe_fixes(tmp_path):
    script = pwd.getpwnam("keepalived_script")
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chown(state, script.pw_uid, script.pw_gid)
    (state / "history.jsonl").write_text("")  # root-owned: left by an old root run
    (state / "notify.lock").symlink_to("/etc/nologin")  # planted
    os.mkfifo(state / "check.json")
    (state / "fence.json").symlink_to("/etc/shadow")  # planted where the watcher writes
    (state / "track").write_text("1\n")
    os.chown(state / "track", script.pw_uid, script.pw_gid)
    (state / "unrelated").write_text("")  # not ours: not judged
    found = local.ownership(local.file_facts(make_config(tmp_path)))
    by_path = {f.detail.split()[0]: f for f in found}
    assert set(by_path) == {
        str(state / "history.jsonl"),
        str(state / "notify.lock"),
        str(state / "check.json"),
        str(state / "fence.json"),
    }
    assert all(f.status == "fail" for f in found)
    history = by_path[str(state / "history.jsonl")]
    assert "owned by root" in history.detail
    assert history.fix.startswith("chown -h keepalived_script:")
    assert by_path[str(state / "notify.lock")].fix.startswith(f"rm {state / 'notify.lock'}")
    assert "is a FIFO" in by_path[str(state / "check.json")].detail


@needs_script_user
def test_ownership_ok_when_all_files_belong_to_the_script_user(tmp_path):
    script = pwd.getpwnam("keepalived_script")
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chown(state, script.pw_uid, script.pw_gid)
    for name in ("history.jsonl", "check.json", "track"):
        (state / name).write_text("")
        os.chown(state / name, script.pw_uid, script.pw_gid)
    assert statuses(local.ownership(local.file_facts(make_config(tmp_path)))) == [
        ("ok", "state files")
    ]


def test_an_acl_letting_another_user_write_the_socket_directory_warns(tmp_path):
    """The mode looks like the owner's alone (group bits = the ACL mask); an ACL entry lets
    nobody create a socket there too."""
    run = tmp_path / "redis"
    run.mkdir(mode=0o750)

    def entry(tag: int, perm: int, ident: int = 0xFFFFFFFF) -> bytes:
        return tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")

    acl = (2).to_bytes(4, "little") + entry(1, 7) + entry(2, 7, 65534) + entry(4, 5) + \
        entry(0x10, 7) + entry(0x20, 0)  # fmt: skip
    try:
        os.setxattr(run, "system.posix_acl_access", acl)
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")
    config = make_config(redis={"unix_socket": str(run / "redis.sock"), "password": "pw"})
    (finding,) = local.transport(config, local.socket_facts(config), frozenset())
    assert finding.status == "warn" and "(an ACL)" in finding.detail, finding


# -- the track file's directory ---------------------------------------------------------------
# keepalived 2.2.7 drops a track_file whose directory is missing at its start ("Track file
# directory for ... does not exist - removing"): the gate is gone until its next start.


def test_a_missing_track_file_directory_fails_with_the_fix(tmp_path):
    config = make_config(tmp_path)  # track file under tmp_path/state, not created
    (finding,) = local.track_dir(local.track_dir_facts(config))
    assert (finding.status, finding.item) == ("fail", "track file dir")
    assert f"{tmp_path / 'state'} does not exist" in finding.detail
    assert "keepalived drops the track file gate" in finding.detail
    assert finding.fix.startswith(f"systemd-tmpfiles --create --prefix={tmp_path / 'state'}")
    assert "systemctl restart keepalived" in finding.fix


@pytest.mark.parametrize("kind", ["regular file", "symlink"])
def test_a_track_file_directory_that_is_not_a_directory_fails(tmp_path, kind):
    config = make_config(tmp_path)
    state = tmp_path / "state"
    if kind == "regular file":
        state.write_text("")
    else:
        state.symlink_to(tmp_path / "nowhere")  # dangling: keepalived finds no directory
    (finding,) = local.track_dir(local.track_dir_facts(config))
    assert finding.status == "fail"
    assert f"{state} is a {kind}, not a directory" in finding.detail
    assert finding.fix.startswith(f"rm {state}")
    assert f"systemd-tmpfiles --create --prefix={state}" in finding.fix


def test_a_link_to_a_directory_is_followed_as_keepalived_does(tmp_path):
    config = make_config(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "elsewhere")
    assert statuses(local.track_dir(local.track_dir_facts(config))) == [("ok", "track file dir")]


def test_an_existing_track_file_directory_is_ok(tmp_path):
    config = make_config(tmp_path)
    (tmp_path / "state").mkdir()
    assert statuses(local.track_dir(local.track_dir_facts(config))) == [("ok", "track file dir")]


def test_doctor_reports_the_missing_track_file_directory(tmp_path):
    from sentinel_vip.admin import doctor

    found = doctor.local_findings(make_config(tmp_path), [])
    assert ("fail", "track file dir") in statuses(found)
