"""Issue 14: what another local user can plant, run against the built pyz as root (admins run
notify, status, doctor and render by hand) and as keepalived_script (keepalived's runs).

The attacker is keepalived_script (it owns the state directories, as the package sets them
up) or the user owning Sentinel's config directory (Debian's /etc/redis is redis:redis 2770;
here keepalived_script stands in). Files are planted as that user, through setpriv.
Every run has a timeout and an address-space limit: on code that follows a FIFO or reads
/dev/zero it fails the test instead of hanging or eating the machine.
"""

from __future__ import annotations

import os
import pwd
import resource
import socket
import stat
import subprocess
import time

import pytest
from hostile import sentinel

from sentinel_vip.admin.doctor import parse_report
from sentinel_vip.errors import ExitCode
from support.config import node_table, write_config, write_private
from support.resp_server import FakeServer, answering, array, bulk
from support.servers import KEEPALIVED_ENV, Run, free_ports, user_prefix

ADDRESS_SPACE = 1 << 30  # far more than a run needs; far less than an unbounded read takes
PROMPT = 30.0  # seconds: a hung run fails here, not at the suite's timeout


def run_bounded(pyz, config: str, *args, user=None, timeout: float = PROMPT) -> Run:
    """run_pyz with a memory limit; a timeout is a failure with a clear message."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    argv = [*user_prefix(user), str(pyz), "--config", config, *args]
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            env=dict(KEEPALIVED_ENV), timeout=timeout, check=False, preexec_fn=limit,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not return within {timeout:g}s (blocked on a FIFO?)")
    return Run(done, time.monotonic() - start)


def as_user(user: str, *argv: str) -> None:
    """Plant something as ``user`` (the attacker)."""
    subprocess.run([*user_prefix(user), *argv], check=True, timeout=30)


def owned_dir(path: str, user: str, mode: int = 0o750) -> str:
    entry = pwd.getpwnam(user)
    os.makedirs(path, exist_ok=True)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)
    return path


def foreign_files(*dirs: str, uid: int) -> list:
    """Entries in ``dirs`` (recursively) not owned by ``uid``."""
    found = []
    for top in dirs:
        for root, names, files in os.walk(top):
            for name in names + files:
                path = os.path.join(root, name)
                if os.lstat(path).st_uid != uid:
                    found.append(path)
    return found


@pytest.fixture
def node(workdir, local_redis, syslog, script_user):
    """A node config with its state, history and metrics in directories of the script user;
    one fake Sentinel naming this node's real Redis; demotion off (never touch the Redis)."""
    state = owned_dir(os.path.join(workdir, "state"), script_user)
    metrics = owned_dir(os.path.join(workdir, "metrics"), script_user, 0o755)
    fake = FakeServer(sentinel("127.0.0.1", local_redis.port))
    table = node_table(workdir, local_redis.port, [fake.address], syslog.path)
    secret = write_private(
        os.path.join(workdir, "redis.pw"), local_redis.admin_password + "\n", 0o640
    )
    script = pwd.getpwnam(script_user)
    os.chown(secret, 0, script.pw_gid)
    table["redis"]["password_file"] = secret
    table["notify"]["demote"] = False
    table["metrics"] = {"textfile": os.path.join(metrics, "sentinel_vip.prom")}
    table["keepalived"] = {"config_file": os.path.join(workdir, "keepalived.conf")}
    table["sentinel"]["config_files"] = [os.path.join(workdir, "none", "sentinel.conf")]
    path = write_config(os.path.join(workdir, "c.toml"), table, 0o640)
    os.chown(path, 0, script.pw_gid)
    try:
        yield {"config": path, "state": state, "metrics": metrics, "uid": script.pw_uid}
    finally:
        fake.stop()


@pytest.fixture
def victims(workdir):
    """Root-only files an attacker would like root to append to, and paths it would like
    root to create (/etc/nologin would lock every non-root user out)."""
    secret = os.path.join(workdir, "root-only")
    write_private(secret, "precious\n", 0o600)
    return {"secret": secret, "created": os.path.join(workdir, "nologin")}


NOTIFY = ("notify", "INSTANCE", "sentinel_vip", "BACKUP", "90")


def test_root_notify_follows_no_planted_symlink(runnable_pyz, node, victims, syslog, script_user):
    state, metrics = node["state"], node["metrics"]
    as_user(script_user, "ln", "-s", victims["secret"], os.path.join(state, "history.jsonl"))
    as_user(script_user, "ln", "-s", victims["created"], os.path.join(state, "notify.lock"))
    as_user(script_user, "ln", "-s", victims["created"] + "2",
            os.path.join(state, "transitions.json.lock"))  # fmt: skip
    as_user(script_user, "ln", "-s", victims["secret"],
            os.path.join(metrics, "sentinel_vip.prom"))  # fmt: skip

    run = run_bounded(runnable_pyz, node["config"], *NOTIFY)

    assert run.returncode == 0, run
    with open(victims["secret"]) as fh:
        assert fh.read() == "precious\n"
    assert os.stat(victims["secret"]).st_uid == 0
    assert not os.path.lexists(victims["created"])
    assert not os.path.lexists(victims["created"] + "2")
    logged = "\n".join(syslog.lines())
    assert "event=history_unwritable" in logged and "symlink" in logged, logged
    # The metrics file is rebuilt by rename, so the planted link is replaced, not followed;
    # the new file is the script user's, not root's.
    assert not os.path.islink(os.path.join(metrics, "sentinel_vip.prom"))
    assert foreign_files(metrics, uid=node["uid"]) == []


def test_root_status_and_doctor_report_planted_files_and_return(
    runnable_pyz, node, victims, script_user
):
    state = node["state"]
    as_user(script_user, "ln", "-s", victims["secret"], os.path.join(state, "history.jsonl"))
    as_user(script_user, "mkfifo", os.path.join(state, "check.json"))

    status = run_bounded(runnable_pyz, node["config"], "status", "--json")
    assert status.returncode == 0, status
    assert "precious" not in status.stdout

    doctor = run_bounded(runnable_pyz, node["config"], "doctor")
    assert doctor.returncode == ExitCode.PROBLEMS_FOUND, doctor
    report = doctor.stdout
    assert f"{state}/history.jsonl is a symlink" in report, report
    assert f"{state}/check.json is a FIFO" in report, report
    assert f"fix: rm {state}/history.jsonl" in report, report
    assert "FAIL" in parse_report(report)["state files"]


def test_root_runs_leave_nothing_the_script_user_cannot_write(
    runnable_pyz, node, syslog, script_user
):
    """No attacker: root runs check, notify and status by hand, then keepalived's runs (as
    keepalived_script) must still write every file."""
    for args in (("check",), NOTIFY, ("status",)):
        run_bounded(runnable_pyz, node["config"], *args)
    assert os.path.exists(os.path.join(node["state"], "history.jsonl"))
    assert os.path.exists(os.path.join(node["state"], "notify.lock"))
    assert foreign_files(node["state"], node["metrics"], uid=node["uid"]) == []

    syslog.clear()
    # Another state: a repeated one is not a transition and is not recorded (issue 11).
    fault = (*NOTIFY[:3], "FAULT", *NOTIFY[4:])
    for args in (fault, ("check",)):
        run_bounded(runnable_pyz, node["config"], *args, user=script_user)
    logged = "\n".join(syslog.lines())
    assert "unwritable" not in logged, logged
    with open(os.path.join(node["state"], "history.jsonl")) as fh:
        assert len(fh.readlines()) == 2


def test_a_root_owned_history_is_reported_with_the_fix(runnable_pyz, node, syslog):
    """Left by a root run of an older version: root refuses to keep using it, and says how."""
    history = os.path.join(node["state"], "history.jsonl")
    write_private(history, "", 0o640)
    run_bounded(runnable_pyz, node["config"], *NOTIFY)
    logged = "\n".join(syslog.lines())
    assert "event=history_unwritable" in logged, logged
    assert "chown -h keepalived_script: " in logged, logged
    doctor = run_bounded(runnable_pyz, node["config"], "doctor")
    assert "fix: chown -h keepalived_script:" in doctor.stdout, doctor


# -- Sentinel's config directory: a FIFO, /dev/zero --------------------------------------------


@pytest.fixture
def sentinel_dir(workdir, script_user):
    """Like Debian's /etc/redis (redis:redis 2770), owned by the stand-in attacker."""
    return owned_dir(os.path.join(workdir, "redis"), script_user, 0o2770)


def admin_config(workdir: str, sentinel_dir: str) -> str:
    table = node_table(workdir, free_ports(1)[0], ["127.0.0.1:1"])
    table["sentinel"]["config_files"] = [os.path.join(sentinel_dir, "sentinel.conf")]
    table["vip"] = {"address": "10.0.0.100", "interface": "lo"}
    conf_d = os.path.join(workdir, "keepalived", "conf.d")
    os.makedirs(conf_d, exist_ok=True)
    table["keepalived"] = {
        "config_file": os.path.join(workdir, "keepalived", "keepalived.conf"),
        "snippet": os.path.join(conf_d, "sentinel-vip.conf"),
    }
    return write_config(os.path.join(workdir, "admin.toml"), table)


PLANTS = {
    "fifo": ("mkfifo",),
    "dev-zero": ("ln", "-s", "/dev/zero"),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_render_refuses_a_planted_snippet_promptly(
    runnable_pyz, workdir, sentinel_dir, script_user, plant
):
    write_private(os.path.join(sentinel_dir, "sentinel.conf"), "port 26379\n", 0o640)
    snippet = os.path.join(sentinel_dir, "sentinel-vip-sentinel.conf")
    as_user(script_user, *PLANTS[plant], snippet)
    config = admin_config(workdir, sentinel_dir)

    run = run_bounded(runnable_pyz, config, "render")

    assert run.returncode == ExitCode.NOT_GENERATED, run
    assert snippet in run.stderr
    assert ("FIFO" if plant == "fifo" else "symlink") in run.stderr, run
    assert "Traceback" not in run.stderr + run.stdout


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_doctor_refuses_a_planted_sentinel_conf_promptly(
    runnable_pyz, workdir, sentinel_dir, script_user, plant
):
    conf = os.path.join(sentinel_dir, "sentinel.conf")
    as_user(script_user, *PLANTS[plant], conf)
    config = admin_config(workdir, sentinel_dir)

    run = run_bounded(runnable_pyz, config, "doctor")

    assert run.returncode == ExitCode.PROBLEMS_FOUND, run
    line = next((x for x in run.stdout.splitlines() if conf in x and "not read" in x), "")
    assert line.startswith("FAIL"), run.stdout
    assert ("FIFO" if plant == "fifo" else "symlink") in line


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_doctor_refuses_a_planted_included_snippet_promptly(
    runnable_pyz, workdir, sentinel_dir, script_user, plant
):
    conf = os.path.join(sentinel_dir, "sentinel.conf")
    snippet = os.path.join(sentinel_dir, "sentinel-vip-sentinel.conf")
    write_private(conf, f"port 26379\ninclude {snippet}\n", 0o640)
    as_user(script_user, *PLANTS[plant], snippet)
    run = run_bounded(runnable_pyz, admin_config(workdir, sentinel_dir), "doctor")
    assert any(
        x.startswith("FAIL") and snippet in x and "not read" in x for x in run.stdout.splitlines()
    ), run.stdout


# -- the track file -------------------------------------------------------------------------


def test_a_track_file_pre_created_in_a_sticky_directory_is_refused(
    runnable_pyz, node, workdir, script_user
):
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared)
    os.chmod(shared, 0o1777)
    track = os.path.join(shared, "track")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    subprocess.run([*nobody, "sh", "-c", f"echo 1 > {track}"], check=True, timeout=30)
    table_path = node["config"]
    with open(table_path) as fh:
        text = fh.read()
    text = text.replace(os.path.join(node["state"], "track"), track)
    write_private(table_path, text, 0o640)
    os.chown(table_path, 0, pwd.getpwnam(script_user).pw_gid)

    run = run_bounded(runnable_pyz, table_path, "check", user=script_user)

    assert run.returncode == ExitCode.CONFIG, run
    assert "check.track_file" in run.stderr and "every user" in run.stderr, run


# -- the local Redis port -----------------------------------------------------------------------


@answering
def squatter(conn, server, cmd):
    """What a local user listening on the Redis port sees, and a fake ROLE master."""
    word = cmd[0].upper()
    if word == "AUTH":
        conn.sendall(b"+OK\r\n")
    elif word == "ROLE":
        conn.sendall(b"*3\r\n" + array("master")[4:] + b":0\r\n*0\r\n")
    elif word == "INFO":  # a run_id of its own: it is the server at that address
        conn.sendall(bulk(f"# Server\r\nrun_id:{'5' * 40}\r\n"))
    else:
        conn.sendall(b"-ERR unknown command\r\n")


def test_tcp_to_loopback_leaks_the_password_to_a_squatter_and_doctor_warns(
    runnable_pyz, workdir, syslog
):
    """The risk docs/security.md describes, shown: with TCP, the squatter gets the password
    and its ROLE master passes the check (identity by run_id does not help: the squatter is
    the server answering at that address, with a run_id of its own). doctor warns and names
    the fix."""
    squat = FakeServer(squatter)
    try:
        fake = FakeServer(sentinel("127.0.0.1", squat.port))
        table = node_table(workdir, squat.port, [fake.address], syslog.path)
        table["redis"]["password_file"] = write_private(
            os.path.join(workdir, "redis.pw"), "the-password\n"
        )
        table["node"]["addresses"] = [f"127.0.0.1:{squat.port}"]
        config = write_config(os.path.join(workdir, "c.toml"), table)
        check = run_bounded(runnable_pyz, config, "check")
        assert check.returncode == ExitCode.OK, check  # the squatter passed the check
        assert ["AUTH", "the-password"] in squat.commands
        doctor = run_bounded(runnable_pyz, config, "doctor")
        assert "WARN" in parse_report(doctor.stdout)["redis transport"], doctor.stdout
        assert "unix_socket" in doctor.stdout
        fake.stop()
    finally:
        squat.stop()


def test_a_unix_socket_in_redis_own_directory_cannot_be_squatted(
    runnable_pyz, workdir, syslog, script_user
):
    """The recommended setup: Redis on a unix socket in a directory only its user (here
    root) can write. A squatter on the TCP port gets nothing; while Redis is down the script
    user cannot put a socket there; the check fails instead of passing."""
    from support.servers import ServerProc

    run_dir = os.path.join(workdir, "redis-run")
    os.makedirs(run_dir, mode=0o755)
    sock = os.path.join(run_dir, "redis-server.sock")
    redis = ServerProc(
        os.path.join(workdir, "redis"),
        [f"unixsocket {sock}", "unixsocketperm 777", 'requirepass "pw-sock"'],
        admin_password="pw-sock",
    ).start()
    squat = FakeServer(squatter)
    fake = FakeServer(sentinel("127.0.0.1", redis.port))
    try:
        table = node_table(workdir, squat.port, [fake.address], syslog.path)
        table["redis"].update(
            unix_socket=sock,
            password_file=write_private(os.path.join(workdir, "redis.pw"), "pw-sock\n"),
        )
        table["node"]["addresses"] = [f"127.0.0.1:{redis.port}"]
        config = write_config(os.path.join(workdir, "c.toml"), table)
        up = run_bounded(runnable_pyz, config, "check")
        assert up.returncode == ExitCode.OK, up  # the real Redis, over the socket
        doctor = run_bounded(runnable_pyz, config, "doctor")
        assert parse_report(doctor.stdout)["redis transport"] == ["ok"], doctor.stdout

        redis.stop()
        assert not os.path.exists(sock) or stat.S_ISSOCK(os.lstat(sock).st_mode)
        if os.path.exists(sock):
            os.unlink(sock)  # a crash can leave it; the directory still protects the path
        planted = subprocess.run(
            [*user_prefix(script_user), "/usr/bin/python3", "-c",
             "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", sock],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert planted.returncode != 0 and "Permission denied" in planted.stderr, planted
        down = run_bounded(runnable_pyz, config, "check")
        assert down.returncode == ExitCode.REDIS_UNREACHABLE, down
        assert squat.commands == [], "the TCP squatter was contacted"
    finally:
        fake.stop()
        squat.stop()
        redis.stop()


def test_the_squatter_fixture_speaks_resp():
    """Guard for the test above: the squatter really answers ROLE master."""
    squat = FakeServer(squatter)
    try:
        with socket.create_connection(("127.0.0.1", squat.port), timeout=5) as conn:
            conn.sendall(b"*1\r\n$4\r\nROLE\r\n")
            assert conn.recv(100).startswith(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
    finally:
        squat.stop()
