"""Install, run, upgrade, remove and purge the .deb on this machine (root, apt)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from pathlib import Path

import pytest
from pkgtools import (
    apt_env,
    apt_install,
    dpkg_status,
    keepalived_test,
    newer_build,
    purge,
    run,
    shipped_by,
)

CONF = Path("/etc/sentinel-vip/sentinel-vip.toml")
SNIPPET = Path("/etc/keepalived/conf.d/sentinel-vip.conf")
BIN = Path("/usr/sbin/sentinel-vip")
UNIT = Path("/usr/lib/systemd/system/sentinel-vip-watch.service")
# The exit codes of docs/design.md that a check may return; 70 (INTERNAL) is a bug.
CHECK_CODES = {0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

pytestmark = pytest.mark.usefixtures("root_and_apt")


@pytest.fixture
def fresh():
    """No sentinel-vip installed before the test, and none after it."""
    purge()
    yield
    purge()


def as_script_user(*argv: str):
    """Run like keepalived does: as keepalived_script, no shell, an empty environment."""
    return run("runuser", "-u", "keepalived_script", "--", "env", "-i", *argv, check=False)


def owner_of(path: Path) -> tuple[str, str, int]:
    st = path.lstat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777


@pytest.mark.parametrize("which", ["nfpm-deb", "native-deb"])
def test_fresh_install(built, entries, which, fresh, project_version, tmp_path):
    proc = apt_install(built[which])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert dpkg_status() == "install ok installed"

    user = pwd.getpwnam("keepalived_script")
    assert user.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    assert not Path(user.pw_dir).exists()

    for e in shipped_by(entries, "deb"):
        path = Path(e.path)
        if e.type == "link":
            assert path.is_symlink() and os.readlink(path) == e.source, e.path
            continue
        assert path.exists(), e.path
        assert owner_of(path) == (e.owner, e.group, e.mode), e.path

    # keepalived's enable_script_security: every component root-owned, not g/o-writable.
    target = BIN.resolve()
    assert target.read_bytes().startswith(b"#!/usr/bin/python3 -I")
    for component in [target, *target.parents]:
        st = component.stat()
        assert st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), component

    version = as_script_user(str(BIN), "--version")
    assert version.returncode == 0, version.stderr
    assert project_version in version.stdout
    helped = as_script_user(str(BIN), "check", "--help")
    assert helped.returncode == 0, helped.stderr

    # The check as keepalived runs it: it must read the installed config (0640, group
    # keepalived_script) and answer with a documented code, never a traceback.
    checked = as_script_user(str(BIN), "check")
    assert checked.returncode in CHECK_CODES, (checked.returncode, checked.stderr)
    assert checked.returncode != 3 or "permission" not in checked.stderr.lower()
    assert "Traceback" not in checked.stderr

    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n    enable_script_security\n    script_user keepalived_script\n}\n"
        f"include {SNIPPET.parent}/*.conf\n"
    )
    assert keepalived_test(conf) == ""


def test_installed_unit_verifies_and_is_shipped_disabled(built, fresh):
    assert apt_install(built["native-deb"]).returncode == 0
    assert UNIT.is_file()
    if shutil.which("systemd-analyze"):
        # Against the installed program, user and man page (Documentation=).
        man = "--man=yes" if shutil.which("man") else "--man=no"
        proc = run("systemd-analyze", "verify", man, str(UNIT), check=False)
        assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
    # Disabled: the admin enables it after editing the config.
    assert not list(Path("/etc/systemd/system").glob(f"*.wants/{UNIT.name}"))

    run("apt-get", "remove", "-y", "-q", "sentinel-vip", env=apt_env())
    assert not UNIT.exists()


DROPIN = Path("/usr/lib/systemd/system/keepalived.service.d/sentinel-vip.conf")
KEEPALIVED_UNIT = Path("/lib/systemd/system/keepalived.service")
RUNDIR = Path("/run/sentinel-vip")


@pytest.mark.parametrize("which", ["nfpm-deb", "native-deb"])
def test_the_keepalived_drop_in_verifies_and_recreates_the_track_directory(built, which, fresh):
    """keepalived drops a track_file whose directory is missing at its start; the drop-in's
    ExecStartPre makes it first. (That systemd runs it before keepalived reads its config:
    tests/realenv/test_systemd.py, on a booted Debian 12.)"""
    assert apt_install(built[which]).returncode == 0
    assert DROPIN.is_file()
    if shutil.which("systemd-analyze") and KEEPALIVED_UNIT.is_file():
        # keepalived's own unit with every drop-in systemd finds for it, ours included.
        proc = run("systemd-analyze", "verify", "--man=no", str(KEEPALIVED_UNIT), check=False)
        assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
    pre = [line.split("=", 1)[1] for line in DROPIN.read_text().splitlines()
           if line.startswith("ExecStartPre=")]  # fmt: skip
    assert len(pre) == 1 and pre[0].startswith("-")
    argv = pre[0][1:].split()
    # Without the "-": a failure here must fail the test. systemd's search path has /usr/bin.
    assert shutil.which(argv[0], path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
    shutil.rmtree(RUNDIR, ignore_errors=True)
    done = run(*argv, check=False)
    assert done.returncode == 0, done.stderr
    assert owner_of(RUNDIR) == ("keepalived_script", "keepalived_script", 0o750)


@pytest.mark.parametrize("which", ["nfpm-deb", "native-deb"])
def test_remove_releases_the_vip(built, which, fresh):
    """apt remove leaves "0" in the track file: keepalived then drops the VIP (a "1" would
    stay, as keepalived does not count a check it cannot exec any more as failed)."""
    assert apt_install(built[which]).returncode == 0
    track = Path("/run/sentinel-vip/track")
    track.write_text("1\n")  # what the master's check left
    proc = run("apt-get", "remove", "-y", "-q", "sentinel-vip", env=apt_env())
    assert track.read_text() == "0\n"
    assert owner_of(track)[:2] == ("keepalived_script", "keepalived_script")
    assert "keepalived releases the VIP" in proc.stdout, proc.stdout
    assert not Path("/run/sentinel-vip.released").exists()


def test_an_upgrade_keeps_the_track_file(built, fresh, tmp_path, project_version):
    newer = newer_build(tmp_path, project_version + ".1")
    assert apt_install(built["nfpm-deb"]).returncode == 0
    track = Path("/run/sentinel-vip/track")
    track.write_text("1\n")
    assert apt_install(newer, "-o", "Dpkg::Options::=--force-confold").returncode == 0
    assert track.read_text() == "1\n"


def test_remove_keeps_conffiles_purge_removes_them(built, fresh):
    assert apt_install(built["nfpm-deb"]).returncode == 0
    hook = Path("/etc/sentinel-vip/notify.d/50-admin-hook")
    hook.write_text("#!/bin/sh\nexit 0\n")
    try:
        run("apt-get", "remove", "-y", "-q", "sentinel-vip", env=apt_env())
        assert dpkg_status() == "deinstall ok config-files"
        assert not BIN.exists() and not Path("/usr/lib/sentinel-vip").exists()
        assert CONF.is_file() and SNIPPET.is_file()
        assert Path("/var/lib/sentinel-vip").is_dir()

        run("apt-get", "purge", "-y", "-q", "sentinel-vip", env=apt_env())
        assert dpkg_status() == "not-installed"
        assert not CONF.exists() and not SNIPPET.exists()
        assert not Path("/var/lib/sentinel-vip").exists()
        assert not Path("/run/sentinel-vip").exists()
        assert run("dpkg-statoverride", "--list", str(CONF), check=False).returncode != 0
        assert hook.exists(), "purge must not delete the admin's own files"
    finally:
        hook.unlink(missing_ok=True)
        for leftover in (hook.parent, hook.parent.parent):  # empty once the hook is gone
            if leftover.is_dir() and not any(leftover.iterdir()):
                leftover.rmdir()


def test_upgrade_keeps_an_edited_conffile(built, fresh, tmp_path, project_version):
    newer = newer_build(tmp_path, project_version + ".1")
    assert apt_install(built["nfpm-deb"]).returncode == 0
    edited = CONF.read_text() + "# edited by the admin\n"
    CONF.write_text(edited)

    proc = apt_install(newer, "-o", "Dpkg::Options::=--force-confold")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = run("dpkg-query", "-W", "-f=${Version}", "sentinel-vip").stdout
    assert version == f"{project_version}.1-1"
    assert CONF.read_text() == edited
    assert owner_of(CONF) == ("root", "keepalived_script", 0o640)
    # A conffile the admin did not touch follows the new package.
    assert SNIPPET.read_text().endswith("# changed upstream in the newer build\n")
