#!/usr/bin/env python3
"""Cached Debian roots for the tests that need a whole system: build, copy, boot, run.

    roots.py build SUITE FLAVOR              build the cached root (and its pristine base)
    roots.py run SUITE FLAVOR -- CMD...      CMD in a throwaway copy (chroot, own pid namespace)
    roots.py boot SUITE FLAVOR [--host-network] -- CMD...
                                             boot a throwaway copy (systemd-nspawn), run CMD
                                             inside it (nsenter), power it off
    roots.py list                            what is cached

SUITE: bullseye (Debian 11), bookworm (12), trixie (13), bookworm-backports (12 + backports).
FLAVOR: a name from FLAVORS below (what is installed on top of debootstrap's minbase).

Cache ($SENTINEL_VIP_CHROOT_CACHE, default /var/tmp/sentinel-vip-chroots): one pristine
`debootstrap --variant=minbase` per suite, never modified, and one root per suite and flavor
copied from it. A cached root is rebuilt when its flavor's definition changes. Tests work on
a copy, so the cache stays clean. Building takes the shared heavy lock (/tmp/svip-heavy.lock)
unless an ancestor process already holds it (`flock /tmp/svip-heavy.lock make ...`).

Import it to use the same from Python (`Root`, `cached_root`, `heavy_lock`), e.g. a Debian 11
root with Redis 6.0 and Python 3.9, loopback of its own:

    with roots.heavy_lock(), roots.Root("bullseye", "redis") as root:
        root.copy_in(deb, "/root/sv.deb")
        root.run(["apt-get", "install", "-y", "/root/sv.deb"])
        root.run(["python3", "/root/scenario.py"], network="private")

Copies and boots are host-global work: hold heavy_lock() around them (the CLI and the
tests/realenv session do). Standard library only; needs root, debootstrap, and
systemd-nspawn (package systemd-container) to boot.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

CACHE = Path(os.environ.get("SENTINEL_VIP_CHROOT_CACHE", "/var/tmp/sentinel-vip-chroots"))
MIRROR = os.environ.get("SENTINEL_VIP_CHROOT_MIRROR", "http://deb.debian.org/debian")
HEAVY_LOCK = Path(os.environ.get("SENTINEL_VIP_HEAVY_LOCK", "/tmp/svip-heavy.lock"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The environment commands get inside a root: nothing from the caller's shell.
ROOT_ENV = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
POLICY_RC_D = (
    "#!/bin/sh\n# roots.py: no service starts while a chroot installs packages\nexit 101\n"
)


class Suite(NamedTuple):
    name: str
    debootstrap: str  # the suite debootstrap installs
    sources: str = ""  # extra apt sources line
    target: str = ""  # apt-get -t (the release the flavor's packages prefer)


SUITES = {
    "bullseye": Suite("bullseye", "bullseye"),
    "bookworm": Suite("bookworm", "bookworm"),
    "trixie": Suite("trixie", "trixie"),
    "bookworm-backports": Suite(
        "bookworm-backports",
        "bookworm",
        "deb http://deb.debian.org/debian bookworm-backports main",
        "bookworm-backports",
    ),
}

# What each flavor installs on top of minbase (--no-install-recommends). Keep python3 and
# keepalived in the server flavors: installing the .deb then needs no network.
SERVERS = ("python3", "keepalived", "iproute2", "procps", "util-linux")
FLAVORS = {
    # A fresh Debian server image: an init, networking tools, python3 (cloud-init and
    # reportbug bring it), TLS roots. No make, no compiler, no keepalived, no Redis.
    "server": (
        "systemd-sysv",
        "iproute2",
        "ca-certificates",
        "python3",
        "procps",
        "less",
        "nano",
        "curl",
        "openssl",
    ),
    # Booted with systemd: the .deb and the .rpm (Debian's rpm) with real services.
    "systemd": (
        "systemd-sysv",
        "dbus",
        *SERVERS,
        "redis-server",
        "redis-sentinel",
        "redis-tools",
        "rpm",
    ),
    "redis": (*SERVERS, "redis-server", "redis-sentinel", "redis-tools"),
    "valkey": (*SERVERS, "valkey-server", "valkey-sentinel"),
}


class RootError(RuntimeError):
    """A step building or using a root failed; the message says which and where its log is."""


def log(message: str) -> None:
    print(f"roots: {message}", file=sys.stderr, flush=True)


# --- the shared heavy lock -----------------------------------------------------------------


def _ancestors() -> set:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _lock_held_by_ancestor(path: Path) -> bool:
    """True when `flock PATH ...` (or anything else) up our process tree holds the lock."""
    try:
        st = path.stat()
    except OSError:
        return False
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    ancestors = _ancestors()
    with open("/proc/locks") as fh:
        for line in fh:
            fields = line.split()
            if "->" in fields:  # a waiter, not a holder
                continue
            if len(fields) >= 6 and fields[5] == inode and int(fields[4]) in ancestors:
                return True
    return False


@contextlib.contextmanager
def heavy_lock():
    """The project's shared lock for host-global work; re-entrant across processes."""
    if _lock_held_by_ancestor(HEAVY_LOCK):
        yield
        return
    with open(HEAVY_LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {HEAVY_LOCK}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- building the cache --------------------------------------------------------------------


def _run_logged(argv: list, logfile: Path, **kw) -> None:
    with open(logfile, "a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        raise RootError(f"{' '.join(argv[:4])}... failed ({proc.returncode}): see {logfile}")


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    mounted = _mounts_under(path)
    if mounted:
        raise RootError(f"{path} still has mounts ({', '.join(mounted)}); left in place")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def _mounts_under(path: Path) -> list:
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    return [p for p in points if p == str(path) or p.startswith(prefix)]


def _copy_tree(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", f"{dest}/"], check=True)


def pristine_base(suite: str) -> Path:
    """debootstrap's minbase of the suite, built once and never changed."""
    spec = SUITES[suite]
    base = CACHE / f"base-{spec.debootstrap}"
    if (base / "usr/bin/apt-get").exists():
        return base
    with heavy_lock():
        if (base / "usr/bin/apt-get").exists():  # built while we waited
            return base
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = base.with_name(base.name + ".tmp")
        _remove_tree(tmp)
        logfile = CACHE / f"{base.name}.log"
        logfile.write_text("")
        log(f"debootstrap {spec.debootstrap} (minbase) -> {base}")
        t0 = time.monotonic()
        _run_logged(
            ["debootstrap", "--variant=minbase", spec.debootstrap, str(tmp), MIRROR],
            logfile,
            timeout=3600,
        )
        tmp.rename(base)
        log(f"{base.name}: {time.monotonic() - t0:.0f} s")
    return base


def _flavor_spec(suite: str, flavor: str) -> dict:
    spec = SUITES[suite]
    return {"suite": spec._asdict(), "packages": sorted(FLAVORS[flavor]), "mirror": MIRROR}


def cached_root(suite: str, flavor: str) -> Path:
    """The cached root of SUITE with FLAVOR's packages; built when missing or outdated."""
    if suite not in SUITES or flavor not in FLAVORS:
        raise RootError(f"unknown suite/flavor {suite}/{flavor}: see roots.py list")
    path = CACHE / f"{suite}-{flavor}"
    stamp = path / ".roots-spec.json"
    wanted = _flavor_spec(suite, flavor)

    def current() -> bool:
        try:
            return json.loads(stamp.read_text()) == wanted
        except (OSError, ValueError):
            return False

    if current():
        return path
    base = pristine_base(suite)
    with heavy_lock():
        if current():
            return path
        spec = SUITES[suite]
        tmp = path.with_name(path.name + ".tmp")
        _remove_tree(tmp)
        logfile = CACHE / f"{path.name}.log"
        logfile.write_text("")
        log(f"building {path.name} from {base.name}")
        t0 = time.monotonic()
        _copy_tree(base, tmp)
        policy = tmp / "usr/sbin/policy-rc.d"
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)
        if spec.sources:
            (tmp / "etc/apt/sources.list.d/extra.list").write_text(spec.sources + "\n")
        target = ["-t", spec.target] if spec.target else []
        with _chroot_mounts(tmp):
            for argv in (
                ["apt-get", "update", "-q"],
                [
                    "apt-get",
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    *target,
                    *FLAVORS[flavor],
                ],
                ["apt-get", "clean"],
            ):
                _run_logged(
                    ["chroot", str(tmp), "env", "-i", *_env_list(), *argv], logfile, timeout=3600
                )
        policy.unlink()
        (tmp / ".roots-spec.json").write_text(json.dumps(wanted, indent=1) + "\n")
        old = path.with_name(path.name + ".old")
        _remove_tree(old)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        _remove_tree(old)
        log(f"{path.name}: {time.monotonic() - t0:.0f} s")
    return path


def _env_list(extra: dict | None = None) -> list:
    return [f"{k}={v}" for k, v in {**ROOT_ENV, **(extra or {})}.items()]


@contextlib.contextmanager
def _chroot_mounts(path: Path):
    """/proc and /dev for a chroot that installs packages; undone even on failure."""
    mounted = []
    try:
        for argv, point in (
            (["mount", "-t", "proc", "proc"], "proc"),
            (["mount", "--bind", "/dev"], "dev"),
        ):
            subprocess.run([*argv, str(path / point)], check=True)
            mounted.append(path / point)
        yield
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(point)], check=False)


# --- a throwaway copy: run, boot ------------------------------------------------------------

# A chroot in its own mount and pid namespaces: its mounts and every process it starts (a
# daemonized redis-server) end with the command. Optionally its own network namespace
# (loopback only), so fixed ports cannot collide with the host's.
_CHROOT_SH = """
set -e
R=$1; shift
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys" 2>/dev/null || true
if [ "$SV_NET" = private ]; then ip link set lo up; fi
exec chroot "$R" "$@"
"""


class Root:
    """A throwaway copy of a cached root: `with Root("bookworm", "redis") as root: ...`."""

    def __init__(self, suite: str, flavor: str, keep: bool = False) -> None:
        self.suite, self.flavor, self.keep = suite, flavor, keep
        self.source = cached_root(suite, flavor)
        CACHE.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"run-{suite}-{flavor}.", dir=CACHE))
        self.path.rmdir()
        _copy_tree(self.source, self.path)
        self.nspawn: subprocess.Popen | None = None
        self.leader: int | None = None
        self.console = self.path.parent / f"{self.path.name}.console.log"

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # files ------------------------------------------------------------------------------
    def host_path(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def read(self, path: str) -> str:
        return self.host_path(path).read_text()

    def copy_in(self, src: Path, dest: str) -> str:
        target = self.host_path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        return dest

    # commands ---------------------------------------------------------------------------
    def run(
        self,
        argv,
        *,
        check: bool = True,
        timeout: float = 600,
        env: dict | None = None,
        input: str | None = None,
        network: str = "host",
    ) -> subprocess.CompletedProcess:
        """argv inside the root: in the booted system if it runs, else in a chroot.

        network (chroot only): "host" (apt reaches the mirror) or "private" (loopback only).
        """
        argv = [str(a) for a in argv]
        inner = ["env", "-i", *_env_list(env), *argv]
        if self.leader is not None:
            cmd = ["nsenter", "-t", str(self.leader), "-a", *inner]
            host_env = None
        else:
            net = ["--net"] if network == "private" else []
            cmd = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                *net,
                "sh",
                "-c",
                _CHROOT_SH,
                "sh",
                str(self.path),
                *inner,
            ]
            host_env = {"PATH": PATH, "SV_NET": network}
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=host_env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise RootError(
                f"in {self.path.name}: {' '.join(argv)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
            )
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run(["sh", "-ec", script], **kw)

    # boot -------------------------------------------------------------------------------
    def boot(self, private_network: bool = True, capabilities: tuple = (),
             timeout: float = 120) -> int:  # fmt: skip
        """Boot the copy with systemd as PID 1; returns the leader's pid (for nsenter).

        `--register=no --keep-unit`: the host has no D-Bus/machined to register with.
        private_network: the container gets its own network namespace (loopback only, and
        CAP_NET_ADMIN there); otherwise it shares the host's, to reach Debian's mirror.
        capabilities: more than nspawn's default set, e.g. CAP_NET_ADMIN for a container on
        the host's network that makes network namespaces of its own.
        """
        if shutil.which("systemd-nspawn") is None:
            raise RootError("systemd-nspawn not found: apt-get install systemd-container")
        # A valid hostname: letters and digits from the copy's random suffix.
        suffix = "".join(c for c in self.path.name.rsplit(".", 1)[-1].lower() if c.isalnum())
        machine = f"svip-{suffix}"[:32]
        argv = [
            "systemd-nspawn",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--quiet",
            f"--machine={machine}",
            "--console=read-only",
            "-D",
            str(self.path),
        ]
        if private_network:
            argv.insert(1, "--private-network")
        if capabilities:
            argv.insert(1, "--capability=" + ",".join(capabilities))
        out = open(self.console, "w")  # lives as long as the container
        self.nspawn = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.nspawn.poll() is not None:
                raise RootError(
                    f"systemd-nspawn exited {self.nspawn.returncode}: {self._console_tail()}"
                )
            if time.monotonic() > deadline:
                raise RootError(f"no container init after {timeout:.0f} s: {self._console_tail()}")
            self.leader = _container_init(self.nspawn.pid)
            if self.leader is None:
                time.sleep(0.1)
        # systemctl answers once PID 1 listens on its private socket; --wait then blocks
        # until the boot is over.
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RootError(f"boot not finished after {timeout:.0f} s: {self._console_tail()}")
            state = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout=left
            )
            if state.stdout.strip() in ("running", "degraded"):
                return self.leader
            if state.stdout.strip() in ("maintenance", "stopping", "offline"):
                raise RootError(f"boot ended {state.stdout.strip()!r}: {self._console_tail()}")
            time.sleep(0.2)

    def _console_tail(self, lines: int = 30) -> str:
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return "(no console output)"
        return "console:\n" + "\n".join(text.splitlines()[-lines:])

    def poweroff(self, timeout: float = 90) -> None:
        if self.nspawn is None:
            return
        if self.nspawn.poll() is None:
            # nspawn turns SIGTERM into an orderly poweroff of the container.
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(30)
        self.nspawn = None
        self.leader = None

    def close(self) -> None:
        self.poweroff()
        if self.keep:
            log(f"kept {self.path}")
            return
        _remove_tree(self.path)
        self.console.unlink(missing_ok=True)


def _container_init(nspawn_pid: int) -> int | None:
    """The pid (host view) of the container's PID 1, a child of systemd-nspawn."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        nspid = fields.get("NSpid", "").split()
        if fields.get("PPid", "").strip() == str(nspawn_pid) and nspid[-1:] == ["1"]:
            if len(nspid) > 1:
                return int(entry.name)
    return None


# --- command line ---------------------------------------------------------------------------


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="roots.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "run", "boot"):
        p = sub.add_parser(name)
        p.add_argument("suite", choices=sorted(SUITES))
        p.add_argument("flavor", choices=sorted(FLAVORS))
        if name == "boot":
            p.add_argument(
                "--host-network",
                action="store_true",
                help="share the host's network (apt reaches the mirror)",
            )
        if name in ("run", "boot"):
            p.add_argument("--keep", action="store_true", help="keep the copy afterwards")
            p.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("roots.py: needs root (debootstrap, chroot, systemd-nspawn)", file=sys.stderr)
        return 2
    try:
        if args.command == "list":
            for path in sorted(CACHE.glob("*")):
                if path.is_dir() and not path.name.startswith("run-"):
                    print(path)
            return 0
        if args.command == "build":
            print(cached_root(args.suite, args.flavor))
            return 0
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        with heavy_lock(), Root(args.suite, args.flavor, keep=args.keep) as root:
            if args.command == "boot":
                # CAP_NET_ADMIN to build network namespaces of its own; the host's network is
                # shared with it (the heavy lock is held).
                caps = ("CAP_NET_ADMIN",) if args.host_network else ()
                root.boot(private_network=not args.host_network, capabilities=caps)
            proc = root.run(
                cmd or ["sh", "-c", "cat /etc/debian_version"], check=False, timeout=24 * 3600
            )
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr)
            return proc.returncode
    except RootError as exc:
        print(f"roots.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
