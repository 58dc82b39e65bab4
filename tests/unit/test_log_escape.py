"""Log values and admin output: text from peers or from files other users can write must not
forge a log line or reach a terminal as escape sequences."""

from sentinel_vip.log import escape_controls, fmt_event, fmt_value


def test_plain_values_are_unchanged():
    assert fmt_value("MASTER") == "MASTER"
    assert fmt_value("a b") == '"a b"'
    assert fmt_value("café") == "café"


def test_a_newline_cannot_start_a_forged_line():
    line = fmt_event("notify", state="X\nevent=demote action=demoted")
    assert "\n" not in line
    assert line == 'event=notify state="X\\nevent=demote action=demoted"'


def test_terminal_escapes_and_bidi_overrides_are_written_out():
    assert fmt_value("\x1b]0;t\x07") == '"\\x1b]0;t\\x07"'
    assert escape_controls("a\u202eb\tc\r") == "a\\u202eb\\tc\\r"
    assert escape_controls("no controls here") == "no controls here"
