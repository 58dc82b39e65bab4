"""Red team of issue 14's defences: what the script user (owner of the state directories) or
the owner of Sentinel's directory can still plant, and an admin's mistakes, against the built
pyz with real users. Each test plants one thing and shows the product refuses or stays safe.

Fixtures and helpers come from test_local_attacks (same setup: state and metrics directories
of keepalived_script, a root:keepalived_script 0640 config, runs with a memory limit).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time

import pytest
import test_local_attacks as attacks
from test_local_attacks import NOTIFY, PROMPT, admin_config, as_user, owned_dir, run_bounded

from sentinel_vip.admin.doctor import parse_report
from sentinel_vip.errors import ExitCode
from support.config import write_private
from support.servers import user_prefix, wait_for

node = attacks.node  # fixtures shared with issue 14's own tests
sentinel_dir = attacks.sentinel_dir

HOOK = "#!/bin/sh\nid -u > {marker}\n"


def plant_hook(directory: str, user: str, marker: str, name: str = "50-evil") -> str:
    path = os.path.join(directory, name)
    as_user(user, "sh", "-c", f"printf '{HOOK.format(marker=marker)}' > {path}; chmod 755 {path}")
    return path


def logged(syslog, event: str) -> str:
    return wait_for(
        lambda: "\n".join(x for x in syslog.lines() if f"event={event}" in x),
        10,
        f"a syslog line with event={event}",
    )


# -- notify hooks: root runs what the script user planted ------------------------------------


@pytest.mark.parametrize("where", ["hooks_dir_of_script_user", "hook_of_script_user", "symlink"])
def test_root_notify_runs_no_hook_another_user_can_change(
    runnable_pyz, node, workdir, syslog, script_user, where
):
    """keepalived runs notify as keepalived_script; an admin runs it by hand as root. A hook
    the script user can change would be its program run as root."""
    marker = os.path.join(node["state"], "ran-as")  # writable by both: proves a run either way
    hooks_dir = os.path.join(workdir, "notify.d")
    if where == "hooks_dir_of_script_user":
        owned_dir(hooks_dir, script_user, 0o755)
        plant_hook(hooks_dir, script_user, marker)
    elif where == "hook_of_script_user":
        path = plant_hook(node["state"], script_user, marker)
        os.rename(path, os.path.join(hooks_dir, "50-evil"))  # root put it there, owner kept
    else:
        target = plant_hook(node["state"], script_user, marker)
        os.symlink(target, os.path.join(hooks_dir, "50-evil"))  # root's link, user's file

    run = run_bounded(runnable_pyz, node["config"], *NOTIFY)

    assert run.returncode == 0, run
    assert not os.path.exists(marker), "the planted hook ran as root"
    line = logged(syslog, "hook")
    assert "status=refused" in line and "can be written by" in line, line
    doctor = run_bounded(runnable_pyz, node["config"], "doctor")
    assert parse_report(doctor.stdout).get("notify hooks") == ["FAIL"], doctor.stdout


def test_a_root_owned_hook_still_runs_for_root_and_for_the_script_user(
    runnable_pyz, node, workdir, syslog, script_user
):
    """The refusal is not a blanket one: root's own hook runs, as root and as keepalived."""
    marker = os.path.join(node["state"], "ran-as")
    hook = os.path.join(workdir, "notify.d", "10-mine")
    write_private(hook, HOOK.format(marker=marker), 0o755)
    run_bounded(runnable_pyz, node["config"], *NOTIFY)
    with open(marker) as fh:
        assert fh.read().strip() == "0"
    os.unlink(marker)
    # Another state: a repeated one is not a transition, and runs no hooks (issue 11).
    fault = (*NOTIFY[:3], "FAULT", *NOTIFY[4:])
    run_bounded(runnable_pyz, node["config"], *fault, user=script_user)
    with open(marker) as fh:
        assert fh.read().strip() == str(node["uid"])


# -- a config the script user can change ----------------------------------------------------


@pytest.mark.parametrize("how", ["owner", "symlink_into_its_directory"])
def test_root_refuses_a_config_the_script_user_can_change(
    runnable_pyz, node, workdir, syslog, script_user, how
):
    """The config names hooks_dir and render's output files: the script user able to change
    it could have a root run execute anything. Root refuses it (exit 3, says why and the fix);
    keepalived's runs as the script user go on and warn."""
    marker = os.path.join(node["state"], "ran-as")
    evil = owned_dir(os.path.join(node["state"], "hooks"), script_user, 0o755)
    plant_hook(evil, script_user, marker)
    with open(node["config"]) as fh:
        text = fh.read().replace(os.path.join(workdir, "notify.d"), evil)
    if how == "owner":
        config = node["config"]
        write_private(config, text, 0o640)
        os.chown(config, node["uid"], pwd.getpwuid(node["uid"]).pw_gid)
    else:  # a root-owned file in the script user's directory, reached through a root symlink
        real = write_private(os.path.join(node["state"], "real.toml"), text, 0o644)
        config = os.path.join(workdir, "link.toml")
        os.symlink(real, config)

    run = run_bounded(runnable_pyz, config, *NOTIFY)

    assert run.returncode == ExitCode.CONFIG, run
    assert "can be changed by" in run.stderr and "chown root:keepalived_script" in run.stderr
    assert not os.path.exists(marker), "a root run executed the script user's hook"
    doctor = run_bounded(runnable_pyz, config, "doctor")
    assert doctor.returncode == ExitCode.PROBLEMS_FOUND, doctor
    assert "can be changed by" in doctor.stdout
    if how == "owner":
        check = run_bounded(runnable_pyz, config, "check", user=script_user)
        assert check.returncode != ExitCode.CONFIG, check
        assert "owned by keepalived_script" in logged(syslog, "insecure_file")


# -- the history: huge, sparse, locked --------------------------------------------------------


def test_a_huge_sparse_history_is_not_read_whole_by_root(runnable_pyz, node, script_user):
    """On main a root notify read all 8 GiB (MemoryError, exit 70; without a limit the host's
    memory). Now only the bound's worth of its end is read, and the record kept."""
    history = os.path.join(node["state"], "history.jsonl")
    as_user(script_user, "truncate", "-s", "8G", history)

    run = run_bounded(runnable_pyz, node["config"], *NOTIFY)

    assert run.returncode == 0, run
    assert os.path.getsize(history) < 1 << 20
    with open(history) as fh:
        records = [json.loads(line) for line in fh]
    assert [r["to"] for r in records] == ["BACKUP"]


def test_a_held_history_lock_does_not_hang_root_notify(runnable_pyz, node, syslog, script_user):
    state = node["state"]
    history = os.path.join(state, "history.jsonl")
    as_user(script_user, "touch", history, os.path.join(state, "transitions.json.lock"))
    holder = subprocess.Popen(
        [*user_prefix(script_user), "flock", history,
         "flock", os.path.join(state, "transitions.json.lock"), "sleep", "120"],
    )  # fmt: skip
    try:
        wait_for(
            lambda: subprocess.run(["flock", "-n", history, "true"], check=False).returncode,
            10,
            "the script user holding the history lock",
        )
        start = time.monotonic()
        run = run_bounded(runnable_pyz, node["config"], *NOTIFY, timeout=PROMPT)
        assert run.returncode == 0, run
        assert time.monotonic() - start < PROMPT
        line = logged(syslog, "history_unwritable")
        assert "still locked" in line, line
    finally:
        holder.kill()
        holder.wait()


# -- text from files others can write: no terminal escapes, no forged log lines ------------------

ESCAPES = "\x1b]0;owned\x07\x1b[2J"


def test_status_and_notify_escape_what_the_script_user_wrote(
    runnable_pyz, node, syslog, script_user
):
    history = os.path.join(node["state"], "history.jsonl")
    record = {"instance": "sentinel_vip", "ts": 1, "from": "X", "to": "MASTER" + ESCAPES,
              "action": "none\nevent=demote action=demoted"}  # fmt: skip
    as_user(script_user, "touch", history)  # the script user's file; root fills it in for brevity
    with open(history, "w") as fh:
        fh.write(json.dumps(record) + "\n")

    status = run_bounded(runnable_pyz, node["config"], "status")
    assert status.returncode == 0, status
    assert "\x1b" not in status.stdout and "\x07" not in status.stdout, status
    assert not any(x.startswith("event=demote") for x in status.stdout.splitlines()), status

    run_bounded(runnable_pyz, node["config"], *NOTIFY)
    line = logged(syslog, "notify")
    assert "\x1b" not in line and "\n" not in line, line
    assert "\\x1b" in line, line


def test_doctor_escapes_what_the_redis_user_wrote(runnable_pyz, workdir, sentinel_dir, script_user):
    conf = os.path.join(sentinel_dir, "sentinel.conf")
    included = os.path.join(sentinel_dir, "extra.conf")
    as_user(script_user, "sh", "-c", f"printf 'port 26379\\ninclude {included}\\n' > {conf}")
    as_user(script_user, "sh", "-c",
            f"printf 'sentinel monitor m{ESCAPES!s} 10.0.0.1 6379 2\\n' > {included}")  # fmt: skip
    with open(included) as fh:
        assert "\x1b" in fh.read()  # the plant worked

    doctor = run_bounded(runnable_pyz, admin_config(workdir, sentinel_dir), "doctor")

    assert f"in included {included}" in doctor.stdout, doctor
    assert "\x1b" not in doctor.stdout and "\x07" not in doctor.stdout, doctor


def test_doctor_is_prompt_with_thousands_of_includes(
    runnable_pyz, workdir, sentinel_dir, script_user
):
    """On main: 2000 includes of a 3.5 MB file kept doctor (as root) busy for minutes."""
    big = os.path.join(sentinel_dir, "big.conf")
    conf = os.path.join(sentinel_dir, "sentinel.conf")
    as_user(script_user, "/usr/bin/python3", "-c",
            "import sys; open(sys.argv[1], 'w').write('sentinel monitor x 10.0.0.1 6379 2\\n'"
            " * 100000); open(sys.argv[2], 'w').write('port 26379\\n'"
            " + ('include ' + sys.argv[1] + '\\n') * 2000)", big, conf)  # fmt: skip

    doctor = run_bounded(runnable_pyz, admin_config(workdir, sentinel_dir), "doctor")

    assert doctor.returncode == ExitCode.PROBLEMS_FOUND, doctor
    assert len(doctor.stdout) < 64 << 10, "the report floods the terminal"


# -- the track file and state directory rules -------------------------------------------------


def _acl_granting_write(path: str, uid: int) -> bytes:
    def entry(tag: int, perm: int, ident: int = 0xFFFFFFFF) -> bytes:
        return tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")

    # user::rwx user:<uid>:rwx group::r-x mask::rwx other::---
    return (2).to_bytes(4, "little") + entry(1, 7) + entry(2, 7, uid) + entry(4, 5) + \
        entry(0x10, 7) + entry(0x20, 0)  # fmt: skip


def test_an_acl_letting_another_user_write_the_track_directory_is_refused(
    runnable_pyz, node, workdir, script_user
):
    """The mode says keepalived_script's 0770; an ACL lets nobody write too."""
    shared = owned_dir(os.path.join(workdir, "acl"), script_user, 0o750)
    try:
        os.setxattr(shared, "system.posix_acl_access", _acl_granting_write(shared, 65534))
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")
    track = os.path.join(shared, "track")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    subprocess.run([*nobody, "sh", "-c", f"echo 1 > {track}"], check=True, timeout=30)
    with open(node["config"]) as fh:
        text = fh.read().replace(os.path.join(node["state"], "track"), track)
    write_private(node["config"], text, 0o640)
    os.chown(node["config"], 0, pwd.getpwnam(script_user).pw_gid)

    run = run_bounded(runnable_pyz, node["config"], "check", user=script_user)

    assert run.returncode == ExitCode.CONFIG, run
    assert "check.track_file" in run.stderr and "user nobody (an ACL)" in run.stderr, run


def test_a_state_dir_others_can_write_is_refused(runnable_pyz, node, workdir, script_user):
    """state_dir = a directory in /tmp (an admin's shortcut): any user could plant the check's
    stored verdict (check.json: when Sentinel last agreed, trusted by no_majority_grace)."""
    shared = os.path.join(workdir, "tmp")
    os.makedirs(shared)
    os.chmod(shared, 0o1777)
    with open(node["config"]) as fh:
        text = fh.read().replace(f'state_dir = "{node["state"]}"',
                                 f'state_dir = "{shared}/sentinel-vip"')  # fmt: skip
    assert f"{shared}/sentinel-vip" in text
    write_private(node["config"], text, 0o640)
    os.chown(node["config"], 0, pwd.getpwnam(script_user).pw_gid)

    run = run_bounded(runnable_pyz, node["config"], "check", user=script_user)

    assert run.returncode == ExitCode.CONFIG, run
    assert "paths.state_dir" in run.stderr and "every user" in run.stderr, run
