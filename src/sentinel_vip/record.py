"""Small immutable records, as ``@dataclass(frozen=True)`` made them, for the hot path.

keepalived runs the check every second; importing ``dataclasses`` (which pulls in ``inspect``,
``ast``, ``dis``, ``tokenize``...) and building each class cost several milliseconds per run.
A record is declared like a dataclass: annotated class attributes are its fields, in
constructor order, and a value is that field's default. ``_hidden`` names fields kept out of
``repr`` (secrets). Instances take positional and keyword arguments, compare and hash by
class and values, and refuse attribute assignment. The declaring module must use
``from __future__ import annotations`` (annotations stay strings, nothing is evaluated).

A default is shared by every instance that does not pass the field, so a mutable one
(``{}``, ``[]``, ``Counter()``: anything unhashable, as dataclasses judges it) is refused
when the class is declared: one record's change would show in all the others.
"""

from __future__ import annotations

_set = object.__setattr__


class _RecordType(type):
    """Turns the annotated class attributes into ``__slots__`` and ``_defaults``."""

    def __new__(mcs, name, bases, namespace):
        fields = tuple(namespace.get("__annotations__", {}))
        if bases and not fields:
            raise TypeError(f"record {name} declares no annotated fields")
        namespace["_fields"] = fields
        defaults = {f: namespace.pop(f) for f in fields if f in namespace}
        for field, value in defaults.items():
            if type(value).__hash__ is None:
                raise TypeError(
                    f"record {name}: field {field!r} has a mutable default "
                    f"({type(value).__name__}), which every instance would share: "
                    "use None or an immutable value (tuple, frozenset)"
                )
        namespace["_defaults"] = defaults
        namespace["__slots__"] = fields
        return super().__new__(mcs, name, bases, namespace)


class Record(metaclass=_RecordType):
    _hidden = ()  # field names left out of repr

    def __init__(self, *args, **kwargs) -> None:
        fields = self._fields
        name = type(self).__name__
        if len(args) > len(fields):
            raise TypeError(f"{name}() takes {len(fields)} arguments but {len(args)} were given")
        for field, value in zip(fields, args):
            _set(self, field, value)
        for field in fields[len(args) :]:
            if field in kwargs:
                _set(self, field, kwargs.pop(field))
            elif field in self._defaults:
                _set(self, field, self._defaults[field])
            else:
                raise TypeError(f"{name}() missing required argument: {field!r}")
        if kwargs:
            raise TypeError(f"{name}() got unexpected or repeated arguments: {sorted(kwargs)}")

    def _values(self) -> tuple:
        return tuple(getattr(self, field) for field in self._fields)

    def __setattr__(self, field, value) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot assign to {field!r}")

    def __delattr__(self, field) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {field!r}")

    def __eq__(self, other) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{field}={getattr(self, field)!r}"
            for field in self._fields
            if field not in self._hidden
        )
        return f"{type(self).__name__}({shown})"

    def __reduce__(self):
        # copy/pickle: rebuild through __init__, since attributes cannot be set afterwards
        return (self.__class__, self._values())
