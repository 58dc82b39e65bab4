"""Least privilege: the minimal Redis and Sentinel ACL users (docs/security.md), proven with a
real Redis 7 and Sentinel; and check/notify run as the unprivileged keepalived_script user, as
keepalived runs them with enable_script_security."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import signal
from pathlib import Path

import pytest
from harden import assert_clean_failure, history_records, start_pyz, temp_leftovers

from sentinel_vip.errors import ExitCode
from support.config import node_table, write_config, write_private
from support.servers import ServerProc, run_pyz, wait_for

# The documented minimal ACLs (docs/security.md). AUTH and HELLO need no permission.
CHECK_ACL = "+role +info"
NOTIFY_ACL = "+multi +exec +replicaof +config|rewrite +client|kill +client|unpause"
SENTINEL_ACL = (
    "+sentinel|myid +sentinel|get-master-addr-by-name +sentinel|master +sentinel|replicas"
)


def acl_user(name: str, password: str, commands: str) -> str:
    return f"user {name} on >{password} resetchannels resetkeys -@all {commands}"


class AclNode:
    """A 'real' master A that Sentinel monitors, this node's Redis B (standalone master, with
    the ACL user sentinel-vip connects as) and one Sentinel (with its ACL user)."""

    def __init__(self, root: str, redis_commands: str, sentinel_commands: str) -> None:
        self.root = root
        self.admin = "admin-" + secrets.token_hex(6)
        self.redis_pw = "svip-redis-" + secrets.token_hex(6)
        self.sentinel_pw = "svip-sentinel-" + secrets.token_hex(6)
        admin_user = f'requirepass "{self.admin}"'
        # The same sentinel-vip user on A: notify checks a demotion's target with it.
        self.a = ServerProc(
            os.path.join(root, "a"),
            [admin_user, f'masterauth "{self.admin}"',
             acl_user("sentinel-vip", self.redis_pw, redis_commands)],
            admin_password=self.admin,
        )  # fmt: skip
        self.b = ServerProc(
            os.path.join(root, "b"),
            [admin_user, f'masterauth "{self.admin}"',
             acl_user("sentinel-vip", self.redis_pw, redis_commands)],
            admin_password=self.admin,
        )  # fmt: skip
        self.s = ServerProc(
            os.path.join(root, "s"),
            [admin_user, f"sentinel monitor mymaster 127.0.0.1 {self.a.port} 1",
             f'sentinel auth-pass mymaster "{self.admin}"',
             acl_user("sentinel-vip", self.sentinel_pw, sentinel_commands)],
            sentinel=True, admin_password=self.admin,
        )  # fmt: skip

    def start(self) -> AclNode:
        for server in (self.a, self.b, self.s):
            server.start()
        return self

    def stop(self) -> None:
        for server in (self.s, self.b, self.a):
            server.stop()

    def rogue_replica(self) -> None:
        """B replicates from A until Sentinel knows it as A's replica, then is promoted by
        hand: a master Sentinel would convert back (and notify may, sooner)."""
        self.b.call("REPLICAOF", "127.0.0.1", str(self.a.port))

        def known() -> bool:
            listed = self.s.call("SENTINEL", "REPLICAS", "mymaster")
            return any(str(self.b.port) in entry for entry in listed)

        wait_for(known, 30, "Sentinel to list B as A's replica")
        self.b.call("REPLICAOF", "NO", "ONE")

    def config(self, user=None, **sections) -> str:
        table = node_table(self.root, self.b.port, [f"127.0.0.1:{self.s.port}"])
        rpw = write_private(os.path.join(self.root, "redis.pw"), self.redis_pw + "\n", 0o640)
        spw = write_private(os.path.join(self.root, "sentinel.pw"), self.sentinel_pw + "\n", 0o640)
        table["redis"].update(username="sentinel-vip", password_file=rpw)
        table["sentinel"].update(username="sentinel-vip", password_file=spw)
        table["check"]["deadline"] = 2
        table["notify"]["deadline"] = 5
        for name, values in sections.items():
            table.setdefault(name, {}).update(values)
        path = write_config(os.path.join(self.root, "c.toml"), table, 0o640)
        if user:
            script = pwd.getpwnam(user)
            for f in (path, rpw, spw):
                os.chown(f, 0, script.pw_gid)
            os.chown(os.path.join(self.root, "state"), script.pw_uid, script.pw_gid)
        return path


@pytest.fixture
def acl_node(workdir):
    nodes = []

    def make(redis_commands=f"{CHECK_ACL} {NOTIFY_ACL}", sentinel_commands=SENTINEL_ACL):
        node = AclNode(workdir, redis_commands, sentinel_commands).start()
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            node.stop()


def test_check_needs_only_role_and_info(runnable_pyz, acl_node):
    node = acl_node(CHECK_ACL)
    run = run_pyz(runnable_pyz, node.config(), "check")
    # Sentinel names A, not B: the verdict proves both ACL users could do their part.
    assert_clean_failure(run, ExitCode.OTHER_MASTER)
    node.b.call("REPLICAOF", "127.0.0.1", str(node.a.port))
    wait_for(lambda: node.b.call("ROLE")[0] == "slave", 10, "B to become a replica")
    assert_clean_failure(run_pyz(runnable_pyz, node.config(), "check"), ExitCode.NOT_MASTER)


def test_check_passes_with_the_minimal_acl(runnable_pyz, acl_node):
    """Point Sentinel at B itself: the check passes with nothing but +role +info and the
    three SENTINEL subcommands."""
    node = acl_node(CHECK_ACL)
    node.s.call("SENTINEL", "REMOVE", "mymaster")
    node.s.call("SENTINEL", "MONITOR", "mymaster", "127.0.0.1", str(node.b.port), "1")
    node.s.call("SENTINEL", "SET", "mymaster", "auth-pass", node.admin)
    run = run_pyz(runnable_pyz, node.config(), "check")
    assert run.returncode == ExitCode.OK, run


def test_check_without_role_is_redis_auth(runnable_pyz, acl_node):
    node = acl_node("+ping")
    run = run_pyz(runnable_pyz, node.config(), "check")
    assert_clean_failure(run, ExitCode.REDIS_AUTH)
    assert "NOPERM" in run.stdout or "permission" in run.stdout.lower(), run


def test_check_without_info_is_redis_auth_and_says_what_to_grant(runnable_pyz, acl_node):
    node = acl_node("+role")
    run = run_pyz(runnable_pyz, node.config(), "check")
    assert_clean_failure(run, ExitCode.REDIS_AUTH)
    assert "grant +info" in run.stdout, run


@pytest.mark.parametrize(
    "commands",
    ["+sentinel|get-master-addr-by-name +sentinel|master", "+sentinel|myid +sentinel|master"],
    ids=["without myid", "without get-master-addr-by-name"],
)
def test_sentinel_user_missing_a_subcommand_is_no_majority(runnable_pyz, acl_node, commands):
    node = acl_node(sentinel_commands=commands)
    run = run_pyz(runnable_pyz, node.config(), "check")
    assert_clean_failure(run, ExitCode.NO_MAJORITY)
    assert "(auth=1)" in run.stdout, run


def test_sentinel_user_without_get_master_addr_is_no_majority(runnable_pyz, acl_node, syslog):
    node = acl_node(sentinel_commands="+sentinel|master")
    config = node.config(log={"syslog": True, "syslog_socket": syslog.path})
    run = run_pyz(runnable_pyz, config, "check")
    assert_clean_failure(run, ExitCode.NO_MAJORITY)
    assert "(auth=1)" in run.stdout, run  # not a bare "silent=1": the admin sees why
    lines = wait_for(syslog.lines, 5, "a check line in syslog")
    assert any("auth=1" in line for line in lines), lines


def test_notify_demotes_with_the_minimal_acl(runnable_pyz, acl_node):
    node = acl_node()
    node.rogue_replica()
    run = run_pyz(runnable_pyz, node.config(), "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert run.returncode == ExitCode.OK, run
    record = history_records(os.path.join(node.root, "state", "history.jsonl"))[-1]
    assert record["action"] == "demoted", record
    role = node.b.call("ROLE")
    assert role[0] == "slave" and role[2] == node.a.port, role


def test_notify_without_sentinel_replicas_never_demotes_and_says_why(runnable_pyz, acl_node):
    node = acl_node(sentinel_commands=SENTINEL_ACL.replace(" +sentinel|replicas", ""))
    node.rogue_replica()
    run = run_pyz(runnable_pyz, node.config(), "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert run.returncode == ExitCode.OK, run
    record = history_records(os.path.join(node.root, "state", "history.jsonl"))[-1]
    assert record["action"] == "none" and "+sentinel|replicas" in record["reason"], record
    assert node.b.call("ROLE")[0] == "master"


def test_notify_without_replicaof_fails_the_demotion_cleanly(runnable_pyz, acl_node):
    node = acl_node(f"{CHECK_ACL} +multi +exec +config|rewrite +client|kill")
    node.rogue_replica()
    run = run_pyz(runnable_pyz, node.config(), "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert run.returncode == ExitCode.OK, run
    record = history_records(os.path.join(node.root, "state", "history.jsonl"))[-1]
    assert record["action"] == "demote_failed", record
    assert node.b.call("ROLE")[0] == "master"


# -- as keepalived_script ----------------------------------------------------------------------


def test_check_and_notify_run_as_keepalived_script(runnable_pyz, acl_node, script_user):
    node = acl_node()
    node.rogue_replica()
    config = node.config(user=script_user)
    state = os.path.join(node.root, "state")
    run = run_pyz(runnable_pyz, config, "check", user=script_user)
    assert_clean_failure(run, ExitCode.OTHER_MASTER)
    assert "state_unwritable" not in run.stderr
    assert os.stat(os.path.join(state, "check.json")).st_uid == pwd.getpwnam(script_user).pw_uid
    run = run_pyz(runnable_pyz, config, "notify", "INSTANCE", "VI_1", "BACKUP", "100",
                  user=script_user)  # fmt: skip
    assert run.returncode == ExitCode.OK, run
    assert history_records(os.path.join(state, "history.jsonl"))[-1]["action"] == "demoted"
    assert not temp_leftovers(state)


def test_root_only_config_is_a_clear_config_error_for_the_script_user(
    runnable_pyz, acl_node, script_user
):
    node = acl_node()
    config = node.config(user=script_user)
    os.chmod(config, 0o600)  # root:keepalived_script 0600: the script user cannot read it
    run = run_pyz(runnable_pyz, config, "check", user=script_user)
    assert_clean_failure(run, ExitCode.CONFIG)
    assert "permission denied" in run.stderr and "keepalived_script" in run.stderr, run


def test_unwritable_state_dir_keeps_the_verdict(runnable_pyz, acl_node, script_user):
    node = acl_node()
    config = node.config(user=script_user)
    os.chown(os.path.join(node.root, "state"), 0, 0)
    run = run_pyz(runnable_pyz, config, "check", user=script_user)
    assert_clean_failure(run, ExitCode.OTHER_MASTER)


def documented(kind: str, version: str = "6.2+") -> str:
    """The commands of the ACL line docs/security.md gives (its one source), after -@all."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    block = re.search(
        rf"<!-- acl: {kind} {re.escape(version)} -->\s*```[^\n]*\n(.*?)```", text, re.S
    )
    line = next(ln for ln in block.group(1).splitlines() if ln.startswith("user "))
    return line.split("-@all", 1)[1].strip()


@pytest.mark.parametrize("ping", ["documented", "without +ping"])
def test_the_watcher_keeps_its_links_with_the_documented_acl(runnable_pyz, acl_node, syslog, ping):
    """The watcher's heartbeat is a PING on its subscription: with the documented Sentinel
    ACL, and with one that refuses PING (a refusal is an answer too), its links stay up (no
    reconnect loop) and it hears Sentinel's events."""
    sentinel = documented("sentinel")
    assert "+ping" in sentinel.split()
    if ping != "documented":
        sentinel = sentinel.replace("+ping", "")
    node = acl_node(documented("redis"), sentinel)
    config = node.config(log={"syslog": True, "syslog_socket": syslog.path})
    watch = start_pyz(runnable_pyz, config, "watch")
    try:
        wait_for(lambda: any("state=alive" in ln for ln in syslog.lines()), 10, "link alive")
        node.s.call("SENTINEL", "RESET", "mymaster")  # publishes +reset-master
        wait_for(
            lambda: any("channel=+reset-master" in ln for ln in syslog.lines()),
            10, "the watcher to hear +reset-master",
        )  # fmt: skip
        links = [ln for ln in syslog.lines() if "event=sentinel_link" in ln]
        assert all("state=alive" in ln for ln in links), links
    finally:
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=10)
    assert "Traceback" not in err, err
