"""notify argument parsing: both keepalived forms, and clear usage errors for the rest."""

import pytest

from sentinel_vip.actions.notify import Transition, parse_args, superseded_by_live_state
from sentinel_vip.errors import ExitCode, UsageError


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["INSTANCE", "VI_1", "MASTER", "150"], Transition("INSTANCE", "VI_1", "MASTER", 150)),
        (["GROUP", "G1", "BACKUP", "100"], Transition("GROUP", "G1", "BACKUP", 100)),
        (["INSTANCE", "VI_1", "STOP"], Transition("INSTANCE", "VI_1", "STOP", None)),
        (["INSTANCE", "VI_1", "DELETED", "0"], Transition("INSTANCE", "VI_1", "DELETED", 0)),
        (["backup"], Transition("INSTANCE", "-", "BACKUP", None)),
        (["fault", "VI_1"], Transition("INSTANCE", "VI_1", "FAULT", None)),
        (["MASTER", "VI_1"], Transition("INSTANCE", "VI_1", "MASTER", None)),
    ],
)
def test_accepted_forms(args, expected):
    assert parse_args(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["INSTANCE"],
        ["INSTANCE", "VI_1"],
        ["INSTANCE", "VI_1", "MASTER", "150", "extra"],
        ["INSTANCE", "VI_1", "SLEEPING", "100"],
        ["INSTANCE", "VI_1", "MASTER", "high"],
        ["INSTANCE", "VI_1", "MASTER", "300"],
        ["INSTANCE", "bad name", "MASTER", "100"],
        ["INSTANCE", "x" * 500, "MASTER", "100"],
        ["master", "VI_1", "more"],
        ["reboot"],
        ["INSTANCE", "VI\x00", "MASTER", "1"],
    ],
)
def test_rejected_forms_are_usage_errors(args):
    with pytest.raises(UsageError) as err:
        parse_args(args)
    assert err.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(err.value)
    assert len(str(err.value)) < 400


@pytest.mark.parametrize(
    ("state", "held", "superseded"),
    [
        ("MASTER", True, False), ("MASTER", False, True),
        ("BACKUP", False, False), ("BACKUP", True, True),
        ("FAULT", True, True), ("STOP", False, False),
        ("MASTER", None, False), ("BACKUP", None, False),  # no VIP configured: cannot tell
    ],
)  # fmt: skip
def test_a_transition_contradicted_by_the_live_vip_is_superseded(state, held, superseded):
    """keepalived adds the VIP before notifying MASTER and removes it before any other."""
    assert (superseded_by_live_state(state, held) is not None) is superseded
