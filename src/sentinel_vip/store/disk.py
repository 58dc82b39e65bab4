"""Small files we own: written atomically so a SIGTERM or crash never leaves half a file."""

import os

from sentinel_vip.store import plainjson

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create_temp(directory: str) -> tuple:
    """A new private file (0600) with an unguessable name in ``directory``: what
    tempfile.mkstemp does, without importing tempfile (shutil, random, ...) on every check."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and rename(2)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temp(directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: str) -> dict:
    """The stored state, or {} when it is missing or unreadable (state is only a hint)."""
    try:
        with open(path, "rb") as fh:
            data = plainjson.decode(fh.read(65536).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: str, data: dict, mode: int = 0o640) -> None:
    # the bytes json.dumps(data, sort_keys=True) gives, without importing json
    atomic_write(path, plainjson.encode(data).encode() + b"\n", mode)


def read_text(path: str, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""
