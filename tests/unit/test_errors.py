"""errors.ExitCode behaves as the IntEnum it replaced (without importing enum)."""

import pytest

from sentinel_vip.errors import ExitCode


def test_members_are_ints_with_names():
    assert ExitCode.CONFIG == 3 and int(ExitCode.CONFIG) == 3
    assert ExitCode.CONFIG.name == "CONFIG" and ExitCode.CONFIG.value == 3
    assert isinstance(ExitCode.CONFIG, int) and isinstance(ExitCode.CONFIG, ExitCode)
    assert {ExitCode.OK: "x"}[0] == "x"  # hashes as its number


def test_lookup_by_value_returns_the_member():
    assert ExitCode(8) is ExitCode.NO_MAJORITY
    assert ExitCode(ExitCode.TLS) is ExitCode.TLS
    with pytest.raises(ValueError, match="not a valid ExitCode"):
        ExitCode(99)


def test_iteration_lists_every_member_once_in_definition_order():
    names = [code.name for code in ExitCode]
    assert names[:3] == ["OK", "NOT_MASTER", "USAGE"] and names[-1] == "TERMINATED"
    assert len(names) == len(set(names)) == len(ExitCode)
    assert len({int(code) for code in ExitCode}) == len(names)  # no value used twice


def test_text_forms():
    assert str(ExitCode.DEADLINE) == "11" and f"{ExitCode.DEADLINE}" == "11"
    assert repr(ExitCode.DEADLINE) == "<ExitCode.DEADLINE: 11>"
