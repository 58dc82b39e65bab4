"""The built zipapp: its contents, its reproducibility, and that it runs where it must.

It is run the way keepalived runs it: exec'd directly (no shell, the shebang picks
/usr/bin/python3 -IS), and under every supported interpreter we can find.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILDER = REPO_ROOT / "packaging" / "build_pyz.py"
VENDOR_FILE = REPO_ROOT / "packaging" / "vendor.txt"
PYENV_VERSIONS = Path("/root/.pyenv/versions")
SUPPORTED = ("3.9", "3.10", "3.11", "3.12", "3.13")
COMPILED = (".so", ".pyd", ".dll", ".dylib", ".pyo")


def vendored_pins() -> dict[str, str]:
    """{distribution name: version} from packaging/vendor.txt."""
    pins = {}
    for line in VENDOR_FILE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)\s", line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def pyenv_python(minor: str) -> Path | None:
    """The newest pyenv interpreter of a minor version (3.1 never matches 3.10.x)."""
    found = [p for p in PYENV_VERSIONS.glob(f"{minor}.*/bin/python3") if os.access(p, os.X_OK)]
    found.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)])
    return found[-1] if found else None


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def build(output: Path, epoch: int, src: Path = REPO_ROOT / "src") -> subprocess.CompletedProcess:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    return run([sys.executable, BUILDER, "--output", output, "--src", src], env=env)


@pytest.fixture(scope="module")
def members(pyz: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(pyz) as archive:
        return {info.filename: info for info in archive.infolist()}


def read_member(pyz: Path, name: str) -> str:
    with zipfile.ZipFile(pyz) as archive:
        return archive.read(name).decode("utf-8")


def test_is_executable_with_isolated_system_python_shebang(pyz):
    # -S (no site, no dist-packages): the pyz must bring everything it imports.
    with open(pyz, "rb") as fh:
        assert fh.readline() == b"#!/usr/bin/python3 -IS\n"
    assert stat.S_IMODE(pyz.stat().st_mode) == 0o755


def test_main_runs_the_cli_and_exits_with_its_code(pyz, members):
    main = read_member(pyz, "__main__.py")
    assert "from sentinel_vip.cli import entry" in main
    assert "\nentry()" in main


def test_contains_no_compiled_code_or_caches(members):
    # .pyc (bytecode beside its source) is allowed; native code and caches are not.
    offenders = [n for n in members if n.lower().endswith(COMPILED) or "__pycache__" in n]
    assert offenders == []


def test_every_module_has_bytecode_of_exactly_its_source(pyz, members):
    sources = sorted(n for n in members if n.endswith(".py"))
    pycs = sorted(n for n in members if n.endswith(".pyc"))
    assert pycs == [n + "c" for n in sources]
    with zipfile.ZipFile(pyz) as archive:
        for name in sources:
            source, pyc = archive.read(name), archive.read(name + "c")
            # magic of the building interpreter (this one), flags 0b01 = unchecked hash,
            # then the source's hash: a pyc that does not match its .py cannot slip in.
            assert pyc[:4] == importlib.util.MAGIC_NUMBER, name
            assert int.from_bytes(pyc[4:8], "little") == 0b01, name
            assert pyc[8:16] == importlib.util.source_hash(source), name
            code = marshal.loads(pyc[16:])
            assert code.co_filename == name  # no build directory in the bytes


def test_system_python_runs_the_bytecode_other_versions_the_source(runnable_pyz, system_python):
    # zipimport compiles the .py itself (co_filename = the path inside the archive) only when
    # the .pyc is unusable, e.g. its magic number belongs to another Python version.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import sentinel_vip.cli as m; "
        "print(sys.version_info[:2] == tuple(int(x) for x in sys.argv[2].split('.')), "
        "m.main.__code__.co_filename)"
    )
    built_for = f"{sys.version_info[0]}.{sys.version_info[1]}"
    pythons = [system_python] + [p for p in map(pyenv_python, SUPPORTED) if p is not None]
    for python in pythons:
        result = run([python, "-I", "-c", code, runnable_pyz, built_for])
        assert result.returncode == 0, f"{python}: {result.stderr}"
        same_version, filename = result.stdout.split()
        if same_version == "True":
            assert filename == "sentinel_vip/cli.py", python
        else:
            assert filename == os.path.join(str(runnable_pyz), "sentinel_vip", "cli.py"), python


def test_contains_the_package_from_src(members):
    src = REPO_ROOT / "src"
    expected = {
        p.relative_to(src).as_posix()
        for p in (src / "sentinel_vip").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    shipped = {n for n in members if n.startswith("sentinel_vip/") and n.endswith(".py")}
    assert expected - shipped == set()
    assert "sentinel_vip/_build_version.py" in shipped


def test_build_version_is_the_pyproject_version(pyz, project_version):
    assert read_member(pyz, "sentinel_vip/_build_version.py").endswith(
        f'VERSION = "{project_version}"\n'
    )


@pytest.mark.parametrize("name", sorted(vendored_pins()))
def test_vendored_package_and_its_license_are_at_the_root(members, name):
    version = vendored_pins()[name]
    package = re.sub(r"[-.]", "_", name)
    assert f"{package}/__init__.py" in members
    licenses = [n for n in members if n.startswith(f"_vendor_licenses/{name}-{version}/")]
    assert licenses, f"no license file for {name} {version}"


def test_entries_are_sorted_with_fixed_metadata(members):
    names = list(members)
    assert names == sorted(names)
    infos = list(members.values())
    assert {i.date_time for i in infos} == {infos[0].date_time}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    # Bytecode stored (read on every run), everything else deflated.
    stored = {n for n, i in members.items() if i.compress_type == zipfile.ZIP_STORED}
    assert stored == {n for n in members if n.endswith(".pyc")}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    assert {i.extra for i in infos} == {b""}


def test_build_is_byte_for_byte_reproducible(tmp_path):
    # A snapshot of src/, so an edit made meanwhile cannot tell the builds apart.
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    first, second, later = tmp_path / "a.pyz", tmp_path / "b.pyz", tmp_path / "c.pyz"
    for output, epoch in ((first, 1700000000), (second, 1700000000), (later, 1700086400)):
        built = build(output, epoch, src=src)
        assert built.returncode == 0, built.stderr
    assert first.read_bytes() == second.read_bytes()
    # The timestamp really is in the bytes, so the equality above could have failed.
    assert first.read_bytes() != later.read_bytes()
    assert stat.S_IMODE(first.stat().st_mode) == 0o755


@pytest.mark.parametrize("suffix", [".so", ".pyd"])
def test_build_refuses_compiled_code(tmp_path, suffix):
    package = tmp_path / "src" / "sentinel_vip"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / f"_speedups{suffix}").write_bytes(b"\x7fELF")
    output = tmp_path / "out.pyz"
    built = build(output, 1700000000, src=tmp_path / "src")
    assert built.returncode == 1
    assert "compiled code" in built.stderr and f"_speedups{suffix}" in built.stderr
    assert not output.exists()


def assert_prints_version(result: subprocess.CompletedProcess, version: str) -> None:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert version in result.stdout.split(), result.stdout


def test_exec_directly_prints_version(runnable_pyz, system_python, project_version):
    # No shell and no interpreter named: the kernel follows the shebang, as under keepalived.
    assert_prints_version(run([runnable_pyz, "--version"]), project_version)


def test_isolated_system_python_prints_version(runnable_pyz, system_python, project_version):
    assert_prints_version(run([system_python, "-I", runnable_pyz, "--version"]), project_version)


# Where pyenv has them (a developer's machine); a bare system has only Debian's python3. The
# distributions' own interpreters (3.9, 3.11, 3.13) are proved in Debian roots: make real-matrix.
@pytest.mark.parametrize("minor", SUPPORTED)
def test_each_supported_python_prints_version(runnable_pyz, project_version, minor):
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no Python {minor} under {PYENV_VERSIONS}")
    assert_prints_version(run([python, "-I", runnable_pyz, "--version"]), project_version)


def test_vendored_libraries_import_from_the_pyz_alone_on_39(pyz):
    python = pyenv_python("3.9")
    if python is None:
        pytest.skip(f"no Python 3.9 under {PYENV_VERSIONS}")
    # -S drops site-packages too: whatever imports must come from the pyz (tomli: 3.9 has
    # no tomllib).
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tomli, sentinel_vip; "
        "print(tomli.__file__, sentinel_vip.__file__)"
    )
    result = run([python, "-I", "-S", "-c", code, pyz])
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == 2 and all(f.startswith(str(pyz) + os.sep) for f in files), files


def test_no_redis_client_is_vendored(members):
    """probes/resp.py is the product's only Redis client (probes.endpoint's contract)."""
    assert not [n for n in members if n.split("/")[0] in ("redis", "async_timeout")]
