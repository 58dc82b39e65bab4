"""store.disk: nothing another local user plants in our directories redirects a write or a
read, stalls a reader, or leaves root-owned files where the script user must write later.

The attacker is a user who owns the directory (as keepalived_script owns /run/sentinel-vip);
the tests run as root, as an admin running notify/status/doctor by hand does.
"""

import os
import pwd
import stat
import threading

import pytest

from sentinel_vip.store import disk, writers

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="plants files as another user")
pytestmark = needs_root


@pytest.fixture
def other():
    """An unprivileged uid/gid that is not ours: keepalived_script when it exists."""
    try:
        entry = pwd.getpwnam("keepalived_script")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534  # nobody


@pytest.fixture
def theirs(tmp_path, other):
    """A directory owned by the other user (0750), like the state directory."""
    path = tmp_path / "state"
    path.mkdir(mode=0o750)
    os.chown(path, *other)
    return path


@pytest.fixture
def victim(tmp_path):
    """A root-only file the attacker would like us to write or read."""
    path = tmp_path / "victim"
    path.write_bytes(b"secret\n")
    path.chmod(0o600)
    return path


def test_a_planted_symlink_is_not_appended_through(theirs, victim):
    (theirs / "history.jsonl").symlink_to(victim)
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.open_private(str(theirs / "history.jsonl"), os.O_WRONLY | os.O_APPEND)
    assert "symlink" in caught.value.strerror
    assert caught.value.filename == str(theirs / "history.jsonl")
    assert victim.read_bytes() == b"secret\n"


def test_a_planted_dangling_symlink_creates_nothing(theirs, tmp_path):
    target = tmp_path / "nologin"
    (theirs / "notify.lock").symlink_to(target)
    with pytest.raises(disk.UnsafeFile):
        disk.open_private(str(theirs / "notify.lock"), os.O_RDWR)
    assert not target.exists()


def test_root_creates_files_for_the_directory_owner(theirs, other):
    fd = disk.open_private(str(theirs / "notify.lock"), os.O_RDWR)
    os.close(fd)
    info = os.stat(theirs / "notify.lock")
    assert (info.st_uid, info.st_gid) == other
    disk.atomic_write(str(theirs / "check.json"), b"{}\n", 0o640)
    info = os.stat(theirs / "check.json")
    assert (info.st_uid, info.st_gid) == other
    assert stat.S_IMODE(info.st_mode) == 0o640


def test_root_appends_to_the_owners_file(theirs, other):
    path = theirs / "history.jsonl"
    path.write_bytes(b"a\n")
    os.chown(path, *other)
    fd = disk.open_private(str(path), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"b\n")
    os.close(fd)
    assert path.read_bytes() == b"a\nb\n"
    assert os.stat(path).st_uid == other[0]


def test_a_root_owned_file_in_the_owners_directory_is_refused_with_the_fix(theirs):
    path = theirs / "history.jsonl"
    path.write_bytes(b"")
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.open_private(str(path), os.O_WRONLY | os.O_APPEND)
    assert "is owned by root" in caught.value.strerror
    assert f"chown -h {writers.user_name(os.stat(theirs).st_uid)}: {path}" in caught.value.strerror


def test_a_hard_link_is_refused(theirs, other):
    own = theirs / "own"
    own.write_bytes(b"")
    os.chown(own, *other)
    os.link(own, theirs / "history.jsonl")
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.open_private(str(theirs / "history.jsonl"), os.O_WRONLY | os.O_APPEND)
    assert "2 hard links" in caught.value.strerror


def test_a_fifo_is_refused_without_blocking(theirs):
    os.mkfifo(theirs / "notify.lock")
    os.mkfifo(theirs / "check.json")
    outcome = {}

    def attempt():
        try:
            disk.open_private(str(theirs / "notify.lock"), os.O_WRONLY | os.O_APPEND)
        except disk.UnsafeFile as exc:
            outcome["write"] = exc.strerror
        try:
            disk.read_regular(str(theirs / "check.json"), 100)
        except disk.UnsafeFile as exc:
            outcome["read"] = exc.strerror
        outcome["json"] = disk.read_json(str(theirs / "check.json"))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "blocked on a FIFO"
    assert "FIFO" in outcome["write"] and "FIFO" in outcome["read"]
    assert outcome["json"] == {}


def test_a_symlinked_directory_component_is_not_followed(theirs, tmp_path):
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    (theirs / "sub").symlink_to(elsewhere)
    for write in (
        lambda p: disk.atomic_write(p, b"x"),
        lambda p: os.close(disk.open_private(p, os.O_RDWR)),
    ):
        with pytest.raises(disk.UnsafeFile):
            write(str(theirs / "sub" / "file"))
    assert list(elsewhere.iterdir()) == []


def test_atomic_write_replaces_a_planted_symlink_and_leaves_its_target(theirs, victim):
    (theirs / "check.json").symlink_to(victim)
    disk.atomic_write(str(theirs / "check.json"), b"{}\n")
    assert not os.path.islink(theirs / "check.json")
    assert victim.read_bytes() == b"secret\n"


def test_symlinks_in_trusted_directories_are_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_bytes(b"hello")
    (tmp_path / "link").symlink_to("real")
    (real / "g").symlink_to("f")
    assert disk.read_regular(str(tmp_path / "link" / "g"), 100) == b"hello"
    disk.atomic_write(str(tmp_path / "link" / "h"), b"x")
    assert (real / "h").read_bytes() == b"x"


def test_reads_refuse_planted_links_devices_and_huge_files(theirs, tmp_path):
    (theirs / "zero").symlink_to("/dev/zero")
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.read_regular(str(theirs / "zero"), 1 << 20)
    assert "symlink" in caught.value.strerror
    (tmp_path / "zero").symlink_to("/dev/zero")  # followed (our directory), then refused
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.read_regular(str(tmp_path / "zero"), 1 << 20)
    assert "character device" in caught.value.strerror
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(disk.UnsafeFile) as caught:
        disk.read_regular(str(big), 100)
    assert "larger than 100 bytes" in caught.value.strerror
    assert disk.read_text(str(theirs / "zero")) == ""


def test_errors_name_the_callers_path(tmp_path):
    missing = tmp_path / "no" / "track"
    with pytest.raises(FileNotFoundError) as caught:
        disk.atomic_write(str(missing), b"1\n")
    assert caught.value.filename == str(missing)
