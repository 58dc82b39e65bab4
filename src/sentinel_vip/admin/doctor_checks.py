"""doctor's checks: each a small function from gathered facts to Findings (no I/O here).

A Finding says how bad (``ok``/``warn``/``fail``), what (``item``), what was seen
(``detail``) and what to do (``fix``). ``doctor`` gathers the facts and prints the findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_vip.admin import doctor_files as files

OK, WARN, FAIL = "ok", "warn", "fail"
# Where the package installs the admin guide (packaging/layout; tests/unit/test_docs.py).
ADMIN_DOC = "/usr/share/doc/sentinel-vip/admin.md"


@dataclass(frozen=True)
class Finding:
    status: str
    item: str
    detail: str
    fix: str = ""


def without_address(address: str, error) -> str:
    """A probe's error without its leading ``address:`` (most probes start with it), so a
    line that names the address first does not name it twice."""
    text = str(error or "no answer")
    return text[len(address) + 1 :].strip() if text.startswith(f"{address}:") else text


# -- config and secrets ---------------------------------------------------------------------


def config_parsed(config) -> list:
    return [
        Finding(
            OK,
            "config",
            f"{config.path} parses: master_name={config.master_name},"
            f" {len(config.sentinels)} Sentinels, agreement {config.agreement}",
        )
    ]


def config_invalid(path: str, problems) -> list:
    """One FAIL per problem of a config that does not load: nothing else can be checked."""
    return [
        Finding(FAIL, "config", f"{path}: {problem}", "edit the file as the problem says")
        for problem in problems
    ]


def secrets(insecure: list) -> list:
    if not insecure:
        return [
            Finding(
                OK,
                "secrets",
                "config and password files readable only by root and keepalived_script",
            )
        ]
    found = []
    for message in insecure:
        detail, _, fix = message.partition("; fix: ")
        found.append(Finding(FAIL, "secrets", detail, fix))
    return found


def tls(config) -> list:
    found = []
    for name, settings in (("redis.tls", config.redis.tls), ("sentinel.tls", _stls(config))):
        if settings is not None and settings.enabled and not settings.verify:
            found.append(
                Finding(
                    WARN,
                    name,
                    "verify = false: certificates are not checked",
                    f"set {name}.verify = true and ca_file",
                )
            )
    return found


def _stls(config):
    return config.sentinels[0].tls if config.sentinels else None


# -- the local Redis --------------------------------------------------------------------------


def redis(facts: dict, vip: str) -> list:
    """``facts``: {"address", "error_kind", "error", "info" (INFO replication), "min_replicas"}."""
    address = facts["address"]
    kind = facts.get("error_kind")
    if kind == "auth":
        return [
            Finding(
                FAIL,
                "redis",
                f"{address}: authentication refused",
                "set redis.username / redis.password_file to the ACL user and"
                " password Redis expects (requirepass or ACL)",
            )
        ]
    if kind:
        fix = "start Redis, or fix redis.host / redis.port / redis.unix_socket"
        if kind == "tls":
            fix = "fix redis.tls: ca_file, server_name (a name in Redis's certificate), cert_file"
        return [Finding(FAIL, "redis", f"{address}: {facts.get('error')}", fix)]
    info = facts.get("info") or {}
    role = info.get("role")
    found = [Finding(OK, "redis", f"{address} answers, auth accepted, role {role}")]
    if vip and role == "slave" and info.get("master_host") == vip:
        found.append(
            Finding(
                FAIL,
                "replication",
                f"this replica follows the VIP {vip}",
                "replicate from the master's own address: Sentinel then"
                " reconfigures it (replicaof <master-ip> <port>)",
            )
        )
    found.append(min_replicas(facts.get("min_replicas")))
    return found


def min_replicas(value) -> Finding:
    item = "min-replicas"
    if value is None:
        return Finding(
            WARN,
            item,
            "could not read min-replicas-to-write (CONFIG GET refused)",
            "allow CONFIG GET for the check's user, or check redis.conf by hand",
        )
    if value == 0:
        return Finding(
            WARN,
            item,
            "min-replicas-to-write is 0: a master cut off from its"
            " replicas keeps accepting writes that a failover will discard",
            "set min-replicas-to-write 1 and min-replicas-max-lag 10 on every node",
        )
    return Finding(OK, item, f"min-replicas-to-write {value}: a cut-off master stops writes")


def fence(facts: dict, tripwire: dict) -> list:
    """What the watcher can do to hold a master's writes (see actions.fence)."""
    found = []
    version = facts.get("version") or ""
    parts = version.split(".")
    if not facts.get("error_kind") and version:
        numbers = tuple(int(p) for p in parts[:2] if p.isdigit())
        if numbers < (6, 2):
            found.append(
                Finding(
                    WARN,
                    "fence",
                    f"Redis {version} has no CLIENT PAUSE WRITE (6.2+): the watcher cannot"
                    " hold the writes of an isolated or replaced master",
                    "upgrade to Redis 6.2+ or Valkey; meanwhile min-replicas-to-write 1 with"
                    " min-replicas-max-lag 10 is the only fence",
                )
            )
        else:
            found.append(Finding(OK, "fence", f"CLIENT PAUSE WRITE available (Redis {version})"))
    if tripwire:
        found.append(
            Finding(
                WARN,
                "fence",
                f"min-replicas-to-write was raised to {tripwire['set_to_write']} by a watcher"
                f" that has not restored it yet (was {tripwire['to_write']})",
                "start sentinel-vip-watch: it restores the value at start (or CONFIG SET"
                f" min-replicas-to-write {tripwire['to_write']})",
            )
        )
    return found


# -- the Sentinels ------------------------------------------------------------------------------


def sentinels(config, answers, counted, replicas_via_vip: list, identity_facts) -> list:
    """Reachability, count, duplicates, quorum, agreement and identity.

    ``answers``/``counted``: ``ask_sentinels`` and ``agreement.agree``; ``identity_facts``:
    what ``doctor.identity_facts`` found about this node (local role and run_id, whose(),
    the address Sentinel sees this server at)."""
    found = []
    count = len(config.sentinels)
    majority = count // 2 + 1
    for answer in answers:
        if not answer.answered:
            found.append(
                Finding(
                    FAIL,
                    "sentinel",
                    f"{answer.address}: {without_address(answer.address, answer.error)}",
                    "start it, or fix sentinel.addresses / its password",
                )
            )
        elif answer.master is None:
            found.append(
                Finding(
                    FAIL,
                    "sentinel",
                    f"{answer.address} (id {_short(answer.sentinel_id)}) does not monitor"
                    f" {config.master_name}",
                    f"SENTINEL MONITOR {config.master_name} <master-ip> <port>"
                    f" {majority} on it, or fix master_name",
                )
            )
    ids = [f"{a.address}={_short(a.sentinel_id)}" for a in answers if a.sentinel_id]
    if ids:
        found.append(Finding(OK, "sentinel ids", " ".join(ids)))
    for address, same_as in counted.duplicates:
        found.append(
            Finding(
                FAIL,
                "duplicate sentinel",
                f"{address} reaches the same Sentinel as {same_as}: it counts once, so the"
                f" majority of {count} addresses is harder to reach than it looks",
                "list every Sentinel once in sentinel.addresses",
            )
        )
    for address, claimed in counted.contested:
        found.append(
            Finding(
                FAIL,
                "contested sentinel id",
                f"{address} answers with the id of {claimed} but names another master: one"
                " of them is not the Sentinel it claims to be (both are counted, once each)",
                "check what listens at both addresses; SENTINEL MYID must differ per Sentinel",
            )
        )
    distinct = count - len(counted.duplicates)
    reachable = sum(1 for a in answers if a.answered)
    if reachable == count and not counted.duplicates:
        found.append(Finding(OK, "sentinels", f"all {count} answer"))
    if distinct % 2 == 0:
        found.append(
            Finding(
                WARN,
                "sentinel count",
                f"{distinct} Sentinels: an even count tolerates no more failures than one fewer",
                "run an odd number (3 or 5) on independent hosts",
            )
        )
    elif distinct < 3:
        found.append(
            Finding(
                WARN,
                "sentinel count",
                f"{distinct} Sentinel: no failover if it fails",
                "run 3 Sentinels on independent hosts",
            )
        )
    else:
        found.append(Finding(OK, "sentinel count", f"{distinct} (odd)"))
    states = [answer.fields for answer in answers]
    found.extend(_quorum(config, answers, states, count, majority))
    found.extend(_agreement(counted, identity_facts))
    found.extend(_seen_as(identity_facts))
    for address in replicas_via_vip:
        found.append(
            Finding(
                FAIL,
                "replication",
                f"replica {address} follows the VIP",
                "replicate from the master's own address",
            )
        )
    return found


def _short(sentinel_id) -> str:
    return sentinel_id[:8] if sentinel_id else "?"


def _quorum(config, answers, states, count: int, majority: int) -> list:
    found = []
    for answer, fields in zip(answers, states):
        if not isinstance(fields, dict):
            continue
        quorum = int(fields.get("quorum", "0") or 0)
        others = int(fields.get("num-other-sentinels", "0") or 0)
        where = answer.address
        if quorum > count:
            found.append(
                Finding(
                    FAIL,
                    "quorum",
                    f"{where}: quorum {quorum} > {count} Sentinels: no failover can ever start",
                    f"SENTINEL SET {config.master_name} quorum {majority}",
                )
            )
        elif quorum < majority:
            found.append(
                Finding(
                    WARN,
                    "quorum",
                    f"{where}: quorum {quorum} < majority"
                    f" {majority}: a minority can mark the master down",
                    f"SENTINEL SET {config.master_name} quorum {majority}",
                )
            )
        if others + 1 != count:
            found.append(
                Finding(
                    WARN,
                    "sentinel peers",
                    f"{where} knows {others} other Sentinels, the config lists {count}",
                    "make sentinel.addresses list exactly the Sentinels"
                    " monitoring this master (SENTINEL RESET to forget old"
                    " ones)",
                )
            )
    if not found and any(isinstance(s, dict) for s in states):
        found.append(
            Finding(
                OK,
                "quorum",
                f"sane: between {majority} and {count}, every Sentinel sees the others",
            )
        )
    return found


def _agreement(counted, facts: dict) -> list:
    if not counted.named:
        return []
    found = []
    if len(counted.named) > 1 or counted.conflict:
        listed = ", ".join(
            f"{where}" + (f" ({runids} different run_ids)" if runids > 1 else "")
            for where, _, runids in counted.named
        )
        found.append(
            Finding(
                FAIL,
                "agreement",
                f"the Sentinels name different masters: {listed}",
                "wait for a failover to settle; a Sentinel that"
                " keeps disagreeing is cut off or monitors another cluster",
            )
        )
    else:
        found.append(Finding(OK, "agreement", f"all name {counted.named[0][0]}"))
    kind, why = facts.get("whose") or (None, None)
    if kind in ("loopback", "vip"):
        fix = "SENTINEL REMOVE it and SENTINEL MONITOR the master's real address"
        found.append(Finding(FAIL, "identity", why, fix))
    elif kind == "self":
        found.append(Finding(OK, "identity", why))
    elif kind is not None and facts.get("role") == "master":
        found.append(
            Finding(
                FAIL,
                "identity",
                f"local Redis is master but {why}",
                "if this node should be the master, set node.addresses to the address"
                " Sentinel uses for it (see 'seen as'); else demote it (REPLICAOF)",
            )
        )
    return found


def _seen_as(facts: dict) -> list:
    """Does the config describe this server the way the Sentinels see it?"""
    run_id = facts.get("run_id")
    if not run_id:
        return []
    seen = facts.get("seen_as")
    if seen is None:
        return [
            Finding(
                WARN,
                "seen as",
                f"no Sentinel lists this server (run_id {run_id[:8]}) as master or replica",
                "make it a replica of the master, or wait for Sentinel's next INFO (10 s)",
            )
        ]
    where, kind = seen
    if kind == "self":
        return [Finding(OK, "seen as", f"Sentinel sees this server as {where}, as the config says")]
    if kind in ("loopback", "vip"):
        detail = f"Sentinel sees this server as {where}, a {kind} address that identifies no node"
        fix = "announce the node's own address (replica-announce-ip, sentinel monitor)"
    else:
        detail = (
            f"Sentinel sees this server as {where}, but node.addresses / node.announce_port"
            " describe another address"
        )
        fix = f'set node.addresses = ["{where}"] (or fix node.announce_port)'
    return [Finding(FAIL, "seen as", detail, fix)]


# -- keepalived ----------------------------------------------------------------------------


def keepalived(config, host: dict) -> list:
    """``host``: facts gathered by doctor (installed, blocks, files, test_output, users,
    interfaces, script_path_problems, vip_local, keepalived_state, static_vip_files)."""
    if not host["installed"]:
        return [Finding(FAIL, "keepalived", "not installed", "apt install keepalived")]
    found = []
    blocks, read = host["blocks"], host["files"]
    main = config.keepalived_config_file
    if main not in read and host.get("unreadable"):
        return [
            Finding(
                WARN,
                "keepalived",
                f"{main}: permission denied: keepalived's config not checked",
                "run doctor as root",
            )
        ]
    if main not in read:
        return [
            Finding(
                FAIL,
                "keepalived",
                f"{main} not found",
                "create it with a global_defs block (enable_script_security, script_user"
                " keepalived_script) and the line include /etc/keepalived/conf.d/*.conf"
                f" (see {ADMIN_DOC}, keepalived.conf)",
            )
        ]
    if config.keepalived_snippet in read:
        found.append(
            Finding(OK, "keepalived include", f"{main} includes {config.keepalived_snippet}")
        )
    else:
        found.append(
            Finding(
                FAIL,
                "keepalived include",
                f"{main} does not include {config.keepalived_snippet}",
                f"add: include {config.keepalived_snippet}",
            )
        )
    output = host["test_output"]
    if output:
        first = " | ".join(output.splitlines()[:3])
        found.append(Finding(FAIL, "keepalived -t", first, "fix the lines it names"))
    else:
        found.append(Finding(OK, "keepalived -t", "config accepted"))
    found.extend(_script_security(config, blocks, host))
    found.extend(_instance(config, blocks, host))
    return found


def _script_security(config, blocks, host) -> list:
    found = []
    if files.global_option(blocks, "enable_script_security") is None:
        found.append(
            Finding(
                WARN,
                "script security",
                "enable_script_security is not set: scripts run as root",
                "add enable_script_security to global_defs",
            )
        )
    user_opt = files.global_option(blocks, "script_user")
    user = user_opt.args[0] if user_opt is not None and user_opt.args else "keepalived_script"
    if user not in host["users"]:
        found.append(
            Finding(
                FAIL,
                "script user",
                f"user {user} does not exist: keepalived refuses the scripts",
                f"useradd -r -s /usr/sbin/nologin {user}",
            )
        )
    else:
        found.append(Finding(OK, "script user", f"{user} exists"))
    for problem in host["script_path_problems"]:
        found.append(
            Finding(
                FAIL,
                "script path",
                problem,
                "chown root and chmod go-w every directory of the path",
            )
        )
    return found


def _instance(config, blocks, host) -> list:
    name = config.keepalived_instance
    ours = next((b for b in files.instances(blocks) if b.args[:1] == [name]), None)
    if ours is None:
        return [
            Finding(
                FAIL,
                "vrrp_instance",
                f"no vrrp_instance {name} in the keepalived config",
                "sentinel-vip render, then include its file",
            )
        ]
    found = []
    iface = ours.value("interface")
    if iface not in host["interfaces"]:
        found.append(
            Finding(
                FAIL,
                "interface",
                f"{iface} (vrrp_instance {name}) does not exist on this host",
                "set vip.interface and render again",
            )
        )
    else:
        found.append(Finding(OK, "interface", f"{iface} exists"))
    found.extend(vip_agreement(config, ours))
    weighted = files.weights_with_nopreempt(blocks, ours)
    if weighted:
        found.append(
            Finding(
                FAIL,
                "nopreempt",
                f"nopreempt with {', '.join(weighted)}: a better node never takes over",
                "remove nopreempt",
            )
        )
    clashes = files.vrid_clashes(blocks, name)
    vrid = ours.value("virtual_router_id")
    if clashes:
        found.append(
            Finding(
                FAIL,
                "virtual_router_id",
                f"{vrid} also used by {', '.join(clashes)} on {iface}",
                "give each instance its own keepalived.virtual_router_id",
            )
        )
    else:
        found.append(
            Finding(
                OK,
                "virtual_router_id",
                f"{vrid}, unique in this config;"
                f" priority {ours.value('priority')} (must differ per node)",
            )
        )
    found.extend(_static_vip(config, host))
    return found


def vip_agreement(config, instance) -> list:
    """The VIP, its prefix and its interface as keepalived's instance has them, against
    ``vip.*`` in the TOML. render writes them from the TOML; a hand-edited instance may not
    match, and then the check guards an address (a Sentinel naming the VIP is no identity)
    that keepalived does not move."""
    vip = config.vip_address
    if not vip:
        return []  # _static_vip says vip.address is empty
    entries = _virtual_addresses(instance)
    name = instance.args[0] if instance.args else "?"
    match = next((e for e in entries if _same_ip(e[0], vip)), None)
    if match is None:
        moved = ", ".join(f"{a}/{p}" if p else a for a, p, _ in entries) or "no address"
        return [
            Finding(
                FAIL,
                "vip",
                f"vrrp_instance {name} moves {moved}; vip.address is {vip}",
                "sentinel-vip render (it writes the instance from the TOML), or set"
                " vip.address to the address keepalived moves",
            )
        ]
    _, prefix, device = match
    device = device or instance.value("interface") or ""
    host = 128 if ":" in vip else 32
    want_prefix = config.vip_prefix or host
    have_prefix = prefix or host
    found = []
    if have_prefix != want_prefix:
        found.append(
            Finding(
                WARN,
                "vip",
                f"vrrp_instance {name} gives {vip} prefix /{have_prefix};"
                f" vip.prefix says /{want_prefix}",
                f"set vip.prefix = {have_prefix}, or sentinel-vip render to apply /{want_prefix}",
            )
        )
    if config.vip_interface and device != config.vip_interface:
        found.append(
            Finding(
                WARN,
                "vip",
                f"vrrp_instance {name} puts {vip} on {device}; vip.interface is"
                f" {config.vip_interface}",
                f"set vip.interface = {device!r}, or sentinel-vip render to use"
                f" {config.vip_interface}",
            )
        )
    if not found:
        found.append(
            Finding(OK, "vip", f"{vip}/{have_prefix} on {device}: keepalived and the TOML agree")
        )
    return found


def _virtual_addresses(instance) -> list:
    """(address, prefix or 0, dev or "") for each VIP line of a vrrp_instance."""
    entries = []
    for keyword in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
        for block in instance.find(keyword):
            for line in block.children:
                address, _, prefix = line.keyword.partition("/")
                args = line.args
                device = args[args.index("dev") + 1] if "dev" in args[:-1] else ""
                entries.append((address, int(prefix) if prefix.isdigit() else 0, device))
    return entries


def _same_ip(text: str, vip: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(text) == ipaddress.ip_address(vip)
    except ValueError:
        return False


def _static_vip(config, host) -> list:
    vip = config.vip_address
    if not vip:
        return [Finding(WARN, "vip", "vip.address is empty", "set vip.address")]
    found = []
    for path in host["static_vip_files"]:
        found.append(
            Finding(
                FAIL,
                "static vip",
                f"{path} configures {vip}: two nodes could hold it",
                f"remove {vip} from {path}; keepalived adds it",
            )
        )
    if host["vip_local"] and host["keepalived_state"] != "MASTER":
        found.append(
            Finding(
                WARN,
                "static vip",
                f"{vip} is on this host but keepalived's"
                f" last state is {host['keepalived_state'] or 'unknown'}",
                f"if keepalived is not MASTER here: ip addr del {vip}/<prefix> dev <interface>",
            )
        )
    if not found:
        found.append(Finding(OK, "static vip", f"{vip} is not configured outside keepalived"))
    return found


# -- Sentinel's config files -------------------------------------------------------------------


def sentinel_files(config, confs: list, classify, unreadable=()) -> list:
    """``unreadable``: configured Sentinel files this user may not read (Debian's
    /etc/redis is redis:redis 2770): not checked, said so, never taken for absent."""
    skipped = [
        Finding(
            WARN,
            "sentinel.conf",
            f"{path}: permission denied: not checked",
            "run doctor as root to check Sentinel's config",
        )
        for path in unreadable
    ]
    if not confs and skipped:
        return skipped
    if not confs:
        return [
            Finding(
                WARN,
                "sentinel.conf",
                f"no Sentinel config on this node ({', '.join(config.sentinel_config_files)})",
                "fine when the Sentinels run elsewhere; else set sentinel.config_files",
            )
        ]
    found = skipped
    for conf in confs:
        for included, name in conf.included_monitors:
            found.append(
                Finding(
                    FAIL,
                    "sentinel.conf",
                    f"sentinel monitor {name} in included"
                    f" {included}: Sentinel copies it into {conf.path} and the next"
                    " start fails (Duplicate master name)",
                    "move it out; declare masters with SENTINEL MONITOR",
                )
            )
        for name, host, port, _quorum in conf.monitors:
            if name == config.master_name and classify(host, _port(port)) == "loopback":
                found.append(
                    Finding(
                        FAIL,
                        "sentinel.conf",
                        f"{conf.path} monitors {name} at {host} (Debian's stock line)",
                        f"SENTINEL REMOVE {name}, then SENTINEL MONITOR {name}"
                        " <master-ip> <port> <quorum>",
                    )
                )
        snippet = [i for i in conf.includes if i.endswith("sentinel-vip-sentinel.conf")]
        if config.sentinel_snippet and config.sentinel_snippet not in conf.includes:
            snippet = []
        if snippet:
            found.append(Finding(OK, "sentinel snippet", f"{conf.path} includes {snippet[0]}"))
        else:
            found.append(
                Finding(
                    WARN,
                    "sentinel snippet",
                    f"{conf.path} does not include sentinel-vip-sentinel.conf",
                    f"add: include {conf.path.rsplit('/', 1)[0]}/sentinel-vip-sentinel.conf",
                )
            )
    return found


def _port(text) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
