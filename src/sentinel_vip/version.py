"""The program's version: pyproject.toml is the one source.

Inside the zipapp the build writes ``_build_version.py``; from a source tree we read
pyproject.toml so there is nothing to keep in step by hand.
"""

import os
import re


def _from_pyproject() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, os.pardir, "pyproject.toml")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return "0+unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "0+unknown"


try:
    from sentinel_vip._build_version import VERSION  # type: ignore[import-not-found]
except ImportError:
    VERSION = _from_pyproject()
