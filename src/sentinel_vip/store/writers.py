"""Who, besides us, can change a path: its owner, its group, a POSIX ACL, every user.

The audit behind ``disk``'s refusals and the config's and doctor's permission checks: names
for uids and gids (for messages only), the writers of one file or directory
(``other_writers``), the first directory above a path that someone else can change
(``dir_writers``), and a short "user X and group Y" for a directory (``writers``). Reads
stat and xattrs only; opens nothing.
"""

import os
import stat


def user_name(uid: int) -> str:
    import pwd  # only for messages

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    import grp  # only for messages

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# -- who besides us can change a path ------------------------------------------------------

_ACL_ACCESS = "system.posix_acl_access"
_ACL_USER, _ACL_GROUP, _ACL_WRITE = 0x02, 0x08, 0x02


def _acl_writers(path: str, users, groups) -> list:
    """Named users and groups a POSIX ACL lets write ``path`` (beyond its mode's owner and
    group). Only consulted when the mode's group bits (the ACL mask) include write: the mask
    caps every named entry."""
    try:
        data = os.getxattr(path, _ACL_ACCESS)
    except OSError:
        return []  # no ACL, or a filesystem without them
    found = []
    for at in range(4, len(data) - 7, 8):  # a version word, then (tag u16, perm u16, id u32)
        tag = int.from_bytes(data[at : at + 2], "little")
        perm = int.from_bytes(data[at + 2 : at + 4], "little")
        ident = int.from_bytes(data[at + 4 : at + 8], "little")
        if not perm & _ACL_WRITE:
            continue
        if tag == _ACL_USER and ident not in users:
            found.append(f"user {user_name(ident)} (an ACL)")
        elif tag == _ACL_GROUP and ident not in groups:
            found.append(f"group {group_name(ident)} (an ACL)")
    return found


def other_writers(path: str, info: os.stat_result, users, groups, nearest: bool = True) -> str:
    """Who, besides ``users`` and ``groups``, can change the file or directory ``path``
    (``info`` its stat): "" when nobody. In a sticky directory others can add names but not
    move ours, so a sticky ancestor (``nearest`` False) such as /tmp is fine."""
    who = []
    if info.st_uid not in users:
        who.append(f"its owner {user_name(info.st_uid)} (uid {info.st_uid})")
    if info.st_mode & 0o020:
        if info.st_gid not in groups:
            who.append(f"its group {group_name(info.st_gid)} (gid {info.st_gid})")
        who.extend(_acl_writers(path, users, groups))
    if info.st_mode & 0o002 and (nearest or not info.st_mode & stat.S_ISVTX):
        who.append("every user")
    return " and ".join(who)


def _existing_dirs(directory: str) -> list:
    """(path, stat) of ``directory`` (or its nearest existing ancestor) and all above it."""
    found = []
    directory = os.path.normpath(directory) if directory else "/"
    while True:
        try:
            found.append((directory, os.stat(directory)))
        except OSError:
            pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return found
        directory = parent


def dir_writers(path: str, users, groups) -> tuple:
    """(directory, who) for the first directory above ``path`` (as written, and as resolved)
    that someone besides ``users`` and ``groups`` can change; ("", "") when there is none.
    A directory that does not exist yet is judged by its nearest existing ancestor: only
    who can write that one can create it."""
    for directory in (os.path.dirname(path), os.path.dirname(os.path.realpath(path))):
        for depth, (found, info) in enumerate(_existing_dirs(directory)):
            who = other_writers(found, info, users, groups, nearest=depth == 0)
            if who:
                return found, who
    return "", ""


def writers(info: os.stat_result) -> str:
    who = [f"user {user_name(info.st_uid)}"]
    if info.st_mode & 0o020:
        who.append(f"group {group_name(info.st_gid)}")
    if info.st_mode & 0o002:
        who.append("every user")
    return " and ".join(who)
