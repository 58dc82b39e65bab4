"""Exit codes and the error types an admin can act on.

Every failure the program can meet maps to exactly one ExitCode; ``cli`` is the single place
that turns an exception into a code, so keepalived never sees a traceback.
"""

import enum


class ExitCode(enum.IntEnum):
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
    INTERNAL = 70
    TERMINATED = 143


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


class PermissionProblem(SentinelVipError):
    exit_code = ExitCode.PERMISSION


class DeadlineExceeded(SentinelVipError):
    exit_code = ExitCode.DEADLINE


class Terminated(BaseException):
    """SIGTERM from keepalived (script timeout) or an admin; not an Exception on purpose,
    so no ``except Exception`` swallows it."""

    exit_code = ExitCode.TERMINATED
