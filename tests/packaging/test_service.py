"""The watcher's systemd unit: where it lands, what it says, and what the shared maintainer
scripts do with it on install, upgrade and removal, in deb's and rpm's argument styles.

systemd is not PID 1 on the test machines, so the scripts run against a fake `systemctl`
and `deb-systemd-invoke` that record their calls, inside a private mount namespace whose
/run, /var/lib and /etc/systemd/system are empty tmpfs: the scripts run unmodified and the
host is untouched.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pkgtools import REPO, deb_files, need_tool, rpm_files, run

from sentinel_vip.config.schema import SCHEMA
from support.systemd import unit_settings

UNIT = "sentinel-vip-watch.service"
UNIT_PATH = f"/usr/lib/systemd/system/{UNIT}"
SOURCE = REPO / "packaging" / UNIT
WANTS = f"/etc/systemd/system/multi-user.target.wants/{UNIT}"


@pytest.fixture(scope="module")
def settings() -> dict[tuple[str, str], list[str]]:
    return unit_settings(SOURCE.read_text())


def test_the_unit_is_one_layout_entry(entries):
    units = [e for e in entries if e.path.endswith(".service")]
    assert [(e.type, e.path, e.mode, e.owner, e.group, e.source) for e in units] == [
        ("file", UNIT_PATH, 0o644, "root", "root", f"packaging/{UNIT}")
    ]


@pytest.mark.parametrize("which", ["nfpm-deb", "native-deb"])
def test_debs_ship_the_unit_unchanged(built, which, tmp_path):
    assert deb_files(built[which])[UNIT_PATH] == ("-rw-r--r--", "root/root")
    run("dpkg-deb", "-x", str(built[which]), str(tmp_path))
    assert (tmp_path / UNIT_PATH.lstrip("/")).read_bytes() == SOURCE.read_bytes()


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_rpms_ship_the_unit(built, which):
    # Not %config: the admin changes it with a drop-in (`systemctl edit`), not by editing.
    assert rpm_files(built[which])[UNIT_PATH] == ("-rw-r--r--", "root:root", False)


def test_the_unit_runs_the_watcher_as_the_script_user(settings):
    assert settings[("Service", "ExecStart")] == ["/usr/sbin/sentinel-vip watch"]
    assert settings[("Service", "User")] == ["keepalived_script"]
    assert settings[("Service", "Group")] == ["keepalived_script"]
    assert settings[("Service", "Restart")] == ["on-failure"]
    assert float(settings[("Service", "RestartSec")][0]) >= 1
    after = settings[("Unit", "After")][0].split()
    for unit in ("network-online.target", "redis-sentinel.service", "valkey-sentinel.service"):
        assert unit in after
    assert settings[("Unit", "Wants")] == ["network-online.target"]
    assert settings[("Unit", "Documentation")] == ["man:sentinel-vip(8)"]
    assert settings[("Install", "WantedBy")] == ["multi-user.target"]


def test_the_hardening_leaves_the_watcher_what_it_needs(settings):
    assert settings[("Service", "NoNewPrivileges")] == ["yes"]
    assert settings[("Service", "CapabilityBoundingSet")] == [""]
    assert settings[("Service", "ProtectSystem")] == ["strict"]
    assert settings[("Service", "ProtectHome")] == ["yes"]
    assert settings[("Service", "PrivateTmp")] == ["yes"]
    # TCP/TLS to Redis and Sentinels, syslog and unix sockets, netlink for local addresses.
    families = settings[("Service", "RestrictAddressFamilies")][0].split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]
    assert settings[("Service", "PrivateUsers")] == ["yes"]
    assert settings[("Service", "ProcSubset")] == ["pid"]
    # Everything the watcher writes by default is writable under ProtectSystem=strict.
    writable = [Path("/run") / d for d in settings[("Service", "RuntimeDirectory")][0].split()]
    for value in settings.get(("Service", "StateDirectory"), []):
        writable += [Path("/var/lib") / d for d in value.split()]
    for value in settings.get(("Service", "ReadWritePaths"), []):
        writable += [Path(p) for p in value.split()]
    track_dir = Path(SCHEMA["check"]["track_file"].default).parent
    state_dir = Path(SCHEMA["paths"]["state_dir"].default)
    # The tripwire's record (store.tripwire) lives beside the history: it outlives a reboot.
    record_dir = Path(SCHEMA["paths"]["history_file"].default).parent
    for needed in (track_dir, state_dir, record_dir):
        assert any(needed == w or w in needed.parents for w in writable), needed


def test_the_unit_creates_the_runtime_directory_as_the_package_does(settings, entries):
    # ReadWritePaths= on a missing /run/sentinel-vip fails the start (status=226/NAMESPACE):
    # systemd creates a RuntimeDirectory= first. Preserved: keepalived's check uses it too.
    assert settings[("Service", "RuntimeDirectory")] == ["sentinel-vip"]
    assert settings[("Service", "RuntimeDirectoryPreserve")] == ["yes"]
    (state,) = [e for e in entries if e.type == "state" and e.path == "/run/sentinel-vip"]
    assert settings[("Service", "RuntimeDirectoryMode")] == [f"{state.mode:04o}"]
    assert (state.owner, state.group) == (settings[("Service", "User")][0],
                                          settings[("Service", "Group")][0])  # fmt: skip
    tmpfiles = (REPO / "packaging" / "tmpfiles.conf").read_text()
    assert f"d /run/sentinel-vip {state.mode:04o} {state.owner} {state.group} -" in tmpfiles


def test_the_unit_makes_the_persistent_directory_as_the_package_does(settings, entries):
    # ReadWritePaths= on a missing /var/lib/sentinel-vip would fail the start: StateDirectory=
    # creates it first, with the owner and mode postinst gives it. Never removed on stop.
    assert settings[("Service", "StateDirectory")] == ["sentinel-vip"]
    (state,) = [e for e in entries if e.type == "state" and e.path == "/var/lib/sentinel-vip"]
    assert settings[("Service", "StateDirectoryMode")] == [f"{state.mode:04o}"]
    assert (state.owner, state.group) == (settings[("Service", "User")][0],
                                          settings[("Service", "Group")][0])  # fmt: skip
    assert Path(SCHEMA["paths"]["history_file"].default).parent == Path(state.path)


def test_systemd_rates_the_unit_well_hardened():
    need_tool("systemd-analyze")
    # Exposure on systemd's 0-100 scale: 11 is "1.1 OK"; an unhardened service scores ~92.
    proc = run("systemd-analyze", "security", "--offline=yes", "--threshold=11", str(SOURCE),
               check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# --- the shared maintainer scripts and systemd ------------------------------------------

FAKES = ("systemctl", "deb-systemd-invoke", "dpkg-statoverride", "install", "getent",
         "groupadd", "useradd")  # fmt: skip
# Only these talk to systemd; the others are faked so that nothing else is touched.
SYSTEMD_TOOLS = ("systemctl", "deb-systemd-invoke")

NAMESPACE_SETUP = """
set -e
mount -t tmpfs sv-test /run
mount -t tmpfs sv-test /var/lib
mount -t tmpfs sv-test /etc/systemd/system
if [ "$SV_SYSTEMD" = 1 ]; then mkdir -p /run/systemd/system; fi
mkdir -p "$(dirname "$SV_WANTS")"
if [ "$SV_ENABLED" = 1 ]; then ln -s "$SV_UNIT_PATH" "$SV_WANTS"; fi
rc=0
"$@" || rc=$?
if [ -L "$SV_WANTS" ]; then echo "link $SV_WANTS" >>"$SV_CALLS"; fi
exit $rc
"""


@pytest.fixture
def maintscript(tmp_path):
    """Run packaging/scripts/NAME ARGS...; return the systemd calls and the link state."""
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace needs root")
    need_tool("unshare")
    if not Path("/etc/systemd/system").is_dir():
        pytest.skip("/etc/systemd/system is missing: nothing to mount over")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in FAKES:
        fake = bin_dir / name
        fake.write_text('#!/bin/sh\necho "${0##*/} $*" >>"$SV_CALLS"\n')
        fake.chmod(0o755)
    calls = tmp_path / "calls"

    def run_script(name: str, *args: str, systemd: bool = True, enabled: bool = False):
        calls.write_text("")
        env = {
            "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "SV_CALLS": str(calls),
            "SV_SYSTEMD": "1" if systemd else "0",
            "SV_ENABLED": "1" if enabled else "0",
            "SV_WANTS": WANTS,
            "SV_UNIT_PATH": UNIT_PATH,
        }
        script = REPO / "packaging" / "scripts" / name
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SETUP,
             "sh", "sh", str(script), *args],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, (name, args, proc.stdout, proc.stderr)
        lines = calls.read_text().splitlines()
        return [c for c in lines if c.split()[0] in SYSTEMD_TOOLS or c.startswith("link ")]

    return run_script


RELOAD = "systemctl daemon-reload"
LINK = f"link {WANTS}"

# (script, arguments) -> systemd calls while systemd runs. deb's words, then rpm's numbers.
WITH_SYSTEMD = [
    # deb fresh install: systemd learns the unit; nothing is enabled or started.
    (("preinst", "install"), []),
    (("postinst", "configure"), [RELOAD]),
    # deb upgrade: the old prerm keeps it running, the new postinst restarts a running one.
    (("prerm", "upgrade", "0.2.0-1"), []),
    (("preinst", "upgrade", "0.1.0-1"), []),
    (("postrm", "upgrade", "0.2.0-1"), []),
    (("postinst", "configure", "0.1.0-1"), [RELOAD, f"deb-systemd-invoke try-restart {UNIT}"]),
    # deb remove: stop before the files go, forget the unit after.
    (("prerm", "remove"), [f"deb-systemd-invoke stop {UNIT}"]),
    (("postrm", "remove"), [RELOAD]),
    # a failed removal: start again (deb-systemd-invoke starts only an enabled unit).
    (("postinst", "abort-remove"), [RELOAD, f"deb-systemd-invoke start {UNIT}"]),
    # rpm install, upgrade (new %post 2, then the old %preun/%postun 1), erase.
    (("preinst", "1"), []),
    (("postinst", "1"), [RELOAD]),
    (("preinst", "2"), []),
    (("postinst", "2"), [RELOAD, f"systemctl try-restart {UNIT}"]),
    (("prerm", "1"), []),
    (("postrm", "1"), []),
    (("prerm", "0"), [f"systemctl stop {UNIT}", f"systemctl --no-reload disable {UNIT}"]),
    (("postrm", "0"), [RELOAD]),
]


@pytest.mark.parametrize(("call", "expected"), WITH_SYSTEMD, ids=lambda v: " ".join(v))
def test_scripts_drive_the_unit_when_systemd_runs(maintscript, call, expected):
    assert maintscript(*call) == expected


@pytest.mark.parametrize(("call", "_"), WITH_SYSTEMD, ids=lambda v: " ".join(v))
def test_scripts_leave_systemd_alone_where_it_does_not_run(maintscript, call, _):
    # Containers and chroots: no reload, start, stop or restart. rpm's erase still
    # disables, which only edits symlinks under /etc.
    expected = [f"systemctl --no-reload disable {UNIT}"] if call == ("prerm", "0") else []
    assert maintscript(*call, systemd=False) == expected


def test_remove_keeps_the_admins_enablement_and_purge_drops_it(maintscript):
    assert maintscript("prerm", "remove", enabled=True) == [
        f"deb-systemd-invoke stop {UNIT}",
        LINK,
    ]
    assert maintscript("postrm", "remove", enabled=True) == [RELOAD, LINK]
    assert maintscript("postrm", "purge", enabled=True) == []
    assert maintscript("postrm", "purge", enabled=True, systemd=False) == []


def test_an_upgrade_keeps_the_admins_enablement(maintscript):
    for call in (("prerm", "upgrade", "0.2.0-1"), ("postrm", "upgrade", "0.2.0-1"),
                 ("prerm", "1"), ("postrm", "1")):  # fmt: skip
        assert LINK in maintscript(*call, enabled=True), call
