"""``sentinel-vip doctor``: check what commonly breaks, say how to fix it.

Gathers facts (Redis and the Sentinels over the network, keepalived's and Sentinel's files,
users, interfaces, ``keepalived -t``), hands them to the pure checks (``doctor_checks``,
``doctor_sentinels``, ``doctor_keepalived``, ``doctor_local``) and prints one line per
finding. Exit status: 0 when nothing failed (warnings allowed),
ExitCode.PROBLEMS_FOUND otherwise. Every host path is in ``Host`` so tests can point it
elsewhere.
"""

from __future__ import annotations

import glob as globmod
import os
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass

from sentinel_vip.admin import doctor_checks as checks
from sentinel_vip.admin import doctor_files as files
from sentinel_vip.admin import doctor_keepalived, doctor_sentinels
from sentinel_vip.admin import doctor_local as local
from sentinel_vip.admin.findings import FAIL, OK, WARN
from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ExitCode
from sentinel_vip.log import escape_controls
from sentinel_vip.store import history

DEADLINE = 5.0
KEEPALIVED_TEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Host:
    """Where doctor looks on this machine; tests replace any of it."""

    sys_class_net: str = "/sys/class/net"
    static_network_globs: tuple = files.STATIC_NETWORK_GLOBS
    keepalived: str = "keepalived"  # found on PATH, else /usr/sbin/keepalived

    def keepalived_binary(self):
        return shutil.which(self.keepalived) or (
            "/usr/sbin/keepalived" if os.access("/usr/sbin/keepalived", os.X_OK) else None
        )


# -- gathering -----------------------------------------------------------------------------


def redis_facts(endpoint, timeout: float) -> dict:
    """INFO replication and server, and CONFIG GET min-replicas-to-write (None when refused:
    ``checks.min_replicas`` says so), in one round trip."""
    from sentinel_vip.probes.local_redis import parse_info
    from sentinel_vip.probes.resp import ProbeError, ReplyError, connect

    facts = {"address": endpoint.label(), "error_kind": None, "error": None}
    try:
        with connect(endpoint, Deadline(timeout)) as conn:
            replication, server, limit = conn.pipeline(
                ("INFO", "replication"), ("INFO", "server"),
                ("CONFIG", "GET", "min-replicas-to-write"),
            )  # fmt: skip
        for reply in (replication, server):
            if isinstance(reply, ReplyError):  # an ACL without +info
                raise reply
    except ProbeError as exc:
        facts["error_kind"], facts["error"] = exc.kind, str(exc)[:200]
        return facts
    facts["info"] = parse_info(replication)
    server = parse_info(server)
    facts["version"] = str(server.get("valkey_version") or server.get("redis_version", ""))
    pairs = dict(zip(limit[::2], limit[1::2])) if isinstance(limit, list) else {}
    value = str(pairs.get("min-replicas-to-write", ""))
    facts["min_replicas"] = int(value) if value.isdigit() else None
    return facts


def fence_saved(config) -> tuple:
    """(the tripwire a watcher armed and has not restored (actions.fence) or {}, its file)."""
    from sentinel_vip.store import tripwire

    return tripwire.saved(config), tripwire.path(config)


def switchover_left(config) -> list:
    """A switchover whose process is gone left replica priorities changed (store.switchover)."""
    from sentinel_vip.store import switchover

    record = switchover.saved(config)
    if not record or switchover.alive(record["pid"]):
        return []
    steered = ", ".join(f"{h}:{p} {now} (was {was})" for h, p, was, now in record["steered"])
    return [
        checks.Finding(
            checks.WARN,
            "switchover",
            f"an interrupted switchover ({record['master']} -> {record['target']}) left"
            f" replica-priority changed: {steered or 'none yet'} ({switchover.path(config)})",
            "run `sentinel-vip switchover --restore` (or the next switchover does it)",
        )
    ]


def sentinel_replicas(config, timeout: float) -> list:
    """The replicas of ``master_name`` as the first answering Sentinel knows them (SENTINEL
    REPLICAS), each a dict of strings; [] when none answers."""
    from sentinel_vip.probes.resp import ProbeError, connect

    deadline = Deadline(timeout)
    for endpoint in config.sentinels:
        try:
            with connect(endpoint, deadline) as conn:
                replies = conn.call("SENTINEL", "REPLICAS", config.master_name)
        except ProbeError:
            continue
        found = []
        for reply in replies if isinstance(replies, list) else ():
            if isinstance(reply, list):
                found.append({str(k): str(v) for k, v in zip(reply[::2], reply[1::2])})
        return found
    return []


def replicas_via_vip(config, replicas: list) -> list:
    """Replicas whose master-host is the VIP."""
    if not config.vip_address:
        return []
    return [
        f"{r.get('ip')}:{r.get('port')}"
        for r in replicas
        if r.get("master-host") == config.vip_address
    ]


def identity_facts(config, identity, counted, answers, replicas: list, deadline) -> dict:
    """This node as the Sentinels see it: the local role and run_id, what the agreed master
    is to this node (``agreement.whose``), and the address a Sentinel lists this server at
    (found by its run_id in SENTINEL MASTER or SENTINEL REPLICAS) with what the config
    makes of that address."""
    from sentinel_vip.decision.address import canonical_host, label, port_number
    from sentinel_vip.decision.agreement import whose
    from sentinel_vip.probes.identity import confirm_named
    from sentinel_vip.probes.local_redis import probe_redis

    local = probe_redis(config.redis, deadline)
    facts: dict = {"role": local.role, "run_id": local.run_id}
    if counted.agreed and local.run_id:
        named = confirm_named(config, identity, local, counted, deadline)
        facts["whose"] = whose(counted, local, identity.classify, named)
    seen = None
    for answer in answers:
        if answer.fields and local.run_id and answer.fields.get("runid") == local.run_id:
            seen = answer.about
    for replica in replicas:
        if local.run_id and replica.get("runid") == local.run_id:
            host, port = canonical_host(replica.get("ip")), port_number(replica.get("port"))
            if host is not None and port is not None:
                seen = (host, port)
    if seen is not None:
        facts["seen_as"] = (label(*seen), identity.classify(*seen))
    return facts


def script_path_problems(path: str) -> list:
    """keepalived refuses a script with any path component not root-owned or writable by
    group/others (enable_script_security)."""
    if not path:
        return []
    real = os.path.realpath(path)
    problems = []
    parts = real.split("/")
    for depth in range(1, len(parts) + 1):
        component = "/".join(parts[:depth]) or "/"
        try:
            info = os.stat(component)
        except OSError as exc:
            problems.append(f"{component}: {exc.strerror}")
            break
        if info.st_uid != 0:
            problems.append(f"{component} is not owned by root")
        if stat.S_IMODE(info.st_mode) & 0o022 and not (info.st_mode & stat.S_ISVTX):
            problems.append(f"{component} is writable by group or others")
    return problems


def keepalived_test(binary: str, config_file: str) -> str:
    """keepalived -t: 2.2.7 ends with SIGTERM even on a good config, so its verdict is its
    output (empty = valid), not its exit status."""
    try:
        proc = subprocess.run(
            [binary, "-t", "-f", config_file],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=KEEPALIVED_TEST_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run keepalived -t: {exc}"
    return (proc.stdout + proc.stderr).strip()


def static_vip_files(globs, vip: str) -> list:
    found = []
    for pattern in globs:
        for path in sorted(globmod.glob(pattern)):
            text = files.read_text(path)
            if text and files.mentions(text, vip):
                found.append(path)
    return found


def host_facts(config, host: Host) -> dict:
    from sentinel_vip.probes.identity import vip_held

    binary = host.keepalived_binary()
    refused: list = []
    blocks, read = files.parse_keepalived(config.keepalived_config_file, _noting(refused))
    script = ""
    for block in blocks:
        if block.keyword == "vrrp_script" and block.args[:1] == ["sentinel_vip_check"]:
            value = block.value("script", "")
            script = value.split()[0] if value else ""
    try:
        interfaces = set(os.listdir(host.sys_class_net))
    except OSError:
        interfaces = set()
    users = set()
    for block in blocks:
        if block.keyword == "global_defs":
            user = block.value("script_user")
            if user:
                users.add(user)
    users.add("keepalived_script")
    existing_users = set()
    for user in users:
        try:
            pwd.getpwnam(user)
            existing_users.add(user)
        except KeyError:
            pass
    last = history.last_state(config.history_file, config.keepalived_instance)
    return {
        "installed": binary is not None,
        "refused": refused,
        "unreadable": files.unreadable(config.keepalived_config_file),
        "blocks": blocks,
        "files": read,
        "test_output": keepalived_test(binary, config.keepalived_config_file)
        if binary and config.keepalived_config_file in read
        else "",
        "users": existing_users,
        "interfaces": interfaces,
        "script_path_problems": script_path_problems(script),
        "vip_local": bool(vip_held(config.vip_address)),
        "keepalived_state": last,
        "static_vip_files": static_vip_files(host.static_network_globs, config.vip_address)
        if config.vip_address
        else [],
    }


def _noting(refused: list):
    """files.read_text that also notes (path, reason) of each file it refused to read."""

    def read(path: str):
        text = files.read_text(path)
        if text is None:
            reason = files.refusal(path)
            if reason:
                refused.append((path, reason))
        return text

    return read


def sentinel_confs(config, refused=None) -> tuple:
    """(parsed configs, paths this user may not read) of ``sentinel.config_files``; files
    refused (a FIFO, a device, a planted symlink) are added to ``refused``."""
    refused = [] if refused is None else refused
    read = _noting(refused)
    confs, unreadable = [], []
    for path in config.sentinel_config_files:
        text = read(path)
        if text is not None:
            confs.append(files.parse_sentinel_conf(path, text, read))
        elif files.unreadable(path):
            unreadable.append(path)
    return confs, unreadable


def findings(config, host: Host = Host()) -> list:
    from sentinel_vip.config.load import insecure_files
    from sentinel_vip.decision.agreement import agree
    from sentinel_vip.probes.identity import identity_of
    from sentinel_vip.probes.sentinel import ask_sentinels

    identity = identity_of(config)
    deadline = Deadline(DEADLINE)
    found = checks.config_parsed(config)
    found += checks.secrets(list(insecure_files(config)))
    found += checks.tls(config)
    redis = redis_facts(config.redis, deadline.timeout(cap=2.0))
    found += checks.redis(redis, config.vip_address)
    found += checks.fence(redis, *fence_saved(config))
    found += switchover_left(config)
    answers = ask_sentinels(config.sentinels, config.master_name, deadline)
    counted = agree(answers, config.agreement, len(config.sentinels))
    replicas = sentinel_replicas(config, deadline.timeout(cap=2.0))
    me = identity_facts(config, identity, counted, answers, replicas, deadline)
    found += doctor_sentinels.sentinels(
        config, answers, counted, replicas_via_vip(config, replicas), me
    )
    facts = host_facts(config, host)
    refused = facts["refused"]
    if config.keepalived_config_file not in dict(refused):  # else "not found" would mislead
        found += doctor_keepalived.keepalived(config, facts)
    confs, unreadable = sentinel_confs(config, refused)
    found += doctor_sentinels.sentinel_files(config, confs, identity.classify, unreadable)
    found += local_findings(config, refused)
    return found


def local_findings(config, refused: list) -> list:
    """The local attack surface (doctor_local): refused files, the track file's directory,
    our files' ownership, the notify hooks, and how the local Redis is reached."""
    from sentinel_vip.probes.identity import local_addresses

    found = local.refused_files(refused)
    found += local.track_dir(local.track_dir_facts(config))
    found += local.ownership(local.file_facts(config))
    found += local.hooks(local.hook_facts(config))
    found += local.transport(config, local.socket_facts(config), local_addresses())
    return found


# -- presentation -----------------------------------------------------------------------------


def report(found: list) -> str:
    width = max((len(f.item) for f in found), default=0)
    lines = []
    for f in found:
        # Details quote files other users can write (Sentinel's config) and peers' answers:
        # never raw to the admin's terminal.
        detail, fix = escape_controls(f.detail), escape_controls(f.fix or "")
        lines.append(
            f"{f.status.upper() if f.status != 'ok' else 'ok':4}  {f.item:{width}}  {detail}"
        )
        if fix and f.status != OK:
            lines.append(f"{'':4}  {'':{width}}  fix: {fix}")
    counts = {s: sum(1 for f in found if f.status == s) for s in (OK, WARN, FAIL)}
    lines.append(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines) + "\n"


def parse_report(text: str) -> dict:
    """item -> [status as printed ("ok", "WARN", "FAIL"), ...], read back from ``report``'s
    lines, for scripts and tests that judge a doctor run by its output."""
    found: dict = {}
    for line in text.splitlines():
        status, _, rest = line.partition("  ")
        status = status.strip()
        if status in ("ok", "WARN", "FAIL") and rest.strip():
            found.setdefault(rest.strip().split("  ", 1)[0], []).append(status)
    return found


def exit_code(found: list) -> int:
    failed = any(f.status == FAIL for f in found)
    return int(ExitCode.PROBLEMS_FOUND if failed else ExitCode.OK)


def run(config, host: Host = Host(), out=None) -> int:
    out = out or sys.stdout
    found = findings(config, host)
    out.write(report(found))
    return exit_code(found)


def run_invalid(error, out=None) -> int:
    """doctor on a config that does not load: every problem as a FAIL line, exit 13, so the
    admin gets doctor's report format (and exit code) instead of a bare CONFIG error."""
    out = out or sys.stdout
    found = checks.config_invalid(error.path, error.problems)
    out.write(report(found))
    return exit_code(found)
