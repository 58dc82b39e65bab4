"""A three-node Redis + Sentinel + keepalived cluster in network namespaces, for e2e tests.

Layout (prefix ``svip`` by default): namespaces ``svip-n1..n3`` (one node each: redis-server,
redis-sentinel, keepalived), ``svip-client`` (the writer) and ``svip-br`` (bridge ``br0``);
veth ``nX`` in svip-br <-> ``eth0`` in the node. Addresses exist only in those namespaces.
Every node has its own directory ``/run/svip-e2e/<prefix>/<node>/`` with configs, logs, pids.

Usage::

    with Cluster(ClassicProfile()) as c:          # start() on enter, stop() on exit
        c.wait_for(lambda: c.vip_holders() == ["n1"], 60, "VIP on n1")
        with c.sampler() as s:
            s.wait_for_writes(1, 20)
            c.kill_redis("n1")
            ...
        timeline = s.timeline(old="n1")

Teardown happens on ``stop()``, on interpreter exit (atexit), and on SIGTERM/SIGHUP; SIGINT
raises KeyboardInterrupt, which unwinds through ``with``/fixtures to ``stop()``.
"""

from __future__ import annotations

import atexit
import grp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import netns
from .profiles import NodeContext, RenderedFile

BASE_DIR = "/run/svip-e2e"
AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent.py")
REDIS_PORT = 6379
SENTINEL_PORT = 26379
NODE_NAMES = ("n1", "n2", "n3")


class ClusterError(RuntimeError):
    """The cluster could not be built or did not reach a state in time (message says which)."""


@dataclass
class Node:
    name: str
    ns: str
    ip: str
    dir: str
    procs: dict = field(default_factory=dict)  # "redis" | "sentinel" | "keepalived" -> Popen
    host: str = ""  # the node's hostname when the Sentinels announce hostnames

    @property
    def redis_addr(self) -> str:
        """The master address as Sentinel names this node: its hostname or its IP."""
        return f"{self.host or self.ip}:{REDIS_PORT}"


_LIVE: list = []


def _stop_all_live() -> None:
    for cluster in list(_LIVE):
        cluster.stop()


def _on_signal(signum, _frame) -> None:
    _stop_all_live()
    raise SystemExit(128 + signum)


atexit.register(_stop_all_live)


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_signal)


def _pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cleanup_stale(prefix: Optional[str] = None, base_dir: str = BASE_DIR) -> list:
    """Remove clusters left by crashed runs (owner process gone); returns the prefixes removed.

    ``prefix`` limits the sweep to one cluster name. Namespaces named ``<prefix>-n1`` etc. with
    no live owner are torn down too, even when their directory is already gone.
    """
    removed = []
    candidates = set()
    if os.path.isdir(base_dir):
        candidates.update(os.listdir(base_dir))
    for ns in netns.namespaces():
        head, _, tail = ns.rpartition("-")
        if head and tail in (*NODE_NAMES, "client", "br") and head.startswith("sv"):
            candidates.add(head)
    for name in sorted(candidates):
        if prefix is not None and name != prefix:
            continue
        owner = _read_owner(os.path.join(base_dir, name))
        if owner and owner != os.getpid() and _pid_alive(owner):
            continue
        if owner == os.getpid() and any(c.prefix == name for c in _LIVE):
            continue
        for suffix in (*NODE_NAMES, "client", "br"):
            ns = f"{name}-{suffix}"
            if ns in netns.namespaces():
                netns.delete_namespace(ns)
            shutil.rmtree(os.path.join("/etc/netns", ns), ignore_errors=True)  # hostnames
        shutil.rmtree(os.path.join(base_dir, name), ignore_errors=True)
        removed.append(name)
    remove_if_empty(base_dir)
    return removed


def remove_if_empty(path: str) -> None:
    """rmdir: succeeds only on an empty directory, so another run's cluster stays."""
    try:
        os.rmdir(path)
    except OSError:
        pass


def _read_owner(path: str) -> Optional[int]:
    try:
        with open(os.path.join(path, "owner.json"), encoding="utf-8") as fh:
            return int(json.load(fh)["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _write(path: str, content: str, mode: int, group: str = "", user: str = "") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.chmod(path, mode)
    if group or user:
        uid = _uid(user) if user else 0
        gid = grp.getgrnam(group).gr_gid if group else 0
        os.chown(path, uid, gid)


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


class Cluster:
    def __init__(
        self,
        profile,
        prefix: str = "svip",
        subnet: str = "10.77.0",
        down_after_ms: int = 2000,
        failover_timeout_ms: int = 10000,
        min_replicas: bool = True,
        master_name: str = "mymaster",
        base_dir: str = BASE_DIR,
        vrid: int = 100,
        hostnames: bool = False,
    ) -> None:
        """``hostnames``: every node has a name, resolvable in every namespace through
        ``/etc/netns/<ns>/hosts`` (``ip netns exec`` mounts it over /etc/hosts); Redis
        replicates and announces by name and the Sentinels resolve and announce hostnames
        (``resolve-hostnames yes``, ``announce-hostnames yes``, Redis 6.2+)."""
        self.profile = profile
        self.prefix = prefix
        self.subnet = subnet
        self.vip = f"{subnet}.100"
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.min_replicas = min_replicas
        self.master_name = master_name
        self.vrid = vrid
        self.dir = os.path.join(base_dir, prefix)
        self.base_dir = base_dir
        self.bridge_ns = f"{prefix}-br"
        self.client_ns = f"{prefix}-client"
        self.client_ip = f"{subnet}.50"
        self.nodes = {
            name: Node(name, f"{prefix}-{name}", f"{subnet}.{11 + i}", os.path.join(self.dir, name))
            for i, name in enumerate(NODE_NAMES)
        }
        self.hostnames = hostnames
        if hostnames:
            for node in self.nodes.values():
                node.host = f"redis-{node.name}.{prefix}.internal"
        self._hosts_files: list = []  # /etc/netns/<ns>/ directories we created
        self.events: list = []  # (monotonic time, "what") for every fault injected
        self.keep_dir = bool(os.environ.get("SVIP_E2E_KEEP"))  # keep logs of passing runs too
        self._started = False
        self._log_threads: list = []
        self._log_socks: list = []
        self.syslog: dict = {name: [] for name in NODE_NAMES}  # node -> syslog lines received
        # Dummy but real passwords, fixed per cluster: behaviour is the same as a real one.
        self.redis_password = f"e2e-redis-{os.urandom(6).hex()}"
        self.sentinel_password = f"e2e-sentinel-{os.urandom(6).hex()}"

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.keep_dir = True
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the e2e cluster needs root (network namespaces, keepalived)")
        cleanup_stale(self.prefix, self.base_dir)
        if os.path.exists(self.dir):
            raise ClusterError(f"{self.dir} is owned by a running process; pick another prefix")
        os.makedirs(self.dir, mode=0o755)
        os.chmod(self.base_dir, 0o755)
        _write(os.path.join(self.dir, "owner.json"), json.dumps({"pid": os.getpid()}), 0o644)
        _LIVE.append(self)
        self._started = True
        _install_signal_handlers()
        try:
            self.profile.prepare()
            self._build_network()
            for node in self.nodes.values():
                self._write_node_files(node)
            for node in self.nodes.values():
                self.start_redis(node.name)
            self.wait_for(self._replication_ok, 20, "replicas n2, n3 in sync with n1")
            for node in self.nodes.values():
                self.start_sentinel(node.name)
            self.wait_for(
                lambda: all(
                    self.sentinel_master(n) == self.nodes["n1"].redis_addr for n in self.nodes
                ),
                20,
                "every Sentinel names n1",
            )
            for node in self.nodes.values():
                self.start_keepalived(node.name)
                self.start_services(node.name)
        except BaseException:
            self.keep_dir = True
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process and delete the namespaces; idempotent."""
        if not self._started:
            return
        self._started = False
        for node in self.nodes.values():
            for what in [*self._service_names(node), "keepalived", "sentinel", "redis"]:
                self._terminate(node, what)
        for sock in self._log_socks:
            sock.close()
        for ns in [*(n.ns for n in self.nodes.values()), self.client_ns, self.bridge_ns]:
            if ns in netns.namespaces():
                netns.delete_namespace(ns)
        for directory in self._hosts_files:
            shutil.rmtree(directory, ignore_errors=True)
        self._hosts_files.clear()
        if self.keep_dir:
            kept = f"{self.dir}-failed-{int(time.time())}"
            os.rename(self.dir, kept)
            sys.stderr.write(f"e2e cluster logs kept in {kept}\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            remove_if_empty(self.base_dir)  # leave nothing under /run after a passing run
        if self in _LIVE:
            _LIVE.remove(self)

    # ----------------------------------------------------------------- building

    def _build_network(self) -> None:
        netns.add_namespace(self.bridge_ns)
        netns.add_bridge(self.bridge_ns)
        for node in self.nodes.values():
            netns.add_namespace(node.ns)
            netns.connect(self.bridge_ns, node.name, node.ns, "eth0", f"{node.ip}/24")
        netns.add_namespace(self.client_ns)
        netns.connect(self.bridge_ns, "client", self.client_ns, "eth0", f"{self.client_ip}/24")
        if self.hostnames:
            self._write_hosts_files()

    def _write_hosts_files(self) -> None:
        """Every node's name, in every namespace's own /etc/hosts (``ip netns exec NS``
        bind-mounts /etc/netns/NS/hosts over /etc/hosts for what it starts)."""
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        lines += [f"{n.ip} {n.host}" for n in self.nodes.values()]
        for ns in [*(n.ns for n in self.nodes.values()), self.client_ns]:
            directory = os.path.join("/etc/netns", ns)
            if os.path.exists(directory):
                raise ClusterError(f"{directory} exists: another cluster uses prefix {ns}")
            os.makedirs(directory, mode=0o755)
            self._hosts_files.append(directory)
            _write(os.path.join(directory, "hosts"), "\n".join(lines) + "\n", 0o644)

    def context(self, node: Node) -> NodeContext:
        return NodeContext(
            name=node.name,
            ip=node.ip,
            node_dir=node.dir,
            interface="eth0",
            vip=self.vip,
            prefix_len=24,
            vrid=self.vrid,
            vrrp_pass="e2evrrp",
            master_name=self.master_name,
            redis_port=REDIS_PORT,
            redis_password_file=os.path.join(node.dir, "redis.pass"),
            sentinel_addresses=tuple(
                f"{n.host or n.ip}:{SENTINEL_PORT}" for n in self.nodes.values()
            ),
            sentinel_password_file=os.path.join(node.dir, "sentinel.pass"),
            syslog_socket=os.path.join(node.dir, "log.sock"),
            peers=tuple(n.ip for n in self.nodes.values() if n is not node),
            host=node.host,
        )

    def _write_node_files(self, node: Node) -> None:
        os.makedirs(node.dir, mode=0o755)
        user = getattr(self.profile, "script_user", "keepalived_script")
        _write(f"{node.dir}/redis.pass", self.redis_password + "\n", 0o640, group=user)
        _write(f"{node.dir}/sentinel.pass", self.sentinel_password + "\n", 0o640, group=user)
        primary = self.nodes["n1"]
        redis_conf = [
            "bind 0.0.0.0",  # the node address, loopback and the VIP when keepalived adds it
            f"port {REDIS_PORT}",
            "protected-mode no",
            "daemonize no",
            f"pidfile {node.dir}/redis.pid",
            f"logfile {node.dir}/redis.log",
            f"dir {node.dir}",
            'save ""',
            "appendonly no",
            f"requirepass {self.redis_password}",
            f"masterauth {self.redis_password}",
            f"replica-announce-ip {node.host or node.ip}",
        ]
        if self.min_replicas:
            redis_conf += ["min-replicas-to-write 1", "min-replicas-max-lag 5"]
        if node is not primary:
            redis_conf.append(f"replicaof {primary.host or primary.ip} {REDIS_PORT}")
        _write(f"{node.dir}/redis.conf", "\n".join(redis_conf) + "\n", 0o600)
        m = self.master_name
        sentinel_conf = [
            f"bind {node.ip} 127.0.0.1",
            f"port {SENTINEL_PORT}",
            "protected-mode no",
            "daemonize no",
            f"pidfile {node.dir}/sentinel.pid",
            f"logfile {node.dir}/sentinel.log",
            f"dir {node.dir}",
            f"requirepass {self.sentinel_password}",
            f"sentinel sentinel-pass {self.sentinel_password}",
            f"sentinel announce-ip {node.host or node.ip}",
            f"sentinel resolve-hostnames {'yes' if self.hostnames else 'no'}",
            f"sentinel announce-hostnames {'yes' if self.hostnames else 'no'}",
            f"sentinel monitor {m} {primary.host or primary.ip} {REDIS_PORT} 2",
            f"sentinel auth-pass {m} {self.redis_password}",
            f"sentinel down-after-milliseconds {m} {self.down_after_ms}",
            f"sentinel failover-timeout {m} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {m} 1",
        ]
        _write(f"{node.dir}/sentinel.conf", "\n".join(sentinel_conf) + "\n", 0o600)
        _write(f"{node.dir}/agent.json", json.dumps(self._agent_spec(node)), 0o600)
        self._listen_syslog(node)
        ctx = self.context(node)
        for rendered in self.profile.render(ctx):
            self._write_rendered(node, rendered)
        for extra in getattr(self.profile, "writable_dirs", lambda _ctx: [])(ctx):
            os.makedirs(extra, mode=0o755, exist_ok=True)
            os.chown(extra, _uid(user), grp.getgrnam(user).gr_gid)
        os.makedirs(f"{node.dir}/notify.d", mode=0o755, exist_ok=True)

    def _write_rendered(self, node: Node, rendered: RenderedFile) -> None:
        path = os.path.join(node.dir, rendered.name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        _write(path, rendered.content, rendered.mode, rendered.group, rendered.user)

    def _agent_spec(self, node: Node) -> dict:
        return {
            "name": node.name,
            "vip": self.vip,
            "interval": 0.05,
            "master_name": self.master_name,
            "redis_port": REDIS_PORT,
            "sentinel_port": SENTINEL_PORT,
            "redis_password": self.redis_password,
            "sentinel_password": self.sentinel_password,
        }

    def _listen_syslog(self, node: Node) -> None:
        """A unix datagram socket per node where sentinel-vip sends its syslog lines."""
        path = os.path.join(node.dir, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)  # the check runs as the script user
        self._log_socks.append(sock)
        lines = self.syslog[node.name]
        logfile = os.path.join(node.dir, "sentinel-vip.log")

        def pump() -> None:
            with open(logfile, "a", encoding="utf-8") as out:
                while True:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    line = data.decode(errors="replace").rstrip("\n")
                    lines.append((time.monotonic(), line))
                    out.write(f"{time.monotonic():.3f} {line}\n")
                    out.flush()

        thread = threading.Thread(target=pump, name=f"syslog-{node.name}", daemon=True)
        thread.start()
        self._log_threads.append(thread)

    # ----------------------------------------------------------------- processes

    def _spawn(self, node: Node, what: str, argv: list, log: str) -> None:
        old = node.procs.get(what)
        if old is not None and old.poll() is None:
            raise ClusterError(f"{node.name} {what} already running (pid {old.pid})")
        with open(os.path.join(node.dir, log), "ab") as out:
            node.procs[what] = subprocess.Popen(
                netns.exec_argv(node.ns, argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.dir,
                start_new_session=True,  # own process group: kill keepalived with its children
            )

    def _terminate(self, node: Node, what: str, grace: float = 5.0) -> None:
        proc = node.procs.get(what)
        if proc is None or proc.poll() is not None:
            return
        self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal_group(proc, signal.SIGKILL)
            proc.wait(grace)

    @staticmethod
    def _signal_group(proc, sig) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def start_redis(self, name: str) -> None:
        node = self.nodes[name]
        self._spawn(node, "redis", ["redis-server", f"{node.dir}/redis.conf"], "redis.out")
        self.wait_for(lambda: self.redis_call(name, "PING") == "PONG", 10, f"{name} redis up")

    def start_sentinel(self, name: str) -> None:
        node = self.nodes[name]
        self._spawn(
            node, "sentinel", ["redis-sentinel", f"{node.dir}/sentinel.conf"], "sentinel.out"
        )
        self.wait_for(lambda: self.sentinel_call(name, "PING") == "PONG", 10, f"{name} sentinel up")

    def start_keepalived(self, name: str) -> None:
        node = self.nodes[name]
        d = node.dir
        argv = [
            "keepalived",
            "-n",  # stay in the foreground: we own the process
            "-l",  # log to the console (our per-node file) ...
            "-G",  # ... and not to syslog
            "-D",
            "-f",
            f"{d}/keepalived.conf",
            "-p",
            f"{d}/keepalived.pid",
            "-r",
            f"{d}/keepalived-vrrp.pid",
            "-c",
            f"{d}/keepalived-checkers.pid",
        ]
        self._spawn(node, "keepalived", argv, "keepalived.log")

    def _services(self, node: Node) -> list:
        """Long-running helpers the profile wants beside keepalived (e.g. sentinel-vip watch)."""
        return list(getattr(self.profile, "services", lambda _ctx: [])(self.context(node)))

    def _service_names(self, node: Node) -> list:
        return [what for what, _ in self._services(node)]

    def start_services(self, name: str) -> None:
        node = self.nodes[name]
        for what, argv in self._services(node):
            self._spawn(node, what, argv, f"{what}.log")

    # ----------------------------------------------------------------- queries

    def _call(self, name: str, target: str, auth: str, *command, ns: str = "") -> dict:
        node = self.nodes[name] if name in self.nodes else None
        spec = f"{(node or self.nodes['n1']).dir}/agent.json"
        argv = netns.exec_argv(ns or node.ns, [sys.executable, AGENT, "call", spec, target, auth])
        out = subprocess.run(
            [*argv, *map(str, command)], capture_output=True, text=True, timeout=15
        ).stdout
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"ok": False, "err": f"agent gave no reply: {out[:200]!r}"}

    def redis_call(self, name: str, *command):
        """Reply of one command to ``name``'s Redis (from inside its namespace); None on error."""
        reply = self._call(name, f"127.0.0.1:{REDIS_PORT}", "redis", *command)
        return reply.get("reply") if reply["ok"] else None

    def sentinel_call(self, name: str, *command):
        reply = self._call(name, f"127.0.0.1:{SENTINEL_PORT}", "sentinel", *command)
        return reply.get("reply") if reply["ok"] else None

    def vip_call(self, *command) -> dict:
        """One command through the VIP from the client namespace: {"ok", "reply"|"err"}."""
        return self._call("n1", f"{self.vip}:{REDIS_PORT}", "redis", *command, ns=self.client_ns)

    def role(self, name: str) -> Optional[str]:
        reply = self.redis_call(name, "ROLE")
        return reply[0] if reply else None

    def sentinel_master(self, name: str) -> Optional[str]:
        reply = self.sentinel_call(name, "SENTINEL", "get-master-addr-by-name", self.master_name)
        return f"{reply[0]}:{reply[1]}" if reply else None

    def master_by_majority(self) -> Optional[str]:
        """The node a majority of the three Sentinels names, else None."""
        named = [self.sentinel_master(n) for n in self.nodes]
        for node in self.nodes.values():
            if named.count(node.redis_addr) >= 2:
                return node.name
        return None

    def node_by_addr(self, addr: Optional[str]) -> Optional[str]:
        for node in self.nodes.values():
            if addr in (node.redis_addr, node.ip, node.host or node.ip):
                return node.name
        return None

    def vip_holders(self) -> list:
        """Nodes whose namespace has the VIP configured (``ip -j addr``)."""
        return [n.name for n in self.nodes.values() if self.vip in netns.ipv4_addresses(n.ns)]

    def _replication_ok(self) -> bool:
        info = self.redis_call("n1", "INFO", "replication") or ""
        return "connected_slaves:2" in info and info.count("state=online") == 2

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str, every=0.1):
        """Poll ``predicate`` until truthy (returned) or raise ClusterError after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= end:
                raise ClusterError(f"timed out after {timeout:g}s waiting for: {what}")
            time.sleep(every)

    # ----------------------------------------------------------------- faults

    def mark(self, what: str) -> float:
        now = time.monotonic()
        self.events.append((now, what))
        return now

    def kill_redis(self, name: str, sig: int = signal.SIGKILL) -> float:
        """kill -9 (default) the node's redis-server; returns the monotonic time of the kill."""
        proc = self.nodes[name].procs["redis"]
        t = self.mark(f"kill -{int(sig)} {name} redis-server")
        os.kill(proc.pid, sig)
        proc.wait(10)
        return t

    def shutdown_redis(self, name: str) -> float:
        """Clean SHUTDOWN (the server exits; the connection just drops)."""
        t = self.mark(f"SHUTDOWN {name} redis-server")
        self._call(name, f"127.0.0.1:{REDIS_PORT}", "redis", "SHUTDOWN", "NOSAVE")
        self.nodes[name].procs["redis"].wait(15)
        return t

    def restart_redis(self, name: str) -> float:
        """Start the node's redis-server again with its config as it is now (Sentinel may
        have rewritten it)."""
        t = self.mark(f"restart {name} redis-server")
        self.start_redis(name)
        return t

    def kill_sentinel(self, name: str) -> float:
        proc = self.nodes[name].procs["sentinel"]
        t = self.mark(f"kill -9 {name} redis-sentinel")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return t

    def restart_sentinel(self, name: str) -> float:
        t = self.mark(f"restart {name} redis-sentinel")
        self.start_sentinel(name)
        return t

    def start_fake_sentinel(self, name: str, spec: dict) -> float:
        """Run tests/e2e/fake_sentinel.py where ``name``'s Sentinel was (kill that first):
        same addresses, port and password; ``spec`` adds what it lies about."""
        node = self.nodes[name]
        path = os.path.join(node.dir, "fake-sentinel.json")
        full = {
            "binds": [node.ip, "127.0.0.1"],
            "port": SENTINEL_PORT,
            "password": self.sentinel_password,
            "master_name": self.master_name,
            **spec,
        }
        _write(path, json.dumps(full), 0o600)
        t = self.mark(f"fake Sentinel on {name}")
        fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_sentinel.py")
        self._spawn(node, "sentinel", [sys.executable, "-u", fake, path], "fake-sentinel.log")
        self.wait_for(lambda: self.sentinel_call(name, "PING") == "PONG", 10, "fake up")
        return t

    def kill_keepalived(self, name: str) -> float:
        """kill -9 keepalived and its children: the VIP stays configured where it was."""
        proc = self.nodes[name].procs["keepalived"]
        t = self.mark(f"kill -9 {name} keepalived")
        self._signal_group(proc, signal.SIGKILL)
        proc.wait(10)
        return t

    def restart_keepalived(self, name: str) -> float:
        t = self.mark(f"restart {name} keepalived")
        self.start_keepalived(name)
        return t

    def cut(self, name: str, mode: str = "link") -> float:
        """Isolate a node. ``link``: its veth in the bridge namespace goes down (the node sees
        no carrier). ``detach``: removed from the bridge, carrier stays up (a partition
        elsewhere in the network)."""
        t = self.mark(f"cut {name} ({mode})")
        if mode == "link":
            netns.set_link(self.bridge_ns, name, up=False)
        elif mode == "detach":
            netns.set_master(self.bridge_ns, name, "")
        else:
            raise ValueError(f"cut mode {mode!r}: expected 'link' or 'detach'")
        return t

    def heal(self, name: str) -> float:
        t = self.mark(f"heal {name}")
        netns.set_master(self.bridge_ns, name, "br0")
        netns.set_link(self.bridge_ns, name, up=True)
        return t

    def lose_node(self, name: str) -> float:
        """The whole node is gone: all three daemons killed -9 and its link down."""
        t = self.mark(f"lose node {name}")
        node = self.nodes[name]
        for what in [*self._service_names(node), "keepalived", "sentinel", "redis"]:
            proc = node.procs.get(what)
            if proc is not None and proc.poll() is None:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(10)
        netns.set_link(self.bridge_ns, name, up=False)
        return t

    def sentinel_failover(self, via: str = "n2") -> float:
        """Planned switchover: ``SENTINEL FAILOVER`` sent to ``via``'s Sentinel."""
        t = self.mark(f"SENTINEL FAILOVER via {via}")
        reply = self._call(
            via, f"127.0.0.1:{SENTINEL_PORT}", "sentinel", "SENTINEL", "FAILOVER", self.master_name
        )
        if not reply["ok"]:
            raise ClusterError(f"SENTINEL FAILOVER via {via} refused: {reply['err']}")
        return t

    # ----------------------------------------------------------------- sampling

    def sampler(self, **kwargs):
        from .sampler import Sampler

        return Sampler(self, **kwargs)

    def keys_on(self, name: str, pattern: str = "e2e:w:*") -> Optional[set]:
        reply = self.redis_call(name, "KEYS", pattern)
        return set(reply) if reply is not None else None
