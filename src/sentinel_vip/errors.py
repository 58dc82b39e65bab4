"""Exit codes and the error types an admin can act on.

Every failure the program can meet maps to exactly one ExitCode; ``cli`` is the single place
that turns an exception into a code, so keepalived never sees a traceback.

This module is also the one source of the exit-code documentation: ``MEANINGS`` and
``COMMAND_CODES`` feed ``--help`` (cli) and, through ``tools/gen_docs.py`` (``make docs``),
the tables in the man page and the README.
"""

import enum


class ExitCode(enum.IntEnum):
    """The process exit codes; each member is an int with a ``name``.

    An IntEnum (enum costs the check ~1.5 ms a run): a hand-made int class with a
    metaclass saved under 2 ms, measured with `make bench-check`, not worth its 60 lines.
    """

    OK = 0
    NOT_MASTER = 1
    USAGE = 2
    CONFIG = 3
    REDIS_UNREACHABLE = 4
    REDIS_AUTH = 5
    TLS = 6
    OTHER_MASTER = 7
    NO_MAJORITY = 8
    NO_AGREEMENT = 9
    IDENTITY = 10
    DEADLINE = 11
    PERMISSION = 12
    PROBLEMS_FOUND = 13  # doctor: at least one item failed
    NOT_GENERATED = 14  # render: a target file exists that render did not write
    # switchover's refusals (nothing changed) and its one failure; 20+ leaves 15-19 free
    TARGET_UNFIT = 20
    FAILOVER_RUNNING = 21
    UNKNOWN_TARGET = 22
    UNFENCEABLE = 23
    NOT_CONFIRMED = 24
    SWITCHOVER_FAILED = 25
    INTERNAL = 70
    INTERRUPTED = 130  # Ctrl-C (SIGINT) of a command run by hand
    TERMINATED = 143

    __str__ = int.__repr__  # the number, as str() of an IntEnum gives since Python 3.11


# What each code means, one line each (the tables are generated from this; keep it short).
MEANINGS = {
    "OK": "the local Redis is master and a Sentinel majority names this server (its run_id)",
    "NOT_MASTER": "the local Redis answers but is not `role:master`",
    "USAGE": "bad command line (including keepalived's notify arguments)",
    "CONFIG": "config missing, unreadable or invalid",
    "REDIS_UNREACHABLE": "the local Redis refused, timed out, hung, or returned garbage",
    "REDIS_AUTH": "the local Redis rejected our credentials, or the ACL denies a command",
    "TLS": "TLS handshake or certificate verification with the local Redis failed",
    "OTHER_MASTER": "a Sentinel majority names another server",
    "NO_MAJORITY": "fewer than the required Sentinels answered (after the grace)",
    "NO_AGREEMENT": "Sentinels answered but disagree: no majority names this node",
    "IDENTITY": "Sentinels name an address that identifies no node (loopback, the VIP), or"
    " this server at an address node.addresses does not describe",
    "DEADLINE": "the run's total deadline (`check.deadline`) passed",
    "PERMISSION": "reserved: no command exits with it (an unwritable state file is logged)",
    "PROBLEMS_FOUND": "doctor found at least one FAIL (an invalid config included)",
    "NOT_GENERATED": "render refuses to replace a file it did not write (nothing written)",
    "TARGET_UNFIT": "switchover: the target is no healthy replica in sync (lag, link shown)",
    "FAILOVER_RUNNING": "switchover: a failover is running, or the master is seen down",
    "UNKNOWN_TARGET": "switchover: --to names no replica the Sentinels list, or several",
    "UNFENCEABLE": "switchover: the master cannot pause writes (unreachable, Redis < 6.2)",
    "NOT_CONFIRMED": "switchover: not confirmed (without a terminal, give --yes)",
    "SWITCHOVER_FAILED": "switchover: started but did not complete (settings restored)",
    "INTERNAL": "a bug: logged with its type, never a traceback (please report it)",
    "INTERRUPTED": "interrupted by Ctrl-C",
    "TERMINATED": "SIGTERM, e.g. keepalived's script timeout (check first writes 0 to the"
    " track file; watch stops with 0)",
}

# The codes each command exits with, besides ANY_COMMAND's. check's are keepalived's verdict.
COMMAND_CODES = {
    "check": (
        ExitCode.OK, ExitCode.NOT_MASTER, ExitCode.CONFIG, ExitCode.REDIS_UNREACHABLE,
        ExitCode.REDIS_AUTH, ExitCode.TLS, ExitCode.OTHER_MASTER, ExitCode.NO_MAJORITY,
        ExitCode.NO_AGREEMENT, ExitCode.IDENTITY, ExitCode.DEADLINE,
    ),
    "notify": (ExitCode.OK, ExitCode.CONFIG),
    "watch": (ExitCode.OK, ExitCode.CONFIG),
    "status": (ExitCode.OK, ExitCode.CONFIG),
    "doctor": (ExitCode.OK, ExitCode.PROBLEMS_FOUND),
    "render": (ExitCode.OK, ExitCode.CONFIG, ExitCode.NOT_GENERATED),
    "switchover": (
        ExitCode.OK, ExitCode.CONFIG, ExitCode.NO_MAJORITY, ExitCode.NO_AGREEMENT,
        ExitCode.TARGET_UNFIT, ExitCode.FAILOVER_RUNNING, ExitCode.UNKNOWN_TARGET,
        ExitCode.UNFENCEABLE, ExitCode.NOT_CONFIRMED, ExitCode.SWITCHOVER_FAILED,
    ),
}  # fmt: skip
ANY_COMMAND = (ExitCode.USAGE, ExitCode.INTERNAL, ExitCode.INTERRUPTED, ExitCode.TERMINATED)


class SentinelVipError(Exception):
    """Base: ``str(err)`` is one line saying what, where and how to fix it."""

    exit_code = ExitCode.INTERNAL


class UsageError(SentinelVipError):
    exit_code = ExitCode.USAGE


class ConfigError(SentinelVipError):
    """Every problem found in a config file, each as 'path: key: found ..., expected ...'."""

    exit_code = ExitCode.CONFIG

    def __init__(self, path: str, problems) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__(self._summary())

    def _summary(self) -> str:
        if len(self.problems) == 1:
            return f"{self.path}: {self.problems[0]}"
        listed = "; ".join(self.problems)
        return f"{self.path}: {len(self.problems)} problems: {listed}"


class SwitchoverRefused(SentinelVipError):
    """A switchover precondition failed (or the run failed): ``exit_code`` says which."""

    def __init__(self, code, message: str) -> None:
        self.exit_code = code
        super().__init__(message)


class PermissionProblem(SentinelVipError):
    exit_code = ExitCode.PERMISSION


class DeadlineExceeded(SentinelVipError):
    exit_code = ExitCode.DEADLINE


class Terminated(BaseException):
    """SIGTERM from keepalived (script timeout) or an admin; not an Exception on purpose,
    so no ``except Exception`` swallows it."""

    exit_code = ExitCode.TERMINATED
