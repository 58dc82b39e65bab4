"""Run inside a Debian root (Debian 11: Python 3.9, Redis 6.0) by watch-chroot-test.sh.

    python3 watch_driver.py NEW_PYZ [BASELINE_PYZ]

Standard library only, Python 3.9. Starts one Redis master, two replicas and three Sentinels
on loopback (the distribution's own redis-server / redis-sentinel), then:

  starts    three watchers started at once, ROUNDS times: each must hear all three
            Sentinels, stop on SIGTERM, and print no traceback (Python 3.9's zip importer
            handed a half-initialised redis package to a second thread: listeners died)
  fence     on a server without CLIENT PAUSE WRITE (6.0): said once at start, no
            "ERR Unknown subcommand" per event; the isolation fence still fails the track
            file; the tripwire (CONFIG SET) still protects a planned switchover
  doctor    says so (WARN fence)

Prints key=value lines; the last one is the summary. Exit 1 if the new build fails a check.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROUNDS = int(os.environ.get("WATCH_ROUNDS", "10"))
MASTER = "mymaster"
PASSWORD = "chroot-" + os.urandom(6).hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, *args, timeout: float = 2.0):
    """One command, RESP2, tiny parser (enough for the replies used here)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        payload = b"".join(
            [b"*%d\r\n" % (len(args) + 0)]
            + [b"$%d\r\n%s\r\n" % (len(str(a).encode()), str(a).encode()) for a in args]
        )
        sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(PASSWORD), PASSWORD.encode()))
        sock.sendall(payload)
        reader = sock.makefile("rb")
        _read(reader)  # AUTH
        return _read(reader)


def _read(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode()
    if kind == b"*":
        return [_read(reader) for _ in range(int(rest))]
    raise ValueError(f"unexpected reply {line!r}")


def wait(predicate, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    return None


class Syslog:
    def __init__(self, path: str) -> None:
        self.lines: list = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                self.lines.append(self.sock.recv(65536).decode(errors="replace"))
            except OSError:
                return

    def text(self, since: int = 0) -> str:
        return "\n".join(self.lines[since:])


class Servers:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="svip-chroot-")
        self.redis = [free_port() for _ in range(3)]
        self.sentinels = [free_port() for _ in range(3)]
        self.procs: dict = {}
        self.syslog = Syslog(os.path.join(self.dir, "log.sock"))
        with open(os.path.join(self.dir, "pw"), "w") as fh:
            fh.write(PASSWORD + "\n")

    def start(self) -> None:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        text = out.stdout.split("v=")[1].split()[0]
        self.version = tuple(int(x) for x in text.split(".")[:2])
        for i, port in enumerate(self.redis):
            conf = [
                f"port {port}",
                "bind 127.0.0.1",
                "save ''",
                f"dir {self.dir}",
                f"dbfilename r{i}.rdb",
                f"requirepass {PASSWORD}",
                f"masterauth {PASSWORD}",
            ]
            if i:
                conf.append(f"replicaof 127.0.0.1 {self.redis[0]}")
            self._spawn(f"redis{i}", "redis-server", conf)
        wait(lambda: "connected_slaves:2" in call(self.redis[0], "INFO", "replication"), 20)
        for j, port in enumerate(self.sentinels):
            # Before 6.2 a Sentinel authenticates to its peers with its own requirepass.
            peers = [f"sentinel sentinel-pass {PASSWORD}"] if self.version >= (6, 2) else []
            conf = [f"port {port}", "bind 127.0.0.1", f"dir {self.dir}",
                    f"requirepass {PASSWORD}", *peers,
                    f"sentinel monitor {MASTER} 127.0.0.1 {self.redis[0]} 2",
                    f"sentinel auth-pass {MASTER} {PASSWORD}",
                    f"sentinel down-after-milliseconds {MASTER} 2000",
                    f"sentinel failover-timeout {MASTER} 10000"]  # fmt: skip
            self._spawn(f"sentinel{j}", "redis-sentinel", conf, j)
        wait(lambda: all(self._knows_all(p) for p in self.sentinels), 30)

    def _knows_all(self, port: int) -> bool:
        fields = call(port, "SENTINEL", "MASTER", MASTER)
        return dict(zip(fields[::2], fields[1::2])).get("num-other-sentinels") == "2"

    def _spawn(self, name: str, binary: str, conf: list, index: int = 0) -> None:
        path = os.path.join(self.dir, f"{name}.conf")
        with open(path, "w") as fh:
            fh.write("\n".join(conf) + "\n")
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen([binary, path], stdout=log, stderr=log)

    def signal(self, name: str, sig) -> None:
        self.procs[name].send_signal(sig)

    def config(self, node: int) -> str:
        path = os.path.join(self.dir, f"node{node}.toml")
        state = os.path.join(self.dir, f"state{node}")
        os.makedirs(state, exist_ok=True)
        sentinels = ", ".join(f'"127.0.0.1:{p}"' for p in self.sentinels)
        lines = [
            f'master_name = "{MASTER}"',
            "[redis]", 'host = "127.0.0.1"', f"port = {self.redis[node]}",
            f'password_file = "{self.dir}/pw"',
            "[sentinel]", f"addresses = [{sentinels}]", f'password_file = "{self.dir}/pw"',
            "[node]", f'addresses = ["127.0.0.1:{self.redis[node]}"]', "allow_loopback = true",
            "[check]", f'track_file = "{state}/track"',
            "[paths]", f'state_dir = "{state}"', f'history_file = "{state}/history.jsonl"',
            "[watch]", "reconcile_interval = 3600",
            "[log]", "syslog = true", f'syslog_socket = "{self.dir}/log.sock"',
        ]  # fmt: skip
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def watcher(pyz: str, config: str):
    return subprocess.Popen([sys.executable, "-I", "-S", pyz, "--config", config, "watch"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip


def linked(log: str, pid: int) -> int:
    """Sentinels this watcher (by pid) logs a live link to: this build's or the old one's."""
    tag = f"[{pid}]:"
    seen = set()
    for line in log.splitlines():
        if tag in line and ("state=alive" in line or "(re)connected" in line):
            seen.add(line.split("sentinel=")[1].split()[0])
    return len(seen)


def starts(pyz: str, srv: Servers) -> dict:
    ok = tracebacks = hung = 0
    configs = [srv.config(i) for i in range(3)]
    for _ in range(ROUNDS):
        procs = [watcher(pyz, c) for c in configs]
        wait(lambda ps=procs: all(linked(srv.syslog.text(), p.pid) == 3 for p in ps), 5)
        log = srv.syslog.text()
        ok += sum(1 for p in procs if linked(log, p.pid) == 3)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
                hung += 1
            tracebacks += b"Traceback" in err or b"Exception ignored" in err
    return {"starts_all_links": f"{ok}/{3 * ROUNDS}", "tracebacks": tracebacks, "hung": hung}


def fence(pyz: str, srv: Servers) -> dict:
    out = {}
    config = srv.config(0)
    mark = len(srv.syslog.lines)
    proc = watcher(pyz, config)
    try:
        wait(lambda: linked(srv.syslog.text(mark), proc.pid) == 3, 10)
        version = call(srv.redis[0], "INFO", "server").split("redis_version:")[1].split()[0]
        out["redis_version"] = version
        # Isolation: two Sentinels and both replicas frozen (a partition, as seen from here).
        frozen = ["sentinel1", "sentinel2", "redis1", "redis2"]
        for name in frozen:
            srv.signal(name, signal.SIGSTOP)
        t0 = time.monotonic()
        held = wait(lambda: "kind=isolation action=hold_writes" in srv.syslog.text(mark), 5)
        out["isolation_fence_s"] = round(time.monotonic() - t0, 3) if held else None
        track = os.path.join(os.path.dirname(config), "state0", "track")
        out["track_when_isolated"] = open(track).read().strip() if os.path.exists(track) else "-"
        for name in frozen:
            srv.signal(name, signal.SIGCONT)
        wait(lambda: "kind=isolation action=lift" in srv.syslog.text(mark), 15)
        # A planned switchover: the tripwire instead of a pause on 6.0.
        wait(lambda: "sentinel_tilt:0" in call(srv.sentinels[1], "INFO", "sentinel"), 40)
        mark2 = len(srv.syslog.lines)
        call(srv.sentinels[1], "SENTINEL", "FAILOVER", MASTER)
        wait(lambda: "kind=tripwire action=arm" in srv.syslog.text(mark2), 15)
        wait(lambda: "event=demote action=demoted" in srv.syslog.text(mark2), 30)
        log = srv.syslog.text(mark)
        out["fence_unavailable_lines"] = log.count("event=fence_unavailable")
        out["unknown_subcommand_lines"] = log.count("Unknown subcommand")
        out["tripwire_armed"] = 'kind=tripwire action=arm result="armed' in log
        out["old_master_demoted"] = "event=demote action=demoted" in log
        out["fence_lines"] = [
            line.split("event=", 1)[1][:140] for line in log.splitlines() if "event=fence" in line
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        out["traceback"] = b"Traceback" in err
    done = subprocess.run([sys.executable, "-I", "-S", pyz, "--config", config, "doctor"],
                          capture_output=True, text=True)  # fmt: skip
    out["doctor_fence"] = [
        " ".join(line.split()) for line in done.stdout.splitlines() if " fence " in f" {line} "
    ]
    return out


def main(argv) -> int:
    new, baseline = argv[1], (argv[2] if len(argv) > 2 else "")
    print(f"python={sys.version.split()[0]}")
    srv = Servers()
    failed = False
    try:
        srv.start()
        if baseline:
            print(f"baseline {' '.join(f'{k}={v}' for k, v in starts(baseline, srv).items())}")
        result = starts(new, srv)
        print(f"new {' '.join(f'{k}={v}' for k, v in result.items())}")
        failed |= result["tracebacks"] > 0 or result["hung"] > 0
        failed |= result["starts_all_links"] != f"{3 * ROUNDS}/{3 * ROUNDS}"
        fenced = fence(new, srv)
        for key, value in fenced.items():
            print(f"fence {key}={value}")
        failed |= fenced["traceback"] or fenced["unknown_subcommand_lines"] > 0
        failed |= fenced["track_when_isolated"] != "0" or not fenced["tripwire_armed"]
        if fenced["redis_version"].startswith("6.0"):
            failed |= fenced["fence_unavailable_lines"] != 1
            failed |= not any("WARN" in line for line in fenced["doctor_fence"])
    finally:
        srv.stop()
    print(f"result={'fail' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
