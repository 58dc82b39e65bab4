"""Exit codes and the error types an admin can act on.

Every failure the program can meet maps to exactly one ExitCode; ``cli`` is the single place
that turns an exception into a code, so keepalived never sees a traceback.
"""


class _ExitCodes(type):
    """The part of ``enum.IntEnum`` that ExitCode needs: ``ExitCode(3)`` is the member named
    CONFIG, and ``for code in ExitCode`` lists the members. Importing enum (and the modules
    it pulls in) cost the check ~1.5 ms a run, every second."""

    def __call__(cls, value):
        for member in cls._members:
            if member == value:
                return member
        raise ValueError(f"{value!r} is not a valid {cls.__name__}")

    def __iter__(cls):
        return iter(cls._members)

    def __len__(cls):
        return len(cls._members)


class ExitCode(int, metaclass=_ExitCodes):
    """The process exit codes; each member is an int with a ``name``."""

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

    def __repr__(self) -> str:
        return f"<ExitCode.{self.name}: {int(self)}>"

    __str__ = int.__repr__  # the number, as str() of an IntEnum gives since Python 3.11

    @property
    def value(self) -> int:
        return int(self)


def _make_members(cls) -> None:
    members = []
    for name, value in list(vars(cls).items()):
        if name.isupper() and type(value) is int:
            member = int.__new__(cls, value)
            member.name = name
            setattr(cls, name, member)
            members.append(member)
    cls._members = tuple(members)


_make_members(ExitCode)


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
