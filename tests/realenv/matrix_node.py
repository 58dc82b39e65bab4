#!/usr/bin/env python3
"""One row of the server matrix, run inside a Debian root where the .deb is installed.

    python3 matrix_node.py '{"server": "redis", "redis_acl": LINE, "sentinel_acl": LINE}'

Starts three data nodes (a master, two replicas) and three Sentinels on loopback (the root
has its own network namespace: fixed ports), each with the ACL lines docs/security.md gives
for this version, and runs the installed /usr/sbin/sentinel-vip as keepalived runs it (user
keepalived_script, empty environment) against them. The ACL lines are docs/security.md's,
verbatim: CHANGE-ME becomes a password here. Prints one JSON object: a result per cell
({"ok": bool, "detail": str}) and figures. Standard library only, Python 3.9.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

WORK = "/tmp/matrix"
NODES = {"a": 6380, "b": 6381, "c": 6382}
SENTINELS = (26380, 26381, 26382)
PASSWORD = {"redis": "redis-secret-0123", "sentinel": "sentinel-secret-4567"}
PROGRAM = "/usr/sbin/sentinel-vip"
USER = "keepalived_script"
MIN_REPLICAS = ["min-replicas-to-write 1", "min-replicas-max-lag 10"]


# --- RESP, just enough ----------------------------------------------------------------------


def _read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        return RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if rest == "-1" else f.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return None if rest == "-1" else [_read(f) for _ in range(int(rest))]
    raise ValueError(f"unexpected reply {line!r}")


def call(port, *args, auth=(), timeout=3.0):
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        f = s.makefile("rb")
        for cmd in ([["AUTH", *auth]] if auth else []) + [list(args)]:
            data = f"*{len(cmd)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in cmd)
            s.sendall(data.encode())
            reply = _read(f)
        return reply


def poll(what, probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (OSError, RuntimeError, ValueError) as exc:
            value = exc
        if value and not isinstance(value, Exception):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {value!r})")
        time.sleep(0.1)


# --- servers --------------------------------------------------------------------------------


class Servers:
    def __init__(self, spec):
        self.spec = spec
        self.server = shutil.which(f"{spec['server']}-server")
        self.procs = []

    def version(self):
        out = subprocess.run([self.server, "--version"], capture_output=True, text=True).stdout
        return next(w[2:] for w in out.split() if w.startswith("v="))

    def start(self, name, lines, sentinel=False):
        d = f"{WORK}/{name}"
        os.makedirs(d, exist_ok=True)
        conf = f"{d}/{'sentinel' if sentinel else 'redis'}.conf"
        with open(conf, "w") as fh:
            fh.write(
                "\n".join(
                    [
                        f"dir {d}",
                        "bind 127.0.0.1",
                        'save ""',
                        "appendonly no",
                        f"logfile {d}/log",
                        *lines,
                    ]
                )
                + "\n"
            )
        argv = [self.server, conf] + (["--sentinel"] if sentinel else [])
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def sentinel_auth(spec):
    """AUTH for the Sentinels: an ACL user (6.2+), or Sentinel's requirepass (6.0)."""
    if spec["sentinel_acl"].startswith("user "):
        return ("sentinel-vip", PASSWORD["sentinel"])
    return (PASSWORD["sentinel"],)


def admin_auth(spec):
    """AUTH for the test's own commands: Sentinel's default user (6.2+), or requirepass."""
    return () if spec["sentinel_acl"].startswith("user ") else (PASSWORD["sentinel"],)


def acl_line(spec, which):
    return spec[f"{which}_acl"].replace("CHANGE-ME", PASSWORD[which])


# --- sentinel-vip as keepalived runs it -----------------------------------------------------


class SyslogSink(threading.Thread):
    """The unix datagram socket the configs name as syslog_socket: every line, in order."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.lines = path, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)

    def run(self):
        while True:
            data = self.sock.recv(65536).decode("utf-8", "replace")
            self.lines.append(data.split(": ", 1)[-1])


def write_private(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    shutil.chown(path, "root", USER)
    os.chmod(path, 0o640)


def node_config(spec, name):
    state = f"{WORK}/{name}/state"
    os.makedirs(state, exist_ok=True)
    shutil.chown(state, USER, USER)
    sentinel_user = 'username = "sentinel-vip"\n' if len(sentinel_auth(spec)) == 2 else ""
    addresses = ", ".join(f'"127.0.0.1:{p}"' for p in SENTINELS)
    path = f"{WORK}/{name}/sentinel-vip.toml"
    write_private(
        path,
        f"""master_name = "mymaster"
[redis]
host = "127.0.0.1"
port = {NODES[name]}
unix_socket = "{WORK}/{name}/redis.sock"
username = "sentinel-vip"
password_file = "{WORK}/redis.pw"
[sentinel]
addresses = [{addresses}]
{sentinel_user}password_file = "{WORK}/sentinel.pw"
[node]
addresses = ["127.0.0.1:{NODES[name]}"]
allow_loopback = true
[check]
track_file = "{state}/track"
[paths]
state_dir = "{state}"
history_file = "{state}/history.jsonl"
[notify]
hooks_dir = ""
[log]
syslog_socket = "{WORK}/log.sock"
""",
    )
    return path


def sv(name, *args, timeout=30):
    argv = [
        "runuser",
        "-u",
        USER,
        "--",
        "env",
        "-i",
        PROGRAM,
        "--config",
        f"{WORK}/{name}/sentinel-vip.toml",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def track(name):
    try:
        with open(f"{WORK}/{name}/state/track") as fh:
            return fh.read().strip()
    except OSError:
        return "missing"


def server_version(spec):
    """The server binary's own version, e.g. (6, 0, 16), from `redis-server --version`."""
    out = subprocess.run([f"{spec['server']}-server", "--version"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return tuple(int(x) for x in re.search(r"v=(\d+)\.(\d+)\.(\d+)", out).groups())


def run_id(name):
    info = call(NODES[name], "INFO", "server", auth=("sentinel-vip", PASSWORD["redis"]))
    return next(ln.split(":", 1)[1] for ln in info.splitlines() if ln.startswith("run_id:"))


def role(name):
    return call(NODES[name], "ROLE")


def master_named(spec):
    """The master every Sentinel names, as a node name, or None while they disagree."""
    names = set()
    for port in SENTINELS:
        reply = call(port, "SENTINEL", "get-master-addr-by-name", "mymaster", auth=admin_auth(spec))
        names.add(next((n for n, p in NODES.items() if reply and int(reply[1]) == p), None))
    return names.pop() if len(names) == 1 else None


# --- the cells ------------------------------------------------------------------------------


def run_cells(spec, servers, results, figures, sink):
    def cell(name, ok, detail=""):
        results[name] = {"ok": bool(ok), "detail": str(detail)[:1500]}

    # ACL: every server started with the documented lines (a refused line stops it).
    acl_user = acl_line(spec, "redis")
    for name, port in NODES.items():
        replica = [] if name == "a" else [f"replicaof 127.0.0.1 {NODES['a']}"]
        # As doctor recommends: a master cut off from its replicas stops taking writes, and
        # sentinel-vip reaches its local Redis on a unix socket (no password over TCP).
        socket_lines = [f"unixsocket {WORK}/{name}/redis.sock", "unixsocketperm 777"]
        servers.start(name, [f"port {port}", acl_user, *replica, *MIN_REPLICAS, *socket_lines])
    for i, port in enumerate(SENTINELS):
        servers.start(
            f"s{i}",
            [
                f"port {port}",
                acl_line(spec, "sentinel"),
                f"sentinel monitor mymaster 127.0.0.1 {NODES['a']} 2",
                "sentinel down-after-milliseconds mymaster 2000",
                "sentinel failover-timeout mymaster 20000",
            ],
            sentinel=True,
        )
    time.sleep(0.5)
    dead = [p.args[1] for p in servers.procs if p.poll() is not None]
    logs = {d: open(os.path.dirname(d) + "/log").read()[-300:] for d in dead}
    cell("acl", not dead, logs or "all servers accepted the documented ACL lines")
    if dead:
        return
    for name, port in NODES.items():
        poll(f"{name} answers", lambda p=port: call(p, "PING") == "PONG")
    poll("every Sentinel names a", lambda: master_named(spec) == "a")
    poll(
        "the Sentinels see both replicas",
        lambda: all(
            len(call(p, "SENTINEL", "replicas", "mymaster", auth=admin_auth(spec))) == 2
            for p in SENTINELS
        ),
    )

    def peers(port):
        fields = call(port, "SENTINEL", "master", "mymaster", auth=admin_auth(spec))
        return int(dict(zip(fields[::2], fields[1::2]))["num-other-sentinels"])

    poll("the Sentinels know each other", lambda: all(peers(p) == 2 for p in SENTINELS))

    # check: the master passes and writes 1, a replica fails and writes 0.
    for name in NODES:
        node_config(spec, name)
    t0 = time.monotonic()
    a = poll("check passes on a", lambda: sv("a", "check").returncode == 0 or None, timeout=20)
    figures["check_ms"] = round((time.monotonic() - t0) * 1000)
    b = sv("b", "check")
    cell(
        "check",
        a and track("a") == "1" and b.returncode != 0 and track("b") == "0",
        f"a: track={track('a')}; b: rc={b.returncode} track={track('b')} {b.stdout.strip()}",
    )

    status = sv("a", "status", "--json")
    doctor = sv("a", "doctor")
    try:
        status_ok = status.returncode == 0 and json.loads(status.stdout)
    except ValueError:
        status_ok = False
    fails = [
        line
        for line in doctor.stdout.splitlines()
        # Not here: keepalived.conf, and Sentinel's own file (root's, as keepalived_script).
        if line.startswith(("FAIL", "WARN"))
        and line.split()[1] not in ("keepalived", "sentinel.conf")
        # before 6.2 there is no CLIENT PAUSE WRITE, and doctor rightly says so
        and not (line.split()[1] == "fence" and server_version(spec) < (6, 2))
    ]
    cell(
        "status_doctor",
        status_ok
        and "Traceback" not in doctor.stderr + status.stderr
        and not fails
        and doctor.returncode != 70,
        f"status rc={status.returncode} doctor rc={doctor.returncode} {fails or ''}"
        f" {status.stderr.strip()[-200:]} {doctor.stderr.strip()[-200:]}"
        f" doctor: {' | '.join(doctor.stdout.strip().splitlines()[-12:])}",
    )

    # watch on the master: it must hear every Sentinel, and fence a's writes when the
    # failover that replaces a begins.
    watch = subprocess.Popen(
        [
            "runuser",
            "-u",
            USER,
            "--",
            "env",
            "-i",
            PROGRAM,
            "--config",
            f"{WORK}/a/sentinel-vip.toml",
            "watch",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    servers.procs.append(watch)
    labels = {f"127.0.0.1:{p}" for p in SENTINELS}

    def connected():
        return {
            s
            for s in labels
            for line in sink.lines
            if f"sentinel={s} " in line and "event=sentinel_link" in line and "state=alive" in line
        }

    try:
        poll("the watcher connects to every Sentinel", lambda: connected() == labels, 15)
    except AssertionError:
        pass  # the cell below says what it heard

    # failover: ask one Sentinel; every Sentinel must name the new master, whose check
    # passes, while a's fails.
    t0 = time.monotonic()
    reply = call(SENTINELS[0], "SENTINEL", "failover", "mymaster", auth=admin_auth(spec))
    figures["failover_reply"] = str(reply)
    new = poll(
        "every Sentinel names a new master",
        lambda: (master_named(spec) or "a") != "a" and master_named(spec),
        60,
    )
    figures["failover_s"] = round(time.monotonic() - t0, 1)
    passed = poll(f"check passes on {new}", lambda: sv(new, "check").returncode == 0, 20)
    old = poll("check fails on a", lambda: sv("a", "check").returncode != 0, 20)
    cell(
        "failover",
        passed and old and track(new) == "1" and track("a") == "0",
        f"new master {new} in {figures['failover_s']} s",
    )

    # watch: events from every Sentinel; fence: what the documented ACL lets the watcher do.
    def switched():
        return {
            s
            for s in labels
            for line in sink.lines
            if f"sentinel={s} " in line and "event=sentinel_event" in line
        }

    try:
        poll("failover events from every Sentinel", lambda: switched() == labels, 15)
    except AssertionError:
        pass
    cell(
        "watch",
        connected() == labels and switched() == labels and watch.poll() is None,
        f"connected={sorted(connected())} switch-master from={sorted(switched())}"
        f" running={watch.poll() is None}",
    )
    fences = [line for line in sink.lines if line.startswith("event=fence")]
    # Refused by the documented ACL (no CONFIG SET): said once, not a failure.
    skipped = [f for f in fences if "action=skipped" in f]
    failed = [f for f in fences if f not in skipped and ("failed" in f or "NOPERM" in f)]
    failed += skipped[1:]
    unavailable = [line for line in sink.lines if line.startswith("event=fence_unavailable")]
    # The documented ACL must let the watcher's user hold writes where the server can.
    user = ("sentinel-vip", PASSWORD["redis"])
    paused = call(NODES[new], "CLIENT", "PAUSE", "50", "WRITE", auth=user)
    if server_version(spec) >= (6, 2):
        fence_ok = paused == "OK" and not failed and not unavailable
    else:
        # no CLIENT PAUSE WRITE before 6.2: said once, never attempted, never a failure
        fence_ok = isinstance(paused, Exception) and len(unavailable) == 1 and not failed
    fences = [f"pause as sentinel-vip: {paused}", *failed, *unavailable]
    cell("fence", fence_ok, fences[:4])

    # notify demotion: a replica made master behind Sentinel's back; keepalived's FAULT
    # notify demotes it to the master Sentinel names.
    # Only once the failover is over (Sentinel's reconfiguration would otherwise undo the
    # rogue promotion below within milliseconds): every Sentinel idle, every other node a
    # connected replica of the new master. Sentinel itself reacts to a rogue master only
    # after it has reported that role for 8 s.
    def settled():
        for port in SENTINELS:
            fields = call(port, "SENTINEL", "master", "mymaster", auth=admin_auth(spec))
            info = dict(zip(fields[::2], fields[1::2]))
            if (
                "failover_in_progress" in info["flags"]
                or info.get("failover-state", "none") != "none"
                # notify demotes only towards a master whose run_id the Sentinels have read
                # (the identity rules); Sentinel reads it from INFO within ~10 s.
                or info.get("runid") != run_id(new)
            ):
                return False
        return all(
            role(n)[:4] in (["slave", "127.0.0.1", NODES[new], "connected"],
                            ["replica", "127.0.0.1", NODES[new], "connected"])
            for n in NODES if n != new
        )  # fmt: skip

    poll("the failover is over", settled, 60)
    rogue = next(n for n in NODES if n not in (new, "a"))
    call(NODES[rogue], "REPLICAOF", "NO", "ONE")
    t0 = time.monotonic()
    notify = sv(rogue, "notify", "INSTANCE", "sentinel_vip", "FAULT", "100")
    figures["notify_ms"] = round((time.monotonic() - t0) * 1000)
    r = role(rogue)
    history = open(f"{WORK}/{rogue}/state/history.jsonl").read().strip().splitlines()
    last = json.loads(history[-1]) if history else {}
    cell(
        "notify_demotion",
        r[0] in ("slave", "replica")
        and int(r[2]) == NODES[new]
        and last.get("action") == "demoted",
        f"{rogue}: role={r[:3]} action={last.get('action')} reason={last.get('reason')}"
        f" rc={notify.returncode} {notify.stderr.strip()[-200:]}",
    )
    watch.terminate()
    try:
        watch.wait(10)
    except subprocess.TimeoutExpired:
        watch.kill()
    errors = watch.stderr.read() if watch.stderr else ""
    if "Traceback" in errors:
        results["watch"]["ok"] = False
        results["watch"]["detail"] += " traceback: " + errors.strip()[-300:]


def main(argv):
    spec = json.loads(argv[1])
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    write_private(f"{WORK}/redis.pw", PASSWORD["redis"] + "\n")
    write_private(f"{WORK}/sentinel.pw", PASSWORD["sentinel"] + "\n")
    sink = SyslogSink(f"{WORK}/log.sock")
    sink.start()
    servers = Servers(spec)
    results, figures = (
        {},
        {"server": spec["server"], "version": servers.version(), "python": sys.version.split()[0]},
    )
    try:
        run_cells(spec, servers, results, figures, sink)
    except AssertionError as exc:
        tails = []
        for i in range(len(SENTINELS)):
            try:
                with open(f"{WORK}/s{i}/log") as fh:
                    tails += [f"s{i}: {line.rstrip()}" for line in fh.readlines()[-15:]]
            except OSError:
                pass
        results["aborted"] = {"ok": False, "detail": str(exc), "sentinel_logs": tails}
    finally:
        servers.stop()
    print(json.dumps({"results": results, "figures": figures, "log": sink.lines[-60:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
