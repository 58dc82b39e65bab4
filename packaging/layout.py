#!/usr/bin/env python3
"""Read packaging/layout and lay the files out under DESTDIR.

This is the one place that decides where files go: `make install DESTDIR=...` calls it,
and so do debian/rules and the spec's %install (through make). Owners are not set here:
builds run unprivileged; each package format applies owners (see the layout's header).

The other package descriptions are generated from it, never written by hand:
  nfpm TEMPLATE STAGE   packaging/nfpm.yaml with its `contents:` from the layout (`make deb`)
  rpm-files             the spec's %files list (%install writes it, `%files -f` reads it)
  rpm-bundled           the rpm's bundled(python3dist(NAME)) = VERSION provides, from the pins
                        in packaging/vendor.txt (the spec's preamble; nfpm's at PROVIDES_MARK)
  modes DESTDIR [FMT]   re-apply the layout's modes (debian/rules, after dh_fixperms)

Usage: layout.py install DESTDIR [deb|rpm] | list [TYPE...] | nfpm TEMPLATE STAGE |
       rpm-files | rpm-bundled | modes DESTDIR [deb|rpm]
(With a format, entries marked for the other format only are left out.)
Standard library only: it runs inside dpkg-buildpackage and rpmbuild with /usr/bin/python3.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAYOUT = os.path.join(HERE, "layout")
TYPES = ("file", "gzip", "config", "link", "dir", "state")
FORMATS = ("deb", "rpm")
VENDOR = os.path.join(HERE, "vendor.txt")
# The line of nfpm.yaml (under overrides: rpm:) that the bundled provides replace.
PROVIDES_MARK = "    # provides: generated (layout.py rpm-bundled)"


class Entry(NamedTuple):
    type: str
    path: str
    mode: int
    owner: str
    group: str
    source: str
    formats: tuple = FORMATS  # the package formats that ship it


class LayoutError(Exception):
    pass


def read_layout(path: str = LAYOUT) -> list[Entry]:
    entries = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            only = fields[6:]
            if (len(fields) not in (6, 7) or fields[0] not in TYPES
                    or not fields[1].startswith("/") or not set(only) <= set(FORMATS)):  # fmt: skip
                raise LayoutError(
                    f"{path}:{lineno}: expected 'TYPE /path MODE OWNER GROUP SOURCE [deb|rpm]'"
                )
            kind, dest, mode, owner, group, source = fields[:6]
            entries.append(
                Entry(kind, dest, int(mode, 8), owner, group, source, tuple(only) or FORMATS)
            )
    return entries


def for_format(entries: list[Entry], fmt: str) -> list[Entry]:
    """The entries a package of that format ships (deb or rpm)."""
    return [e for e in entries if fmt in e.formats]


def _gzip(src: str, dest: str) -> None:
    # mtime=0 and no file name in the header: the same input gives the same bytes.
    with open(src, "rb") as fin, open(dest, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            shutil.copyfileobj(fin, gz)


def install(destdir: str, entries: list[Entry]) -> None:
    for e in entries:
        target = os.path.join(destdir, e.path.lstrip("/"))
        if e.type == "state":
            continue
        if e.type == "dir":
            os.makedirs(target, exist_ok=True)
            os.chmod(target, e.mode)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        if e.type == "link":
            os.symlink(e.source, target)
            continue
        src = os.path.join(ROOT, e.source)
        if not os.path.isfile(src):
            raise LayoutError(f"{e.path}: source {e.source} is missing")
        if e.type == "gzip":
            _gzip(src, target)
        else:
            shutil.copyfile(src, target)
        os.chmod(target, e.mode)


def _root_owned(e: Entry, fmt: str) -> tuple:
    """(owner, group) the package carries: the .deb ships root:root (postinst applies the
    group with dpkg-statoverride), the .rpm the layout's owners (%attr)."""
    return ("root", "root") if fmt == "deb" else (e.owner, e.group)


def _is_doc(e: Entry) -> bool:
    return e.path.startswith(("/usr/share/doc/", "/usr/share/man/")) and e.type != "dir"


def _nfpm_entry(e: Entry, fmt: str, stage: str) -> list[str]:
    if e.type == "link":
        return [f"  - src: {e.source}", f"    dst: {e.path}", "    type: symlink"]
    lines = [] if e.type == "dir" else [f"  - src: {stage}{e.path}"]
    lines.append(f"{'    ' if lines else '  - '}dst: {e.path}")
    kind = {"dir": "dir", "config": "config|noreplace"}.get(e.type)
    if kind is None and fmt == "rpm" and _is_doc(e):
        kind = "doc"  # the .rpm marks documentation (rpm -qd); dpkg has no such flag
    if kind:
        lines.append(f"    type: {kind}")
    owner, group = _root_owned(e, fmt)
    lines.append(f"    file_info: {{mode: {e.mode:04o}, owner: {owner}, group: {group}}}")
    return lines


def nfpm_contents(entries: list[Entry], stage: str) -> str:
    """nfpm's `contents:` for both packagers: one item where the .deb and the .rpm agree,
    one per packager (`packager:`) where they do not or the layout ships it in one only."""
    out = ["contents:"]
    for e in entries:
        if e.type == "state":
            continue
        per = {fmt: _nfpm_entry(e, fmt, stage.rstrip("/")) for fmt in e.formats}
        if len(per) == 2 and per["deb"] == per["rpm"]:
            out += per["deb"]
            continue
        for fmt, lines in per.items():
            out += [*lines, f"    packager: {fmt}"]
    return "\n".join(out) + "\n"


def bundled(vendor: str = VENDOR) -> list[str]:
    """What the zipapp bundles, the way Fedora's guidelines name it for rpm: one
    ``bundled(python3dist(NAME)) = VERSION`` per pin, so a security advisory for a bundled
    library finds this package (`rpm -q --whatprovides`)."""
    import importlib.util
    from pathlib import Path

    # build_pyz is the one reader of vendor.txt; loaded by path, as layout.py runs as a script
    # from debian/rules and the spec, and is loaded by path in the tests.
    path = os.path.join(HERE, "build_pyz.py")
    spec = importlib.util.spec_from_file_location("sv_build_pyz", path)
    build_pyz = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build_pyz  # its dataclasses look their module up
    spec.loader.exec_module(build_pyz)
    try:
        pins = build_pyz.read_pins(Path(vendor))
    except build_pyz.BuildError as exc:
        raise LayoutError(str(exc)) from None
    return [f"bundled(python3dist({p.name.lower()})) = {p.version}" for p in pins]


def nfpm_config(template: str, stage: str, entries: list[Entry], vendor: str = VENDOR) -> str:
    with open(template, encoding="utf-8") as fh:
        text = fh.read()
    if "\ncontents:" in text:
        raise LayoutError(f"{template}: has a contents: section; the layout generates it")
    if text.count("\n" + PROVIDES_MARK + "\n") != 1:
        raise LayoutError(
            f"{template}: needs the line {PROVIDES_MARK.strip()!r} once, under overrides: rpm:"
        )
    provides = "\n".join(["    provides:", *(f'      - "{b}"' for b in bundled(vendor))])
    text = text.replace(PROVIDES_MARK, provides)
    return text.rstrip("\n") + "\n" + nfpm_contents(entries, stage)


def rpm_files(entries: list[Entry]) -> str:
    """The spec's %files lines: %dir, %config(noreplace), %doc and %attr from the layout."""
    out = []
    for e in for_format(entries, "rpm"):
        if e.type == "state":
            continue
        words = []
        if e.type == "dir":
            words.append("%dir")
        elif e.type == "config":
            words.append("%config(noreplace)")
        elif _is_doc(e) and e.path.startswith("/usr/share/doc/"):
            words.append("%doc")  # rpm marks /usr/share/man itself
        if e.type != "link" and (e.owner, e.group) != ("root", "root"):
            words.append(f"%attr({e.mode:04o},{e.owner},{e.group})")
        out.append(" ".join([*words, e.path]))
    return "\n".join(out) + "\n"


def apply_modes(destdir: str, entries: list[Entry]) -> None:
    for e in entries:
        target = os.path.join(destdir, e.path.lstrip("/"))
        if e.type not in ("state", "link") and os.path.lexists(target):
            os.chmod(target, e.mode)


def _formatted(entries: list[Entry], argv: list[str], at: int) -> list[Entry]:
    if len(argv) <= at:
        return entries
    if argv[at] not in FORMATS:
        raise LayoutError(f"unknown package format {argv[at]!r}: deb or rpm")
    return for_format(entries, argv[at])


def main(argv: list[str]) -> int:
    try:
        if len(argv) in (2, 3) and argv[0] == "install":
            install(argv[1], _formatted(read_layout(), argv, 2))
            return 0
        if len(argv) in (2, 3) and argv[0] == "modes":
            apply_modes(argv[1], _formatted(read_layout(), argv, 2))
            return 0
        if len(argv) == 3 and argv[0] == "nfpm":
            sys.stdout.write(nfpm_config(argv[1], argv[2], read_layout()))
            return 0
        if argv == ["rpm-files"]:
            sys.stdout.write(rpm_files(read_layout()))
            return 0
        if argv == ["rpm-bundled"]:
            print("\n".join(f"Provides:       {b}" for b in bundled()))
            return 0
        if argv and argv[0] == "list":
            for e in read_layout():
                if len(argv) == 1 or e.type in argv[1:]:
                    only = f" {e.formats[0]}" if len(e.formats) == 1 else ""
                    print(f"{e.type} {e.path} {e.mode:04o} {e.owner} {e.group} {e.source}{only}")
            return 0
    except (LayoutError, OSError) as exc:
        print(f"layout: {exc}", file=sys.stderr)
        return 1
    usage = __doc__[__doc__.index("Usage:") :].split("\n(")[0]
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
