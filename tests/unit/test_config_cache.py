"""config_cache: a hit skips parsing, any change is a miss, and no secret is ever stored."""

import os
import stat

import pytest

from sentinel_vip.config import cache as config_cache
from sentinel_vip.config import load as config
from sentinel_vip.errors import ConfigError
from support.config import merge, table
from support.config import write_config as support_write

SECRET = "pw-CACHE-5e1d07"


def write_config(tmp_path, state_dir=None, **sections):
    state = state_dir or tmp_path / "state"
    os.makedirs(state, exist_ok=True)
    config = table(vip=None, sentinel={"addresses": ["10.0.0.1", "10.0.0.2:26380"]})
    merge(config, {"paths.state_dir": str(state), **sections})
    path = support_write(tmp_path / "sentinel-vip.toml", config)
    return path, state / config_cache.CACHE_NAME


def write_secret(tmp_path, text=SECRET):
    path = tmp_path / "redis.password"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_a_second_load_is_answered_from_the_cache(tmp_path, monkeypatch):
    path, cache = write_config(tmp_path)
    first = config_cache.load(path)
    assert first == config.load(path)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    def refuse(*args, **kwargs):
        raise AssertionError("parsed although the cache should answer")

    monkeypatch.setattr(config, "_parse", refuse)
    assert config_cache.load(path) == first


def test_password_file_secret_not_in_cache_and_changes_are_seen(tmp_path, monkeypatch):
    secret = write_secret(tmp_path)
    path, cache = write_config(tmp_path, redis={"password_file": str(secret)})
    assert config_cache.load(path).redis.password == SECRET
    assert cache.exists()
    assert SECRET.encode() not in cache.read_bytes()
    monkeypatch.setattr(config, "_parse", lambda *a: pytest.fail("parsed"))
    write_secret(tmp_path, "new-password")
    assert config_cache.load(path).redis.password == "new-password"


def test_an_unreadable_password_file_gives_the_full_error(tmp_path):
    secret = write_secret(tmp_path)
    path, _ = write_config(tmp_path, redis={"password_file": str(secret)})
    config_cache.load(path)
    secret.write_text("")
    with pytest.raises(ConfigError) as cached:
        config_cache.load(path)
    with pytest.raises(ConfigError) as full:
        config.load(path)
    assert str(cached.value) == str(full.value)
    assert "password_file" in str(cached.value)


def test_inline_password_is_not_cached(tmp_path):
    path, cache = write_config(tmp_path, redis={"password": SECRET})
    assert config_cache.load(path).redis.password == SECRET
    assert not cache.exists()


def test_an_edited_config_is_reloaded_with_the_same_errors(tmp_path):
    path, cache = write_config(tmp_path)
    config_cache.load(path)
    assert cache.exists()
    with open(path, "a") as fh:
        fh.write("[check]\ndeadline = -1\n")
    with pytest.raises(ConfigError) as cached:
        config_cache.load(path)
    with pytest.raises(ConfigError) as full:
        config.load(path)
    assert str(cached.value) == str(full.value)


def test_an_edit_that_keeps_the_size_is_seen(tmp_path):
    path, _ = write_config(tmp_path, vip={"address": "192.0.2.10"})
    assert config_cache.load(path).vip_address == "192.0.2.10"
    text = open(path).read().replace("192.0.2.10", "192.0.2.11")
    with open(path, "w") as fh:  # same size, same inode: mtime/ctime tell
        fh.write(text)
    assert config_cache.load(path).vip_address == "192.0.2.11"


@pytest.mark.parametrize("mode", [0o644, 0o660])
def test_a_cache_others_could_write_or_read_is_ignored(tmp_path, monkeypatch, mode):
    path, cache = write_config(tmp_path)
    config_cache.load(path)
    cache.chmod(mode)
    parsed = []
    real = config._parse
    monkeypatch.setattr(config, "_parse", lambda *a: parsed.append(1) or real(*a))
    config_cache.load(path)
    assert parsed == [1]


def test_a_garbled_cache_is_a_miss(tmp_path):
    path, cache = write_config(tmp_path)
    expected = config_cache.load(path)
    cache.write_bytes(b"\x00garbage")
    cache.chmod(0o600)
    assert config_cache.load(path) == expected


def test_a_missing_config_reports_exactly_as_load(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as cached:
        config_cache.load(missing)
    with pytest.raises(ConfigError) as full:
        config.load(missing)
    assert str(cached.value) == str(full.value)


def test_unwritable_state_dir_still_loads(tmp_path):
    path, cache = write_config(tmp_path, state_dir=tmp_path / "state")
    os.rmdir(tmp_path / "state")
    assert config_cache.load(path).master_name == "mymaster"
    assert not cache.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[paths]\nstate_dir = "/srv/a"\n', "/srv/a"),
        ("[ paths ]\n  state_dir='/srv/b'  # comment\n", "/srv/b"),
        ('paths.state_dir = "/srv/c"\n', "/srv/c"),
        ('[log]\nstate_dir = "/srv/d"\n', config_cache.DEFAULT_STATE_DIR),
        ('master_name = "m"\n', config_cache.DEFAULT_STATE_DIR),
    ],
)
def test_state_dir_hint(text, expected):
    assert config_cache.state_dir_hint(text) == expected


def test_default_state_dir_is_the_schema_default():
    data = {"master_name": "m", "sentinel": {"addresses": ["10.0.0.1"]}}
    assert config.from_mapping(data).state_dir == config_cache.DEFAULT_STATE_DIR


def test_a_relative_state_dir_hint_is_never_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sentinel-vip.toml"
    path.write_text(
        'master_name = "m"\n[sentinel]\naddresses = ["10.0.0.1"]\n[paths]\nstate_dir = "rel"\n'
    )
    with pytest.raises(ConfigError) as cached:
        config_cache.load(str(path))
    with pytest.raises(ConfigError) as full:
        config.load(str(path))
    assert str(cached.value) == str(full.value)
    assert not (tmp_path / "config.cache").exists()
