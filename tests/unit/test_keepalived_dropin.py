"""The keepalived.service drop-in: it recreates the track file's directory before keepalived
reads its config, because keepalived (2.2.7, seen in a namespace: "Track file directory for
... does not exist - removing") drops a track_file whose directory is missing at a start or
reload, and the snippet's gate with it. These tests tie the drop-in to what it must agree
with: the tmpfiles file the layout ships, the default track file, keepalived's own unit.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
from pathlib import Path

import pytest

from sentinel_vip.config.schema import SCHEMA
from support.systemd import unit_settings

REPO = Path(__file__).resolve().parents[2]
DROPIN_PATH = "/usr/lib/systemd/system/keepalived.service.d/sentinel-vip.conf"
# Debian's keepalived unit, where the test machine has keepalived installed (it does: e2e).
DEBIAN_UNIT = Path("/lib/systemd/system/keepalived.service")


def _layout():
    spec = importlib.util.spec_from_file_location("sv_layout", REPO / "packaging" / "layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_layout()


ENTRIES = _layout()


def _entry(path: str):
    (entry,) = [e for e in ENTRIES if e.path == path]
    return entry


@pytest.fixture(scope="module")
def dropin() -> dict:
    entry = _entry(DROPIN_PATH)
    assert (entry.type, entry.mode, entry.formats) == ("file", 0o644, ("deb", "rpm"))
    return unit_settings((REPO / entry.source).read_text())


def tmpfiles_command() -> list:
    """The command that makes /run/sentinel-vip and every directory a tmpfiles.d rule puts
    under it (other instances' state directories, docs/admin.md), from any rule file."""
    state = [e for e in ENTRIES if e.type == "state" and e.path.startswith("/run/")]
    (run_dir,) = [e.path for e in state]
    return ["systemd-tmpfiles", "--create", f"--prefix={run_dir}"]


def test_every_start_first_creates_the_directory_from_the_shipped_tmpfiles_file(dropin):
    (pre,) = dropin[("Service", "ExecStartPre")]
    assert pre.startswith("-")  # keepalived may run other instances: it still starts
    assert shlex.split(pre[1:]) == tmpfiles_command()


def test_every_reload_first_creates_it_then_sends_keepalived_its_sighup(dropin):
    reset, first, last = dropin[("Service", "ExecReload")]
    assert reset == ""  # the one way to run a command before the distro's
    assert shlex.split(first.lstrip("-")) == tmpfiles_command()
    assert last == "/bin/kill -HUP $MAINPID"


@pytest.mark.skipif(not DEBIAN_UNIT.is_file(), reason="keepalived's Debian unit not installed")
def test_the_reload_it_replaces_is_debians_own():
    (reload,) = unit_settings(DEBIAN_UNIT.read_text())[("Service", "ExecReload")]
    assert reload == "/bin/kill -HUP $MAINPID"


def test_the_tmpfiles_file_makes_the_default_track_files_directory():
    (tmpfiles,) = [e for e in ENTRIES if e.path.startswith("/usr/lib/tmpfiles.d/")]
    track_dir = os.path.dirname(SCHEMA["check"]["track_file"].default)
    lines = (REPO / tmpfiles.source).read_text().splitlines()
    assert any(line.split()[:2] == ["d", track_dir] for line in lines if line.strip()), lines
