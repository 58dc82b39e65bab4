"""status, doctor and render over every instance of the node (``config.instances``).

With one instance the commands run as they always did (``cli`` does not come here). With
several, each instance is reported or rendered by the same per-config code, under a heading
that names it, and doctor adds what only the set can show: two instances sharing what they
must not (a virtual_router_id, a VIP, a track file...), and an instance whose Sentinels are
not the others' while those others do monitor its master.
"""

from __future__ import annotations

import sys

from sentinel_vip.admin import doctor_checks as checks
from sentinel_vip.config import instances as fleet
from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ConfigError, ExitCode
from sentinel_vip.log import escape_controls

SCHEMA = 1  # of the several-instance status document: {"instances": {name: status doc}}
SENTINEL_PROBE = 1.5


def heading(name: str, path: str) -> str:
    return f"== instance {name} ({escape_controls(path)})\n"


# -- status -------------------------------------------------------------------------------------


def status(main_path: str, as_json: bool = False, transitions: int = 5, out=None) -> int:
    from sentinel_vip.admin import status as one

    out = out or sys.stdout
    loaded, problems = fleet.load_all(main_path)
    if not loaded:
        raise ConfigError(main_path, problems)
    docs = {name: one.gather(config, transitions) for name, config in loaded}
    if as_json:
        import json

        document = {"schema": SCHEMA, "instances": docs, "problems": list(problems)}
        out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0
    for name, config in loaded:
        out.write(heading(name, config.path))
        out.write(one.table(docs[name]))
    for problem in problems:
        out.write(f"problem  {escape_controls(problem)}\n")
    return 0


# -- render -------------------------------------------------------------------------------------


def render(main_path: str, dry_run: bool = False, out=None) -> int:
    """Every instance's keepalived snippet (one vrrp_instance each) and the Sentinel snippet
    once. Nothing is written while any instance is invalid or clashes with another."""
    from sentinel_vip.admin import render as one

    out = out or sys.stdout
    loaded, problems = fleet.load_all(main_path)
    if problems or not loaded:
        raise ConfigError(main_path, problems or ["no instance to render"])
    for index, (name, config) in enumerate(loaded):
        out.write(heading(name, config.path))
        one.run(config, dry_run=dry_run, out=out, sentinel=index == 0)
    return 0


# -- doctor -------------------------------------------------------------------------------------


def doctor(main_path: str, out=None) -> int:
    from sentinel_vip.admin import doctor as one

    out = out or sys.stdout
    members, problems = fleet.discover(main_path)
    fix = "rename or remove the file"
    found = [checks.Finding(checks.FAIL, "instances", p, fix) for p in problems]
    loaded = []
    for name, path in members:
        try:
            config = _load(path)
        except ConfigError as exc:
            found += _named(name, checks.config_invalid(exc.path, exc.problems))
            continue
        found += _named(name, one.findings(config))
        loaded.append((name, config))
    found += set_findings(loaded)
    out.write(one.report(found))
    return one.exit_code(found)


def _load(path: str):
    from sentinel_vip.config.load import load

    return load(path)


def _named(name: str, found: list) -> list:
    return [checks.Finding(f.status, f"{name}/{f.item}", f.detail, f.fix) for f in found]


def set_findings(loaded, ask=None) -> list:
    """What only the set of instances shows: clashes, and odd Sentinel sets."""
    found = []
    for index, (name, config) in enumerate(loaded):
        for clash in fleet.clashes(loaded[:index], name, config):
            found.append(
                checks.Finding(
                    checks.FAIL,
                    f"{name}/instances",
                    clash,
                    "each instance needs its own value (see docs/admin.md, several masters)",
                )
            )
    if len(loaded) > 1 and not found:
        found.append(
            checks.Finding(
                checks.OK,
                "instances",
                f"{len(loaded)} instances share no VIP, virtual_router_id, track file or state",
            )
        )
    for name, config, missing, extra in fleet.odd_sentinel_sets(loaded):
        found.append(odd_sentinels(name, config, missing, extra, loaded, ask))
    return found


def odd_sentinels(name, config, missing, extra, loaded, ask=None):
    """An instance whose Sentinels are not the others': a reason is that the Sentinels it
    leaves out do not monitor its master. If any of them does, its majority is counted
    against the wrong number of Sentinels: FAIL."""
    endpoints = {}
    for _, other in loaded:
        for endpoint in other.sentinels:
            endpoints.setdefault(endpoint.label(), endpoint)
    probe = [endpoints[label] for label in missing if label in endpoints]
    monitoring, unanswered = [], []
    if probe:
        if ask is None:
            from sentinel_vip.probes.sentinel import ask_sentinels as ask
        for answer in ask(probe, config.master_name, Deadline(SENTINEL_PROBE)):
            if not answer.answered:
                unanswered.append(answer.address)
            elif answer.master is not None:
                monitoring.append(answer.address)
    differs = []
    if missing:
        differs.append(f"leaves out {', '.join(missing)}")
    if extra:
        differs.append(f"adds {', '.join(extra)}")
    detail = f"Sentinels differ from the other instances': {'; '.join(differs)}"
    if monitoring:
        return checks.Finding(
            checks.FAIL,
            f"{name}/sentinels",
            f"{detail}; yet {', '.join(monitoring)} monitor {config.master_name}",
            f"list every Sentinel that monitors {config.master_name} in {config.path}",
        )
    if unanswered:
        return checks.Finding(
            checks.WARN,
            f"{name}/sentinels",
            f"{detail}; {', '.join(unanswered)} did not answer: cannot tell why",
            "run doctor again when those Sentinels answer",
        )
    reason = (
        f"; those do not monitor {config.master_name}" if missing else " (extra Sentinels only)"
    )
    return checks.Finding(checks.OK, f"{name}/sentinels", detail + reason)


def exit_code(found: list) -> int:
    failed = any(f.status == checks.FAIL for f in found)
    return int(ExitCode.PROBLEMS_FOUND if failed else ExitCode.OK)
