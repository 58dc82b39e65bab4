"""The .deb on older and newer Debian: installed into debootstrap chroots (opt-in, slow).

SENTINEL_VIP_CHROOT_TESTS=1 enables it; the first run builds each chroot (minutes, from
Debian's mirror) and caches it, later runs copy the cache. packaging/chroot-test.sh does the
work and prints one key=value summary line, which is shown with `pytest -s`.
"""

from __future__ import annotations

import os

import pytest
from pkgtools import need_tool, run

pytestmark = pytest.mark.skipif(
    os.environ.get("SENTINEL_VIP_CHROOT_TESTS") != "1",
    reason="set SENTINEL_VIP_CHROOT_TESTS=1 to install into Debian 11/13 chroots",
)


@pytest.mark.parametrize(
    ("suite", "python_prefix"), [("bullseye", "3.9."), ("trixie", "3.13.")]
)  # fmt: skip
def test_deb_installs_and_checks_in_chroot(built, suite, python_prefix, project_version):
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    need_tool("debootstrap")
    proc = run("packaging/chroot-test.sh", suite, str(built["nfpm-deb"]), check=False,
               timeout=1800)  # fmt: skip
    print(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = dict(
        field.split("=", 1) for field in proc.stdout.strip().splitlines()[-1].split(" ")
        if "=" in field
    )  # fmt: skip
    assert summary["python"].startswith(python_prefix)
    assert project_version in summary["version"]
    assert summary["check"] == "ok"
