"""Config load refuses what another local user could exploit: a track file in a directory
others can write, and IPv4-mapped IPv6 spellings of the VIP and of loopback."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

import pytest

from sentinel_vip.config.load import from_mapping
from sentinel_vip.errors import ConfigError, ExitCode

BASE = {
    "master_name": "mymaster",
    "sentinel": {"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]},
    "vip": {"address": "10.0.0.100"},
}


def problems(**sections) -> tuple:
    table = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for name, values in sections.items():
        table.setdefault(name, {}).update(values)
    try:
        from_mapping(table)
    except ConfigError as exc:
        return tuple(exc.problems)
    return ()


# -- IPv4-mapped IPv6 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sections, where",
    [
        ({"sentinel": {"addresses": ["[::ffff:10.0.0.100]:26379", "10.0.0.2"]}}, "not the VIP"),
        ({"redis": {"host": "::ffff:10.0.0.100"}}, "not the VIP"),
        ({"node": {"addresses": ["[::ffff:127.0.0.1]:6379"]}}, "a non-loopback address"),
        ({"node": {"addresses": ["::ffff:10.0.0.100"]}}, "not the VIP"),
        ({"vip": {"address": "::ffff:127.0.0.1"}}, "a non-loopback address"),
        ({"sentinel": {"addresses": ["[::ffff:10.0.0.1]", "10.0.0.1", "10.0.0.3"]}}, "once"),
    ],
)
def test_ipv4_mapped_spellings_are_refused_like_the_plain_forms(sections, where):
    (problem,) = problems(**sections)
    assert where in problem


def test_a_mapped_sentinel_address_is_used_as_the_ipv4_address():
    table = dict(BASE, sentinel={"addresses": ["[::ffff:10.0.0.1]:26380", "10.0.0.2"]})
    config = from_mapping(table)
    assert config.sentinels[0].label() == "10.0.0.1:26380"


# -- the track file's directory -----------------------------------------------------------------


def test_a_track_file_in_a_sticky_world_writable_directory_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (problem,) = problems(check={"track_file": str(shared / "track")})
    assert problem.startswith(f"check.track_file: {shared / 'track'}: {shared} can be written")
    assert "every user" in problem and "/run/sentinel-vip" in problem


def test_a_missing_directory_under_a_shared_one_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (problem,) = problems(check={"track_file": str(shared / "later" / "track")})
    assert f"{shared} can be written by every user" in problem


def test_a_missing_directory_under_a_private_one_is_accepted(tmp_path):
    """/run/sentinel-vip before tmpfiles creates it: only root can create it in /run."""
    assert problems(check={"track_file": str(tmp_path / "later" / "track")}) == ()


def test_a_symlink_into_a_shared_directory_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (tmp_path / "run").symlink_to(shared)
    (problem,) = problems(check={"track_file": str(tmp_path / "run" / "track")})
    assert "can be written by every user" in problem


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_directory_of_another_user_or_group_is_refused(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    os.chown(other, 65534, 65534)  # nobody
    (problem,) = problems(check={"track_file": str(other / "track")})
    assert "its owner nobody (uid 65534)" in problem
    grouped = tmp_path / "grouped"
    grouped.mkdir()
    grouped.chmod(0o775)
    os.chown(grouped, 0, 65534)
    (problem,) = problems(check={"track_file": str(grouped / "track")})
    assert "(gid 65534)" in problem


@pytest.mark.skipif(
    os.geteuid() != 0 or "keepalived_script" not in {p.pw_name for p in pwd.getpwall()},
    reason="needs root and the keepalived_script user",
)
def test_the_script_users_own_directory_is_accepted(tmp_path):
    script = pwd.getpwnam("keepalived_script")
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chown(state, script.pw_uid, script.pw_gid)
    assert problems(check={"track_file": str(state / "track")}) == ()


def test_the_cli_exits_3_and_says_why(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "track").write_text("1\n")  # pre-created by another user
    path = tmp_path / "sentinel-vip.toml"
    path.write_text(
        'master_name = "m"\n[sentinel]\naddresses = ["127.0.0.1:26379"]\n'
        f'[check]\ntrack_file = "{shared / "track"}"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\nhistory_file = "{tmp_path / "h.jsonl"}"\n'
        "[log]\nsyslog = false\n"
    )
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    run = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
         " from sentinel_vip.cli import main; sys.exit(main(sys.argv[2:]))",
         src, "--config", str(path), "check"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == int(ExitCode.CONFIG), run
    assert "check.track_file" in run.stderr and "every user" in run.stderr


# -- root and a config others can change ------------------------------------------------------

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the rule applies to runs as root")


def _config_file(directory, mode=0o640) -> str:
    path = directory / "c.toml"
    path.write_text('master_name = "m"\n[sentinel]\naddresses = ["10.0.0.1"]\n')
    path.chmod(mode)
    return str(path)


@as_root
def test_root_refuses_a_config_owned_by_another_user(tmp_path):
    from sentinel_vip.config.load import load

    path = _config_file(tmp_path)
    os.chown(path, 65534, 0)
    with pytest.raises(ConfigError) as caught:
        load(path)
    (problem,) = caught.value.problems
    assert problem.startswith("can be changed by its owner nobody (uid 65534)")
    assert f"chown root:keepalived_script {path}" in problem


@as_root
def test_root_refuses_a_config_in_a_directory_another_user_can_write(tmp_path):
    from sentinel_vip.config.load import load

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ConfigError) as caught:
        load(_config_file(theirs))
    assert f"through {theirs}" in caught.value.problems[0]
    assert load(_config_file(tmp_path)).master_name == "m"  # root's own: fine


@as_root
def test_the_config_owner_is_reported_to_the_check_and_doctor(tmp_path):
    from sentinel_vip.config.files import insecure_files
    from sentinel_vip.config.load import load

    path = _config_file(tmp_path)
    config = load(path)
    os.chown(path, 65534, 0)
    (message,) = insecure_files(config)
    assert "owned by nobody, who could make a run as root execute any program" in message


def test_a_state_dir_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (problem,) = problems(paths={"state_dir": str(shared / "sentinel-vip")})
    assert problem.startswith(f"paths.state_dir: {shared / 'sentinel-vip'}: {shared} can be")
    assert "every user" in problem
    assert problems(paths={"state_dir": str(tmp_path / "state")}) == ()


@pytest.mark.parametrize("spelling", ["0x0a000064", "0xa.0.0.100", "0xa.100"])
def test_a_hex_or_short_spelling_of_the_vip_is_refused(spelling):
    """getaddrinfo reads these as 10.0.0.100 (inet_aton): not hostnames."""
    (problem,) = problems(sentinel={"addresses": [spelling]})
    assert problem.startswith(f"sentinel.addresses[0]: found '{spelling}'")
    assert "10.0.0.100" in problem
