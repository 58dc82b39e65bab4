"""Parsers for the files doctor reads: keepalived's config tree and Sentinel's config.

Pure text in, plain data out (file reading is injected), so every rule is tested with a
string. keepalived's syntax: ``keyword args...`` lines, ``{ }`` blocks, ``#`` and ``!``
comments, ``include GLOB`` anywhere; good enough to find instances, scripts and options.
"""

from __future__ import annotations

import glob as globmod
import os
import shlex
from dataclasses import dataclass, field

from sentinel_vip.store import disk

MAX_INCLUDE_DEPTH = 8
MAX_FILES = 256  # files read for one keepalived config: includes that loop stop here
MAX_SENTINEL_INCLUDES = 16  # Sentinel configs include one or two files; read no more
MAX_MONITORS = 16  # `sentinel monitor` lines reported per included file


@dataclass
class Block:
    keyword: str
    args: list
    children: list = field(default_factory=list)
    source: str = ""

    def find(self, keyword: str) -> list:
        return [c for c in self.children if c.keyword == keyword]

    def first(self, keyword: str):
        found = self.find(keyword)
        return found[0] if found else None

    def value(self, keyword: str, default=None):
        found = self.first(keyword)
        return found.args[0] if found is not None and found.args else default


def _tokens(line: str) -> list:
    for mark in ("#", "!"):
        line = line.split(mark, 1)[0]
    line = line.replace("{", " { ").replace("}", " } ")
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


MAX_READ_BYTES = 4 << 20  # keepalived's and Sentinel's configs are a few KB


def read_text(path: str) -> str | None:
    """The text of a config file, or None when it is missing, unreadable or refused.

    Through store.disk's one reader: only a regular file of at most MAX_READ_BYTES, and no
    symlink planted where another user can write (Debian's /etc/redis is redis:redis 2770):
    a FIFO or /dev/zero there must not hang or exhaust doctor and render run as root."""
    try:
        return disk.read_regular(path, MAX_READ_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def unreadable(path: str) -> bool:
    """``path`` may exist but this user may not read it (EACCES on it or on a directory on
    the way): "not there" and "not readable by me" need different fixes."""
    try:
        os.close(disk.open_regular(path))
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def refusal(path: str) -> str:
    """Why the file at ``path`` is refused (a FIFO, a device, too large, a planted symlink),
    or "" when it is fine, missing or merely unreadable."""
    try:
        fd = disk.open_regular(path)
    except disk.UnsafeFile as exc:
        return exc.strerror
    except OSError:
        return ""
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    return f"is larger than {MAX_READ_BYTES} bytes" if size > MAX_READ_BYTES else ""


def parse_keepalived(path: str, read=read_text, expand=None, depth: int = 0):
    """(top-level blocks, files read in order) for ``path`` and everything it includes."""
    expand = expand or (lambda pattern: sorted(globmod.glob(pattern)))
    files: list = []
    root = Block("<root>", [])
    _parse_into(path, root, files, read, expand, depth)
    return root.children, files


def _parse_into(path, root, files, read, expand, depth) -> None:
    if depth > MAX_INCLUDE_DEPTH or len(files) >= MAX_FILES:
        return  # a file including itself (or a glob matching its includer) ends here
    text = read(path)
    if text is None:
        return
    files.append(path)
    stack = [root]
    for line in text.splitlines():
        tokens = _tokens(line)
        while tokens:
            if tokens[0] == "}":
                if len(stack) > 1:
                    stack.pop()
                tokens = tokens[1:]
                continue
            if tokens[0] == "include" and len(tokens) >= 2:
                pattern = tokens[1]
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                for included in expand(pattern):
                    _parse_into(included, stack[-1], files, read, expand, depth + 1)
                tokens = tokens[2:]
                continue
            if "{" in tokens:
                at = tokens.index("{")
                block = Block(tokens[0], tokens[1:at], source=path)
                stack[-1].children.append(block)
                stack.append(block)
                tokens = tokens[at + 1 :]
                continue
            if "}" in tokens:
                at = tokens.index("}")
                stack[-1].children.append(Block(tokens[0], tokens[1:at], source=path))
                tokens = tokens[at:]
                continue
            stack[-1].children.append(Block(tokens[0], tokens[1:], source=path))
            tokens = []


def instances(blocks: list) -> list:
    return [b for b in blocks if b.keyword == "vrrp_instance"]


def vrid_clashes(blocks: list, name: str) -> list:
    """Other vrrp_instance names sharing our virtual_router_id on the same interface."""
    ours = next((b for b in instances(blocks) if b.args[:1] == [name]), None)
    if ours is None:
        return []
    vrid, iface = ours.value("virtual_router_id"), ours.value("interface")
    return [
        b.args[0] if b.args else "?"
        for b in instances(blocks)
        if b is not ours and b.value("virtual_router_id") == vrid and b.value("interface") == iface
    ]


def weights_with_nopreempt(blocks: list, instance: Block) -> list:
    """Tracked scripts/files with a non-zero weight in an instance that has ``nopreempt``:
    a better node then never takes over (keepalived #2379)."""
    if instance.first("nopreempt") is None:
        return []
    scripts = {b.args[0]: b for b in blocks if b.keyword == "vrrp_script" and b.args}
    weighted = []
    for track in instance.find("track_script"):
        for entry in track.children:
            weight = entry.args[1] if entry.args[:1] == ["weight"] and len(entry.args) > 1 else None
            if weight is None and entry.keyword in scripts:
                weight = scripts[entry.keyword].value("weight", "0")
            if weight not in (None, "0"):
                weighted.append(f"{entry.keyword} weight {weight}")
    return weighted


def global_option(blocks: list, keyword: str):
    for block in blocks:
        if block.keyword == "global_defs":
            found = block.first(keyword)
            if found is not None:
                return found
    return None


# -- Sentinel config --------------------------------------------------------------------------


@dataclass(frozen=True)
class SentinelConf:
    path: str
    includes: tuple  # paths named by `include`
    monitors: tuple  # (name, host, port, quorum) from the main file
    included_monitors: tuple  # (included path, name) for `sentinel monitor` in included files


def _monitor_lines(text: str) -> list:
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 6 and words[0].lower() == "sentinel" and words[1].lower() == "monitor":
            found.append((words[2], words[3], words[4], words[5]))
    return found


def parse_sentinel_conf(path: str, text: str, read=read_text) -> SentinelConf:
    includes = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].lower() == "include":
            includes.append(words[1].strip('"'))
    included_monitors = []
    # Sentinel's directory is the redis user's: thousands of includes of a big file must not
    # keep doctor, run as root, reading for minutes.
    for included in list(dict.fromkeys(includes))[:MAX_SENTINEL_INCLUDES]:
        for monitor in _monitor_lines(read(included) or "")[:MAX_MONITORS]:
            included_monitors.append((included, monitor[0]))
    return SentinelConf(
        path, tuple(includes), tuple(_monitor_lines(text)), tuple(included_monitors)
    )


def mentions(text: str, address: str) -> bool:
    """Does a network config text name ``address`` as a whole token (10.0.0.1 not 10.0.0.10)?"""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        for sep in "=,;/\"'[]":
            line = line.replace(sep, " ")
        if address in line.split():
            return True
    return False


STATIC_NETWORK_GLOBS = (
    "/etc/network/interfaces",
    "/etc/network/interfaces.d/*",
    "/etc/netplan/*.yaml",
    "/etc/systemd/network/*.network",
    "/etc/NetworkManager/system-connections/*",
    "/etc/sysconfig/network-scripts/ifcfg-*",
)
