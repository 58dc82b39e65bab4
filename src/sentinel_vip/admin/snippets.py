"""The shipped snippets ``render`` starts from, with etc/ as their one source.

etc/keepalived/conf.d/sentinel-vip.conf and etc/redis/sentinel-vip-sentinel.conf are the
files the package installs. The pyz carries their text as ``_snippets.py``, which
packaging/build_pyz.py writes from etc/ on every build; from a source tree (tests, tools)
they are read from etc/ directly, as ``version`` reads pyproject.toml. The Valkey Sentinel
snippet is not a file of its own anywhere in the tree: ``sentinel("valkey")`` derives it
from the Redis one, for ``render`` and for the package (`make install` writes it with
packaging/snippets.py).
"""

import os

KEEPALIVED_PATH = "etc/keepalived/conf.d/sentinel-vip.conf"
SENTINEL_PATH = "etc/redis/sentinel-vip-sentinel.conf"
FLAVOURS = ("redis", "valkey")
# What differs between the two servers' packages in the Sentinel snippet's text.
_VALKEY = (
    ("/etc/redis/", "/etc/valkey/"),
    ("redis-sentinel", "valkey-sentinel"),
    ("redis-cli ", "valkey-cli "),
)


def _from_tree(relative: str) -> str:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 3)
    with open(os.path.join(root, relative), encoding="utf-8") as fh:
        return fh.read()


try:
    from sentinel_vip.admin._snippets import KEEPALIVED, SENTINEL  # type: ignore[import-not-found]
except ImportError:
    KEEPALIVED = _from_tree(KEEPALIVED_PATH)
    SENTINEL = _from_tree(SENTINEL_PATH)


def sentinel(flavour: str) -> str:
    """The shipped Sentinel snippet for "redis" or "valkey" (example values)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown Sentinel flavour {flavour!r}: one of {FLAVOURS}")
    text = SENTINEL
    if flavour == "valkey":
        for old, new in _VALKEY:
            text = text.replace(old, new)
    return text
