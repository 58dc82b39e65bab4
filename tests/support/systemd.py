"""systemd unit files read the way the tests compare them."""

from __future__ import annotations


def unit_settings(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value in order (systemd keys repeat; '' resets a list)."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found
