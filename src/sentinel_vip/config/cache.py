"""The check's cache of its validated config, so most runs skip TOML parsing.

keepalived runs the check every second on every node; importing tomllib alone costs it
several milliseconds a run. After a full, successful ``config.load`` the check stores the
validated ``Config`` as plain data (``marshal``) in ``state_dir/config.cache`` (0600), keyed
by the config file's identity (device, inode, size, mtime and ctime in ns) and its text (file
times are only as fine as the kernel's clock tick), the interpreter and the program's files.
Any difference, or anything odd about the cache file, is a miss: the full load runs and
reports exactly what it always reports.

Secrets never go into the cache: passwords are left out and read fresh from their password
files on every run, through the same reader as the full load (a failure is a miss, so the
full load reports it); a config with an inline ``password`` is not cached at all.

state_dir must be known before parsing, so ``[paths] state_dir`` is found with a
deliberately simple line scan (``state_dir_hint``); a wrong guess is only a miss, and
nothing is stored where the next run would not look.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

from sentinel_vip.config import files as config_files
from sentinel_vip.config.record import Config
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings
from sentinel_vip.store import disk

CACHE_NAME = "config.cache"
FORMAT = 1
DEFAULT_STATE_DIR = "/run/sentinel-vip"  # config_schema's default for paths.state_dir
MAX_CACHE_BYTES = 1 << 20
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def load(path: str) -> Config:
    """``config.load(path)``, answered from the cache when the file is unchanged.

    A hit imports neither the validator (config, config_schema) nor tomllib."""
    seen = _read_config(path)
    if seen is not None:
        text, file_stamp = seen
        state_dir = state_dir_hint(text)
        try:
            key = _key(path, file_stamp, text)
        except OSError:  # our own files vanished (an upgrade in progress): no cache this time
            seen = None
    if seen is not None and os.path.isabs(state_dir):
        cached = _lookup(os.path.join(state_dir, CACHE_NAME), key)
        if cached is not None:
            return cached
    from sentinel_vip.config import load as config

    loaded = config.load(path)  # every error exactly as without a cache
    if seen is not None and state_dir == loaded.state_dir:
        _store(os.path.join(state_dir, CACHE_NAME), key, loaded, text)
    return loaded


def state_dir_hint(text: str) -> str:
    """``[paths] state_dir`` (or ``paths.state_dir``) when written as a plain quoted string on
    one line, else the default. Only says where to look for the cache."""
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            table = line.split("]", 1)[0].strip("[ \t")
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals or (table, key) not in (("paths", "state_dir"), ("", "paths.state_dir")):
            continue
        value = value.strip()
        end = value.find(value[:1], 1) if value[:1] in ('"', "'") else -1
        return value[1:end] if end > 0 else ""
    return DEFAULT_STATE_DIR


def _stamp(info: os.stat_result) -> tuple:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _code_stamp() -> tuple:
    """The files whose code decides validity: the pyz, or the modules when run from source."""
    archive = getattr(__loader__, "archive", None)  # zipimport: the pyz itself
    if archive:
        files = [archive]
    else:  # from source: every module of this package (the validator's and ours)
        here = os.path.dirname(os.path.abspath(__file__))
        files = [os.path.join(here, n) for n in sorted(os.listdir(here)) if n.endswith(".py")]
    return tuple(_stamp(os.stat(name)) for name in files)


def _key(path: str, file_stamp: tuple, text: str) -> tuple:
    code = (FORMAT, sys.hexversion, _code_stamp(), Config._fields)
    return (code, path, file_stamp, text)


def _read_config(path: str):
    """(text, stamp) of the config file as it is now, or None (the full load explains)."""
    try:
        fd = disk.open_regular(path)  # the one reader: regular file, no planted symlink
    except (OSError, ValueError, TypeError):
        return None
    try:
        info = os.fstat(fd)
        if info.st_size > config_files.MAX_CONFIG_BYTES:
            return None
        data = os.read(fd, config_files.MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace"), _stamp(info)


def _lookup(cache_path: str, key: tuple):
    try:
        fd = os.open(cache_path, _READ_FLAGS | os.O_NOFOLLOW)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        # marshal is not made for data someone else could have written: only our own file.
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & 0o077
            or info.st_size > MAX_CACHE_BYTES
        ):
            return None
        blob = os.read(fd, MAX_CACHE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = marshal.loads(blob)  # noqa: S302 - our own 0600 file, checked above
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return _rebuild(data["config"], data["password_files"])
    except (config_files.Unusable, EOFError, KeyError, TypeError, ValueError):
        return None


def _rebuild(fields: dict, password_files: dict) -> Config:
    # read fresh every run: a password is never stored
    read = config_files.read_secret  # the full load's reader: same rules, same result
    redis_pw = read(password_files["redis"]) if password_files["redis"] else ""
    sentinel_pw = read(password_files["sentinel"]) if password_files["sentinel"] else ""
    values = dict(fields)
    values["redis"] = _endpoint(fields["redis"], redis_pw)
    values["sentinels"] = tuple(_endpoint(e, sentinel_pw) for e in fields["sentinels"])
    return Config(**values)


def _endpoint(plain: dict, password: str) -> Endpoint:
    values = dict(plain, password=password, tls=TLSSettings(**plain["tls"]))
    return Endpoint(**values)


def _plain_endpoint(endpoint: Endpoint) -> dict:
    plain = {f: getattr(endpoint, f) for f in endpoint._fields if f != "password"}
    plain["tls"] = {f: getattr(endpoint.tls, f) for f in endpoint.tls._fields}
    return plain


def _password_files(text: str):
    """{"redis": file or "", "sentinel": file or ""}, or None when a password is inline."""
    from sentinel_vip.config import (
        load as config,  # only after a miss, which has imported it anyway
    )

    try:
        table = config._toml_module().loads(text)
    except Exception:  # the file changed since it was validated: store nothing
        return None
    files = {}
    for name in ("redis", "sentinel"):
        section = table.get(name, {})
        if not isinstance(section, dict) or section.get("password"):
            return None  # an inline secret: this config is never cached
        files[name] = section.get("password_file") or ""
    return files


def _store(cache_path: str, key: tuple, loaded: Config, text: str) -> None:
    files = _password_files(text)
    if files is None:
        return
    fields = {f: getattr(loaded, f) for f in loaded._fields}
    fields["redis"] = _plain_endpoint(loaded.redis)
    fields["sentinels"] = tuple(_plain_endpoint(e) for e in loaded.sentinels)
    try:
        blob = marshal.dumps({"key": key, "config": fields, "password_files": files})
    except ValueError:  # a field that is not plain data: do without the cache
        return
    try:
        disk.atomic_write(cache_path, blob, 0o600)
    except OSError:
        pass  # unwritable state_dir: the check reports that itself; the cache is optional
