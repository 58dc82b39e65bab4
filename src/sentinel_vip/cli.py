"""Command line: dispatch to the commands and the one guard that maps errors to exit codes.

keepalived runs ``check`` every second, so a plain ``check`` skips argparse (several ms of
import); everything else, ``--help`` included, goes through argparse.
"""

from __future__ import annotations

import os
import sys

from sentinel_vip import stopping
from sentinel_vip.errors import ExitCode, SentinelVipError, Terminated, UsageError

PROG = "sentinel-vip"
COMMANDS = {
    "check": "keepalived track script: exit 0 only on the Sentinel-agreed master",
    "notify": "keepalived notify hook: log, record and demote a stale master",
    "watch": "service: re-evaluate the check on Sentinel events (faster failover)",
    "status": "show this node: Redis, Sentinels, VIP, keepalived, check, transitions",
    "doctor": "check the setup and say how to fix what is wrong",
    "render": "write the keepalived instance and Sentinel snippet from the TOML",
    "switchover": "move the master and the VIP to a chosen replica, losing no write",
}


# The commands that serve every instance of the node (config.instances) when it has several.
SEVERAL = ("watch", "status", "doctor", "render")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Before anything is imported: the watcher's stop must never raise inside an import.
    stopping.install(raising=not _is_watch(argv))
    logger = None
    try:
        command, config_path, rest = _parse(argv)
        if command == "version":
            from sentinel_vip.version import VERSION

            print(f"{PROG} {VERSION}")
            return 0
        if command in SEVERAL:
            several = _several(command, config_path, rest)
            if several is not None:
                return several
        if command == "doctor":
            return _doctor(config_path)
        config = _load_config(config_path, cached=command == "check")
        from sentinel_vip.log import Logger

        logger = Logger.from_config(config)
        return _run(command, config, logger, rest)
    except Terminated:
        _report(logger, "terminated", "stopped by SIGTERM (keepalived script timeout?)")
        return int(ExitCode.TERMINATED)
    except SentinelVipError as exc:
        _report(logger, "error", str(exc), code=int(exc.exit_code))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # the last line of defence: never a traceback to keepalived
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        _report(logger, "internal_error", f"{detail} (please report this bug)", code=70)
        return int(ExitCode.INTERNAL)


def entry() -> None:
    """The zipapp's entry point: run ``main`` and exit with its code.

    ``os._exit`` after flushing stdout/stderr skips the interpreter's teardown (freeing every
    module and object: ~2.5 ms, paid by the check every second). Nothing needs it: files are
    closed where they are written, no command registers atexit work, and threads still
    running are daemons by design (a hung Sentinel's worker).
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # keepalived gives us /dev/null; a closed pipe must not change the code
    os._exit(code)


def _is_watch(argv: list[str]) -> bool:
    """``watch`` as the command word (not as the value of ``--config``)."""
    words = [a for i, a in enumerate(argv) if i == 0 or argv[i - 1] != "--config"]
    return "watch" in words


def _parse(argv: list[str]) -> tuple[str, str | None, list[str]]:
    fast = _fast_parse(argv)
    if fast is not None:
        return fast
    return _argparse(argv)


def _fast_parse(argv: list[str]):
    """``check`` and ``notify ARGS`` as keepalived calls them, without argparse."""
    config = None
    rest = list(argv)
    if len(rest) >= 2 and rest[0] == "--config":
        config, rest = rest[1], rest[2:]
    if rest == ["check"]:
        return "check", config, []
    if rest and rest[0] == "notify" and not any(a.startswith("-") for a in rest[1:]):
        return "notify", config, rest[1:]
    return None


def _argparse(argv: list[str]):
    args = build_parser().parse_args(argv)
    if not args.command:
        raise UsageError(f"no command given: choose one of {', '.join(COMMANDS)} (see --help)")
    # notify gets its positional arguments; the admin commands get their parsed options.
    return args.command, args.config, getattr(args, "args", args)


def exit_codes_text(command: str | None = None) -> str:
    """The exit codes for --help, from errors (the one source): one command's with their
    names, or (None) every command's numbers in one line each."""
    from sentinel_vip.errors import ANY_COMMAND, COMMAND_CODES

    if command is not None:
        codes = (*COMMAND_CODES.get(command, (ExitCode.OK,)), *ANY_COMMAND)
        lines = [f"exit status (man 8 {PROG}, EXIT STATUS, says what each means):", " "]
        for code in codes:
            item = f" {int(code)} {code.name},"
            if len(lines[-1]) + len(item) > 78:
                lines.append(" ")
            lines[-1] += item
        return "\n".join(lines)[:-1]
    lines = ["exit status (man 8 sentinel-vip, EXIT STATUS, says what each means):"]
    for name, codes in COMMAND_CODES.items():
        lines.append(f"  {name:8} {' '.join(str(int(c)) for c in codes)}")
    lines.append(f"  {'any':8} {' '.join(str(int(c)) for c in ANY_COMMAND)}")
    return "\n".join(lines)


def build_parser():
    """The argparse parser: --help, and the man page's SYNOPSIS and OPTIONS (make docs)."""
    import argparse

    from sentinel_vip.version import VERSION

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(f"{message} (see '{PROG} --help')")

    raw = argparse.RawDescriptionHelpFormatter

    def command(name: str, **kwargs):
        return sub.add_parser(
            name, help=COMMANDS[name], description=COMMANDS[name],
            epilog=exit_codes_text(name), formatter_class=raw, **kwargs,
        )  # fmt: skip

    parser = Parser(
        prog=PROG,
        description="Keep a keepalived floating IP on the master that Redis Sentinel elected.",
        epilog="config: --config, else $SENTINEL_VIP_CONFIG, else "
        "/etc/sentinel-vip/sentinel-vip.toml\n"
        f"{exit_codes_text()}\nmanual: man 8 {PROG}",
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    parser.add_argument("--config", metavar="PATH", help="config file to use")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    command("check")
    notify = command(
        "notify",
        usage=f"{PROG} notify {{INSTANCE|GROUP}} NAME STATE PRIORITY | "
        "{master|backup|fault|stop} [NAME]",
    )
    notify.add_argument(
        "args", nargs="*", metavar="ARG", help="what keepalived appends: TYPE NAME STATE PRIORITY"
    )
    command("watch")
    sub.add_parser("version", help="print the version")
    status = command("status")
    status.add_argument(
        "--json",
        action="store_true",
        help="a versioned JSON document (schema: /usr/share/doc/sentinel-vip/admin.md)",
    )
    status.add_argument("--transitions", type=int, default=5, metavar="N",
                        help="show the last N transitions (default 5)")  # fmt: skip
    command("doctor")
    render = command("render")
    render.add_argument("--dry-run", action="store_true", help="show a diff, write nothing")
    switchover = command("switchover")
    switchover.add_argument(
        "--to",
        metavar="NODE",
        help="the replica to promote: host:port as Sentinel lists it, or a"
        " name resolving to one (default: the one Sentinel prefers)",
    )
    switchover.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    switchover.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds for the promotion, then for the VIP (default 30)",
    )
    switchover.add_argument(
        "--dry-run",
        action="store_true",
        help="check the preconditions and print the plan, change nothing",
    )
    switchover.add_argument(
        "--no-fence",
        action="store_true",
        help="allow a master without CLIENT PAUSE WRITE (Redis < 6.2)",
    )
    switchover.add_argument(
        "--restore",
        action="store_true",
        help="only put back what an interrupted switchover changed",
    )
    return parser


def _doctor(config_path: str | None) -> int:
    """doctor reports an invalid config in its own format rather than failing on it."""
    from sentinel_vip.admin import doctor
    from sentinel_vip.errors import ConfigError

    try:
        config = _load_config(config_path)
    except ConfigError as exc:
        return doctor.run_invalid(exc)
    return doctor.run(config)


def _several(command: str, cli_value: str | None, rest):
    """The command over several instances, or None when the node has one (then everything
    runs exactly as with a single config)."""
    from sentinel_vip.config import instances
    from sentinel_vip.config.files import resolve_path

    path = resolve_path(cli_value, os.environ)
    members, problems = instances.discover(path)
    if members == ((instances.DEFAULT_NAME, path),) and not problems:
        return None
    from sentinel_vip.admin import several

    if command == "status":
        return several.status(path, as_json=rest.json, transitions=max(0, rest.transitions))
    if command == "doctor":
        return several.doctor(path)
    if command == "render":
        return several.render(path, dry_run=rest.dry_run)
    from sentinel_vip.actions import dispatch
    from sentinel_vip.errors import ConfigError
    from sentinel_vip.log import Logger

    loaded, problems = instances.load_all(path)
    if not loaded:
        raise ConfigError(path, problems)
    return dispatch.run(loaded, problems, Logger.from_config(loaded[0][1]))


def _notify_config(config, transition):
    """The instance keepalived names (``INSTANCE name``): when it is not ``config``'s own
    vrrp_instance, the instance of the node whose vrrp_instance it is. keepalived gives every
    instance the same notify command unless render wrote ``--config`` into it."""
    if transition.kind != "INSTANCE" or transition.name == config.keepalived_instance:
        return config
    from sentinel_vip.config import instances

    found = instances.by_vrrp_name(instances.load_all(config.path)[0], transition.name)
    return config if found is None else found[1]


def _load_config(cli_value: str | None, cached: bool = False):
    from sentinel_vip.config.files import resolve_path

    path = resolve_path(cli_value, os.environ)
    if cached:  # the check runs every second: no TOML parsing while the file is unchanged
        from sentinel_vip.config import cache as config_cache

        return config_cache.load(path)
    from sentinel_vip.config import load as config

    return config.load(path)


def _run(command: str, config, logger, rest: list[str]) -> int:
    if command == "check":
        from sentinel_vip.actions import check

        return check.run(config, logger)
    if command == "notify":
        from sentinel_vip.actions import notify

        transition = notify.parse_args(rest)
        return notify.run(_notify_config(config, transition), logger, transition)
    if command == "watch":
        from sentinel_vip.actions import watch

        return watch.run(config, logger)
    if command == "status":
        from sentinel_vip.admin import status

        return status.run(config, as_json=rest.json, transitions=max(0, rest.transitions))
    if command == "render":
        from sentinel_vip.admin import render

        return render.run(config, dry_run=rest.dry_run)
    if command == "switchover":
        from sentinel_vip.actions import switchover_run

        if not 0 < rest.timeout <= 3600:
            raise UsageError("--timeout: expected seconds between 0 and 3600")
        return switchover_run.run(
            config, logger, to=rest.to, yes=rest.yes, timeout=rest.timeout,
            dry_run=rest.dry_run, no_fence=rest.no_fence, restore_only=rest.restore,
        )  # fmt: skip
    raise UsageError(f"unknown command {command!r}")


def _report(logger, event: str, message: str, code: int | None = None) -> None:
    from sentinel_vip.log import default_logger, escape_controls

    # One line, whatever the message quotes (argv, config values, a peer's reply).
    message = escape_controls(message)
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
    except (OSError, ValueError):
        pass
    target = logger or default_logger()
    try:
        target.write("err", _event_line(event, message, code))
    except Exception:  # noqa: S110 - reporting must never raise
        pass


def _event_line(event: str, message: str, code: int | None) -> str:
    from sentinel_vip.log import fmt_event

    return fmt_event(event, code=code, message=message)
