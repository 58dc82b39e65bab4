"""doctor's checks of the Sentinels: what they answer (reachability, count, duplicates,
quorum, agreement, how they see this server) and what their config files say. Pure: facts
in, Findings out.
"""

from __future__ import annotations

from sentinel_vip.admin.findings import FAIL, OK, WARN, Finding, without_address

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
