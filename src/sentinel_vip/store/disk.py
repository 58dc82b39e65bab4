"""The one way the product opens files: small files we own, written atomically, and every file
read or written where another local user might have planted something.

Our directories belong to the script user (keepalived_script), yet admins run notify, status
and doctor as root, and Sentinel's config lives in a directory the redis user can write. So:

- A path is walked one directory at a time from ``/``. A symlink is followed only where it
  sits in a directory that nobody but root or this process's user can change (``_trusted``);
  anywhere else it may have been planted, and the path is refused (``UnsafeFile``).
- Only regular files are read or written: a FIFO, device or socket is refused before a read
  can block, and reads are bounded.
- A file we append to or lock must be a regular file with one link, owned by the directory's
  owner (or by us, unless we are root).
- root creating a file in another user's directory hands it to that user at once (fchown on
  the descriptor, before the file gets its name), so a root run never leaves a root-owned file
  where the script user must write later.

``UnsafeFile`` is an OSError: callers that already log "unwritable"/"unreadable" on OSError
report it the same way, with our reason as ``strerror``. Every OSError from here names the
path the caller gave (``filename``), not a temporary file or a directory on the way.
"""

import errno
import os
import stat

from sentinel_vip.store import plainjson
from sentinel_vip.store.writers import dir_writers, other_writers, user_name, writers

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat after it refuses the FIFO.
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup

_KINDS = (
    (stat.S_ISFIFO, "is a FIFO (named pipe)"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


class UnsafeFile(OSError):
    """A path we refuse to use; ``strerror`` says why and what to do."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.EPERM, reason, path)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def _trusted(info: os.stat_result) -> bool:
    """Nobody but root or us can add, remove or replace entries in this directory, so a
    symlink found in it was put there by one of us: safe to follow."""
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & 0o022


def _link_target(name: str, dir_fd: int, dir_info, where: str, shown: str) -> str:
    """What the symlink ``name`` in ``where`` points to, if we may follow it."""
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # not a symlink after all: a file where a dir should be
            raise NotADirectoryError(
                errno.ENOTDIR, "a component of the path is not a directory"
            ) from None
        raise
    if not _trusted(dir_info):
        raise UnsafeFile(
            shown,
            f"{os.path.join(where, name)} is a symlink in {where}, which"
            f" {writers(dir_info)} can change: not followed (it could have been planted);"
            " use the real path",
        )
    return target


def exec_problem(path: str) -> str:
    """Why running the program ``path`` could run someone else's code: it, or a directory
    above it, can be changed by someone but root and us (keepalived's own rule for scripts
    it runs as root, enable_script_security). "" when only root and we can change it."""
    users, groups = {0, os.geteuid()}, {0}
    try:
        fd = open_regular(path)  # no symlink planted where others write
    except OSError as exc:
        return str(exc) if isinstance(exc, UnsafeFile) else f"{path}: {exc.strerror}"
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    who = other_writers(path, info, users, groups)
    if who:
        return f"{path} can be written by {who}"
    directory, who = dir_writers(path, users, groups)
    if who:
        return f"{directory} can be written by {who}: they could replace {path}"
    return ""


def _walk(path: str, shown: str):
    """(O_PATH fd, stat, path) of the directory ``path``, reached as described above."""
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    root = os.open("/", _DIR_FLAGS)
    stack = [(root, os.fstat(root), "/")]
    parts = path.split("/")
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                continue
            parent_fd, parent_info, where = stack[-1]
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            except NotADirectoryError:
                target = _link_target(name, parent_fd, parent_info, where, shown)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links") from None
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop()[0])
                parts[:0] = target.split("/")
                continue
            stack.append((fd, os.fstat(fd), os.path.join(where, name)))
        return stack.pop()
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def open_dir(path: str):
    """(O_PATH descriptor, stat) of the directory ``path``; the caller closes the fd."""
    try:
        fd, info, _ = _walk(path, path)
    except OSError as exc:
        raise _named(exc, path) from None
    return fd, info


def _named(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path`` (OSError() picks the subclass: FileNotFoundError, ...)."""
    if isinstance(exc, UnsafeFile) or exc.errno is None:
        return exc
    if exc.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
        return UnsafeFile(path, "is a FIFO or a device, not a regular file")
    return OSError(exc.errno, exc.strerror, path)


def _split(path: str):
    directory, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file", path)
    return directory or ".", name


def _open_final(path: str, flags: int, create_mode=None):
    """(fd, stat of its directory) of the file ``path``: opened with ``flags`` and never
    through a symlink we may not follow. With ``create_mode`` a missing file is created."""
    shown = path
    for _ in range(_MAX_LINKS):
        directory, name = _split(path)
        dir_fd, dir_info, where = _walk(directory, shown)
        try:
            try:
                return os.open(name, flags | _NOFOLLOW, dir_fd=dir_fd), dir_info
            except FileNotFoundError:
                if create_mode is None:
                    raise
                try:
                    fd = os.open(name, flags | _NOFOLLOW | os.O_CREAT | os.O_EXCL,
                                 create_mode, dir_fd=dir_fd)  # fmt: skip
                except FileExistsError:
                    continue  # someone created it meanwhile: open what is there now
                try:
                    _give_to_owner(fd, dir_info)
                except BaseException:
                    os.close(fd)
                    raise
                return fd, dir_info
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                path = os.path.join(where, _link_target(name, dir_fd, dir_info, where, shown))
        finally:
            os.close(dir_fd)
    raise OSError(errno.ELOOP, "too many levels of symbolic links")


def _give_to_owner(fd: int, dir_info: os.stat_result) -> None:
    """root creating a file in another user's directory: that user's file from the start."""
    if os.geteuid() == 0 and dir_info.st_uid != 0:
        os.fchown(fd, dir_info.st_uid, dir_info.st_gid)


def _require_regular(fd: int, path: str) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise UnsafeFile(path, "is a directory, expected a file")
        kind = next((text for test, text in _KINDS if test(info.st_mode)), "is not a file")
        raise UnsafeFile(path, f"{kind}, not a regular file")
    return info


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file ``path`` (see the module docstring)."""
    try:
        fd, _ = _open_final(path, os.O_RDONLY)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        _require_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str, limit: int) -> bytes:
    """The whole of the regular file ``path``; refused (UnsafeFile) past ``limit`` bytes."""
    return read_regular_stat(path, limit)[0]


def read_regular_stat(path: str, limit: int) -> tuple:
    """(bytes, stat) of the regular file ``path``: ``read_regular`` and the stat of the very
    file read, for judging its owner without a race."""
    fd = open_regular(path)
    try:
        info = os.fstat(fd)
        if info.st_size > limit:
            raise UnsafeFile(path, f"is larger than {limit} bytes")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnsafeFile(path, f"is larger than {limit} bytes")
        return b"".join(chunks), info
    except UnsafeFile:
        raise
    except OSError as exc:
        raise _named(exc, path) from None
    finally:
        os.close(fd)


def open_private(path: str, flags: int, mode: int = 0o640) -> int:
    """A file we keep and write in place (the history, a lock file), opened with ``flags``
    (e.g. O_RDWR | O_APPEND) and created with ``mode`` when missing.

    Accepted only as a regular file with one link (another link could be someone else's file)
    owned by the directory's owner, or by us unless we are root: root appends to the script
    user's history, never to a file the script user could not write after it.
    """
    try:
        fd, dir_info = _open_final(path, flags, mode)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        info = _require_regular(fd, path)
        if info.st_nlink != 1:
            raise UnsafeFile(
                path, f"has {info.st_nlink} hard links, expected 1 (a link could be another"
                " file on this host); move it aside",
            )  # fmt: skip
        euid = os.geteuid()
        owners = (dir_info.st_uid,) if euid == 0 else (dir_info.st_uid, euid)
        if info.st_uid not in owners:
            owner = user_name(dir_info.st_uid)
            raise UnsafeFile(
                path,
                f"is owned by {user_name(info.st_uid)}, expected {owner} (who owns its"
                f" directory and must write it); fix: chown -h {owner}: {path}",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


LOCK_WAIT = 5.0  # seconds: our own holders keep a lock for milliseconds


def lock(fd: int, path: str, wait: float = LOCK_WAIT) -> None:
    """An exclusive flock on ``fd``, or OSError after ``wait`` seconds: whoever can open a
    lock file in the script user's directory can hold it forever, and a notify run by hand
    must not hang on it."""
    import fcntl  # only for files we lock: the check's track lock (store.track), notify
    import time

    end = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= end:
                raise OSError(
                    errno.EWOULDBLOCK, f"still locked by another process after {wait:g}s", path
                ) from None
            time.sleep(0.02)  # a lock wait, not a stand-in for a condition


def _create_temp(dir_fd: int) -> tuple:
    """A new private file (0600) with an unguessable name: what tempfile.mkstemp does,
    without importing tempfile (shutil, random, ...) on every check."""
    for _ in range(100):
        tmp = f".{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name")


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and rename(2); a
    symlink at ``path`` is replaced, never followed. root writing into another user's
    directory gives the file to that user (see ``_give_to_owner``). ``durable``: the file
    and the rename are on disk (fsync of both) before this returns, so a power loss right
    after keeps the new content (a record that must outlive a crash of the host)."""
    try:
        directory, name = _split(path)
        dir_fd, dir_info, _ = _walk(directory, path)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        fd, tmp = _create_temp(dir_fd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), mode)
                _give_to_owner(fh.fileno(), dir_info)
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            if durable:
                _sync_dir(dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise _named(exc, path) from None
    finally:
        os.close(dir_fd)


def _sync_dir(dir_fd: int) -> None:
    """fsync the directory the O_PATH ``dir_fd`` holds (the rename in it): an O_PATH
    descriptor cannot be synced itself, "." opened through it is that very directory."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str) -> dict:
    """The stored state, or {} when it is missing or unreadable (state is only a hint)."""
    try:
        data = plainjson.decode(read_regular(path, 65536).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: str, data: dict, mode: int = 0o640, durable: bool = False) -> None:
    # the bytes json.dumps(data, sort_keys=True) gives, without importing json
    atomic_write(path, plainjson.encode(data).encode() + b"\n", mode, durable)


def read_text(path: str, limit: int = 4096) -> str:
    """The first ``limit`` bytes of a small regular file as text; "" when there is none."""
    try:
        fd = open_regular(path)
    except OSError:
        return ""
    try:
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)
