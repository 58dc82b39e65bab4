#!/usr/bin/env python3
"""Write a shipped snippet that the tree does not hold as a file: the Valkey Sentinel one.

It is the Redis snippet (etc/redis/sentinel-vip-sentinel.conf) with the Valkey package's
paths and commands, derived by ``sentinel_vip.admin.snippets.sentinel("valkey")``: the same
function ``render`` uses, so the package's copy and the one render treats as pristine cannot
differ. `make install` runs it (packaging/layout names its output as the source).

Usage: snippets.py valkey OUTPUT
Standard library and src/ only: it runs inside dpkg-buildpackage and rpmbuild.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from sentinel_vip.admin.snippets import sentinel  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "valkey":
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    output = argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = f"{output}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(sentinel("valkey"))
    os.replace(tmp, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
