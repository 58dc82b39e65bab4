"""The README's two commands, exactly as written there, for tests that run them.

README.md marks each with an HTML comment line ``<!-- readme-command: NAME -->`` right before
a fenced block holding that one command (the README says so in a comment of its own). NAME is
``demo`` (the main job) or ``test`` (every suite).
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_MARKED = re.compile(
    r"^<!-- readme-command: (?P<name>[a-z-]+) -->\n```[a-z]*\n(?P<body>.*?)\n```$",
    re.MULTILINE | re.DOTALL,
)


def readme_commands(text: str | None = None) -> dict:
    """NAME -> the command line of each marked block (a block must hold one line)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found = {}
    for match in _MARKED.finditer(text):
        body = match.group("body")
        if "\n" in body or match.group("name") in found:
            raise ValueError(f"README: readme-command {match.group('name')}: one command, once")
        found[match.group("name")] = body
    return found
