"""The packaging sources agree with each other: layout, spec, changelog, scripts."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from pkgtools import REPO, need_tool, run

SCRIPTS = ("preinst", "postinst", "prerm", "postrm")


def test_every_layout_source_exists(entries, built):
    # dist/ and build/ hold build outputs (the pyz, the derived Valkey snippet: `make install`
    # made them for `built`); everything else is in the tree.
    missing = [
        e.source
        for e in entries
        if e.type in ("file", "gzip", "config") and not (REPO / e.source).is_file()
    ]
    assert missing == []


def test_layout_installs_into_a_destdir(tmp_path, entries, built):
    # `built` guarantees dist/sentinel-vip.pyz; every entry is laid out with its mode.
    run("python3", "packaging/layout.py", "install", str(tmp_path))
    for e in entries:
        target = tmp_path / e.path.lstrip("/")
        if e.type == "state":
            assert not target.exists(), e.path
        elif e.type == "link":
            assert target.is_symlink() and os.readlink(target) == e.source, e.path
        else:
            assert target.stat().st_mode & 0o7777 == e.mode, e.path


@pytest.mark.parametrize("fmt", ["deb", "rpm"])
def test_layout_installs_one_formats_files(tmp_path, entries, built, fmt):
    run("python3", "packaging/layout.py", "install", str(tmp_path), fmt)
    for e in entries:
        target = tmp_path / e.path.lstrip("/")
        shipped = fmt in e.formats and e.type != "state"
        assert (target.exists() or target.is_symlink()) == shipped, e.path
    assert run("python3", "packaging/layout.py", "install", str(tmp_path), "apk",
               check=False).returncode == 1  # fmt: skip


def test_spec_files_list_is_the_layout():
    """%install writes the list that `%files -f` reads (tests/unit/test_generated.py checks
    its lines); here rpmspec expands the spec as rpmbuild will."""
    need_tool("rpmspec")
    out = run("rpmspec", "-P", "--define", f"sv_src {REPO}", "rpm/sentinel-vip.spec").stdout
    assert "layout.py rpm-files > " in out and "\n%files -f " in out


def test_spec_version_is_read_from_pyproject(project_version):
    need_tool("rpmspec")
    out = run("rpmspec", "-q", "--qf", "%{VERSION}\n", "--define", f"sv_src {REPO}",
              "rpm/sentinel-vip.spec").stdout.split()  # fmt: skip
    assert out == [project_version]


def test_debian_changelog_version_is_pyproject_version(project_version):
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    match = re.match(r"sentinel-vip \(([^)-]+)-(\d+)\)", first)
    assert match, first
    assert match.group(1) == project_version


@pytest.mark.parametrize("name", SCRIPTS)
def test_debian_maintainer_scripts_are_the_shared_ones(name):
    link = REPO / "debian" / f"sentinel-vip.{name}"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "packaging" / "scripts" / name).resolve()


@pytest.mark.parametrize("name", SCRIPTS)
def test_shared_scripts_are_sh_and_rpm_safe(name):
    path = REPO / "packaging" / "scripts" / name
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -e\n" in text
    assert "#DEBHELPER#" in text  # dh fills it; nfpm's copy and the spec drop it
    # The spec pastes the script through %(...): a percent sign would be a macro.
    assert "%" not in text
    subprocess.run(["sh", "-n", str(path)], check=True)


@pytest.mark.parametrize(
    ("name", "deb_args", "rpm_args"),
    [
        ("preinst", ["install"], ["1"]),
        ("postinst", ["configure"], ["1"]),
        ("prerm", ["remove"], ["0"]),
        ("postrm", ["purge", "remove"], ["0"]),
    ],
)
def test_scripts_handle_both_argument_styles(name, deb_args, rpm_args):
    """The case patterns name the deb word and, where rpm runs the step, rpm's number."""
    text = (REPO / "packaging" / "scripts" / name).read_text()
    arms = re.findall(r"^ +([\w|-]+)\)$", text, re.MULTILINE)
    cases = {word for arm in arms for word in arm.split("|")}
    assert set(deb_args) <= set(cases)
    if rpm_args:
        assert set(rpm_args) <= set(cases)
