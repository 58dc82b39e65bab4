#!/usr/bin/env python3
"""Read packaging/layout and lay the files out under DESTDIR.

This is the one place that decides where files go: `make install DESTDIR=...` calls it,
and so do debian/rules and the spec's %install (through make). Owners are not set here:
builds run unprivileged; each package format applies owners (see the layout's header).

Usage: layout.py install DESTDIR    |    layout.py list [TYPE...]
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


class Entry(NamedTuple):
    type: str
    path: str
    mode: int
    owner: str
    group: str
    source: str


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
            if len(fields) != 6 or fields[0] not in TYPES or not fields[1].startswith("/"):
                raise LayoutError(f"{path}:{lineno}: expected 'TYPE /path MODE OWNER GROUP SOURCE'")
            kind, dest, mode, owner, group, source = fields
            entries.append(Entry(kind, dest, int(mode, 8), owner, group, source))
    return entries


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
        if len(argv) == 2 and argv[0] == "install":
            install(argv[1], read_layout())
            return 0
        if argv and argv[0] == "list":
            for e in read_layout():
                if len(argv) == 1 or e.type in argv[1:]:
                    print(f"{e.type} {e.path} {e.mode:04o} {e.owner} {e.group} {e.source}")
            return 0
    except (LayoutError, OSError) as exc:
        print(f"layout: {exc}", file=sys.stderr)
        return 1
    print(__doc__.strip().splitlines()[-2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
