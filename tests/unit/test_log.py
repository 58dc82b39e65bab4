"""log: one event per line, whatever the values hold (peer text, argv, config values)."""

import pytest

from sentinel_vip.log import Logger, escape_controls, fmt_event, fmt_value

FORGED = "10.0.0.9\n<30>Dec  1 00:00:00 sentinel-vip[1]: event=check verdict=ok\x1b[2J"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("a\nb", "a\\nb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("bell\x07", "bell\\x07"),
        ("line\u2028sep", "line\\u2028sep"),
        ("rtl\u202eoverride", "rtl\\u202eoverride"),
        ("caf\u00e9", "caf\u00e9"),
    ],
)
def test_escape_controls_escapes_every_non_printable_character(text, shown):
    assert escape_controls(text) == shown


def test_a_forged_line_stays_inside_one_quoted_value():
    line = fmt_event("check", reason=FORGED, ok="yes")
    assert line.isprintable() and "\n" not in line and "\x1b" not in line
    assert line.endswith(" ok=yes")
    assert fmt_value('say "hi"\\now') == '"say \\"hi\\"\\\\now"'
    assert fmt_value("") == '""' and fmt_value("x=1") == '"x=1"'


def test_the_logger_writes_one_printable_line_whatever_it_is_given(capsys):
    Logger(syslog=False, stderr=True).write("err", f"event=x raw={FORGED}")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err[:-1].isprintable()
