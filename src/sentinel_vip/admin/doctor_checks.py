"""doctor's checks of this node: the config, its secrets and TLS settings, the local Redis
and the fence (``min-replicas-to-write``, the tripwire). Each is a small function from facts
to Findings (no I/O here); the Sentinels and keepalived have modules of their own
(``doctor_sentinels``, ``doctor_keepalived``).
"""

from __future__ import annotations

from sentinel_vip.admin.findings import FAIL, OK, WARN, Finding

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


def fence(facts: dict, tripwire: dict, where: str = "") -> list:
    """What the watcher can do to hold a master's writes (see actions.fence); ``tripwire``:
    the admin's values a watcher kept (store.tripwire, in the file ``where``)."""
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
                f" that has not restored it yet (was {tripwire['to_write']}, max-lag"
                f" {tripwire['max_lag']}; kept in {where or 'its record'})",
                "start sentinel-vip-watch: it restores both at start, and runs CONFIG REWRITE"
                " if Redis restarted meanwhile (or CONFIG SET min-replicas-to-write"
                f" {tripwire['to_write']} min-replicas-max-lag {tripwire['max_lag']} and"
                " CONFIG REWRITE yourself, then delete the record)",
            )
        )
    return found
