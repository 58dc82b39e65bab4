"""doctor's checks of keepalived: the script security it needs, our VRRP instance in its
parsed config (``doctor_files``), the VIP it holds against the one the TOML names, and no
static copy of the VIP outside it. Pure: facts in, Findings out.
"""

from __future__ import annotations

from sentinel_vip.admin import doctor_files as files
from sentinel_vip.admin.findings import ADMIN_DOC, FAIL, OK, WARN, Finding

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
