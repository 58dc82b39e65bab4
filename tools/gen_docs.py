#!/usr/bin/env python3
"""Write the generated parts of the documentation from the code (`make docs`).

The exit codes come from ``sentinel_vip.errors`` (``MEANINGS``, ``COMMAND_CODES``,
``ANY_COMMAND``); the man page's SYNOPSIS and OPTIONS from ``cli.build_parser()``. Each
generated part sits between two marker lines in its file and is rewritten whole:

    <!-- BEGIN GENERATED NAME: make docs -->  ...  <!-- END GENERATED NAME -->   (Markdown)
    .\\" BEGIN GENERATED NAME: make docs      ...  .\\" END GENERATED NAME       (roff)

    tools/gen_docs.py           rewrite the regions that are out of date
    tools/gen_docs.py --check   exit 1 and name the stale regions (tests/unit/test_docs.py)

Standard library and src/ only: it runs under Debian's python3 without the venv.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentinel_vip import cli  # noqa: E402
from sentinel_vip.errors import ANY_COMMAND, COMMAND_CODES, MEANINGS, ExitCode  # noqa: E402

README = ROOT / "README.md"
MANPAGE = ROOT / "man" / "sentinel-vip.8"


# -- the exit codes --------------------------------------------------------------------------


def check_codes() -> tuple:
    return COMMAND_CODES["check"]


def other_commands() -> list:
    """(commands, codes) rows: commands with the same codes share a row, in COMMAND_CODES
    order, then every command's common codes."""
    rows: list = []
    for name, codes in COMMAND_CODES.items():
        if name == "check":
            continue
        same = next((row for row in rows if row[1] == codes), None)
        if same:
            same[0].append(name)
        else:
            rows.append([[name], codes])
    return [(names, codes) for names, codes in rows]


def other_codes() -> list:
    """Codes that no check row explains: every command's and the admin commands' own, then
    the codes no command uses (reserved), in number order."""
    shown = set(check_codes())
    return sorted(c for c in ExitCode if c not in shown)


def _names(codes) -> str:
    return ", ".join(f"{int(c)} {c.name}" for c in codes)


def exit_codes_markdown() -> str:
    lines = [
        "`check` (keepalived's track script) exits with exactly one of these:",
        "",
        "| code | name | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {int(c)} | {c.name} | {MEANINGS[c.name]} |" for c in check_codes()]
    lines += ["", "The other commands (0 is success):", "", "| command | exits with |", "|---|---|"]
    for names, codes in other_commands():
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {_names(codes)} |")
    lines.append(f"| every command | {_names(ANY_COMMAND)} |")
    own = set(COMMAND_CODES["switchover"]) - {c for n, cs in COMMAND_CODES.items()
                                               if n != "switchover" for c in cs}  # fmt: skip
    lines += ["", "| code | name | meaning |", "|---|---|---|"]
    lines += [
        f"| {int(c)} | {c.name} | {MEANINGS[c.name]} |" for c in other_codes() if c not in own
    ]
    # The README stays short: switchover's own refusals are explained by the man page.
    lines += ["", "`switchover`'s own codes: man page, EXIT STATUS."]
    return "\n".join(lines) + "\n"


def roff_text(text: str) -> str:
    """Markdown-ish one-liner -> roff: `code` in bold, backslashes and hyphens escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)


def exit_codes_roff() -> str:
    lines = [
        ".B check",
        "(keepalived's track script) exits with exactly one of these:",
        ".PP",
        ".TS",
        "tab(;);",
        "r l lx.",
    ]
    lines += [f"{int(c)};{c.name};T{{\n{roff_text(MEANINGS[c.name])}\nT}}" for c in check_codes()]
    lines += [".TE", ".PP", "The other commands (0 is success):", ".PP", ".TS", "tab(;);", "l lx."]
    for names, codes in other_commands():
        lines.append(f"{', '.join(names)};T{{\n{_names(codes)}\nT}}")
    lines.append(f"every command;T{{\n{_names(ANY_COMMAND)}\nT}}")
    lines += [".TE", ".PP", ".TS", "tab(;);", "r l lx."]
    lines += [f"{int(c)};{c.name};T{{\n{roff_text(MEANINGS[c.name])}\nT}}" for c in other_codes()]
    lines.append(".TE")
    return "\n".join(lines) + "\n"


# -- the command line ------------------------------------------------------------------------


def _subparsers(parser) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_roff(action) -> str:
    flag = "\\fB" + action.option_strings[-1].replace("-", "\\-") + "\\fR"
    if action.nargs == 0:
        return flag
    return f"{flag} \\fI{action.metavar or action.dest.upper()}\\fR"


def _options(parser) -> list:
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def synopsis_roff() -> str:
    parser = cli.build_parser()
    config = "[\\fB\\-\\-config\\fR \\fIPATH\\fR]"
    lines = []
    for name, sub in _subparsers(parser).items():
        if name == "notify":  # keepalived's arguments, as its usage line says
            words = "\\fBnotify\\fR \\fITYPE NAME STATE PRIORITY\\fR"
        else:
            words = " ".join([f"\\fB{name}\\fR", *(f"[{_option_roff(a)}]" for a in _options(sub))])
        lines += [f"\\fBsentinel\\-vip\\fR {config} {words}", ".br"]
    lines += ["\\fBsentinel\\-vip\\fR \\fB\\-\\-version\\fR | \\fB\\-\\-help\\fR"]
    return "\n".join(lines) + "\n"


def options_roff() -> str:
    parser = cli.build_parser()
    lines = []
    for action in parser._actions:
        if action.option_strings:
            lines += [".TP", _option_roff(action), roff_text(_help(action))]
    for name, sub in _subparsers(parser).items():
        opts = _options(sub)
        positional = [a for a in sub._actions if not a.option_strings]
        if not opts and not positional:
            continue
        lines += [".SS", f"{name}"]
        for action in positional:
            lines += [
                ".TP",
                f"\\fI{action.metavar or action.dest.upper()}\\fR...",
                roff_text(action.help or ""),
            ]
        for action in opts:
            lines += [".TP", _option_roff(action), roff_text(_help(action))]
    return "\n".join(lines) + "\n"


def _help(action) -> str:
    text = action.help or ""
    if text == "show program's version number and exit":
        return "print the version and exit"
    if text == "show this help message and exit":
        return "print the usage, the commands and their exit codes, and exit"
    return text


# -- regions ---------------------------------------------------------------------------------


def markers(path: Path, name: str) -> tuple:
    if path.suffix == ".md":
        return (f"<!-- BEGIN GENERATED {name}: make docs -->", f"<!-- END GENERATED {name} -->")
    return (f'.\\" BEGIN GENERATED {name}: make docs', f'.\\" END GENERATED {name}')


REGIONS = (
    (README, "exit-codes", exit_codes_markdown),
    (MANPAGE, "synopsis", synopsis_roff),
    (MANPAGE, "options", options_roff),
    (MANPAGE, "exit-status", exit_codes_roff),
)


def replace_region(text: str, begin: str, end: str, body: str, where: str) -> str:
    start = text.find(begin + "\n")
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise SystemExit(f"gen_docs: {where}: markers {begin!r} ... {end!r} not found")
    head = text[: start + len(begin) + 1]
    return head + body + text[stop:]


def render(path: Path) -> tuple:
    """(current text, text with every region of ``path`` regenerated)."""
    old = path.read_text(encoding="utf-8")
    new = old
    for region_path, name, make in REGIONS:
        if region_path == path:
            begin, end = markers(path, name)
            new = replace_region(new, begin, end, make(), f"{path.name} {name}")
    return old, new


def stale() -> list:
    """Files whose generated regions differ from what the code says."""
    return [p for p in dict.fromkeys(r[0] for r in REGIONS) if render(p)[0] != render(p)[1]]


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale regions")
    args = parser.parse_args(argv)
    outdated = stale()
    if args.check:
        for path in outdated:
            print(f"gen_docs: {path.relative_to(ROOT)} is out of date: run make docs")
        return 1 if outdated else 0
    for path in outdated:
        path.write_text(render(path)[1], encoding="utf-8")
        print(f"gen_docs: rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
