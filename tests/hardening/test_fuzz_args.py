"""Fuzzing the command line, mostly keepalived's notify/check arguments: missing, extra and
unexpected words, weird bytes. In-process through ``cli.main`` for volume, and a smaller
number through the built pyz as keepalived runs it."""

from __future__ import annotations

import os
import subprocess

import pytest
from harden import count, history_records, temp_leftovers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from inproc import Sandbox

from sentinel_vip.errors import ExitCode
from support.config import to_toml, write_private
from support.servers import KEEPALIVED_ENV

FUZZ = settings(
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Commands that run forever or change things outside the sandbox are not fuzzed here.
EXCLUDED = {"watch", "render", "install", "doctor", "status", "switchover"}
WORDS = [
    "check", "notify", "version", "--config", "--help", "-h", "--version", "INSTANCE",
    "GROUP", "instance", "MASTER", "BACKUP", "FAULT", "STOP", "DELETED", "master", "backup",
    "fault", "stop", "VI_1", "vg", "100", "255", "256", "-1", "0", "1e3", "", " ", "--",
    "-", "--config=", "--bogus", "VI 1", "\t", "\n", "x" * 200,
]  # fmt: skip
token = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=16),
    st.binary(max_size=12).map(os.fsdecode),  # what Python makes of undecodable argv bytes
)


@st.composite
def argvs(draw, config: str):
    shape = draw(st.sampled_from(["notify", "notify", "check", "free", "generic"]))
    if shape == "generic":  # keepalived's generic notify: TYPE NAME STATE PRIORITY, mutated
        args = [
            draw(st.sampled_from(["INSTANCE", "GROUP", "instance", "NODE"])),
            draw(token),
            draw(st.sampled_from(["MASTER", "BACKUP", "FAULT", "STOP", "DELETED"]) | token),
            draw(st.sampled_from(["100", "0", "255"]) | token),
        ]
        args = args[: draw(st.integers(0, 4))] + draw(st.lists(token, max_size=2))
        rest = ["notify", *args]
    elif shape == "free":
        rest = draw(st.lists(token, max_size=6))
    else:
        rest = [shape, *draw(st.lists(token, max_size=5))]
    where = draw(st.sampled_from(["front", "front", "none", "after"]))
    if where == "front":
        argv = ["--config", config, *rest]
    elif where == "after" and rest:
        argv = [rest[0], "--config", config, *rest[1:]]
    else:
        argv = rest
    assume(not EXCLUDED.intersection(argv))
    return argv


@pytest.fixture(scope="module")
def box():
    with Sandbox() as sandbox:
        config = write_private(os.path.join(sandbox.dir, "c.toml"), to_toml(sandbox.table()) + "\n")
        saved = os.environ.get("SENTINEL_VIP_CONFIG")
        os.environ["SENTINEL_VIP_CONFIG"] = config  # argv without --config still stays here
        sandbox.config = config
        try:
            yield sandbox
        finally:
            if saved is None:
                os.environ.pop("SENTINEL_VIP_CONFIG", None)
            else:
                os.environ["SENTINEL_VIP_CONFIG"] = saved


@settings(FUZZ, max_examples=3500)
@given(data=st.data())
def test_fuzzed_command_lines_in_process(box, data):
    count("argv: in-process cli.main")
    argv = data.draw(argvs(box.config))
    code, out, err = box.run(argv)
    box.check_invariants(code, out, err)
    if code == 0 and "--help" not in argv and "-h" not in argv:
        # Success only for a valid notify (which records) or --version.
        assert "notify" in argv or "version" in argv or "--version" in argv, argv
    if code == ExitCode.USAGE:
        assert err.strip(), argv
    allowed = {ExitCode.OK, ExitCode.USAGE, ExitCode.REDIS_UNREACHABLE}
    if _names_another_config(argv, box.config):
        allowed.add(ExitCode.CONFIG)  # e.g. `--config X --config check check`: no file "check"
    assert code in allowed, (argv, code, err)


def _names_another_config(argv: list, config: str) -> bool:
    """A --config other than the sandbox's is given after the first one (the last one wins,
    as argparse has it), so the run may rightly fail to find that file."""
    values = [b for a, b in zip(argv, argv[1:]) if a == "--config"]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    return any(value != config for value in values)


def test_notify_records_only_complete_lines_when_valid(box):
    # The group is one the fuzz above never names: it shares this box's history, and a
    # "GROUP vg FAULT" it drew made this FAULT a repeat, rightly not recorded.
    for args in (["INSTANCE", "VI_1", "BACKUP", "100"], ["backup"],
                 ["GROUP", "vg_ordered", "FAULT"], ["master", "VI_1"],
                 ["instance", "VI_1", "stop", "0"]):  # fmt: skip
        code, out, err = box.run(["--config", box.config, "notify", *args])
        box.check_invariants(code, out, err, {ExitCode.OK})
    records = history_records(box.history)
    assert len(records) <= 22  # history_max_lines=20, trimmed with 10% slack
    assert [r["to"] for r in records[-3:]] == ["FAULT", "MASTER", "STOP"]
    # A repeated state (keepalived restarted, or the same instance notified twice) is not a
    # transition: never recorded as BACKUP->BACKUP (issue 11).
    last: dict = {}
    for record in records:
        assert last.get(record["instance"]) != record["to"], records
        if not record.get("superseded"):
            last[record["instance"]] = record["to"]


@pytest.mark.parametrize(
    "args, phrase",
    [
        ([], "notify expects"),
        (["INSTANCE"], "got 1 arguments"),
        (["INSTANCE", "VI_1"], "got 2 arguments"),
        (["INSTANCE", "VI_1", "BACKUP", "100", "extra"], "got 5 arguments"),
        (["backup", "VI_1", "extra"], "got 3 arguments"),
        (["INSTANCE", "VI_1", "SLEEPING", "100"], "unknown keepalived state"),
        (["INSTANCE", "VI_1", "BACKUP", "high"], "priority must be a number"),
        (["INSTANCE", "VI_1", "BACKUP", "999"], "priority must be 0-255"),
        (["INSTANCE", "VI 1", "BACKUP", "100"], "printable"),
        (["INSTANCE", "\udcff", "BACKUP", "100"], "printable"),
        (["INSTANCE", "x" * 200, "BACKUP", "100"], "1-128"),
        (["promote"], "notify expects"),
    ],
)
def test_bad_keepalived_arguments_name_the_problem(box, args, phrase):
    code, out, err = box.run(["--config", box.config, "notify", *args])
    box.check_invariants(code, out, err, {ExitCode.USAGE})
    assert phrase in err, err


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_fuzzed_command_lines_through_the_pyz(runnable_pyz, box, data):
    """The same properties for the real artefact: exit code, one line, no traceback."""
    count("argv: built pyz subprocess")
    argv = [os.fsencode(a) for a in data.draw(argvs(box.config))]
    assume(all(b"\x00" not in a for a in argv))
    env = dict(KEEPALIVED_ENV, SENTINEL_VIP_CONFIG=box.config)
    done = subprocess.run(
        [str(runnable_pyz), *argv], capture_output=True, stdin=subprocess.DEVNULL, env=env,
        cwd=box.dir, timeout=20, check=False,
    )  # fmt: skip
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode in {int(c) for c in ExitCode}, (argv, done)
    assert done.returncode != ExitCode.INTERNAL, (argv, err)
    assert b"Traceback" not in done.stderr, (argv, err)
    if done.returncode != 0:
        assert err.count("\n") <= 1, (argv, err)
    assert not temp_leftovers(box.state, box.dir)
    history_records(box.history)
