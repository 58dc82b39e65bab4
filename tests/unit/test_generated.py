"""Generated, not copied: every artefact below has one source and is made from it by the build.

- the snippets ``render`` starts from: etc/, written into the pyz as ``admin/_snippets.py``;
- the Valkey Sentinel snippet: the Redis one with Valkey's paths (no file in the tree);
- nfpm's `contents:` and the spec's %files: packaging/layout (packaging/layout.py);
- the .deb's modes after dh_fixperms: packaging/layout too.

Each test fails when a copy comes back or drifts from its source.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sentinel_vip.admin import render, snippets

REPO = Path(__file__).resolve().parents[2]
KEEPALIVED = REPO / snippets.KEEPALIVED_PATH
REDIS_SENTINEL = REPO / snippets.SENTINEL_PATH


def load_layout():
    spec = importlib.util.spec_from_file_location("sv_layout", REPO / "packaging" / "layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layout = load_layout()
ENTRIES = layout.read_layout()


# -- the snippets ----------------------------------------------------------------------------


def test_the_pyz_carries_the_snippets_as_they_are_in_etc(pyz):
    with zipfile.ZipFile(pyz) as archive:
        names = set(archive.namelist())
        source = archive.read("sentinel_vip/admin/_snippets.py").decode()
    assert "sentinel_vip/admin/_snippets.pyc" in names  # compiled like every module
    module: dict = {}
    exec(compile(source, "_snippets.py", "exec"), module)  # our own build output
    assert module["KEEPALIVED"] == KEEPALIVED.read_text(encoding="utf-8")
    assert module["SENTINEL"] == REDIS_SENTINEL.read_text(encoding="utf-8")


def test_the_built_program_renders_from_the_snippets_it_carries(pyz, tmp_path):
    """The pyz, run outside the tree, gets its snippets from _snippets (no etc/ to read)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sentinel_vip.admin import snippets;"
        "print(snippets.KEEPALIVED == sys.argv[2])"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(pyz), KEEPALIVED.read_text(encoding="utf-8")],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == "True", done.stderr


def test_a_source_tree_reads_the_snippets_from_etc():
    assert snippets.KEEPALIVED == KEEPALIVED.read_text(encoding="utf-8")
    assert snippets.SENTINEL == REDIS_SENTINEL.read_text(encoding="utf-8")


def _signature_lines(path: Path) -> list[str]:
    """Lines of a snippet distinctive enough that a copy anywhere else would contain them."""
    lines = [line for line in path.read_text().splitlines() if len(line) > 40]
    assert len(lines) > 5
    return lines


@pytest.mark.parametrize("snippet", [KEEPALIVED, REDIS_SENTINEL], ids=["keepalived", "sentinel"])
def test_no_copy_of_a_snippet_lives_in_the_source(snippet):
    found = []
    for path in sorted((REPO / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        hits = [line for line in _signature_lines(snippet) if line in text]
        if len(hits) > 3:
            found.append(str(path.relative_to(REPO)))
    assert found == [], f"a copy of {snippet.name}: generate it from etc/ instead"


def test_the_valkey_sentinel_snippet_is_derived_not_kept():
    assert not (REPO / "etc" / "valkey").exists(), "etc/valkey: a third copy of the snippet"
    valkey = snippets.sentinel("valkey")
    redis = REDIS_SENTINEL.read_text(encoding="utf-8")
    assert snippets.sentinel("redis") == redis
    # The same text, line for line, but for the package's paths and command names.
    assert len(valkey.splitlines()) == len(redis.splitlines())
    assert "/etc/redis/" not in valkey and "redis-cli " not in valkey
    assert "/etc/valkey/sentinel-vip-sentinel.conf" in valkey
    assert "valkey-cli -p 26379 SENTINEL MONITOR mymaster" in valkey
    assert re.sub(r"valkey", "redis", valkey) == redis
    with pytest.raises(ValueError, match="unknown Sentinel flavour"):
        snippets.sentinel("keydb")


def test_the_packaged_valkey_snippet_is_what_render_treats_as_pristine(tmp_path):
    output = tmp_path / "valkey.conf"
    subprocess.run(
        ["/usr/bin/python3", str(REPO / "packaging" / "snippets.py"), "valkey", str(output)],
        check=True,
    )
    assert output.read_text() == render.sentinel_text("valkey", "mymaster", 2)
    entry = next(e for e in ENTRIES if e.path == "/etc/valkey/sentinel-vip-sentinel.conf")
    assert entry.source.startswith("build/")  # generated, as packaging.mk makes it
    makefile = (REPO / "packaging" / "packaging.mk").read_text()
    assert "packaging/snippets.py valkey" in makefile
    assert re.search(r"^install: .*\$\(VALKEY_SNIPPET\)", makefile, re.M)


# -- nfpm and the spec, from packaging/layout ------------------------------------------------


def _nfpm_items(text: str) -> list[dict]:
    """nfpm's contents items as flat dicts (the generator's own YAML subset)."""
    body = text.split("\ncontents:\n", 1)[1]
    items: list[dict] = []
    for line in body.splitlines():
        match = re.match(r"^  (- | {2})(\w+): (.*)$", line)
        assert match, line
        if match.group(1) == "- ":
            items.append({})
        key, value = match.group(2), match.group(3)
        if key == "file_info":
            value = dict(re.findall(r"(\w+): (\w+)", value))
        items[-1][key] = value
    return items


def test_the_nfpm_recipe_holds_no_file_list_of_its_own():
    text = (REPO / "packaging" / "nfpm.yaml").read_text()
    assert not re.search(r"^contents:", text, re.M) and "dst: /" not in text


@pytest.mark.parametrize("fmt", ["deb", "rpm"])
def test_nfpm_contents_are_the_layout(fmt):
    config = layout.nfpm_config(str(REPO / "packaging" / "nfpm.yaml"), "build/stage", ENTRIES)
    items = [i for i in _nfpm_items(config) if i.get("packager", fmt) == fmt]
    by_path = {i["dst"]: i for i in items}
    assert len(by_path) == len(items), "an entry listed twice for one packager"
    shipped = [e for e in layout.for_format(ENTRIES, fmt) if e.type != "state"]
    assert set(by_path) == {e.path for e in shipped}
    for e in shipped:
        item = by_path[e.path]
        if e.type == "link":
            assert item == {"src": e.source, "dst": e.path, "type": "symlink"}
            continue
        info = item["file_info"]
        assert info["mode"] == f"{e.mode:04o}"
        owners = ("root", "root") if fmt == "deb" else (e.owner, e.group)
        assert (info["owner"], info["group"]) == owners, e.path
        assert (item.get("type") == "config|noreplace") == (e.type == "config"), e.path
        assert (item.get("type") == "dir") == (e.type == "dir"), e.path
        if e.type != "dir":
            assert item["src"] == "build/stage" + e.path


def test_the_rpms_name_what_the_zipapp_bundles_from_the_pins(tmp_path):
    vendor = tmp_path / "vendor.txt"
    vendor.write_text("# pins\nTomli==9.1.0 --hash=sha256:" + "a" * 64 + "\n")
    assert layout.bundled(str(vendor)) == ["bundled(python3dist(tomli)) = 9.1.0"]
    config = layout.nfpm_config(
        str(REPO / "packaging" / "nfpm.yaml"), "build/stage", ENTRIES, str(vendor)
    )
    rpm_part = config.split("\n  rpm:\n", 1)[1].split("\n  deb:\n", 1)[0]
    assert '    provides:\n      - "bundled(python3dist(tomli)) = 9.1.0"' in rpm_part
    assert config.count("bundled(") == 1  # the .deb has no such relation
    spec = (REPO / "rpm" / "sentinel-vip.spec").read_text()
    assert "%(/usr/bin/python3 %{sv_src}/packaging/layout.py rpm-bundled)" in spec


def test_debian_copyright_names_every_bundled_library():
    copyright_text = (REPO / "debian" / "copyright").read_text()
    for line in layout.bundled():
        name = line.split("(")[2].split(")")[0]
        assert re.search(rf"\bbundles {name}\b", copyright_text), name


def test_a_template_without_the_provides_line_is_refused(tmp_path):
    template = tmp_path / "nfpm.yaml"
    text = (REPO / "packaging" / "nfpm.yaml").read_text()
    template.write_text(text.replace(layout.PROVIDES_MARK + "\n", ""))
    with pytest.raises(layout.LayoutError, match="rpm-bundled"):
        layout.nfpm_config(str(template), "build/stage", ENTRIES)


def test_the_spec_lists_no_file_itself():
    spec = (REPO / "rpm" / "sentinel-vip.spec").read_text()
    files = spec.split("\n%files", 1)[1].split("\n%changelog", 1)[0]
    assert files.startswith(" -f %{_builddir}/sentinel-vip.files\n"), files
    assert not re.search(r"^(/|%dir|%config|%doc|%attr)", files, re.M)
    assert "layout.py rpm-files > %{_builddir}/sentinel-vip.files" in spec


def test_the_rpm_file_list_is_the_layout():
    lines = layout.rpm_files(ENTRIES).splitlines()
    listed = {line.split()[-1]: line for line in lines}
    assert len(listed) == len(lines)
    shipped = [e for e in layout.for_format(ENTRIES, "rpm") if e.type != "state"]
    assert set(listed) == {e.path for e in shipped}
    for e in shipped:
        line = listed[e.path]
        assert line.startswith("%dir") == (e.type == "dir"), line
        assert ("%config(noreplace)" in line) == (e.type == "config"), line
        assert ("%doc" in line) == (e.path.startswith("/usr/share/doc/") and e.type != "dir")
        if (e.owner, e.group) != ("root", "root"):
            assert f"%attr({e.mode:04o},{e.owner},{e.group})" in line, line


def test_debian_rules_takes_the_modes_from_the_layout(tmp_path):
    rules = (REPO / "debian" / "rules").read_text()
    assert "layout.py modes debian/sentinel-vip deb" in rules
    assert not re.search(r"^\s*chmod ", rules, re.M), "a mode restated in debian/rules"
    toml = tmp_path / "etc" / "sentinel-vip" / "sentinel-vip.toml"
    toml.parent.mkdir(parents=True)
    toml.write_text("")
    toml.chmod(0o644)  # what dh_fixperms leaves
    layout.apply_modes(str(tmp_path), layout.for_format(ENTRIES, "deb"))
    assert toml.stat().st_mode & 0o777 == 0o640


def test_packaging_files_cite_only_tests_that_exist():
    cited = set()
    for top in ("packaging", "debian", "rpm"):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and path.suffix not in (".pyc",):
                text = path.read_text(encoding="utf-8", errors="replace")
                cited.update(re.findall(r"tests/[\w/]+\.(?:py|sh)", text))
    missing = sorted(c for c in cited if not (REPO / c).is_file())
    assert missing == []


def test_the_maintainer_scripts_and_tmpfiles_agree_with_the_layout():
    """Shared sh scripts (deb and rpm) are not generated: they are checked against the
    layout instead, for every owner and mode they set."""
    postinst = (REPO / "packaging" / "scripts" / "postinst").read_text()
    state = [e for e in ENTRIES if e.type == "state"]
    made = re.findall(r"^\s*install -d -o (\S+) -g (\S+) -m (\d{4}) ", postinst, re.M)
    assert made == [(state[0].owner, state[0].group, f"{state[0].mode:04o}")]
    assert {e.owner for e in state} == {state[0].owner} and {e.mode for e in state} == {
        state[0].mode
    }
    assert sorted(re.findall(r"^\s*state_dir (/\S+)$", postinst, re.M)) == sorted(
        e.path for e in state
    )
    # The .deb ships root:root; postinst gives the config its group (the rpm's %attr).
    overrides = re.findall(
        r"dpkg-statoverride --update --add (\S+) (\S+) (\d{4}) \"\$CONF\"", postinst
    )
    conf = re.search(r"^CONF=(\S+)$", postinst, re.M).group(1)
    entry = next(e for e in ENTRIES if e.path == conf)
    assert overrides == [(entry.owner, entry.group, f"{entry.mode:04o}")]
    tmpfiles = (REPO / "packaging" / "tmpfiles.conf").read_text()
    for e in state:
        if e.path.startswith("/run/"):
            assert f"d {e.path} {e.mode:04o} {e.owner} {e.group} -" in tmpfiles
