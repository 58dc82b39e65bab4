"""The built packages: lint-clean, the same files from nfpm and native builds, as laid out."""

from __future__ import annotations

import re
import stat

import pytest
from pkgtools import REPO, deb_files, need_tool, rpm_files, run, shipped_by


def _perms(mode: int, kind: str) -> str:
    if kind == "link":
        return "l"
    return stat.filemode(mode | (stat.S_IFDIR if kind == "dir" else stat.S_IFREG))


@pytest.mark.parametrize("which", ["nfpm-deb", "native-deb"])
def test_lintian_reports_no_errors_or_warnings(built, which):
    need_tool("lintian")
    proc = run("lintian", "--fail-on", "error,warning", str(built[which]), check=False)
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [], proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_rpmlint_reports_no_errors(built, which, tmp_path):
    need_tool("rpmlint")
    # rpmlint 2.4 reads only the last -r file: join the common and the nfpm-only filters.
    filters = (REPO / "packaging" / "rpmlintrc").read_text()
    if which == "nfpm-rpm":
        filters += (REPO / "packaging" / "rpmlintrc-nfpm").read_text()
    (tmp_path / "rpmlintrc").write_text(filters)
    proc = run("rpmlint", "-r", str(tmp_path / "rpmlintrc"), str(built[which]), check=False)
    found = [line for line in proc.stdout.splitlines() if ": E: " in line or ": W: " in line]
    assert found == [], proc.stdout
    assert " 0 errors, 0 warnings" in proc.stdout, proc.stdout


# rpmlint 2.4's PostCheck pattern for a command in a scriptlet; it also fires on comments.
DANGEROUS = re.compile(
    r"(^|[;\|`]|&&|\$\()\s*(?:\S*/s?bin/)?(cp|mv|ln|tar|rpm|chmod|chown|rm|cpio|install|perl|"
    r"userdel|groupdel)\s"
)


@pytest.mark.parametrize("name", ["preinst", "postinst", "prerm", "postrm"])
def test_no_comment_looks_like_a_dangerous_command_to_rpmlint(name):
    # A comment that trips it would need a filter that then hides a real command too.
    text = (REPO / "packaging" / "scripts" / name).read_text()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert [c for c in comments if DANGEROUS.search(c)] == []


def test_the_homepage_is_the_same_everywhere(built):
    control = (REPO / "debian" / "control").read_text()
    homepage = re.search(r"^Homepage: (\S+)$", control, re.M).group(1)
    assert f"homepage: {homepage}" in (REPO / "packaging" / "nfpm.yaml").read_text()
    assert f"Source: {homepage}" in (REPO / "debian" / "copyright").read_text()
    for which in ("nfpm-rpm", "native-rpm"):
        assert run("rpm", "-qp", "--qf", "%{URL}", str(built[which])).stdout == homepage
    for which in ("nfpm-deb", "native-deb"):
        assert run("dpkg-deb", "-f", str(built[which]), "Homepage").stdout.strip() == homepage


def test_nfpm_and_native_debs_hold_the_same_files(built):
    assert deb_files(built["nfpm-deb"]) == deb_files(built["native-deb"])


def _control_scripts(deb, dest) -> dict[str, str]:
    run("dpkg-deb", "--control", str(deb), str(dest))
    names = ("preinst", "postinst", "prerm", "postrm")
    return {name: (dest / name).read_text() for name in names if (dest / name).exists()}


def _without_debhelper_tmpfiles(text: str) -> str:
    """Drop dh_installtmpfiles' snippet and blank lines (dh adds some around #DEBHELPER#)."""
    snippet = r"# Automatically added by dh_installtmpfiles/.*?# End automatically added section\n"
    text = re.sub(snippet, "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if line.strip())


def test_nfpm_and_native_debs_run_the_same_maintainer_scripts(built, tmp_path):
    """Both .debs run packaging/scripts, the watcher's unit included (debian/rules keeps
    dh_installsystemd out). The one reasoned exception: dh_installtmpfiles' snippet runs
    `systemd-tmpfiles --create` for /run/sentinel-vip, which postinst creates anyway."""
    nfpm = _control_scripts(built["nfpm-deb"], tmp_path / "nfpm")
    native = _control_scripts(built["native-deb"], tmp_path / "native")
    assert sorted(nfpm) == sorted(native) == ["postinst", "postrm", "preinst", "prerm"]
    for name in nfpm:
        assert "Automatically added" not in nfpm[name]
        assert "dh_installsystemd" not in native[name], name
        assert _without_debhelper_tmpfiles(native[name]) == _without_debhelper_tmpfiles(
            nfpm[name]
        ), name


def test_nfpm_and_native_rpms_hold_the_same_files(built):
    assert rpm_files(built["nfpm-rpm"]) == rpm_files(built["native-rpm"])


def test_deb_is_the_layout_owned_by_root(built, entries):
    """The .deb carries root:root (postinst applies the group) and the layout's modes."""
    files = deb_files(built["nfpm-deb"])
    entries = shipped_by(entries, "deb")
    for e in entries:
        if e.type == "state":
            assert e.path not in files, f"{e.path} is created by postinst, not shipped"
            continue
        assert files.get(e.path) == (_perms(e.mode, e.type), "root/root"), e.path
    layout_paths = {e.path for e in entries}
    # Everything else in the .deb is a parent directory (/etc, /usr/share, ...).
    extra = [p for p, (perms, _) in files.items() if p not in layout_paths]
    assert all(files[p] == ("drwxr-xr-x", "root/root") for p in extra), extra


def test_rpm_is_exactly_the_layout(built, entries):
    files = rpm_files(built["nfpm-rpm"])
    expected = {
        e.path: (_perms(e.mode, e.type), f"{e.owner}:{e.group}", e.type == "config")
        for e in shipped_by(entries, "rpm")
        if e.type != "state"
    }
    assert files == expected
    # What only the .deb ships (lintian overrides, changelog.Debian.gz) is not in it.
    assert {e.path for e in entries if e.formats == ("deb",)}.isdisjoint(files)


def test_versions_come_from_pyproject(built, project_version):
    for which in ("nfpm-deb", "native-deb"):
        version = run("dpkg-deb", "-f", str(built[which]), "Version").stdout.strip()
        assert version == f"{project_version}-1", which
    for which in ("nfpm-rpm", "native-rpm"):
        version = run("rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE}", str(built[which])).stdout
        assert version == f"{project_version}-1", which


@pytest.mark.parametrize("field", ["Depends", "Recommends", "Description", "Section"])
def test_deb_control_fields_agree(built, field):
    nfpm = run("dpkg-deb", "-f", str(built["nfpm-deb"]), field).stdout
    native = run("dpkg-deb", "-f", str(built["native-deb"]), field).stdout
    assert nfpm == native
    if field == "Depends":
        assert nfpm.strip().split(", ")[:2] == ["python3 (>= 3.9)", "keepalived"]
    if field == "Recommends":
        assert nfpm.strip() == "redis-sentinel | valkey-sentinel"


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_rpm_relations(built, which):
    requires = run("rpm", "-qpR", str(built[which])).stdout.splitlines()
    assert "python3 >= 3.9" in requires
    assert "keepalived" in requires
    # What %pre needs: rpmbuild writes Requires(pre), nfpm can only write plain Requires.
    fmt = "[%{REQUIREFLAGS:deptype} %{REQUIRENAME}\n]"
    kinds = run("rpm", "-qp", "--qf", fmt, str(built[which])).stdout.splitlines()
    for needed in ("/bin/sh", "shadow-utils"):
        wanted = {"native-rpm": {f"pre {needed}", f"pre,interp {needed}"},
                  "nfpm-rpm": {f"manual {needed}"}}[which]  # fmt: skip
        assert wanted & set(kinds), (needed, kinds)
    assert run("rpm", "-qp", "--recommends", str(built[which])).stdout.split("\n")[0] == (
        "(redis or valkey)"
    )


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_rpm_provides_what_the_zipapp_bundles(built, which):
    # Fedora's bundling rule: a security advisory for tomli must find this package.
    pins = re.findall(r"^(\S+)==(\S+) ", (REPO / "packaging" / "vendor.txt").read_text(), re.M)
    assert pins
    provides = run("rpm", "-qp", "--provides", str(built[which])).stdout.splitlines()
    for name, version in pins:
        assert f"bundled(python3dist({name.lower()})) = {version}" in provides


@pytest.mark.parametrize("which", ["nfpm-rpm", "native-rpm"])
def test_rpm_scriptlets_are_the_shared_scripts(built, which):
    out = run("rpm", "-qp", "--scripts", str(built[which])).stdout
    for rpm_name, script in (("preinstall", "preinst"), ("postinstall", "postinst"),
                             ("preuninstall", "prerm"), ("postuninstall", "postrm")):  # fmt: skip
        body = (REPO / "packaging" / "scripts" / script).read_text()
        body = body.replace("#DEBHELPER#\n", "").strip()
        section = out.split(f"{rpm_name} scriptlet (using /bin/sh):\n", 1)[1]
        assert section.startswith(body.split("\n", 1)[0])
        assert body in section, f"{which} {rpm_name} differs from packaging/scripts/{script}"


def test_rpm_installs_into_a_scratch_root(built, tmp_path, entries):
    """As far as rpm goes on Debian: no deps, no scriptlets (no /bin/sh in the root)."""
    need_tool("rpm")
    root = tmp_path / "root"
    run("rpm", "--root", str(root), "--initdb")
    proc = run("rpm", "--root", str(root), "-i", "--nodeps", "--noscripts",
               str(built["native-rpm"]), check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    queried = run("rpm", "--root", str(root), "-ql", "sentinel-vip").stdout.split()
    entries = shipped_by(entries, "rpm")
    assert sorted(queried) == sorted(e.path for e in entries if e.type != "state")
    for e in entries:
        if e.type in ("file", "config"):
            assert (root / e.path.lstrip("/")).stat().st_mode & 0o7777 == e.mode, e.path
    pyz = root / "usr/lib/sentinel-vip/sentinel-vip.pyz"
    assert (root / "usr/sbin/sentinel-vip").resolve() == pyz
