"""doctor's checks of the local attack surface: files another local user could have planted
or left where sentinel-vip reads and writes, and how the local Redis is reached.

Gathering (``*_facts``: lstat/stat only, never following a link into a file, never reading
one) sits beside the pure checks (facts in, Findings out): one concern, one home, apart from
doctor_checks. doctor reports and prints the fix; it does not chown or remove anything
itself: a fix done as root inside a directory another user controls is exactly the race this
module warns about, so the admin runs the printed command (``chown -h``, ``rm``: neither
follows a symlink) after a look.
"""

from __future__ import annotations

import os
import stat

from sentinel_vip.admin.findings import FAIL, OK, WARN, Finding

# What sentinel-vip keeps in its directories besides the history and the track file.
KEPT_NAMES = (
    "check.json",
    "notify.lock",
    "transitions.json",
    "transitions.json.lock",
    "config.cache",
    "track.lock",  # store.track
    "fence.json",  # store.tripwire's old place (now beside the history: tripwire.path)
    "watch.lock",  # actions.watch: one watcher per state directory
    "election.json",  # store.election: the promotion the watcher followed, for the check
)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return name
    return "regular file"


def _lstat(path: str):
    try:
        return os.lstat(path)
    except OSError:
        return None


# -- files that could not be read safely ---------------------------------------------------


def refused_files(refused) -> list:
    """``refused``: (path, reason) for each file doctor or render would not read (a FIFO, a
    device, a huge file, a symlink planted in a directory another user can write)."""
    return [
        Finding(
            FAIL,
            "unsafe file",
            f"{path}: {reason}: not read",
            "put the real config there as a regular file; if you did not put this there,"
            " find out who did",
        )
        for path, reason in refused
    ]


# -- ownership of what we keep ---------------------------------------------------------------


def file_facts(config) -> dict:
    """Who owns sentinel-vip's directories and the files it keeps in them."""
    import pwd

    try:
        entry = pwd.getpwnam(config.keepalived_script_user)
        user = (entry.pw_uid, entry.pw_gid, entry.pw_name)
    except KeyError:
        user = None
    places: dict = {}  # directory -> names we keep there
    places.setdefault(config.state_dir, set()).update(KEPT_NAMES)
    from sentinel_vip.store.tripwire import path as tripwire_path

    for path in (config.history_file, config.track_file, tripwire_path(config)):
        if path:
            places.setdefault(os.path.dirname(path), set()).add(os.path.basename(path))
    dirs = []
    for directory, names in sorted(places.items()):
        info = _lstat(directory)
        entries = []
        if info is not None and stat.S_ISDIR(info.st_mode):
            try:
                listed = os.listdir(directory)
            except OSError:
                listed = []
            for name in sorted(listed):
                if name in names or (name.startswith(".") and name.endswith(".tmp")):
                    entry_info = _lstat(os.path.join(directory, name))
                    if entry_info is not None:
                        entries.append((os.path.join(directory, name), entry_info))
        dirs.append((directory, info, entries))
    return {"user": user, "dirs": dirs}


def ownership(facts: dict) -> list:
    """Every file we keep in the script user's directories must be that user's regular file
    with one link: a root-owned one (left by a root run of an older version) stops the script
    user's runs from writing it; anything else may have been planted."""
    user = facts["user"]
    if user is None:
        return []  # doctor's keepalived checks already say the script user is missing
    uid, gid, name = user
    found, checked = [], 0
    for directory, info, entries in facts["dirs"]:
        if info is None:
            continue  # created on first use (tmpfiles, the package): nothing to own yet
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (uid, 0):
            found.append(
                Finding(
                    WARN,
                    "state files",
                    f"{directory} is a {_kind(info.st_mode)} owned by uid {info.st_uid},"
                    f" expected a directory of {name} (or root)",
                    f"use the package's directories (/run/sentinel-vip, /var/lib/sentinel-vip:"
                    f" {name}:{name} 0750)",
                )
            )
            continue
        if info.st_uid != uid:
            continue  # root's directory: only root can have put anything there
        for path, entry in entries:
            checked += 1
            problem = _entry_problem(entry, uid)
            if not problem:
                continue
            if stat.S_ISREG(entry.st_mode) and entry.st_nlink == 1:
                fix = f"chown -h {name}:{_group(gid)} {path}"
            else:
                fix = f"rm {path} (sentinel-vip creates it again; -h/rm never follow a link)"
            found.append(Finding(FAIL, "state files", f"{path} {problem}", fix))
    if not found and checked:
        found.append(Finding(OK, "state files", f"{checked} files, all {name}'s regular files"))
    return found


def _entry_problem(entry: os.stat_result, uid: int) -> str:
    if not stat.S_ISREG(entry.st_mode):
        return f"is a {_kind(entry.st_mode)}: sentinel-vip keeps only regular files there"
    if entry.st_nlink != 1:
        return f"has {entry.st_nlink} hard links: another name may be someone else's file"
    if entry.st_uid != uid:
        from sentinel_vip.store.writers import user_name

        return (
            f"is owned by {user_name(entry.st_uid)}: the script user cannot write it"
            " (left by a run as root before sentinel-vip handed such files over?)"
        )
    return ""


def _group(gid: int) -> str:
    from sentinel_vip.store.writers import group_name

    return group_name(gid)


# -- the track file's directory ---------------------------------------------------------------


def track_dir_facts(config) -> tuple:
    """(directory of check.track_file, what is there: None when nothing, "directory" when
    it is one, a link to one included, as keepalived follows it; else _kind of its lstat)."""
    if not config.track_file:
        return "", None
    directory = os.path.dirname(config.track_file)
    info = _lstat(directory)
    if info is None:
        return directory, None
    return directory, "directory" if os.path.isdir(directory) else _kind(info.st_mode)


def track_dir(facts: tuple) -> list:
    """keepalived (2.2.7, seen) drops a track_file whose directory is missing when it starts
    ("Track file directory ... does not exist - removing"): the instance then runs without
    the gate until its next start, and only the check's weight is left, so this node is no
    longer fail-closed. Creating the directory later does not bring the gate back."""
    directory, kind = facts
    if not directory:
        return []
    if kind == "directory":
        return [Finding(OK, "track file dir", f"{directory} exists")]
    why = (
        "keepalived drops the track file gate when it next starts: this node's VIP is no"
        " longer fail-closed"
    )
    fix = (
        f"systemd-tmpfiles --create --prefix={directory} (it needs a tmpfiles.d rule: the"
        " package has one for /run/sentinel-vip), then systemctl restart keepalived; the"
        " package's keepalived drop-in runs it for /run/sentinel-vip before every start"
    )
    if kind is None:
        return [Finding(FAIL, "track file dir", f"{directory} does not exist: {why}", fix)]
    return [
        Finding(
            FAIL,
            "track file dir",
            f"{directory} is a {kind}, not a directory: {why}",
            f"rm {directory} (rm never follows a link); {fix}",
        )
    ]


# -- the admin's notify hooks -------------------------------------------------------------------


def hook_facts(config) -> list:
    """(path, why running it could run someone else's program, or "") of each executable in
    notify.hooks_dir."""
    from sentinel_vip.store.disk import exec_problem

    try:
        names = sorted(os.listdir(config.hooks_dir)) if config.hooks_dir else []
    except OSError:
        names = []
    found = []
    for name in names:
        path = os.path.join(config.hooks_dir, name)
        if not name.startswith(".") and os.path.isfile(path) and os.access(path, os.X_OK):
            found.append((path, exec_problem(path)))
    return found


def hooks(facts: list) -> list:
    """notify runs the hooks as whoever runs it: root, when an admin runs it by hand. A hook
    another user can change is refused (and would be their program run as root)."""
    found = [
        Finding(
            FAIL,
            "notify hooks",
            f"{problem}: notify refuses to run it",
            "make the hook and every directory above it root's and writable only by root"
            " (chown root: ...; chmod go-w ...), or remove it",
        )
        for path, problem in facts
        if problem
    ]
    if not found and facts:
        found.append(Finding(OK, "notify hooks", f"{len(facts)} hooks, changeable only by root"))
    return found


# -- how the local Redis is reached --------------------------------------------------------------


def socket_facts(config) -> dict:
    """lstat of ``redis.unix_socket`` and stat of its directory (None when absent/unset)."""
    path = config.redis.unix_socket
    if not path:
        return {"socket": None, "dir": None}
    directory = os.path.dirname(path) or "."
    try:
        dir_info = os.stat(directory)
    except OSError:
        dir_info = None
    return {"socket": _lstat(path), "dir": dir_info}


def transport(config, facts: dict, local_addresses) -> list:
    """A local user can bind the Redis port while Redis is down (a restart, a crash): with
    TCP to this host they then receive our AUTH username and password and can answer
    ``ROLE master``. A unix socket in Redis's own directory cannot be squatted."""
    redis = config.redis
    if redis.unix_socket:
        return _socket_placement(redis.unix_socket, facts)
    if not _is_local(redis.host, local_addresses):
        return []
    verified_tls = redis.tls.enabled and redis.tls.verify
    if not (redis.password or redis.username) or verified_tls:
        return []
    return [
        Finding(
            WARN,
            "redis transport",
            f"TCP to this host ({redis.label()}) with a password: a local user who binds that"
            " port while Redis is down receives the username and password and can answer"
            " ROLE master",
            "in redis.conf: unixsocket /run/redis/redis-server.sock and unixsocketperm 777"
            ' (AUTH still required); here: [redis] unix_socket = "/run/redis/redis-server.sock"'
            " (docs/security.md: the local Redis port)",
        )
    ]


def _socket_placement(path: str, facts: dict) -> list:
    directory = os.path.dirname(path) or "."
    dir_info, sock = facts["dir"], facts["socket"]
    if dir_info is None:
        return []  # doctor's redis check reports that Redis cannot be reached
    from sentinel_vip.store.writers import other_writers  # ACLs included

    owner = sock.st_uid if sock is not None else dir_info.st_uid
    others = other_writers(directory, dir_info, {0, owner}, {0})
    if others:
        return [
            Finding(
                WARN,
                "redis transport",
                f"unix socket {path}: {directory} is writable by {others}:"
                " while Redis is down they can put their own socket there and receive the"
                " password",
                "put the socket in Redis's own runtime directory (Debian: /run/redis,"
                " redis:redis 2755)",
            )
        ]
    return [Finding(OK, "redis transport", f"unix socket {path} (cannot be squatted)")]


def _is_local(host: str, local_addresses) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    import ipaddress

    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name: resolved only at connect time; not judged here
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or str(ip) in local_addresses
