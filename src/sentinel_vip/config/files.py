"""Finding and reading the config and password files, and checking who may read them.

Split from ``config`` (parsing and validation) so that the check, answered from its config
cache, reads password files and checks permissions without importing the validator.
Every way a file can be unusable has a clear reason (``Unusable.reason``); nothing here ever
echoes a password.
"""

from __future__ import annotations

import errno
import os
import stat

from sentinel_vip.store import disk
from sentinel_vip.store.writers import dir_writers, other_writers, user_name

DEFAULT_PATH = "/etc/sentinel-vip/sentinel-vip.toml"
ENV_VAR = "SENTINEL_VIP_CONFIG"
MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; anything near this is not one
MAX_SECRET_BYTES = 64 << 10
SECRET_GROUPS = ("root", "keepalived_script")
PERMISSION_FIX = "chown root:keepalived_script and chmod 0640"


def resolve_path(cli_value, environ) -> str:
    """--config beats $SENTINEL_VIP_CONFIG beats DEFAULT_PATH; an empty variable is unset."""
    if cli_value is not None:
        return cli_value
    return environ.get(ENV_VAR) or DEFAULT_PATH


def insecure_files(config) -> list:
    """One message per secret file that others may read or someone but root may change."""
    import grp  # only doctor/check warnings need it

    messages = []
    for path in config.secret_files:
        try:
            info = os.stat(path)
        except OSError as exc:
            messages.append(f"{path}: cannot check permissions: {os_reason(exc, path)}")
            continue
        mode = stat.S_IMODE(info.st_mode)
        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
        reasons = []
        if path == config.path and info.st_uid != 0:
            reasons.append(f"owned by {user_name(info.st_uid)}, who could make a run as"
                           " root execute any program (notify.hooks_dir)")  # fmt: skip
        if mode & 0o006:
            reasons.append("readable or writable by others")
        if mode & 0o020:
            reasons.append("writable by its group")
        if mode & 0o040 and group not in SECRET_GROUPS:
            reasons.append(f"readable by group {group}")
        if reasons:
            messages.append(
                f"{path}: mode {mode:04o} group {group}: {' and '.join(reasons)};"
                f" fix: chmod 0640 {path} && chown root:keepalived_script {path}"
            )
    return messages


def root_trust_problem(path: str, info: os.stat_result) -> str:
    """Why root must not act on the config file ``path`` (``info``: the stat of the file read),
    or "". The config names the hooks notify runs and the files render writes: whoever can
    change it (its owner, a group, anyone able to replace it in its directory) can have a run
    as root execute their program or write their text anywhere."""
    who = other_writers(path, info, {0}, {0})
    if not who:
        directory, who = dir_writers(path, {0}, {0})
        who = f"{who}, through {directory}" if who else ""
    if not who:
        return ""
    return (
        f"can be changed by {who}: as root, sentinel-vip would run the hooks and write the"
        f" files it names; fix: chown root:keepalived_script {path} && chmod 0640 {path}"
        " (and a directory only root can write)"
    )


def track_file_problem(path: str, script_user: str) -> str:
    """Why keepalived's track file must not be at ``path`` ("" when it may).

    keepalived believes whatever the file says ("1" keeps the VIP), so nobody but root and
    the script user may create or replace it: its directory, and every directory above it,
    must be writable by nobody else (a sticky ancestor such as /tmp is fine: others cannot
    move what is in it; the directory itself may not be sticky-shared, as others could create
    the file before we do). A directory that does not exist yet (/run/sentinel-vip before
    tmpfiles or systemd creates it at boot) is judged by the nearest one that exists: only
    who can write that one can create it, and the check reports the missing directory at
    run time itself.
    """
    if not path:
        return ""
    users, groups = _trusted_ids(script_user)
    directory, writers = dir_writers(path, users, groups)
    if not writers:
        return ""
    return (
        f"{directory} can be written by {writers}: they could create or replace"
        " the track file, and keepalived keeps the VIP on a '1'; expected a"
        f" directory only root and {script_user} can write (the default"
        " /run/sentinel-vip)"
    )


def state_dir_problem(directory: str, script_user: str) -> str:
    """Why the state directory must not be ``directory`` ("" when it may): the check reads
    its verdict back from there on every run (check.json: when Sentinel last agreed, which
    no_majority_grace trusts), so the same people as for the track file, and nobody else,
    may write it."""
    users, groups = _trusted_ids(script_user)
    found, writers = dir_writers(os.path.join(directory, "check.json"), users, groups)
    if not writers:
        return ""
    return (
        f"{found} can be written by {writers}: they could plant the check's stored verdict"
        " or hold its locks; expected a directory only root and"
        f" {script_user} can write (the default /run/sentinel-vip)"
    )


def _trusted_ids(script_user: str):
    import pwd  # only on a full load

    users, groups = {0, os.geteuid()}, {0}
    try:
        entry = pwd.getpwnam(script_user)
        users.add(entry.pw_uid)
        groups.add(entry.pw_gid)
    except (KeyError, TypeError):
        pass
    return users, groups


class Unusable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_bounded(path: str, limit: int) -> bytes:
    """The file's bytes through store.disk's one reader: a regular file (a FIFO put where the
    config should be must not hang the check), at most ``limit`` bytes, and no symlink that
    someone other than root or us could have planted."""
    return read_bounded_stat(path, limit)[0]


def read_bounded_stat(path: str, limit: int) -> tuple:
    """(bytes, stat of the file read): ``read_bounded`` for judging who owns what was read."""
    if not path:
        raise Unusable(f"no config path given, expected --config PATH or {ENV_VAR}")
    if "\x00" in path:
        raise Unusable("the path contains a NUL character")
    try:
        return disk.read_regular_stat(path, limit)
    except disk.UnsafeFile as exc:
        raise Unusable(exc.strerror) from None
    except OSError as exc:
        raise Unusable(os_reason(exc, path)) from None


def os_reason(exc: OSError, path: str) -> str:
    code = exc.errno
    if code == errno.ENOENT:
        return "dangling symlink" if os.path.islink(path) else "not found"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied (sentinel-vip runs as keepalived_script: {PERMISSION_FIX})"
    if code == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    if code == errno.EISDIR:
        return "is a directory, expected a file"
    if code == errno.ENOTDIR:
        return "a component of the path is not a directory"
    return (exc.strerror or type(exc).__name__).lower()


def decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Unusable(f"not valid UTF-8 (line {line}), expected a UTF-8 text file") from None
    return text[1:] if text.startswith("\ufeff") else text  # editors' byte order mark


def read_secret(path: str) -> str:
    """The password in ``path``: one line, one trailing newline ignored. Never echoed."""
    data = read_bounded(path, MAX_SECRET_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusable("not valid UTF-8, expected the password as UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise Unusable("is empty, expected the password on one line")
    if "\n" in text or "\r" in text:
        raise Unusable("has more than one line, expected the password on one line")
    return text
