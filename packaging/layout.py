#!/usr/bin/env python3
"""Read packaging/layout and lay the files out under DESTDIR.

This is the one place that decides where files go: `make install DESTDIR=...` calls it,
and so do debian/rules and the spec's %install (through make). Owners are not set here:
builds run unprivileged; each package format applies owners (see the layout's header).

Usage: layout.py install DESTDIR [deb|rpm]    |    layout.py list [TYPE...]
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


def main(argv: list[str]) -> int:
    try:
        if len(argv) in (2, 3) and argv[0] == "install":
            entries = read_layout()
            if len(argv) == 3:
                if argv[2] not in FORMATS:
                    raise LayoutError(f"unknown package format {argv[2]!r}: deb or rpm")
                entries = for_format(entries, argv[2])
            install(argv[1], entries)
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
    print(__doc__.strip().splitlines()[-3], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
