"""The documentation says what the code does: generated regions up to date, one source for
the exit codes, a man page that renders without warnings and covers every command, option,
code and hook variable, installed doc paths that exist, and a README an admin can read."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from readme_commands import readme_commands
from sentinel_vip import cli, errors
from sentinel_vip.errors import ANY_COMMAND, COMMAND_CODES, MEANINGS, ExitCode

REPO = Path(__file__).resolve().parents[2]
MANPAGE = REPO / "man" / "sentinel-vip.8"
README = REPO / "README.md"
SRC = REPO / "src" / "sentinel_vip"


def gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def man_section(name: str) -> str:
    text = MANPAGE.read_text()
    start = text.index(f".SH {name}\n")
    end = text.find("\n.SH ", start + 1)
    return text[start : end if end > 0 else len(text)]


# -- one source for the exit codes ------------------------------------------------------------


def test_generated_regions_are_up_to_date():
    stale = gen_docs().stale()
    assert stale == [], f"run `make docs`: {[str(p.relative_to(REPO)) for p in stale]}"


def test_a_changed_meaning_makes_the_readme_and_man_page_stale(monkeypatch):
    monkeypatch.setitem(MEANINGS, "NOT_MASTER", "a meaning nobody has generated yet")
    assert {p.name for p in gen_docs().stale()} == {"README.md", "sentinel-vip.8"}


def test_every_code_has_a_meaning_and_is_exited_by_some_command_or_reserved():
    assert set(MEANINGS) == {c.name for c in ExitCode}
    used = set(ANY_COMMAND).union(*COMMAND_CODES.values())
    unused = [c.name for c in ExitCode if c not in used]
    assert all(MEANINGS[name].startswith("reserved") for name in unused), unused
    assert set(COMMAND_CODES) == set(cli.COMMANDS)


def test_check_codes_cover_every_code_the_check_path_can_produce():
    """Every ExitCode the decision and the probes name, and every error type's code, is in
    the check's table (or every command's)."""
    named = set()
    for path in [*(SRC / "decision").glob("*.py"), *(SRC / "probes").glob("*.py"),
                 SRC / "actions" / "check.py"]:  # fmt: skip
        if path.name != "switchover.py":  # a person's command: its codes are checked below
            named.update(re.findall(r"ExitCode\.([A-Z_]+)", path.read_text()))
    named.update(
        cls.exit_code.name
        for cls in vars(errors).values()
        if isinstance(cls, type) and hasattr(cls, "exit_code")
    )
    allowed = {c.name for c in (*COMMAND_CODES["check"], *ANY_COMMAND)}
    assert named - allowed <= {"PERMISSION"}, named - allowed  # PermissionProblem: unused
    switchover = set()
    for path in (SRC / "decision" / "switchover.py", *(SRC / "actions").glob("switchover*.py")):
        switchover.update(re.findall(r"ExitCode\.([A-Z_]+)", path.read_text()))
    allowed = {c.name for c in (*COMMAND_CODES["switchover"], *ANY_COMMAND)}
    assert switchover and switchover <= allowed, switchover - allowed


def test_help_lists_every_commands_codes():
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    text = out.getvalue()
    for name, codes in COMMAND_CODES.items():
        assert re.search(rf"^  {name} +{' '.join(str(int(c)) for c in codes)}$", text, re.M)
    assert "man 8 sentinel-vip" in text and "see sentinel-vip(8)" not in text
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        cli.build_parser().parse_args(["render", "--help"])
    assert "14 NOT_GENERATED" in out.getvalue() and "1 NOT_MASTER" not in out.getvalue()


# -- the man page ---------------------------------------------------------------------------


def test_man_page_renders_without_warnings():
    man = shutil.which("man")
    assert man, "man is missing: run scripts/bootstrap (installs man-db)"
    done = subprocess.run(
        [man, "--warnings", "-l", str(MANPAGE)],
        capture_output=True,
        text=True,
        env={**os.environ, "MANWIDTH": "80"},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    text = re.sub(".\b", "", done.stdout)  # overstrike bold/underline, when man keeps it
    assert "EXIT STATUS" in text and "NOTIFY HOOKS" in text


def test_man_page_describes_every_command_and_option():
    commands = man_section("COMMANDS")
    parser = cli.build_parser()
    subcommands = gen_docs()._subparsers(parser)
    for name in subcommands:
        assert f".TP\n.B {name}\n" in commands, name
    options = man_section("OPTIONS")
    for sub in [parser, *subcommands.values()]:
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    assert flag.replace("-", "\\-") in options, flag


def test_man_page_has_every_section_an_admin_looks_for():
    text = MANPAGE.read_text()
    for section in ("SYNOPSIS", "COMMANDS", "OPTIONS", "NOTIFY HOOKS", "EXIT STATUS",
                    "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):  # fmt: skip
        assert f"\n.SH {section}\n" in text, section


def test_notify_hooks_section_lists_exactly_the_variables_hooks_get():
    given = set(
        re.findall(r'"(SENTINEL_VIP_[A-Z_]+)"', (SRC / "actions" / "notify.py").read_text())
    )
    assert given, "no hook variables found in actions/notify.py"
    documented = set(re.findall(r"^\.B (SENTINEL_VIP_[A-Z_]+)$", man_section("NOTIFY HOOKS"), re.M))
    assert documented == given


def test_the_notify_d_readme_cites_a_section_that_exists():
    cited = re.findall(
        r"section ([A-Z][A-Z ]+[A-Z])", (REPO / "etc/sentinel-vip/notify.d/README").read_text()
    )
    assert cited == ["NOTIFY HOOKS"]
    assert "\n.SH NOTIFY HOOKS\n" in MANPAGE.read_text()


# -- installed documentation --------------------------------------------------------------


def test_every_installed_doc_path_the_program_and_docs_name_is_installed():
    layout = (REPO / "packaging" / "layout").read_text()
    installed = set(re.findall(r"^\S+\s+(/usr/share/doc/sentinel-vip/\S+)", layout, re.M))
    texts = [p.read_text() for p in SRC.rglob("*.py")]
    texts += [
        MANPAGE.read_text(),
        README.read_text(),
        (REPO / "packaging/scripts/postinst").read_text(),
    ]
    named = set()
    for text in texts:
        named.update(re.findall(r"/usr/share/doc/sentinel-vip/[\w.]+\w", text.replace("\\-", "-")))
    assert named, "nothing names an installed doc"
    assert named <= installed, named - installed
    assert {
        "/usr/share/doc/sentinel-vip/admin.md",
        "/usr/share/doc/sentinel-vip/security.md",
    } <= installed


def test_doctor_points_at_the_installed_admin_doc():
    from sentinel_vip.admin import findings

    assert findings.ADMIN_DOC == "/usr/share/doc/sentinel-vip/admin.md"
    for name in ("findings", "doctor", "doctor_checks", "doctor_keepalived", "doctor_sentinels"):
        assert "docs/admin.md" not in (SRC / "admin" / f"{name}.py").read_text(), name
    assert "\n## keepalived.conf\n" in (REPO / "docs" / "admin.md").read_text()


# -- the README --------------------------------------------------------------------------------


def test_readme_fits_in_12_kb():
    assert len(README.read_bytes()) <= 12 * 1024


def test_readme_marks_its_two_commands():
    assert readme_commands() == {"demo": "scripts/demo", "test": "scripts/test"}
    for command in readme_commands().values():
        assert os.access(REPO / command, os.X_OK), command


def test_docs_use_the_documentation_addresses_only():
    """One example network everywhere (RFC 5737 / RFC 3849): no private addresses an admin
    might mistake for a real default."""
    files = [README, MANPAGE, REPO / "docs" / "admin.md", REPO / "packaging" / "README.md",
             *(REPO / "etc").rglob("*")]  # fmt: skip
    private = re.compile(
        r"\b(10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)\b"
    )
    for path in files:
        if path.is_file():
            assert not private.search(path.read_text()), path


def test_sentinels_error_is_spelled_as_redis_prints_it():
    # redis/src/sentinel.c: "Duplicate master name."
    for path in [README, REPO / "packaging" / "README.md", REPO / "docs" / "admin.md"]:
        assert "Duplicated master name" not in path.read_text(), path
    assert "Duplicate master name" in README.read_text()
