"""Three masters on three namespaced nodes, one VIP each (one IPv6): sentinel-vip instances.

Each node runs three redis-servers (one per shard: ``alpha`` on 6379 with its master on n1,
``beta`` on 6380 with its master on n2, ``gamma`` on 6381 with its master on n3), one
Sentinel monitoring the three masters, one keepalived with three vrrp_instances, and one
``sentinel-vip watch`` for the three. The node's sentinel-vip files are laid out as on a real
node: ``sentinel-vip.toml`` (the default instance: alpha), ``instances/beta.toml`` and
``instances/gamma.toml``; keepalived's snippets are written by ``sentinel-vip render`` (the
built pyz, as root), with the program path then pointed at the pyz under test.

Built on ``cluster.Cluster`` (namespaces, bridge, syslog sockets, process control, teardown).
"""

from __future__ import annotations

import grp
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from . import netns
from .cluster import SENTINEL_PORT, Cluster, ClusterError, _uid, _write
from .profiles import _toml_value, ensure_script_user

SCRIPT_USER = "keepalived_script"
INSTALLED = "/usr/sbin/sentinel-vip"
_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Shard:
    name: str  # the instance name (and the master name)
    owner: str  # the node whose Redis is its first master
    port: int
    vip: str
    prefix: int
    vrid: int
    default: bool = False  # the node's sentinel-vip.toml (else instances/NAME.toml)

    @property
    def instance_file(self) -> str:
        return "sentinel-vip.toml" if self.default else f"instances/{self.name}.toml"

    @property
    def vrrp_name(self) -> str:
        return "sentinel_vip" if self.default else f"svip_{self.name}"


def shards_for(count: int, subnet: str, v6: str) -> tuple:
    """``count`` shards, their first masters spread over n1..n3; the third is IPv6."""
    names = ("alpha", "beta", "gamma") if count == 3 else tuple(f"m{i}" for i in range(count))
    out = []
    for i, name in enumerate(names):
        vip = f"{v6}{100 + i}" if i == 2 else f"{subnet}.{100 + i}"
        out.append(Shard(name, f"n{i % 3 + 1}", 6379 + i, vip, 64 if i == 2 else 24, 61 + i,
                         default=i == 0))  # fmt: skip
    return tuple(out)


class MultiCluster(Cluster):
    def __init__(self, binary: str, prefix: str = "svmi", subnet: str = "10.78.0",
                 shards: int = 3, **kwargs):  # fmt: skip
        super().__init__(None, prefix=prefix, subnet=subnet, **kwargs)
        self.binary = binary
        self.v6 = "fd78::"
        self.shards = shards_for(shards, subnet, self.v6)
        self.profile = _Prepare()

    # ----------------------------------------------------------------- building

    def start(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the e2e cluster needs root (network namespaces, keepalived)")
        from .cluster import _LIVE, _install_signal_handlers, cleanup_stale

        cleanup_stale(self.prefix, self.base_dir)
        os.makedirs(self.dir, mode=0o755)
        os.chmod(self.base_dir, 0o755)
        _write(os.path.join(self.dir, "owner.json"), json.dumps({"pid": os.getpid()}), 0o644)
        _LIVE.append(self)
        self._started = True
        _install_signal_handlers()
        try:
            ensure_script_user(SCRIPT_USER)
            self._build_network()
            for node in self.nodes.values():
                self._write_node_files(node)
            for node in self.nodes.values():
                self.start_redis(node.name)
            self.wait_for(self._replication_ok, 30, "every shard's replicas in sync")
            for node in self.nodes.values():
                self.start_sentinel(node.name)
            self.wait_for(self._sentinels_agree, 30, "every Sentinel names every first master")
            for node in self.nodes.values():
                self._render(node)
            for node in self.nodes.values():
                self.start_keepalived(node.name)
                self.start_services(node.name)
        except BaseException:
            self.keep_dir = True
            self.stop()
            raise

    def stop(self) -> None:
        if self._started:
            for node in self.nodes.values():
                for what in list(node.procs):
                    if what != "redis":
                        self._terminate(node, what)
        super().stop()

    def _build_network(self) -> None:
        super()._build_network()
        for i, node in enumerate(self.nodes.values()):
            netns.run(["ip", "-n", node.ns, "addr", "add", f"{self.v6}{11 + i}/64", "dev",
                       "eth0", "nodad"])  # fmt: skip
        netns.run(["ip", "-n", self.client_ns, "addr", "add", f"{self.v6}50/64", "dev", "eth0",
                   "nodad"])  # fmt: skip

    def _write_node_files(self, node) -> None:
        os.makedirs(node.dir, mode=0o755)
        d = node.dir
        _write(f"{d}/redis.pass", self.redis_password + "\n", 0o640, group=SCRIPT_USER)
        _write(f"{d}/sentinel.pass", self.sentinel_password + "\n", 0o640, group=SCRIPT_USER)
        for shard in self.shards:
            owner = self.nodes[shard.owner]
            conf = [
                "bind * -::*",  # the node address, loopback and the VIP (IPv4 or IPv6)
                f"port {shard.port}",
                "protected-mode no",
                "daemonize no",
                f"pidfile {d}/redis-{shard.name}.pid",
                f"logfile {d}/redis-{shard.name}.log",
                f"dir {d}",
                f"dbfilename {shard.name}.rdb",
                'save ""',
                "appendonly no",
                f"requirepass {self.redis_password}",
                f"masterauth {self.redis_password}",
                f"replica-announce-ip {node.ip}",
                "min-replicas-to-write 1",
                "min-replicas-max-lag 5",
            ]
            if owner is not node:
                conf.append(f"replicaof {owner.ip} {shard.port}")
            _write(f"{d}/redis-{shard.name}.conf", "\n".join(conf) + "\n", 0o600)
        sentinel = [
            f"bind {node.ip} 127.0.0.1",
            f"port {SENTINEL_PORT}",
            "protected-mode no",
            "daemonize no",
            f"pidfile {d}/sentinel.pid",
            f"logfile {d}/sentinel.log",
            f"dir {d}",
            f"requirepass {self.sentinel_password}",
            f"sentinel sentinel-pass {self.sentinel_password}",
            f"sentinel announce-ip {node.ip}",
        ]
        for shard in self.shards:
            m, owner = shard.name, self.nodes[shard.owner]
            sentinel += [
                f"sentinel monitor {m} {owner.ip} {shard.port} 2",
                f"sentinel auth-pass {m} {self.redis_password}",
                f"sentinel down-after-milliseconds {m} {self.down_after_ms}",
                f"sentinel failover-timeout {m} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {m} 1",
            ]
        _write(f"{d}/sentinel.conf", "\n".join(sentinel) + "\n", 0o600)
        _write(f"{d}/agent.json", json.dumps(self._agent_spec(node)), 0o600)
        self._listen_syslog(node)
        os.makedirs(f"{d}/instances", mode=0o755)
        os.makedirs(f"{d}/conf.d", mode=0o755)
        os.makedirs(f"{d}/notify.d", mode=0o755)
        for shard in self.shards:
            _write(f"{d}/{shard.instance_file}", self.toml(node, shard), 0o640, group=SCRIPT_USER)
        for sub in ("svip-state", "svip-history", "svip-metrics",
                    *(f"svip-state/{s.name}" for s in self.shards)):  # fmt: skip
            os.makedirs(f"{d}/{sub}", mode=0o755, exist_ok=True)
            os.chown(f"{d}/{sub}", _uid(SCRIPT_USER), grp.getgrnam(SCRIPT_USER).gr_gid)
        _write(
            f"{d}/keepalived.conf",
            "global_defs {\n"
            f"  router_id {node.name}\n"
            "  enable_script_security\n"
            f"  script_user {SCRIPT_USER}\n"
            "}\n\n"
            f"include {d}/conf.d/*.conf\n",
            0o644,
        )

    def priority(self, node) -> int:
        return (100, 90, 80)[int(node.name.lstrip("n")) - 1]

    def toml(self, node, shard: Shard) -> str:
        d = node.dir
        state = f"{d}/svip-state/{shard.name}"
        sections = {
            "": {"master_name": shard.name},
            "redis": {"host": node.ip, "port": shard.port,
                      "password_file": f"{d}/redis.pass"},
            "sentinel": {
                "addresses": [f"{n.ip}:{SENTINEL_PORT}" for n in self.nodes.values()],
                "password_file": f"{d}/sentinel.pass",
                "config_files": [f"{d}/sentinel.conf"],
            },
            "node": {"addresses": [node.ip]},
            "vip": {"address": shard.vip, "interface": "eth0", "prefix": shard.prefix},
            "keepalived": {
                "config_file": f"{d}/keepalived.conf",
                "snippet": f"{d}/conf.d/{shard.name}.conf",
                "instance": shard.vrrp_name,
                "virtual_router_id": shard.vrid,
                "priority": self.priority(node),
                "script_user": SCRIPT_USER,
            },
            "metrics": {"textfile": f"{d}/svip-metrics/{shard.name}.prom"},
            "check": {"track_file": f"{state}/track"},
            "notify": {"hooks_dir": f"{d}/notify.d"},
            "paths": {"state_dir": state,
                      "history_file": f"{d}/svip-history/{shard.name}.jsonl"},
            "log": {"syslog": True, "syslog_socket": f"{d}/log.sock"},
        }  # fmt: skip
        lines = [f"{k} = {_toml_value(v)}" for k, v in sections.pop("").items()]
        for section, values in sections.items():
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        return "\n".join(lines) + "\n"

    def _render(self, node) -> None:
        """``sentinel-vip render`` for the node's three instances, as an admin runs it; then
        the program path is pointed at the pyz under test (render names /usr/sbin)."""
        done = subprocess.run(
            [self.binary, "--config", f"{node.dir}/sentinel-vip.toml", "render"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"render on {node.name} failed: {done.stdout}{done.stderr}")
        for shard in self.shards:
            path = f"{node.dir}/conf.d/{shard.name}.conf"
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            if f'"{INSTALLED} ' not in text:
                raise ClusterError(f"{path}: render wrote no program line")
            _write(path, text.replace(f'"{INSTALLED} ', f'"{self.binary} '), 0o644)

    def _services(self, node) -> list:
        config = f"{node.dir}/sentinel-vip.toml"
        argv = ["setpriv", f"--reuid={SCRIPT_USER}", f"--regid={SCRIPT_USER}", "--init-groups",
                "--", self.binary, "--config", config, "watch"]  # fmt: skip
        return [("watch", argv)]

    # ----------------------------------------------------------------- processes

    def start_redis(self, name: str, shards=None) -> None:
        node = self.nodes[name]
        for shard in shards or self.shards:
            what = f"redis-{shard.name}"
            conf = f"{node.dir}/redis-{shard.name}.conf"
            self._spawn(node, what, ["redis-server", conf], f"{what}.out")
        for shard in shards or self.shards:
            self.wait_for(lambda s=shard: self.shard_call(name, s, "PING") == "PONG", 10,
                          f"{name} redis {shard.name} up")  # fmt: skip

    def kill_shard(self, name: str, shard: Shard) -> float:
        import signal

        proc = self.nodes[name].procs[f"redis-{shard.name}"]
        t = self.mark(f"kill -9 {name} redis {shard.name}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return t

    def stop_node(self, name: str) -> float:
        """Every daemon of the node stopped (SIGTERM), as a reboot does."""
        node = self.nodes[name]
        t = self.mark(f"stop node {name}")
        for what in ["watch", "keepalived", "sentinel", *(f"redis-{s.name}" for s in self.shards)]:
            self._terminate(node, what)
        return t

    def start_node(self, name: str) -> float:
        t = self.mark(f"start node {name}")
        self.start_redis(name)
        self.start_sentinel(name)
        self.start_keepalived(name)
        self.start_services(name)
        return t

    # ----------------------------------------------------------------- queries

    def shard_call(self, name: str, shard: Shard, *command):
        reply = self._call(name, f"127.0.0.1:{shard.port}", "redis", *command)
        return reply.get("reply") if reply["ok"] else None

    def shard_master(self, name: str, shard: Shard):
        reply = self.sentinel_call(name, "SENTINEL", "get-master-addr-by-name", shard.name)
        return self.node_by_addr(reply[0]) if reply else None

    def _replication_ok(self) -> bool:
        for shard in self.shards:
            info = self.shard_call(shard.owner, shard, "INFO", "replication") or ""
            if info.count("state=online") != 2:
                return False
        return True

    def _sentinels_agree(self) -> bool:
        return all(self.shard_master(n, s) == s.owner for n in self.nodes for s in self.shards)

    def vip_holders_of(self, shard: Shard) -> list:
        family = "-6" if ":" in shard.vip else "-4"
        found = []
        for node in self.nodes.values():
            out = netns.run(["ip", "-n", node.ns, "-j", family, "addr", "show"], check=False)
            addresses = [a["local"] for link in json.loads(out or "[]")
                         for a in link.get("addr_info", [])]  # fmt: skip
            if shard.vip in addresses:
                found.append(node.name)
        return found

    def placed(self) -> bool:
        return all(self.vip_holders_of(s) == [s.owner] for s in self.shards)


class _Prepare:
    name = "sentinel_vip_multi"

    def prepare(self) -> None:
        ensure_script_user(SCRIPT_USER)


class Recorder:
    """The VIP samplers (one per node) and one writer per VIP, their JSON lines kept."""

    def __init__(self, cluster: MultiCluster, interval: float = 0.005, pause: float = 0.01,
                 writers: bool = True):  # fmt: skip
        self.cluster, self.interval, self.pause = cluster, interval, pause
        self.writers = writers
        self.records: list = []
        self.procs: list = []
        self.lock = threading.Lock()

    def __enter__(self):
        c = self.cluster
        for node in c.nodes.values():
            spec = {"name": node.name, "vips": [s.vip for s in c.shards],
                    "interval": self.interval, "sentinel_port": SENTINEL_PORT,
                    "sentinel_password": c.sentinel_password}  # fmt: skip
            path = os.path.join(c.dir, f"vips-{node.name}.json")
            _write(path, json.dumps(spec), 0o600)
            self._spawn(node.ns, os.path.join(_HERE, "multi_agent.py"), [path])
        for shard in c.shards if self.writers else ():
            spec = {"name": f"w-{shard.name}", "vip": shard.vip, "redis_port": shard.port,
                    "redis_password": c.redis_password, "key_prefix": f"e2e:{shard.name}:",
                    "pause": self.pause, "timeout": 0.5}  # fmt: skip
            path = os.path.join(c.dir, f"writer-{shard.name}.json")
            _write(path, json.dumps(spec), 0o600)
            self._spawn(c.client_ns, os.path.join(_HERE, "agent.py"), ["client", path])
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _spawn(self, ns: str, script: str, args: list) -> None:
        proc = subprocess.Popen(
            netns.exec_argv(ns, [sys.executable, "-u", script, *args]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(proc)
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc) -> None:
        out = open(os.path.join(self.cluster.dir, "multi-samples.jsonl"), "a", encoding="utf-8")
        with out:
            for line in proc.stdout:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    self.records.append(record)
                out.write(line.decode() if isinstance(line, bytes) else line)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.records)

    # -------------------------------------------------------------- views

    def vip_changes(self, vip: str, after: float = 0.0) -> list:
        return [(r["t"], r["n"], r["held"]) for r in self.snapshot()
                if r.get("vip") == vip and r["t"] >= after]  # fmt: skip

    def holders_at_end(self, vip: str) -> set:
        held: dict = {}
        for _t, node, state in sorted(self.vip_changes(vip)):
            held[node] = state
        return {n for n, s in held.items() if s}

    def acks(self, shard: Shard, after: float = 0.0) -> int:
        name = f"w-{shard.name}"
        return sum(1 for r in self.snapshot()
                   if r.get("n") == name and r.get("ok") and r["t"] >= after)  # fmt: skip

    def writes(self, shard: Shard) -> list:
        return [r for r in self.snapshot() if r.get("n") == f"w-{shard.name}" and "seq" in r]

    def switch_master(self, shard: Shard, after: float) -> float | None:
        times = [r["t"] for r in self.snapshot()
                 if r.get("ev") == "+switch-master" and r.get("m", "").split()[:1] == [shard.name]
                 and r["t"] >= after]  # fmt: skip
        return min(times) if times else None

    def wait(self, predicate, timeout: float, what: str):
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= end:
                raise ClusterError(f"timed out after {timeout:g}s waiting for: {what}")
            time.sleep(0.05)
