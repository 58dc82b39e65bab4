"""Both .rpm (nfpm's and rpmbuild's) with real scriptlets: Debian's rpm on a booted Debian 12.

rpm runs %pre/%post/%preun/%postun with $1 = 1 (install), 2 (upgrade: the new package's
%pre/%post) and 1 (upgrade: the old one's %preun/%postun) or 0 (erase), as on EL. There is
no EL image here: Debian's rpm (4.18) installs for real into a root that has /bin/sh,
useradd and systemctl; --nodeps because rpm's database does not know dpkg's python3 and
keepalived. Each $1 is proven by what only that branch of the shared scripts does.
"""

from __future__ import annotations

import time

import pytest
import roots
from pkgtools import newer_build
from realtools import (
    CONF,
    SNIPPET,
    UNIT,
    add_vip_link,
    configure_node,
    figure,
    poll,
    track,
    unit_state,
    vip_present,
)


def stat(root, path: str) -> list:
    return root.run(["stat", "-c", "%a %U %G", path]).stdout.split()


def exists(root, path: str) -> bool:
    return root.run(["test", "-e", path], check=False).returncode == 0


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_install_upgrade_erase(packages, which, tmp_path, project_version):
    newer = newer_build(tmp_path, project_version + ".1", packager="rpm")
    with roots.Root("bookworm", "systemd") as root:
        root.boot(private_network=True)
        add_vip_link(root)
        root.copy_in(packages[which], "/root/old.rpm")
        root.copy_in(newer, "/root/new.rpm")
        root.run(["rpm", "--initdb"])
        assert root.run(["getent", "passwd", "keepalived_script"], check=False).returncode == 2

        # Install ($1 = 1): %pre creates the user before the files (the config's group),
        # %post the runtime directories; the watcher is shipped disabled.
        t0 = time.monotonic()
        root.run(["rpm", "-i", "--nodeps", "/root/old.rpm"])
        figure(package=which, step="install", seconds=f"{time.monotonic() - t0:.1f}")
        shell = root.run(["getent", "passwd", "keepalived_script"]).stdout.strip().split(":")[-1]
        assert shell == "/usr/sbin/nologin"
        assert stat(root, CONF) == ["640", "root", "keepalived_script"]
        assert stat(root, "/usr/lib/sentinel-vip/sentinel-vip.pyz") == ["755", "root", "root"]
        for state in ("/run/sentinel-vip", "/var/lib/sentinel-vip"):
            assert stat(root, state) == ["750", "keepalived_script", "keepalived_script"]
        assert unit_state(root)[0::2] == ("inactive", "disabled")
        # Nothing Debian-only in the rpm.
        files = root.run(["rpm", "-ql", "sentinel-vip"]).stdout.split()
        assert not [f for f in files if "lintian" in f or f.endswith("changelog.Debian.gz")]

        configure_node(root)  # edits the config and the snippet: both differ from the rpm's
        root.run(["systemctl", "enable", "--now", UNIT])
        root.run(["systemctl", "restart", "keepalived"])
        poll("the VIP", lambda: vip_present(root))
        _, before, _ = unit_state(root)

        # Upgrade: new %pre/%post 2 (try-restart), old %preun/%postun 1 (keep it running and
        # enabled). Edited configs stay; the new ones land beside them as .rpmnew.
        t0 = time.monotonic()
        root.run(["rpm", "-U", "--nodeps", "/root/new.rpm"])
        figure(package=which, step="upgrade", seconds=f"{time.monotonic() - t0:.1f}")
        state, after, enabled = unit_state(root)
        assert (state, enabled) == ("active", "enabled")
        assert after not in (0, before), "the running watcher was not restarted"
        for edited in (CONF, SNIPPET):
            assert exists(root, edited + ".rpmnew"), edited
        assert "allow_loopback = true" in root.read(CONF)
        assert stat(root, CONF) == ["640", "root", "keepalived_script"]
        assert vip_present(root) and track(root) == "1"

        # Erase ($1 = 0): stop and disable the watcher, release the VIP, keep edits .rpmsave.
        t0 = time.monotonic()
        proc = root.run(["rpm", "-e", "sentinel-vip"])
        poll("the VIP leaves the interface", lambda: not vip_present(root), timeout=10)
        figure(package=which, step="erase_to_vip_gone", seconds=f"{time.monotonic() - t0:.2f}")
        assert "keepalived releases the VIP" in proc.stdout, proc.stdout
        assert track(root) == "0"
        assert unit_state(root)[0] == "inactive"
        assert not exists(root, f"/etc/systemd/system/multi-user.target.wants/{UNIT}")
        for edited in (CONF, SNIPPET):
            assert exists(root, edited + ".rpmsave"), edited
        assert not exists(root, "/usr/sbin/sentinel-vip")
        assert not exists(root, "/run/sentinel-vip.released")
        # /etc/valkey was made by rpm for our snippet only: gone. Debian's /etc/redis stays.
        assert not exists(root, "/etc/valkey")
        assert exists(root, "/etc/redis/redis.conf")
        # The history and the user stay (keepalived's own config may name the user).
        assert exists(root, "/var/lib/sentinel-vip")
        assert root.run(["getent", "passwd", "keepalived_script"], check=False).returncode == 0
